package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
)

// guardBundle runs the CLI with a controlled environment (HOME included).
func guardBundle(t *testing.T) *bundle {
	b := setup(t)
	home := t.TempDir()
	b.env["HOME"] = home
	return b
}

func (b *bundle) runEnv(args ...string) result {
	b.t.Helper()
	var out, errb strings.Builder
	env := []string{}
	for k, v := range b.env {
		env = append(env, k+"="+v)
	}
	code := Main(b.t.Context(), App{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return b.env[k] }, Environ: func() []string { return env },
	}, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestGuardCheckJudgesLocallyAndExitsByDecision(t *testing.T) {
	b := guardBundle(t)
	repo := t.TempDir()
	r := b.runEnv("guard", "check", "--cwd", repo, "--", "git reset --hard")
	require.Equal(t, ExitBlocked, r.code, r.stderr)
	var out checkResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	require.Equal(t, checkResult{Decision: "block", Rule: "git.reset_hard", Segment: "git reset --hard", Mode: "default", Reason: out.Reason}, out)
	require.Contains(t, out.Reason, "reset --hard")

	r = b.runEnv("guard", "check", "--cwd", repo, "--", "git", "status")
	require.Equal(t, 0, r.code, r.stderr)
	require.JSONEq(t, `{"decision":"allow","rule":"","reason":"","mode":"default"}`, r.stdout)

	// Modes: unparsable input passes in default mode, not in strict.
	require.Equal(t, 0, b.runEnv("guard", "check", "--cwd", repo, "--", "echo 'open").code)
	require.Equal(t, ExitBlocked, b.runEnv("guard", "check", "--cwd", repo, "--mode", "strict", "--", "echo 'open").code)

	// The project's and the user's rule files apply.
	require.NoError(t, os.WriteFile(filepath.Join(repo, ".safety-net.json"),
		[]byte(`{"version":1,"rules":[{"name":"no-add-all","command":"git","subcommand":"add","block_args":["-A"],"reason":"Stage files one by one."}]}`), 0o644))
	r = b.runEnv("guard", "check", "--cwd", repo, "--", "git add -A")
	require.Equal(t, ExitBlocked, r.code)
	require.Contains(t, r.stdout, `"rule":"custom:no-add-all"`)
	require.Contains(t, r.stdout, `"policies":["rules:`+filepath.Join(repo, ".safety-net.json")+`"]`)

	// What cannot be judged as asked exits 1, never 0 or 2.
	for _, args := range [][]string{
		{"guard", "check", "--mode", "lenient", "--", "ls"},
		{"guard", "check", "--bogus", "--", "ls"},
		{"guard", "check"},
	} {
		r := b.runEnv(args...)
		require.Equal(t, ExitFailed, r.code, "%v: %s", args, r.stderr)
		require.NotEmpty(t, r.stderr)
	}
	require.NoError(t, os.WriteFile(filepath.Join(repo, ".safety-net.json"), []byte(`{"version":1,"rules":[{}]}`), 0o644))
	r = b.runEnv("guard", "check", "--cwd", repo, "--", "ls")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "rules[0].name")
}

func TestGuardHookAnswersThroughTheCLITooAndListsRules(t *testing.T) {
	b := guardBundle(t)
	var out, errb strings.Builder
	code := Main(b.t.Context(), App{
		Stdin:  strings.NewReader(`{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"rm -rf /"},"cwd":"/tmp"}`),
		Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Environ: func() []string { return nil },
	}, []string{"guard", "hook"})
	require.Equal(t, 0, code, errb.String())
	require.Contains(t, out.String(), `"permissionDecision":"deny"`)

	r := b.runEnv("guard", "rules")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "git.reset_hard")
	require.Contains(t, r.stdout, "rm.root_or_home                        yes")
}

// guardAPI answers the safety guard's endpoints as the gateway does and
// records what it was sent.
type guardAPI struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   []string
}

func (b *bundle) serveGuardAPI(t *testing.T) *guardAPI {
	g := &guardAPI{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.requests = append(g.requests, r)
		g.bodies = append(g.bodies, string(body))
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "GET /v1/policy-audits":
			if r.URL.Query().Get("cursor") == "" {
				_, _ = io.WriteString(w, `{"audits":[{"seq":9,"runId":"01JRUN","time":"2026-03-01T12:00:00Z","decision":"block","rule":"git.reset_hard","command":"git reset --hard","origin":"hook","policies":[]}],"nextCursor":"c2"}`)
				return
			}
			_, _ = io.WriteString(w, `{"audits":[{"seq":3,"runId":"01JRUN","time":"2026-03-01T11:00:00Z","decision":"allow","rule":null,"command":"ls","origin":"hook","policies":[]}],"nextCursor":null}`)
		case "GET /v1/guard/policies":
			_, _ = io.WriteString(w, `{"policies":[{"id":"global","scope":"global","target":"","policy":{"mode":"strict"},"updatedAt":"2026-03-01T12:00:00Z"}]}`)
		case "PUT /v1/guard/policies":
			var req struct {
				Scope, Target string
				Policy        events.GuardPolicy
			}
			_ = json.Unmarshal(body, &req)
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "x", "scope": req.Scope, "target": req.Target, "policy": req.Policy})
		case "DELETE /v1/guard/policies":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	b.env["PHANTOM_URL"] = srv.URL
	return g
}

func TestGuardAuditsAndPoliciesTalkToTheAPI(t *testing.T) {
	b := guardBundle(t)
	api := b.serveGuardAPI(t)

	r := b.runEnv("guard", "audits", "--run", "01JRUN", "--decision", "block")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "AGE")
	require.Contains(t, r.stdout, "git.reset_hard")
	require.Contains(t, r.stderr, "--all")
	api.mu.Lock()
	q := api.requests[0].URL.Query()
	api.mu.Unlock()
	require.Equal(t, "01JRUN", q.Get("run"))
	require.Equal(t, "block", q.Get("decision"))
	require.Equal(t, "20", q.Get("limit"))

	r = b.runEnv("guard", "audits", "--all", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var audits []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &audits))
	require.Len(t, audits, 2, "every page")

	r = b.runEnv("guard", "policy", "list")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `{"mode":"strict"}`)

	rules := filepath.Join(t.TempDir(), ".safety-net.json")
	require.NoError(t, os.WriteFile(rules, []byte(`{"version":1,"rules":[{"name":"no-publish","command":"npm","subcommand":"publish","block_args":["--access"],"reason":"CI."}]}`), 0o644))
	ws := t.TempDir()
	r = b.runEnv("guard", "policy", "set", "--workspace", ws, "--mode", "strict", "--rules", rules, "--off", "git.push_force", "--allow-path", "/scratch")
	require.Equal(t, 0, r.code, r.stderr)
	api.mu.Lock()
	put := api.bodies[len(api.bodies)-1]
	api.mu.Unlock()
	require.JSONEq(t, `{"scope":"workspace","target":"`+ws+`","policy":{"mode":"strict","rules":[{"name":"no-publish","command":"npm","subcommand":"publish","block_args":["--access"],"reason":"CI."}],"ruleSwitches":{"git.push_force":false},"allowPaths":["/scratch"]}}`, put)

	r = b.runEnv("guard", "policy", "rm", "--profile", "release")
	require.Equal(t, 0, r.code, r.stderr)
	api.mu.Lock()
	del := api.requests[len(api.requests)-1]
	api.mu.Unlock()
	require.Equal(t, http.MethodDelete, del.Method)
	require.Equal(t, "profile", del.URL.Query().Get("scope"))
	require.Equal(t, "release", del.URL.Query().Get("target"))

	for _, args := range [][]string{
		{"guard", "policy", "set", "--mode", "strict"},
		{"guard", "policy", "set", "--global", "--profile", "x"},
		{"guard", "policy", "set", "--global", "--rules", "/nonexistent/.safety-net.json"},
		{"guard", "audits", "--decision", "maybe"},
	} {
		r := b.runEnv(args...)
		require.Equal(t, ExitUsage, r.code, "%v: %s", args, r.stderr)
	}
}
