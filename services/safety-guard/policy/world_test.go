package policy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
)

// world is the on-disk setup the corpora's placeholders stand for: a home, a
// project, a temp fixture, a git repository with a linked worktree, a
// submodule-like gitfile, and the named temp directories of the v2 corpus.
type world struct {
	t     testing.TB
	root  string
	fixed map[string]string // {NAME} -> path

	mu       sync.Mutex
	tmp      map[string]string // {TMP:name} -> path prefix
	variants map[string]string // requires_test_setup -> WT_ROOT of a variant
	made     map[string]bool
}

var placeholderRe = regexp.MustCompile(`\{(TMP:[^}]*|[A-Z_]+)\}`)

func newWorld(t testing.TB) *world {
	t.Helper()
	// The fixtures must live under /tmp: the corpora rely on temp-directory
	// rules for them, like upstream's os.tmpdir().
	root, err := os.MkdirTemp("/tmp", "phantom-conformance-")
	if err != nil {
		t.Fatalf("could not create fixture root: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	root, _ = filepath.EvalSymlinks(root)
	w := &world{t: t, root: root, tmp: map[string]string{}, variants: map[string]string{}, made: map[string]bool{}}
	w.fixed = map[string]string{
		"HOME":              filepath.Join(root, "home"),
		"REPO":              filepath.Join(root, "repo"),
		"TMP_FIXTURE":       filepath.Join(root, "tmpfix"),
		"WT_ROOT":           filepath.Join(root, "wt"),
		"CUSTOM_RULES_DIR":  filepath.Join(root, "custom"),
		"SUBMODULE_FIXTURE": filepath.Join(root, "subfix"),
		"TEST_HOME":         filepath.Join(root, "testhome"),
		"CONTRACT_ROOT":     filepath.Join(root, "contract"),
	}
	for _, d := range []string{"HOME", "REPO", "CUSTOM_RULES_DIR", "CONTRACT_ROOT"} {
		w.mkdir(w.fixed[d])
	}
	w.mkdir(filepath.Join(w.fixed["CONTRACT_ROOT"], "workspace"))
	for _, d := range []string{"repo", "project", "other", "subdir"} {
		w.mkdir(filepath.Join(w.fixed["TMP_FIXTURE"], d))
	}
	w.mkdir(filepath.Join(w.fixed["TEST_HOME"], "safety-net-home"))
	w.write(filepath.Join(w.fixed["TEST_HOME"], "safety-net-home", "policy.json"), "{}\n")
	w.submodule(w.fixed["SUBMODULE_FIXTURE"])
	w.worktrees(w.fixed["WT_ROOT"], "")
	return w
}

func (w *world) mkdir(p string) {
	if err := os.MkdirAll(p, 0o755); err != nil {
		w.t.Fatalf("could not create %s: %v", p, err)
	}
}

func (w *world) write(p, content string) {
	w.mkdir(filepath.Dir(p))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.t.Fatalf("could not write %s: %v", p, err)
	}
}

func (w *world) symlink(target, link string) {
	w.mkdir(filepath.Dir(link))
	if err := os.Symlink(target, link); err != nil && !os.IsExist(err) {
		w.t.Fatalf("could not link %s -> %s: %v", link, target, err)
	}
}

func (w *world) git(dir string, args ...string) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("could not run git %v in %s: %v\n%s", args, dir, err, out)
	}
}

func (w *world) gitInit(dir string) {
	w.mkdir(dir)
	w.git(dir, "init", "-q")
	w.git(dir, "commit", "-q", "--allow-empty", "-m", "init")
}

// worktrees builds {WT_ROOT}: main (a repository), linked (a linked worktree
// made by git worktree add) and the symlinks and configs the cases name.
func (w *world) worktrees(root, setup string) {
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			w.t.Fatalf("git is required for the worktree fixtures: %v", err)
		}
		w.t.Skipf("git not found: %v", err)
	}
	main := filepath.Join(root, "main")
	w.gitInit(main)
	w.git(main, "worktree", "add", "-q", "-b", "feature/worktree-test", filepath.Join(root, "linked"))
	linked := filepath.Join(root, "linked")
	for _, d := range []string{filepath.Join(main, "nested"), filepath.Join(main, "subdir"), filepath.Join(linked, "nested"), filepath.Join(linked, "inner-worktree"), filepath.Join(root, "safe-home"), filepath.Join(root, "safe-xdg"), filepath.Join(root, "fake-bin")} {
		w.mkdir(d)
	}
	w.symlink(filepath.Join(linked, "nested"), filepath.Join(root, "nested-link"))
	w.symlink(filepath.Join(main, "subdir"), filepath.Join(linked, "main-subdir-link"))
	w.write(filepath.Join(root, "recurse.conf"), "[submodule]\n\trecurse = true\n")
	w.write(filepath.Join(root, "recurse-home", ".gitconfig"), "[submodule]\n\trecurse = true\n")
	w.write(filepath.Join(linked, ".gitconfig-extra"), "[submodule]\n\trecurse = true\n")
	w.write(filepath.Join(root, "fake-bin", "git"), "#!/bin/sh\necho true\n")
	config := filepath.Join(main, ".git", "config")
	switch {
	case strings.Contains(setup, "submodule.recurse=true"):
		appendFile(w, config, "[submodule]\n\trecurse = true\n")
	case strings.Contains(setup, "unreadable"):
		// Reading a directory fails like an unreadable file, even as root.
		if err := os.Rename(config, config+".bak"); err != nil {
			w.t.Fatalf("could not move %s: %v", config, err)
		}
		w.mkdir(config)
	case strings.Contains(setup, "include.path"):
		appendFile(w, config, "[include]\n\tpath = extra.conf\n")
	case strings.Contains(setup, "worktreeConfig"):
		w.git(main, "config", "extensions.worktreeConfig", "true")
		w.git(linked, "config", "--worktree", "core.worktree", main)
	}
}

func appendFile(w *world, p, s string) {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		w.t.Fatalf("could not open %s: %v", p, err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		w.t.Fatalf("could not append to %s: %v", p, err)
	}
}

// submodule builds a directory whose submodule/.git is a gitfile pointing into
// ../.git/modules: it looks like a worktree but is not a linked one.
func (w *world) submodule(root string) {
	w.mkdir(filepath.Join(root, ".git", "modules", "submodule"))
	w.write(filepath.Join(root, ".git", "modules", "submodule", "HEAD"), "ref: refs/heads/main\n")
	w.write(filepath.Join(root, ".git", "HEAD"), "ref: refs/heads/main\n")
	w.write(filepath.Join(root, "submodule", ".git"), "gitdir: ../.git/modules/submodule\n")
}

// wtRoot returns {WT_ROOT} for a case, building a variant when the case needs
// a modified repository.
func (w *world) wtRoot(setup string) string {
	key := ""
	for _, k := range []string{"submodule.recurse=true", "unreadable", "include.path", "worktreeConfig"} {
		if strings.Contains(setup, k) {
			key = k
		}
	}
	if key == "" {
		return w.fixed["WT_ROOT"]
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if p, ok := w.variants[key]; ok {
		return p
	}
	p := filepath.Join(w.root, "wt-"+strings.NewReplacer(".", "-", "=", "-").Replace(key))
	w.worktrees(p, setup)
	w.variants[key] = p
	return p
}

// tmpPrefix returns the path {TMP:name} stands for, building the named
// fixtures some v2 cases rely on.
func (w *world) tmpPrefix(name string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p, ok := w.tmp[name]; ok {
		return p
	}
	p := filepath.Join(w.root, "t-"+regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(name, "_"))
	w.tmp[name] = p
	home := w.fixed["HOME"]
	switch name {
	case "safety-net-rm-literal-home":
		w.mkdir(filepath.Join(p, "home", "project"))
		w.mkdir(filepath.Join(p, "workspace"))
	case "safety-net-rm-home-link", "safety-net-powershell-home-link":
		w.mkdir(filepath.Join(p, "home"))
		w.symlink(filepath.Join(p, "home"), filepath.Join(p, "home-link"))
	case "safety-net-rm-symlink":
		w.mkdir(filepath.Join(p, "cwd"))
		w.mkdir(filepath.Join(p, "outside"))
		w.symlink(filepath.Join(p, "outside"), filepath.Join(p, "cwd", "escape"))
	case "ccsn-git-metadata", "ccsn-git-symlink":
		w.gitInit(filepath.Join(p, "repository"))
	case "ccsn-git-hooks-link":
		w.gitInit(filepath.Join(p, "repository"))
		w.write(filepath.Join(p, "srv", "git-hooks", "pre-commit"), "#!/bin/sh\n")
		hooks := filepath.Join(p, "repository", ".git", "hooks")
		os.RemoveAll(hooks)
		w.symlink(filepath.Join(p, "srv", "git-hooks"), hooks)
	case "safety-net-submodule-like":
		w.submodule(p)
	case "ccsn-find":
		w.mkdir(p + "-krLJWN")
		w.symlink(home, filepath.Join(p+"-krLJWN", "external"))
	case "ccsn-find-workspace":
		// One case names this directory through $TMPDIR with upstream's
		// random suffix, so it has to exist at exactly that path.
		p = "/tmp/ccsn-find-workspace-IMWId3"
		w.tmp[name] = p
		w.mkdir(filepath.Join(p, "repo"))
		w.t.Cleanup(func() { os.RemoveAll(p) })
	case "safety-net-parallel-workdir-rm":
		w.mkdir(filepath.Join(p, "subdir"))
	case "secret-protection-symlink":
		w.write(filepath.Join(p, "project", "session-cache.json"), "{}")
		w.mkdir(filepath.Join(p, "home"))
		w.mkdir(filepath.Join(p, "codex-home"))
		w.symlink(filepath.Join(p, "project", "session-cache.json"), filepath.Join(p, "codex-home", "auth.json"))
	case "secret-protection-tilde-symlink":
		w.write(filepath.Join(p, "home", "project", "session-cache.json"), "{}")
		w.mkdir(filepath.Join(p, "home", "codex"))
		w.symlink(filepath.Join(p, "home", "project", "session-cache.json"), filepath.Join(p, "home", "codex", "auth.json"))
	case "ccsn-git":
		w.gitInit(p + "-qcuDyv/..repo")
	case "safety-net-test":
		w.mkdir(filepath.Join(p, "project", "inner"))
	case "safety-net-powershell", "safety-net-test-home":
		w.mkdir(p)
	}
	return p
}

// expand replaces the placeholders in s. A placeholder right after "$" is
// shell syntax (${HOME}) and stays.
func (w *world) expand(s, setup string) string {
	return placeholderRe.ReplaceAllStringFunc(s, func(m string) string {
		name := m[1 : len(m)-1]
		return w.lookup(name, setup, m)
	})
}

func (w *world) expandCmd(s, setup string) string {
	idx := placeholderRe.FindAllStringIndex(s, -1)
	if len(idx) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, loc := range idx {
		b.WriteString(s[last:loc[0]])
		m := s[loc[0]:loc[1]]
		if loc[0] > 0 && s[loc[0]-1] == '$' {
			b.WriteString(m)
		} else {
			b.WriteString(w.lookup(m[1:len(m)-1], setup, m))
		}
		last = loc[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

func (w *world) lookup(name, setup, orig string) string {
	if strings.HasPrefix(name, "TMP:") {
		return w.tmpPrefix(name[4:])
	}
	if name == "WT_ROOT" {
		return w.wtRoot(setup)
	}
	if p, ok := w.fixed[name]; ok {
		return p
	}
	return orig
}

// upstreamRules maps upstream (cc-safety-net v2) rule ids to Phantom rule ids,
// for cases that switch rules on or off.
var upstreamRules = map[string][]string{
	"git.ssh-env": {guard.RuleGitSSHOverride}, "git.alias-config": {guard.RuleGitAliasConfig},
	"git.checkout-force": {guard.RuleGitCheckoutForce}, "git.checkout-double-dash": {guard.RuleGitCheckoutDiscard},
	"git.checkout-ref-path": {guard.RuleGitCheckoutRefPath}, "git.checkout-pathspec-from-file": {guard.RuleGitCheckoutPathspec},
	"git.checkout-ambiguous": {guard.RuleGitCheckoutAmbiguous}, "git.switch-discard-changes": {guard.RuleGitSwitchDiscard},
	"git.switch-force": {guard.RuleGitSwitchForce}, "git.restore-worktree": {guard.RuleGitRestoreWorktree},
	"git.restore-unstaged": {guard.RuleGitRestore}, "git.reset-hard": {guard.RuleGitResetHard}, "git.reset-merge": {guard.RuleGitResetMerge},
	"git.clean-force": {guard.RuleGitCleanForce}, "git.rm-force": {guard.RuleGitRmForce}, "git.push-force": {guard.RuleGitPushForce},
	"git.push-delete": {guard.RuleGitPushDelete}, "git.push-mirror": {guard.RuleGitPushMirror},
	"git.branch-force-delete": {guard.RuleGitBranchForceDelete}, "git.rebase-abort": {guard.RuleGitRebaseAbort},
	"git.merge-abort": {guard.RuleGitMergeAbort}, "git.tag-delete": {guard.RuleGitTagDelete}, "git.reflog-delete": {guard.RuleGitReflogDelete},
	"git.stash-drop": {guard.RuleGitStashDrop}, "git.stash-clear": {guard.RuleGitStashClear}, "git.worktree-remove-force": {guard.RuleGitWorktreeRemove},
	"rm.recursive-force-root-or-home": {guard.RuleRmRootOrHome}, "rm.git-metadata": {guard.RuleRmGitMetadata},
	"rm.recursive-force-dynamic-target": {guard.RuleRmDynamicTarget}, "rm.recursive-force-home-cwd": {guard.RuleRmHomeCwd},
	"rm.recursive-force-cwd-self": {guard.RuleRmCwdSelf}, "rm.recursive-force-outside-cwd": {guard.RuleRmOutsideCwd},
	"rm.recursive-force-paranoid":         {guard.RuleRmParanoid},
	"powershell.remove-item-root-or-home": {guard.RulePSRootOrHome}, "powershell.remove-item-recursive-force-root-or-home": {guard.RulePSRootOrHome},
	"powershell.remove-item-git-metadata": {guard.RulePSGitMetadata}, "powershell.remove-item-recursive-force-dynamic-target": {guard.RulePSDynamicTarget},
	"powershell.remove-item-recursive-force-home-cwd": {guard.RulePSHomeCwd}, "powershell.remove-item-recursive-force-cwd-self": {guard.RulePSCwdSelf},
	"powershell.remove-item-recursive-force-outside-cwd": {guard.RulePSOutsideCwd}, "powershell.remove-item-recursive-force-paranoid": {guard.RulePSParanoid},
	"powershell.remove-item-pipeline-dynamic-target": {guard.RulePSPipeline},
	"find.delete": {guard.RuleFindDelete}, "find.delete-git-metadata": {guard.RuleFindGitMetadata}, "find.exec-rm-recursive-force": {guard.RuleFindExecRm},
	"dd.device-write": {guard.RuleDdDevice}, "mkfs.device": {guard.RuleMkfsDevice}, "shred.target": {guard.RuleShred},
	"interpreter.dangerous-command": {guard.RuleInterpreterDangerous}, "interpreter.one-liner-paranoid": {guard.RuleInterpreterParanoid},
	"awk.system-dynamic": {guard.RuleAwkSystemDynamic}, "xargs.rm-recursive-force-dynamic": {guard.RuleXargsRmDynamic},
	"xargs.shell-dynamic": {guard.RuleXargsShellDynamic}, "parallel.rm-recursive-force-dynamic": {guard.RuleParallelRmDynamic},
	"parallel.shell-dynamic": {guard.RuleParallelShellDynamic}, "parallel.command-stream-dynamic": {guard.RuleParallelCommandStream},
	"shell.dynamic-structure": {guard.RuleDynamicStructure}, "shell.dynamic-executable": {guard.RuleDynamicCommandName},
	"raw-text.dangerous-command": {guard.RuleRawText},
}

// testFixtures maps upstream test names to the repository change they made.
var testFixtures = map[string]string{
	"fails closed on local include config":                  "include.path",
	"keeps configured recursive submodule discards blocked": "submodule.recurse=true",
	"verifies worktree config before relaxing":              "worktreeConfig",
}

// request turns a corpus case into a policy request in this world.
func (w *world) request(c corpusCase) (policy.Request, error) {
	setup := c.Setup
	if setup == "" {
		// A few upstream tests change the repository without saying so in
		// the case; their names tell which fixture they built.
		for test, s := range testFixtures {
			if strings.Contains(c.Test, test) {
				setup = s
			}
		}
	}
	mode, err := guard.ParseMode(c.Mode)
	if err != nil {
		return policy.Request{}, err
	}
	req := policy.Request{Command: w.expandCmd(c.Cmd, setup), Mode: mode}
	env := map[string]string{"HOME": w.fixed["HOME"], "TMPDIR": "/tmp", "PATH": "/usr/local/bin:/usr/bin:/bin"}
	for i, m := range []map[string]string{c.ProcessEnv, c.Env, c.Inherited} {
		for k, v := range m {
			if i == 0 && k == "PARALLEL" {
				// Upstream reads parallel's ambient options from the analysed
				// command's environment, not from the guard's own process.
				continue
			}
			env[k] = w.expand(v, setup)
		}
	}
	if c.Home != "" {
		env["HOME"] = w.expand(c.Home, setup)
	}
	req.Env = env
	if c.Cwd != nil && *c.Cwd != "" {
		cwd := w.expand(*c.Cwd, setup)
		if strings.HasPrefix(cwd, w.root) {
			if _, err := os.Lstat(cwd); os.IsNotExist(err) {
				w.mkdir(cwd)
			}
		}
		req.Cwd = cwd
	}
	switch c.Shell {
	case "powershell":
		req.Shell = policy.ShellPowerShell
	case "auto":
		req.Shell = policy.ShellAuto
	}
	for _, r := range c.Custom {
		req.Rules = append(req.Rules, events.GuardRule(r))
	}
	if c.Options != nil && strings.Contains(c.Options.UserConfigDir, "-net-config-") && req.Cwd != "" {
		// Upstream's configuration-recovery fixture installs a project
		// rulebook that blocks "docker system prune" (v2 rulebooks with
		// locks and caches; the corpus does not carry them). Phantom reads
		// the v0.9 rule file format, so the fixture becomes that file.
		path := filepath.Join(req.Cwd, ".safety-net.json")
		w.mu.Lock()
		w.write(path, `{"version":1,"rules":[{"name":"block-docker-system-prune","command":"docker","subcommand":"system","block_args":["prune"],"reason":"Use targeted cleanup instead."}]}`)
		rules, err := policy.LoadRuleFiles("", path)
		w.mu.Unlock()
		if err != nil {
			return req, err
		}
		req.Rules = append(req.Rules, rules...)
	}
	if c.Fixture == "custom-rules-dir" && len(c.Custom) > 0 {
		// Exercise the file loader: write the rules and load them back.
		dir := w.fixed["CUSTOM_RULES_DIR"]
		data := `{"version":1,"rules":` + mustJSON(c.Custom) + `}`
		path := filepath.Join(dir, ".safety-net.json")
		w.mu.Lock()
		w.write(path, data)
		rules, err := policy.LoadRuleFiles("", path)
		w.mu.Unlock()
		if err != nil {
			return req, err
		}
		req.Rules = rules
	}
	if strings.Contains(c.Cmd+derefString(c.Cwd), "{TEST_HOME}") {
		// Upstream protects its own policy file; the corpus exercises that
		// only with the test home, and the file lives under /tmp here, where
		// it would otherwise shadow the temp-directory rules.
		req.Policy.ProtectedPaths = []string{filepath.Join(w.fixed["TEST_HOME"], "safety-net-home", "policy.json")}
	}
	if c.SecretCfg != nil {
		req.Policy.SecretDenyPaths = append(req.Policy.SecretDenyPaths, c.SecretCfg.DenyPaths...)
	}
	if po := c.Overrides; po != nil {
		for _, r := range po.Rules {
			req.Rules = append(req.Rules, events.GuardRule(r))
		}
		if po.ProtectionEnabled != nil && !*po.ProtectionEnabled {
			req.Policy.DisableDestructive = true
		}
		for id, state := range po.RuleOverrides {
			for _, pid := range upstreamRules[id] {
				if req.Policy.RuleSwitches == nil {
					req.Policy.RuleSwitches = map[string]bool{}
				}
				req.Policy.RuleSwitches[pid] = state == "on"
			}
		}
		for _, p := range po.AllowPaths {
			req.Policy.AllowPaths = append(req.Policy.AllowPaths, w.expand(p, setup))
		}
		req.Policy.Wrappers = append(req.Policy.Wrappers, po.TransparentWrappers...)
		if po.WorktreeMode {
			req.Mode |= guard.ModeWorktree
		}
		if po.Secret != nil {
			for _, p := range po.Secret.DenyPaths {
				req.Policy.SecretDenyPaths = append(req.Policy.SecretDenyPaths, w.expand(p, setup))
			}
			for _, p := range po.Secret.AllowPaths {
				req.Policy.SecretAllowPaths = append(req.Policy.SecretAllowPaths, w.expand(p, setup))
			}
		}
	}
	return req, nil
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
