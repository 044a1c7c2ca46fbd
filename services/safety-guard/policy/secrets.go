package policy

import (
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/secrets"
)

const reasonSecret = "Access to a sensitive path is not allowed (%s). Ask the user to provide the value you need instead."

var (
	envExemptNames    = family.NameSet(".env.example", ".env.sample", ".env.template", ".env.defaults")
	credentialNames   = family.NameSet(".npmrc", ".pypirc", ".netrc", ".git-credentials", "credentials")
	publicKeyNames    = family.NameSet("id_rsa.pub", "id_ed25519.pub", "id_ecdsa.pub", "id_dsa.pub")
	sshKeyPrefixes    = []string{"id_rsa", "id_dsa", "id_ed25519", "id_ecdsa", "credentials"}
	sshKeyDotSuffixes = family.NameSet(".bak", ".backup", ".copy", ".disabled", ".key", ".old", ".orig", ".pem", ".save", ".tmp")
	sshKeyPattern     = regexp.MustCompile(`^.*_(rsa|dsa|ed25519|ecdsa)$`)
	secretExtensions  = family.NameSet("agilekeychain", "asc", "bek", "cscfg", "fve", "gnucash", "jks", "keychain", "kwallet", "mdf", "ovpn",
		"p12", "pcap", "pem", "pfx", "pkcs12", "psafe3", "rdp", "sdf", "tblk", "tpm", "key", "keypair", "keystore", "keyring", "kdb", "kdbx")
	homeSecretDirs  = [][]string{{".ssh"}, {".aws"}, {".gcp"}, {".config", "gcloud"}, {".kube", "config"}, {".docker", "config.json"}, {".config", "gh", "hosts.yml"}}
	homeConfigBases = [][]string{{".kube", "config"}, {".docker", "config.json"}}
	configSuffixes  = []string{".bak", ".backup", ".copy", ".disabled", ".old", ".orig", ".save", ".tmp"}
	// agentCredentialFiles are per-agent credential stores, relative to home.
	agentCredentialFiles = []string{".claude/.credentials.json", ".gemini/oauth_creds.json", ".gemini/mcp-oauth-tokens.json",
		".gemini/a2a-oauth-tokens.json", ".gemini/gemini-credentials.json", ".copilot/config.json", ".copilot/mcp-oauth-config",
		".copilot/mcp-secrets", ".kimi-code/server.token", ".kimi-code/credentials", ".kimi/credentials", ".kimi/mcp-oauth",
		".local/share/opencode/auth.json", ".local/share/opencode/mcp-auth.json", ".local/share/opencode/opencode.db",
		".pi/agent/auth.json", ".local/share/amp/secrets.json", ".amp/oauth", ".cursor/auth.json", ".config/cursor/auth.json"}
	codexCredentialFiles = []string{"auth.json", ".credentials.json", "secrets", ".sandbox-secrets"}
	// agentConfigFiles may embed tokens but agents edit them routinely: off
	// unless switched on.
	agentConfigFiles = []string{".claude/settings.json", ".claude/settings.local.json", ".claude.json", ".gemini/settings.json",
		".gemini/google_accounts.json", ".copilot/mcp-config.json", ".kimi-code/config.toml", ".kimi-code/mcp.json", ".kimi/config.toml",
		".kimi/config.json", ".kimi/mcp.json", ".config/opencode/opencode.json", ".config/opencode/opencode.jsonc", ".pi/agent/models.json",
		".config/amp/settings.json", ".config/amp/settings.jsonc", ".cursor/mcp.json"}
)

// secretCheck protects secret files from commands that read, copy or change
// them. Only commands known not to treat operands as paths (echo, printf) and
// metadata queries are exempt.
func (r *run) secretCheck(cc *cmdCall, base string) *family.Finding {
	if r.quietSecrets > 0 || !r.secretsOn() {
		return nil
	}
	args := cc.Args
	if secrets.NonPathOperandCmds[base] {
		return nil
	}
	if !r.mode.Has(guard.ModeStrict) && r.metadataOnly(cc, base) {
		// Listing or testing a secret's existence reveals no content, but
		// paths the user denied explicitly stay off limits even to that.
		for _, a := range args[1:] {
			if !a.Static || strings.HasPrefix(a.Val, "-") {
				continue
			}
			if rule, what := r.sensitivePath(cc.Cwd, a.Val); rule == guard.RuleSecretDenyPath {
				return r.Block(rule, family.FmtReason(reasonSecret, what), cc.Seg)
			}
		}
		return nil
	}
	candidates := make([]family.Field, 0, len(args))
	switch {
	case base == "grep" || base == "egrep" || base == "fgrep" || base == "rg":
		candidates = secrets.PatternCommandTargets(args[1:])
	case base == "find":
		candidates = secrets.FindSecretTargets(args[1:])
	case awkNames[base]:
		for _, a := range args[1:] {
			if !strings.HasPrefix(a.Val, "-") {
				candidates = append(candidates, a)
			}
		}
	case interpreterKind(base) != "" || shellNames[base]:
		// Code is scanned by the interpreter rules; operands are paths.
		skip := map[int]bool{}
		kind := interpreterKind(base)
		if shellNames[base] {
			kind = "sh"
		}
		for i := 1; i < len(args); i++ {
			v := args[i].Val
			if secrets.IsCodeFlag(kind, v) {
				skip[i+1] = true
			}
		}
		// A guard's own explain command quotes a command line as data.
		skip[secrets.GuardExplainCommandIndex(args)] = true
		for i := 1; i < len(args); i++ {
			if skip[i] || strings.HasPrefix(args[i].Val, "-") {
				continue
			}
			candidates = append(candidates, args[i])
		}
	default:
		skipText := secrets.GuardExplainCommandIndex(args)
		for i, a := range args[1:] {
			if i+1 == skipText {
				continue
			}
			candidates = secrets.AppendOperandCandidates(candidates, base, a)
		}
	}
	if cc.Stdin != nil && cc.Stdin.Known && secrets.AppliesPatch(base, args) {
		// A patch names the files it changes in its headers.
		for _, pth := range secrets.PatchPaths(cc.Stdin.Text) {
			candidates = append(candidates, family.Lit(pth))
		}
	}
	for i, c := range candidates {
		// Commands can carry thousands of operands; keep the deadline in
		// sight while checking them.
		if i&255 == 255 && !r.Step(cc.Seg) {
			return r.abort
		}
		if c.Input {
			for _, v := range cc.InputValues {
				if f := r.secretPathFinding(cc.Cwd, v, cc.Seg); f != nil {
					return f
				}
			}
			continue
		}
		if f := r.secretField(cc.sc, cc, c, cc.Seg); f != nil {
			return f
		}
	}
	return nil
}

func (r *run) secretsOn() bool {
	return !r.req.Policy.DisableSecrets
}

// metadataOnly recognises commands that only look at file metadata.
func (r *run) metadataOnly(cc *cmdCall, base string) bool {
	switch {
	case base == "ls" || base == "stat" || base == "du" || base == "file":
		return true
	case base == "test" || base == "[":
		args := family.Vals(cc.Args[1:])
		if base == "[" && len(args) > 0 && args[len(args)-1] == "]" {
			args = args[:len(args)-1]
		}
		return len(args) == 2 && (args[0] == "-e" || args[0] == "-f" || args[0] == "-d" || args[0] == "-s" || args[0] == "-r")
	}
	// find is not exempt: it walks whole trees and its primaries can act on
	// what it finds, so its start paths are judged like reads.
	return false
}

// secretField checks one word (a static value or its best-effort hint).
func (r *run) secretField(sc *scope, cc *cmdCall, f family.Field, seg string) *family.Finding {
	if r.quietSecrets > 0 || !r.secretsOn() {
		return nil
	}
	cwd := sc.cwd
	if cc != nil {
		cwd = cc.Cwd
	}
	v := f.Val
	if !f.Static {
		v = f.Hint
		if v == "" {
			return nil
		}
	}
	return r.secretPathFinding(cwd, v, seg)
}

func (r *run) secretWord(sc *scope, cc *cmdCall, s, seg string) *family.Finding {
	return r.secretField(sc, cc, family.Lit(s), seg)
}

func (r *run) secretPathFinding(cwd, v, seg string) *family.Finding {
	rule, what := r.sensitivePath(cwd, v)
	if rule == "" {
		return nil
	}
	return r.Block(rule, family.FmtReason(reasonSecret, what), seg)
}

// sensitivePath classifies a candidate path; it returns the rule id and a
// short description, or "" when the path is not a secret.
func (r *run) sensitivePath(cwd, cand string) (string, string) {
	key := [2]string{cwd, cand}
	if m, ok := r.secretMemo[key]; ok {
		return m[0], m[1]
	}
	rule, what := r.sensitivePathUncached(cwd, cand)
	if r.secretMemo == nil {
		r.secretMemo = map[[2]string][2]string{}
	}
	if len(r.secretMemo) < 4096 {
		r.secretMemo[key] = [2]string{rule, what}
	}
	return rule, what
}

func (r *run) sensitivePathUncached(cwd, cand string) (string, string) {
	cand = strings.TrimSpace(cand)
	if cand == "" || len(cand) > 64<<10 {
		return "", ""
	}
	if strings.Contains(cand, "://") {
		if u, err := url.Parse(cand); err == nil && u.Scheme != "" && u.Host != "" && u.Scheme != "file" {
			return "", ""
		}
	}
	cand = strings.TrimPrefix(cand, "file://")
	p := cand
	switch {
	case p == "~" || strings.HasPrefix(p, "~/"):
		if r.home == "" {
			p = "/~" + p[1:]
		} else {
			p = filepath.Join(r.home, p[1:])
		}
	case strings.HasPrefix(p, "$HOME/") && r.home != "":
		p = filepath.Join(r.home, p[5:])
	case !filepath.IsAbs(p) && cwd != "":
		p = filepath.Join(cwd, p)
	}
	p = filepath.Clean(p)
	name := strings.ToLower(filepath.Base(p))
	lowerPath := strings.ToLower(p)

	for _, ok := range r.secretOK {
		if family.Within(p, ok) {
			return "", ""
		}
	}
	if envExemptNames[name] || strings.HasPrefix(name, ".env.example.") || strings.HasPrefix(name, ".env.sample.") {
		return "", ""
	}
	rp := ""
	if filepath.IsAbs(p) {
		rp = r.RealPath(p)
	}
	for _, d := range r.secretDeny {
		if family.Within(p, d) || (rp != "" && family.Within(rp, r.RealPath(d))) {
			return guard.RuleSecretDenyPath, d
		}
	}
	if r.home != "" {
		ix := r.secretIndex()
		lrp := strings.ToLower(rp)
		for _, e := range ix.HomeDirs {
			if family.Within(lowerPath, e.Path) || family.Within(lrp, e.Path) {
				return guard.RuleSecretHomeCredentials, e.What
			}
		}
		if what, ok := ix.HomeExact[lowerPath]; ok {
			return guard.RuleSecretHomeCredentials, what
		}
		// A file can be reached through a symlink to a credential file, or
		// be the target a credential path links to; compare resolved paths.
		for _, e := range ix.Creds {
			if lowerPath == e.Path || lrp == e.Path || (e.Real != "" && lrp == e.Real) || (e.Tree && family.Within(lowerPath, e.Path)) {
				return guard.RuleSecretAgentCredential, e.What
			}
		}
		if what, ok := ix.Configs[lowerPath]; ok && r.Enabled(guard.RuleSecretAgentConfig) {
			return guard.RuleSecretAgentConfig, what
		}
	}
	if publicKeyNames[name] {
		return "", ""
	}
	switch {
	case name == ".env":
		return guard.RuleSecretDotenv, ".env"
	case credentialNames[name]:
		return guard.RuleSecretCredentialFile, name
	case strings.HasPrefix(name, ".env.") && !strings.ContainsAny(name, " \t\n"):
		return guard.RuleSecretDotenv, name
	}
	for _, pre := range sshKeyPrefixes {
		if name == pre && pre != "credentials" {
			return guard.RuleSecretSSHKey, name
		}
		if len(name) > len(pre) && strings.HasPrefix(name, pre) {
			next := name[len(pre)]
			if (next == '-' || next == '_') && !strings.ContainsAny(name, " \t\n") {
				return guard.RuleSecretSSHKey, name
			}
			if sshKeyDotSuffixes[name[len(pre):]] {
				return guard.RuleSecretSSHKey, name
			}
		}
	}
	for _, seg := range strings.Split(lowerPath, "/") {
		if seg == "node_modules" || seg == "__pycache__" {
			return "", ""
		}
	}
	if strings.Contains(lowerPath, "/vendor/bundle/") || strings.Contains(lowerPath, "/vendor/cache/") {
		return "", ""
	}
	if !strings.Contains(name, ".") && sshKeyPattern.MatchString(name) {
		return guard.RuleSecretSSHKey, name
	}
	if i := strings.LastIndexByte(name, '.'); i > 0 && i < len(name)-1 {
		if secretExtensions[name[i+1:]] {
			return guard.RuleSecretKeyMaterial, name
		}
	}
	return "", ""
}

func (r *run) secretIndex() *secrets.Index {
	if r.secretIx != nil {
		return r.secretIx
	}
	key := [2]string{r.home, r.req.Env["CODEX_HOME"]}
	if ix := r.eng.secrets.Get(key, r.eng.now()); ix != nil {
		r.secretIx = ix
		return ix
	}
	ix := r.buildSecretIndex()
	r.eng.secrets.Put(key, ix, r.eng.now())
	r.secretIx = ix
	return ix
}

func (r *run) buildSecretIndex() *secrets.Index {
	ix := &secrets.Index{HomeExact: map[string]string{}, Configs: map[string]string{}}
	home := strings.ToLower(r.home)
	rhome := strings.ToLower(r.RealPath(r.home))
	for _, parts := range homeSecretDirs {
		what := "~/" + strings.Join(parts, "/")
		for _, h := range []string{home, rhome} {
			ix.HomeDirs = append(ix.HomeDirs, secrets.Loc{Path: filepath.Join(append([]string{h}, parts...)...), What: what})
		}
	}
	for _, parts := range homeConfigBases {
		for _, suf := range configSuffixes {
			ix.HomeExact[filepath.Join(append([]string{home}, parts...)...)+suf] = "~/" + strings.Join(parts, "/") + suf
		}
	}
	addCred := func(path, what string, tree bool) {
		real := ""
		if rp := r.RealPath(path); rp != path {
			real = strings.ToLower(rp)
		}
		ix.Creds = append(ix.Creds, secrets.Loc{Path: strings.ToLower(path), Real: real, What: what, Tree: tree})
	}
	for _, f := range agentCredentialFiles {
		addCred(filepath.Join(r.home, f), "~/"+f, false)
	}
	codexRoots := []string{filepath.Join(r.home, ".codex")}
	if ch, ok := r.req.Env["CODEX_HOME"]; ok && filepath.IsAbs(ch) {
		codexRoots = append(codexRoots, filepath.Clean(ch), r.RealPath(ch))
	}
	for _, root := range codexRoots {
		for _, f := range codexCredentialFiles {
			addCred(filepath.Join(root, f), "codex "+f, true)
		}
	}
	for _, f := range agentConfigFiles {
		ix.Configs[filepath.Join(home, f)] = "~/" + f
	}
	return ix
}

// declSecrets is a hook for declaration clauses; values assigned are not
// accesses, so there is nothing to check.
func (r *run) declSecrets(string, []declOp, *scope) *family.Finding { return nil }

// secretsInCode scans interpreter code for secret paths: quoted literals,
// base64 literals that decode to paths, and bare path-like words. For node and
// bun, literals are data unless the code visibly touches files or processes.
func (r *run) secretsInCode(cc *cmdCall, kind, code string) *family.Finding {
	if r.quietSecrets > 0 || !r.secretsOn() {
		return nil
	}
	lits := secrets.QuotedLiterals(code, 256)
	var cands []string
	for _, l := range lits {
		body := l[1 : len(l)-1]
		if body == "" {
			continue
		}
		body = strings.ReplaceAll(body, `\"`, `"`)
		cands = append(cands, body)
		if d, ok := decodeBase64(body); ok && secrets.IsPrintable(d) {
			cands = append(cands, d)
		}
	}
	cands = append(cands, secrets.PathLikeWords(code, 256)...)
	if len(cands) == 0 {
		return nil
	}
	if (kind == "node" || kind == "bun") && !r.mode.Has(guard.ModeStrict) {
		masked, ok := secrets.MaskJSLiterals(code)
		if ok && !secrets.JSAccess(masked) {
			// Inert data, except for paths the user denied explicitly.
			for _, c := range cands {
				if rule, what := r.sensitivePath(cc.Cwd, c); rule == guard.RuleSecretDenyPath {
					return r.Block(rule, family.FmtReason(reasonSecret, what), cc.Seg)
				}
			}
			return nil
		}
	}
	for _, c := range cands {
		if f := r.secretPathFinding(cc.Cwd, c, cc.Seg); f != nil {
			return f
		}
	}
	return nil
}

func (r *run) secretsInAwk(cc *cmdCall, prog string) *family.Finding {
	if r.quietSecrets > 0 || !r.secretsOn() {
		return nil
	}
	for _, m := range secrets.AwkGetlineRe.FindAllStringSubmatch(prog, 32) {
		if f := r.secretPathFinding(cc.Cwd, m[1], cc.Seg); f != nil {
			return f
		}
	}
	return nil
}
