package policy

import (
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
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
	nonPathOperandCmds = family.NameSet("echo", "printf")
	findMatchPrimaries = family.NameSet("-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename", "-samefile")
)

// secretCheck protects secret files from commands that read, copy or change
// them. Only commands known not to treat operands as paths (echo, printf) and
// metadata queries are exempt.
func (r *run) secretCheck(cc *cmdCall, base string) *family.Finding {
	if r.quietSecrets > 0 || !r.secretsOn() {
		return nil
	}
	args := cc.Args
	if nonPathOperandCmds[base] {
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
				return r.block(rule, family.FmtReason(reasonSecret, what), cc.Seg)
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
	if cc.Stdin != nil && cc.Stdin.Known && appliesPatch(base, args) {
		// A patch names the files it changes in its headers.
		for _, pth := range patchPaths(cc.Stdin.Text) {
			candidates = append(candidates, family.Lit(pth))
		}
	}
	for i, c := range candidates {
		// Commands can carry thousands of operands; keep the deadline in
		// sight while checking them.
		if i&255 == 255 && !r.step(cc.Seg) {
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

func isCodeFlag(kind, v string) bool {
	switch v {
	case "-c", "-e", "-E", "-r", "--eval", "--exec", "-p", "--print":
		return true
	}
	if len(v) > 2 && v[0] == '-' && v[1] != '-' {
		last := v[len(v)-1]
		switch kind {
		case "sh", "python":
			return last == 'c'
		case "node", "deno", "bun", "ruby", "perl", "rscript", "osascript":
			return last == 'e' || last == 'E'
		case "php":
			return last == 'r'
		}
	}
	return false
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

// appendOperandCandidates appends the words of an argument that may name a
// file.
func appendOperandCandidates(out []family.Field, base string, a family.Field) []family.Field {
	if a.Static && a.Val == "--" {
		return out
	}
	v := a.Val
	if eq := strings.IndexByte(v, '='); eq > 0 && eq < len(v)-1 {
		c := a
		c.Val = v[eq+1:]
		if c.Hint != "" {
			if he := strings.IndexByte(c.Hint, '='); he >= 0 {
				c.Hint = c.Hint[he+1:]
			}
		}
		out = append(out, c)
	}
	if strings.HasPrefix(v, "-") {
		return out
	}
	if base != "tar" && base != "zip" {
		return append(out, a)
	}
	lower := strings.ToLower(v)
	if base == "tar" && (strings.HasSuffix(lower, ".tar") || strings.HasSuffix(lower, ".tgz") || strings.HasSuffix(lower, ".tar.gz") || strings.HasSuffix(lower, ".zip")) {
		return out
	}
	if base == "zip" && strings.HasSuffix(lower, ".zip") {
		return out
	}
	return append(out, a)
}

// patternCommandTargets returns the files grep and rg read: not the pattern,
// but -f/--file arguments and every operand once a pattern came from an option.
func patternCommandTargets(args []family.Field) []family.Field {
	var out, positional []family.Field
	patternFromOption, files := false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		v := a.Val
		if v == "--" && a.Static {
			positional = append(positional, args[i+1:]...)
			break
		}
		if strings.HasPrefix(v, "--") {
			name, val, has := strings.Cut(v[2:], "=")
			switch name {
			case "file":
				patternFromOption = true
				if has {
					f := a
					f.Val = val
					out = append(out, f)
				} else if i+1 < len(args) {
					out = append(out, args[i+1])
					i++
				}
			case "regexp":
				patternFromOption = true
				if !has {
					i++
				}
			case "files":
				files = true
			case "after-context", "before-context", "context", "max-count":
				if !has {
					i++
				}
			}
			continue
		}
		if len(v) > 1 && v[0] == '-' {
			for j := 1; j < len(v); j++ {
				c := v[j]
				if strings.IndexByte("efABCm", c) < 0 {
					continue
				}
				if c == 'e' || c == 'f' {
					patternFromOption = true
				}
				rest := v[j+1:]
				var val family.Field
				if rest != "" {
					val = a
					val.Val = rest
				} else if i+1 < len(args) {
					val = args[i+1]
					i++
				}
				if c == 'f' {
					out = append(out, val)
				}
				break
			}
			continue
		}
		positional = append(positional, a)
	}
	if len(positional) > 0 && !patternFromOption && !files {
		positional = positional[1:]
	}
	return append(out, positional...)
}

// findSecretTargets returns the start paths of find, and with -exec {} the
// names it matches, since the exec command then reads them.
func findSecretTargets(args []family.Field) []family.Field {
	var out []family.Field
	i := 0
	for i < len(args) && !strings.HasPrefix(args[i].Val, "-") && args[i].Val != "(" && args[i].Val != "!" {
		out = append(out, args[i])
		i++
	}
	for j := i; j < len(args); j++ {
		v := args[j].Val
		if v != "-exec" && v != "-execdir" {
			continue
		}
		k := j + 1
		var cmd []family.Field
		for k < len(args) && args[k].Val != ";" && args[k].Val != "+" {
			cmd = append(cmd, args[k])
			k++
		}
		usesPlaceholder := false
		for idx, c := range cmd {
			if c.Val == "{}" {
				usesPlaceholder = true
				continue
			}
			if idx > 0 && !strings.HasPrefix(c.Val, "-") {
				out = append(out, c)
			}
		}
		if usesPlaceholder && len(cmd) > 0 && !nonPathOperandCmds[family.CommandBase(cmd[0].Val)] {
			for m := 0; m+1 < j; m++ {
				if findMatchPrimaries[args[m].Val] {
					v := args[m+1]
					out = append(out, v)
					t := v
					t.Val = strings.Trim(strings.TrimSuffix(strings.TrimPrefix(v.Val, "*/"), "/*"), "*")
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// guardExplainCommandIndex returns the index of the command-text argument of
// a guard explain invocation (phantom guard check/explain, cc-safety-net
// explain), which only analyses that text; 0 when args are something else.
func guardExplainCommandIndex(args []family.Field) int {
	switch family.CommandBase(args[0].Val) {
	case "phantom", "cc-safety-net", "ccsn", "bunx", "npx", "pnpx", "bun", "node":
	default:
		return 0
	}
	v := family.Vals(args)
	i := 0
	base := family.CommandBase(v[0])
	switch {
	case base == "phantom":
		if len(v) > 2 && v[1] == "guard" && (v[2] == "check" || v[2] == "explain") {
			i = 3
		}
	case base == "cc-safety-net" || base == "ccsn":
		i = 1
	case base == "bunx" || base == "npx" || base == "pnpx":
		i = 1
		for i < len(v) && strings.HasPrefix(v[i], "-") {
			i++
		}
		if i >= len(v) || (v[i] != "cc-safety-net" && v[i] != "ccsn") {
			return 0
		}
		i++
	case base == "bun" || base == "node":
		i = 1
		if base == "bun" && i < len(v) && v[i] == "run" {
			i++
		}
		if i >= len(v) || (v[i] != "src/cli/cc-safety-net.ts" && v[i] != "dist/bin/cc-safety-net.js") {
			return 0
		}
		i++
	default:
		return 0
	}
	if base != "phantom" {
		if i >= len(v) || v[i] != "explain" {
			return 0
		}
		i++
	}
	// Skip options; their values stay candidates.
	for i < len(v) && strings.HasPrefix(v[i], "-") {
		if v[i] == "--cwd" || v[i] == "--mode" {
			i += 2
			continue
		}
		i++
	}
	if i >= len(v) {
		return 0
	}
	return i
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
	return r.block(rule, family.FmtReason(reasonSecret, what), seg)
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
		if within(p, ok) {
			return "", ""
		}
	}
	if envExemptNames[name] || strings.HasPrefix(name, ".env.example.") || strings.HasPrefix(name, ".env.sample.") {
		return "", ""
	}
	rp := ""
	if filepath.IsAbs(p) {
		rp = r.realPath(p)
	}
	for _, d := range r.secretDeny {
		if within(p, d) || (rp != "" && within(rp, r.realPath(d))) {
			return guard.RuleSecretDenyPath, d
		}
	}
	if r.home != "" {
		ix := r.secretIndex()
		lrp := strings.ToLower(rp)
		for _, e := range ix.homeDirs {
			if within(lowerPath, e.path) || within(lrp, e.path) {
				return guard.RuleSecretHomeCredentials, e.what
			}
		}
		if what, ok := ix.homeExact[lowerPath]; ok {
			return guard.RuleSecretHomeCredentials, what
		}
		// A file can be reached through a symlink to a credential file, or
		// be the target a credential path links to; compare resolved paths.
		for _, e := range ix.creds {
			if lowerPath == e.path || lrp == e.path || (e.real != "" && lrp == e.real) || (e.tree && within(lowerPath, e.path)) {
				return guard.RuleSecretAgentCredential, e.what
			}
		}
		if what, ok := ix.configs[lowerPath]; ok && r.enabled(guard.RuleSecretAgentConfig) {
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

// secretIdx holds the home-anchored secret locations of one request,
// lower-cased and resolved once rather than for every candidate path.
type secretIdx struct {
	homeDirs  []secretLoc
	homeExact map[string]string
	creds     []secretLoc
	configs   map[string]string
}

type secretLoc struct {
	path, real, what string
	tree             bool // everything below path is covered too
}

func (r *run) secretIndex() *secretIdx {
	if r.secretIx != nil {
		return r.secretIx
	}
	key := [2]string{r.home, r.req.Env["CODEX_HOME"]}
	if ix := r.eng.secrets.get(key, r.eng.now()); ix != nil {
		r.secretIx = ix
		return ix
	}
	ix := r.buildSecretIndex()
	r.eng.secrets.put(key, ix, r.eng.now())
	r.secretIx = ix
	return ix
}

// secretIndexTTL is how long resolved credential locations are reused.
// Resolving them costs dozens of system calls, about half of a simple
// check; the files they name rarely move, and a second is short.
const secretIndexTTL = time.Second

// secretCache shares secret indexes between the checks of an Engine. The
// indexes are never modified once built.
type secretCache struct {
	mu      sync.Mutex
	entries map[[2]string]secretCacheEntry
}

type secretCacheEntry struct {
	ix *secretIdx
	at time.Time
}

func (c *secretCache) get(key [2]string, now time.Time) *secretIdx {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.Sub(e.at) > secretIndexTTL || now.Before(e.at) {
		return nil
	}
	return e.ix
}

func (c *secretCache) put(key [2]string, ix *secretIdx, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= 64 {
		c.entries = map[[2]string]secretCacheEntry{}
	}
	c.entries[key] = secretCacheEntry{ix: ix, at: now}
}

func (r *run) buildSecretIndex() *secretIdx {
	ix := &secretIdx{homeExact: map[string]string{}, configs: map[string]string{}}
	home := strings.ToLower(r.home)
	rhome := strings.ToLower(r.realPath(r.home))
	for _, parts := range homeSecretDirs {
		what := "~/" + strings.Join(parts, "/")
		for _, h := range []string{home, rhome} {
			ix.homeDirs = append(ix.homeDirs, secretLoc{path: filepath.Join(append([]string{h}, parts...)...), what: what})
		}
	}
	for _, parts := range homeConfigBases {
		for _, suf := range configSuffixes {
			ix.homeExact[filepath.Join(append([]string{home}, parts...)...)+suf] = "~/" + strings.Join(parts, "/") + suf
		}
	}
	addCred := func(path, what string, tree bool) {
		real := ""
		if rp := r.realPath(path); rp != path {
			real = strings.ToLower(rp)
		}
		ix.creds = append(ix.creds, secretLoc{path: strings.ToLower(path), real: real, what: what, tree: tree})
	}
	for _, f := range agentCredentialFiles {
		addCred(filepath.Join(r.home, f), "~/"+f, false)
	}
	codexRoots := []string{filepath.Join(r.home, ".codex")}
	if ch, ok := r.req.Env["CODEX_HOME"]; ok && filepath.IsAbs(ch) {
		codexRoots = append(codexRoots, filepath.Clean(ch), r.realPath(ch))
	}
	for _, root := range codexRoots {
		for _, f := range codexCredentialFiles {
			addCred(filepath.Join(root, f), "codex "+f, true)
		}
	}
	for _, f := range agentConfigFiles {
		ix.configs[filepath.Join(home, f)] = "~/" + f
	}
	return ix
}

// declSecrets is a hook for declaration clauses; values assigned are not
// accesses, so there is nothing to check.
func (r *run) declSecrets(string, []declOp, *scope) *family.Finding { return nil }

// quotedLiterals returns up to max string literals of code ('...', "..." or
// `...`, backslash escapes honoured), quotes included. It is a linear scan:
// a regular expression is too slow on the long code agents sometimes inline.
func quotedLiterals(code string, max int) []string {
	var out []string
	for i := 0; i < len(code) && len(out) < max; i++ {
		q := code[i]
		if q != '\'' && q != '"' && q != '`' {
			continue
		}
		j := i + 1
		for j < len(code) && code[j] != q {
			if code[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(code) {
			// Unclosed: not a literal; go on after the quote.
			continue
		}
		out = append(out, code[i:j+1])
		i = j
	}
	return out
}

func isPathWordByte(c byte) bool { return pathWordBytes[c] }

// pathWordBytes is the immutable table of bytes that make up bare paths.
var pathWordBytes = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_./~@+-", byte(c)) >= 0
	}
	return t
}()

// pathLikeWords returns up to max maximal runs of path characters that
// contain '.', '/' or '~': the bare paths in code.
func pathLikeWords(code string, max int) []string {
	var out []string
	for i := 0; i < len(code) && len(out) < max; {
		if !isPathWordByte(code[i]) {
			i++
			continue
		}
		j := i
		pathy := false
		for j < len(code) && isPathWordByte(code[j]) {
			pathy = pathy || code[j] == '.' || code[j] == '/' || code[j] == '~'
			j++
		}
		if pathy {
			out = append(out, code[i:j])
		}
		i = j
	}
	return out
}

var inlineAccessNamespaces = family.NameSet("bun", "child_process", "deno", "dotenv", "fs", "subprocess")
var inlineAccessParts = family.NameSet("append", "awk", "base64", "cat", "chmod", "chown", "connect", "copy", "cp", "database", "dd", "eval",
	"exec", "fetch", "file", "function", "grep", "head", "include", "load", "move", "mv", "open", "popen", "read", "remove", "rename",
	"require", "rg", "rm", "sed", "shell", "source", "spawn", "strings", "system", "tail", "tar", "truncate", "unlink", "write", "xxd", "zip")

// secretsInCode scans interpreter code for secret paths: quoted literals,
// base64 literals that decode to paths, and bare path-like words. For node and
// bun, literals are data unless the code visibly touches files or processes.
func (r *run) secretsInCode(cc *cmdCall, kind, code string) *family.Finding {
	if r.quietSecrets > 0 || !r.secretsOn() {
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
		if d, ok := decodeBase64(body); ok && isPrintable(d) {
			cands = append(cands, d)
		}
	}
	cands = append(cands, pathLikeWords(code, 256)...)
	if len(cands) == 0 {
		return nil
	}
	if (kind == "node" || kind == "bun") && !r.mode.Has(guard.ModeStrict) {
		masked, ok := maskJSLiterals(code)
		if ok && !jsAccess(masked) {
			// Inert data, except for paths the user denied explicitly.
			for _, c := range cands {
				if rule, what := r.sensitivePath(cc.Cwd, c); rule == guard.RuleSecretDenyPath {
					return r.block(rule, family.FmtReason(reasonSecret, what), cc.Seg)
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
	for _, m := range awkGetlineRe.FindAllStringSubmatch(prog, 32) {
		if f := r.secretPathFinding(cc.Cwd, m[1], cc.Seg); f != nil {
			return f
		}
	}
	return nil
}

var awkGetlineRe = regexp.MustCompile(`\bgetline(?:\s+[A-Za-z_][A-Za-z0-9_]*)?\s*<\s*"((?:\\.|[^"\\])*)"`)

func isPrintable(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == 0xfffd {
			return false
		}
	}
	return true
}

// maskJSLiterals blanks string and template literals; it fails on template
// interpolation or tagged templates, which may compute paths.
func maskJSLiterals(code string) (string, bool) {
	b := []byte(code)
	for i := 0; i < len(b); i++ {
		q := b[i]
		if q != '\'' && q != '"' && q != '`' {
			continue
		}
		if q == '`' {
			for j := i - 1; j >= 0; j-- {
				if b[j] == ' ' || b[j] == '\t' || b[j] == '\n' {
					continue
				}
				c := b[j]
				if c == '_' || c == '$' || c == ']' || c == ')' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
					return "", false
				}
				break
			}
		}
		b[i] = ' '
		closed := false
		for j := i + 1; j < len(b); j++ {
			c := b[j]
			b[j] = ' '
			if c == '\\' {
				j++
				if j < len(b) {
					b[j] = ' '
				}
				continue
			}
			if q == '`' && c == '$' && j+1 < len(code) && code[j+1] == '{' {
				return "", false
			}
			if q != '`' && (c == '\n' || c == '\r') {
				return "", false
			}
			if c == q {
				i = j
				closed = true
				break
			}
		}
		if !closed {
			return "", false
		}
	}
	return string(b), true
}

// jsIdentifiers returns the spans of JavaScript identifiers in code.
func jsIdentifiers(code string) [][2]int {
	var out [][2]int
	isStart := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$' }
	for i := 0; i < len(code); {
		if !isStart(code[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(code) && (isStart(code[j]) || code[j] >= '0' && code[j] <= '9') {
			j++
		}
		out = append(out, [2]int{i, j})
		i = j
	}
	return out
}

// jsAccess reports identifiers that touch files or processes.
func jsAccess(code string) bool {
	for _, loc := range jsIdentifiers(code) {
		id := code[loc[0]:loc[1]]
		if inlineAccessNamespaces[strings.ToLower(id)] {
			return true
		}
		parts := splitIdentifier(id)
		hit := false
		for _, p := range parts {
			if inlineAccessParts[p] {
				hit = true
			}
		}
		if !hit {
			continue
		}
		if len(parts) > 1 {
			return true
		}
		if prevNonSpace(code, loc[0]) == '.' || nextNonSpace(code, loc[1]) == '(' {
			return true
		}
	}
	return false
}

func splitIdentifier(id string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c == '_' || c == '$' {
			if cur.Len() > 0 {
				parts = append(parts, strings.ToLower(cur.String()))
				cur.Reset()
			}
			continue
		}
		if c >= 'A' && c <= 'Z' && i > 0 && ((id[i-1] >= 'a' && id[i-1] <= 'z') || (id[i-1] >= '0' && id[i-1] <= '9')) {
			parts = append(parts, strings.ToLower(cur.String()))
			cur.Reset()
		}
		cur.WriteByte(c)
	}
	if cur.Len() > 0 {
		parts = append(parts, strings.ToLower(cur.String()))
	}
	return parts
}

func prevNonSpace(s string, i int) byte {
	for j := i - 1; j >= 0; j-- {
		if s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
			return s[j]
		}
	}
	return 0
}

func nextNonSpace(s string, i int) byte {
	for j := i; j < len(s); j++ {
		if s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
			return s[j]
		}
	}
	return 0
}

// appliesPatch recognises commands that apply a patch read from stdin.
func appliesPatch(base string, args []family.Field) bool {
	if base == "patch" {
		return true
	}
	if base != "git" {
		return false
	}
	for _, a := range args[1:] {
		if strings.HasPrefix(a.Val, "-") {
			continue
		}
		return a.Val == "apply" || a.Val == "am"
	}
	return false
}

// patchPaths returns the file names in the headers of a unified diff.
func patchPaths(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		var rest string
		switch {
		case strings.HasPrefix(line, "--- "), strings.HasPrefix(line, "+++ "):
			rest = line[4:]
		case strings.HasPrefix(line, "diff --git "):
			out = append(out, strings.Fields(line[len("diff --git "):])...)
			continue
		case strings.HasPrefix(line, "rename from "), strings.HasPrefix(line, "rename to "),
			strings.HasPrefix(line, "copy from "), strings.HasPrefix(line, "copy to "):
			_, rest, _ = strings.Cut(line, " ")
			_, rest, _ = strings.Cut(rest, " ")
		default:
			continue
		}
		if i := strings.IndexByte(rest, '\t'); i >= 0 {
			rest = rest[:i]
		}
		if rest = strings.TrimSpace(rest); rest != "" && rest != "/dev/null" {
			out = append(out, rest)
		}
	}
	return out
}
