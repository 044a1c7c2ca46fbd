package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/corpus"
)

// corpusCommands returns the commands of the v0.9 and v2 corpora up to
// maxLen bytes, or nil when the corpora are not available. Unlike the
// conformance test it never skips: fuzzing and benchmarking still have the
// unit commands.
func corpusCommands(t testing.TB, maxLen int) []string {
	t.Helper()
	root := corpus.RepoRoot()
	dir := os.Getenv("PHANTOM_CONFORMANCE_DIR")
	if dir == "" && root != "" {
		dir = filepath.Join(filepath.Dir(root), "shared", "conformance")
	}
	var out []string
	for _, name := range []string{"safety-net-v0.9.jsonl", "safety-net-v2.jsonl"} {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err != nil {
			return nil
		}
		for _, c := range corpus.Read(t, path, func(*corpusCase, int) {}) {
			if len(c.Cmd) <= maxLen {
				out = append(out, c.Cmd)
			}
		}
	}
	return out
}

// schedulingSlack is how late a decision may arrive because of the Go
// scheduler rather than the engine.
const schedulingSlack = 5 * time.Millisecond

// FuzzCheck holds the engine to its contract on any input: no panic (a
// recovered panic is reported as engine.internal_error), a well-formed
// decision, and an allow only when it came within the time budget.
func FuzzCheck(f *testing.F) {
	seeds := append(unitCommands(), corpusCommands(f, 16<<10)...)
	for i, s := range seeds {
		f.Add(s, uint8(i%16))
	}
	home, err := filepath.EvalSymlinks(f.TempDir())
	if err != nil {
		f.Fatalf("could not resolve temp dir: %v", err)
	}
	project := filepath.Join(home, "project")
	if err := os.MkdirAll(project, 0o755); err != nil {
		f.Fatalf("could not create project: %v", err)
	}
	eng := policy.New()
	f.Fuzz(func(t *testing.T, cmd string, modeBits uint8) {
		mode := guard.Mode(modeBits & 0x0f)
		req := policy.Request{Command: cmd, Cwd: project, Mode: mode, Env: map[string]string{"HOME": home, "TMPDIR": "/tmp"}}
		start := time.Now()
		d := eng.Check(context.Background(), req)
		elapsed := time.Since(start)
		switch d.Decision {
		case guard.Allow:
			if d.Rule != "" {
				t.Fatalf("allow with a rule %q for %q", d.Rule, cmd)
			}
			// The engine refuses to allow past its own deadline, but the time
			// seen from here also holds scheduler and GC pauses of a busy
			// machine. Those do not repeat; slowness of the engine does, so
			// only the fastest of a few runs counts.
			for try := 0; try < 3 && elapsed > policy.DefaultTimeout+schedulingSlack; try++ {
				start := time.Now()
				eng.Check(context.Background(), req)
				elapsed = min(elapsed, time.Since(start))
			}
			if elapsed > policy.DefaultTimeout+schedulingSlack {
				t.Fatalf("allowed after %v, over the %v budget: %q", elapsed, policy.DefaultTimeout, cmd)
			}
		case guard.Block:
			if d.Rule == "" || d.Reason == "" {
				t.Fatalf("block without rule or reason: %+v for %q", d, cmd)
			}
			if d.Rule == guard.RuleEngineInternal {
				t.Fatalf("engine panicked on %q (mode %v): %s", cmd, mode, d.Reason)
			}
		default:
			t.Fatalf("decision %q is neither allow nor block for %q", d.Decision, cmd)
		}
	})
}
