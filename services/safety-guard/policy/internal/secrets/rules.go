package secrets

import (
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

// Context is what the secret rules need of the walker.
type Context interface {
	family.Verdicts
	// Home is the home directory from the request's environment; "" when unknown.
	Home() string
	// RealPath resolves the symlinks in p as far as it exists.
	RealPath(p string) string
	// Step charges one unit of work; false once a budget is spent, and
	// Aborted says why.
	Step(segment string) bool
	Aborted() *family.Finding
	// Secrets is the state of the secret rules for this check.
	Secrets() *State
}

// State is what the secret rules keep for one check: the request's secret
// settings, and what they resolved so far.
type State struct {
	// Cache shares resolved credential locations between checks.
	Cache *Cache
	// Now is the clock of the Cache's entries.
	Now func() time.Time
	// CodexHome is the request's CODEX_HOME ("" when unset).
	CodexHome string
	// Deny and Allow are the policy's secret paths, made absolute.
	Deny, Allow []string
	// Off switches secret protection off (Policy.DisableSecrets).
	Off bool

	hushed int
	memo   map[[2]string][2]string
	ix     *Index
}

// Hush stops the secret rules until the returned function is called: while
// interpreter code is read as shell, its words are not file accesses (the
// literals in code are judged by InCode).
func (s *State) Hush() (restore func()) {
	s.hushed++
	return func() { s.hushed-- }
}

func (s *State) active() bool { return s.hushed == 0 && !s.Off }

const reasonSecret = "Access to a sensitive path is not allowed (%s). Ask the user to provide the value you need instead."

// Names, extensions and locations of secrets.
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
		".pi/agent/auth.json", ".local/share/amp/json", ".amp/oauth", ".cursor/auth.json", ".config/cursor/auth.json"}
	codexCredentialFiles = []string{"auth.json", ".credentials.json", "secrets", ".sandbox-secrets"}
	// agentConfigFiles may embed tokens but agents edit them routinely: off
	// unless switched on.
	agentConfigFiles = []string{".claude/settings.json", ".claude/settings.local.json", ".claude.json", ".gemini/settings.json",
		".gemini/google_accounts.json", ".copilot/mcp-config.json", ".kimi-code/config.toml", ".kimi-code/mcp.json", ".kimi/config.toml",
		".kimi/config.json", ".kimi/mcp.json", ".config/opencode/opencode.json", ".config/opencode/opencode.jsonc", ".pi/agent/models.json",
		".config/amp/settings.json", ".config/amp/settings.jsonc", ".cursor/mcp.json"}
)

// Judge protects secret files from the command c runs, when it reads, copies
// or changes them. Only commands known not to treat operands as paths (echo,
// printf) and metadata queries are exempt.
func Judge(ctx Context, c *family.Call) *family.Finding {
	if !ctx.Secrets().active() {
		return nil
	}
	args := c.Args
	base := family.CommandBase(args[0].Val)
	if nonPathOperandCmds[base] {
		return nil
	}
	if !ctx.Mode().Has(guard.ModeStrict) && metadataOnly(c, base) {
		// Listing or testing a secret's existence reveals no content, but
		// paths the user denied explicitly stay off limits even to that.
		for _, a := range args[1:] {
			if !a.Static || strings.HasPrefix(a.Val, "-") {
				continue
			}
			if rule, what := sensitivePath(ctx, c.Cwd, a.Val); rule == guard.RuleSecretDenyPath {
				return ctx.Block(rule, family.FmtReason(reasonSecret, what), c.Seg)
			}
		}
		return nil
	}
	candidates := make([]family.Field, 0, len(args))
	switch {
	case base == "grep" || base == "egrep" || base == "fgrep" || base == "rg":
		candidates = patternCommandTargets(args[1:])
	case base == "find":
		candidates = findSecretTargets(args[1:])
	case family.IsAwk(base):
		for _, a := range args[1:] {
			if !strings.HasPrefix(a.Val, "-") {
				candidates = append(candidates, a)
			}
		}
	case family.InterpreterKind(base) != "" || family.IsShell(base):
		// Code is scanned by the interpreter rules; operands are paths.
		skip := map[int]bool{}
		kind := family.InterpreterKind(base)
		if family.IsShell(base) {
			kind = "sh"
		}
		for i := 1; i < len(args); i++ {
			v := args[i].Val
			if isCodeFlag(kind, v) {
				skip[i+1] = true
			}
		}
		// A guard's own explain command quotes a command line as data.
		skip[guardExplainCommandIndex(args)] = true
		for i := 1; i < len(args); i++ {
			if skip[i] || strings.HasPrefix(args[i].Val, "-") {
				continue
			}
			candidates = append(candidates, args[i])
		}
	default:
		skipText := guardExplainCommandIndex(args)
		for i, a := range args[1:] {
			if i+1 == skipText {
				continue
			}
			candidates = appendOperandCandidates(candidates, base, a)
		}
	}
	if c.Stdin != nil && c.Stdin.Known && appliesPatch(base, args) {
		// A patch names the files it changes in its headers.
		for _, pth := range patchPaths(c.Stdin.Text) {
			candidates = append(candidates, family.Lit(pth))
		}
	}
	for i, cand := range candidates {
		// Commands can carry thousands of operands; keep the deadline in
		// sight while checking them.
		if i&255 == 255 && !ctx.Step(c.Seg) {
			return ctx.Aborted()
		}
		if cand.Input {
			for _, v := range c.InputValues {
				if f := pathFinding(ctx, c.Cwd, v, c.Seg); f != nil {
					return f
				}
			}
			continue
		}
		if f := Field(ctx, c.Cwd, cand, c.Seg); f != nil {
			return f
		}
	}
	return nil
}

// metadataOnly recognises commands that only look at file metadata.
func metadataOnly(c *family.Call, base string) bool {
	switch {
	case base == "ls" || base == "stat" || base == "du" || base == "file":
		return true
	case base == "test" || base == "[":
		args := family.Vals(c.Args[1:])
		if base == "[" && len(args) > 0 && args[len(args)-1] == "]" {
			args = args[:len(args)-1]
		}
		return len(args) == 2 && (args[0] == "-e" || args[0] == "-f" || args[0] == "-d" || args[0] == "-s" || args[0] == "-r")
	}
	// find is not exempt: it walks whole trees and its primaries can act on
	// what it finds, so its start paths are judged like reads.
	return false
}

// Field judges one word a command names as a file, in directory cwd: its
// static value, or else its best-effort hint.
func Field(ctx Context, cwd string, f family.Field, seg string) *family.Finding {
	if !ctx.Secrets().active() {
		return nil
	}
	v := f.Val
	if !f.Static {
		v = f.Hint
		if v == "" {
			return nil
		}
	}
	return pathFinding(ctx, cwd, v, seg)
}

func pathFinding(ctx Context, cwd, v, seg string) *family.Finding {
	rule, what := sensitivePath(ctx, cwd, v)
	if rule == "" {
		return nil
	}
	return ctx.Block(rule, family.FmtReason(reasonSecret, what), seg)
}

// sensitivePath classifies a candidate path; it returns the rule id and a
// short description, or "" when the path is not a secret.
func sensitivePath(ctx Context, cwd, cand string) (string, string) {
	st := ctx.Secrets()
	key := [2]string{cwd, cand}
	if m, ok := st.memo[key]; ok {
		return m[0], m[1]
	}
	rule, what := sensitivePathUncached(ctx, cwd, cand)
	if st.memo == nil {
		st.memo = map[[2]string][2]string{}
	}
	if len(st.memo) < 4096 {
		st.memo[key] = [2]string{rule, what}
	}
	return rule, what
}

func sensitivePathUncached(ctx Context, cwd, cand string) (string, string) {
	st := ctx.Secrets()
	home := ctx.Home()
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
		if home == "" {
			p = "/~" + p[1:]
		} else {
			p = filepath.Join(home, p[1:])
		}
	case strings.HasPrefix(p, "$HOME/") && home != "":
		p = filepath.Join(home, p[5:])
	case !filepath.IsAbs(p) && cwd != "":
		p = filepath.Join(cwd, p)
	}
	p = filepath.Clean(p)
	name := strings.ToLower(filepath.Base(p))
	lowerPath := strings.ToLower(p)

	for _, ok := range st.Allow {
		if family.Within(p, ok) {
			return "", ""
		}
	}
	if envExemptNames[name] || strings.HasPrefix(name, ".env.example.") || strings.HasPrefix(name, ".env.sample.") {
		return "", ""
	}
	rp := ""
	if filepath.IsAbs(p) {
		rp = ctx.RealPath(p)
	}
	for _, d := range st.Deny {
		if family.Within(p, d) || (rp != "" && family.Within(rp, ctx.RealPath(d))) {
			return guard.RuleSecretDenyPath, d
		}
	}
	if home != "" {
		ix := index(ctx)
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
		if what, ok := ix.Configs[lowerPath]; ok && ctx.Enabled(guard.RuleSecretAgentConfig) {
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

// index returns the home-anchored secret locations of the check: resolved
// once per check, and shared between checks through the Cache for IndexTTL.
func index(ctx Context) *Index {
	st := ctx.Secrets()
	if st.ix != nil {
		return st.ix
	}
	key := [2]string{ctx.Home(), st.CodexHome}
	if ix := st.Cache.Get(key, st.Now()); ix != nil {
		st.ix = ix
		return ix
	}
	ix := buildIndex(ctx)
	st.Cache.Put(key, ix, st.Now())
	st.ix = ix
	return ix
}

// buildIndex resolves the secret locations under the home directory.
func buildIndex(ctx Context) *Index {
	st := ctx.Secrets()
	homeDir := ctx.Home()
	ix := &Index{HomeExact: map[string]string{}, Configs: map[string]string{}}
	home := strings.ToLower(homeDir)
	rhome := strings.ToLower(ctx.RealPath(homeDir))
	for _, parts := range homeSecretDirs {
		what := "~/" + strings.Join(parts, "/")
		for _, h := range []string{home, rhome} {
			ix.HomeDirs = append(ix.HomeDirs, Loc{Path: filepath.Join(append([]string{h}, parts...)...), What: what})
		}
	}
	for _, parts := range homeConfigBases {
		for _, suf := range configSuffixes {
			ix.HomeExact[filepath.Join(append([]string{home}, parts...)...)+suf] = "~/" + strings.Join(parts, "/") + suf
		}
	}
	addCred := func(path, what string, tree bool) {
		real := ""
		if rp := ctx.RealPath(path); rp != path {
			real = strings.ToLower(rp)
		}
		ix.Creds = append(ix.Creds, Loc{Path: strings.ToLower(path), Real: real, What: what, Tree: tree})
	}
	for _, f := range agentCredentialFiles {
		addCred(filepath.Join(homeDir, f), "~/"+f, false)
	}
	codexRoots := []string{filepath.Join(homeDir, ".codex")}
	if ch := st.CodexHome; filepath.IsAbs(ch) {
		codexRoots = append(codexRoots, filepath.Clean(ch), ctx.RealPath(ch))
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

// InCode scans interpreter code for secret paths: quoted literals,
// base64 literals that decode to paths, and bare path-like words. For node and
// bun, literals are data unless the code visibly touches files or processes.
func InCode(ctx Context, c *family.Call, kind, code string) *family.Finding {
	if !ctx.Secrets().active() {
		return nil
	}
	lits := quotedLiterals(code, 256)
	var cands []string
	for _, l := range lits {
		body := l[1 : len(l)-1]
		if body == "" {
			continue
		}
		body = strings.ReplaceAll(body, `\"`, `"`)
		cands = append(cands, body)
		if d, ok := family.DecodeBase64(body); ok && isPrintable(d) {
			cands = append(cands, d)
		}
	}
	cands = append(cands, pathLikeWords(code, 256)...)
	if len(cands) == 0 {
		return nil
	}
	if (kind == "node" || kind == "bun") && !ctx.Mode().Has(guard.ModeStrict) {
		masked, ok := maskJSLiterals(code)
		if ok && !jsAccess(masked) {
			// Inert data, except for paths the user denied explicitly.
			for _, cand := range cands {
				if rule, what := sensitivePath(ctx, c.Cwd, cand); rule == guard.RuleSecretDenyPath {
					return ctx.Block(rule, family.FmtReason(reasonSecret, what), c.Seg)
				}
			}
			return nil
		}
	}
	for _, cand := range cands {
		if f := pathFinding(ctx, c.Cwd, cand, c.Seg); f != nil {
			return f
		}
	}
	return nil
}

// InAwk scans an awk program for files it reads with getline.
func InAwk(ctx Context, c *family.Call, prog string) *family.Finding {
	if !ctx.Secrets().active() {
		return nil
	}
	for _, m := range awkGetlineRe.FindAllStringSubmatch(prog, 32) {
		if f := pathFinding(ctx, c.Cwd, m[1], c.Seg); f != nil {
			return f
		}
	}
	return nil
}
