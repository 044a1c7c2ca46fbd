package hookcmd_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/services/safety-guard/guardtest"
)

// phantomBinary builds the phantom command (or takes PHANTOM_BENCH_BINARY),
// the binary the runner names in agents' hook settings.
func phantomBinary(b *testing.B) string {
	if p := os.Getenv("PHANTOM_BENCH_BINARY"); p != "" {
		return p
	}
	root, err := os.Getwd()
	if err != nil {
		b.Fatal(err)
	}
	for ; ; root = filepath.Dir(root) {
		if _, err := os.Stat(filepath.Join(root, "go.work")); err == nil {
			break
		}
		if root == filepath.Dir(root) {
			b.Skip("no go.work above the working directory: set PHANTOM_BENCH_BINARY to a phantom binary")
		}
	}
	out := filepath.Join(b.TempDir(), "phantom")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/phantom")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("could not build phantom: %v\n%s", err, msg)
	}
	return out
}

type samples []time.Duration

func (l samples) report(b *testing.B) {
	slices.Sort(l)
	pct := func(p float64) float64 { return float64(l[int(p*float64(len(l)-1))].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
	b.ReportMetric(float64(l[len(l)-1].Nanoseconds()), "max-ns")
}

// BenchmarkHookProcess times `phantom guard hook` as an agent runs it: from
// the process's start to its answer (the process has exited and its stdout
// is read), for a mix of allowed and blocked commands. In the same run: the
// same binary answering empty input (process start and exit, nothing
// judged), and a bare NATS request/reply.
//
//	go test -run '^$' -bench BenchmarkHookProcess -benchtime 300x ./hookcmd/
func BenchmarkHookProcess(b *testing.B) {
	bin := phantomBinary(b)
	tb := setup(b)
	relay := guardtest.Serve(b, tb.nats.Conn, "01JHOOKBENCH", 1)
	cwd, home := b.TempDir(), b.TempDir()
	payloads := []string{claudePayload("git status", cwd), claudePayload("git reset --hard HEAD~1", cwd),
		claudePayload("npm test", cwd), claudePayload("rm -rf /", cwd)}
	base := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}

	hook := func(b *testing.B, env []string, stdin func(i int) string, check func(i int, out []byte)) {
		lat := make(samples, 0, 1024)
		i := 0
		for b.Loop() {
			cmd := exec.Command(bin, "guard", "hook")
			cmd.Env = env
			cmd.Stdin = strings.NewReader(stdin(i))
			var out bytes.Buffer
			cmd.Stdout = &out
			start := time.Now()
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
			check(i, out.Bytes())
			i++
		}
		lat.report(b)
	}
	mix := func(i int) string { return payloads[i%len(payloads)] }
	decided := func(i int, out []byte) {
		// Odd payloads are blocked, even ones allowed.
		if (i%2 == 1) != bytes.Contains(out, []byte(`"permissionDecision":"deny"`)) {
			b.Fatalf("payload %d answered %q", i%len(payloads), out)
		}
	}

	b.Run("bare-nats", func(b *testing.B) {
		nc, _ := tb.nats.Connect(b)
		reply, _ := json.Marshal(rpc.GuardCheckReply{Decision: "allow"})
		sub, err := nc.Subscribe("bench.bare", func(m *nats.Msg) { _ = m.Respond(reply) })
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = sub.Unsubscribe() }()
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
		payload, _ := json.Marshal(rpc.GuardCheckRequest{Command: "git status", Cwd: cwd})
		lat := make(samples, 0, 1024)
		for b.Loop() {
			start := time.Now()
			if _, err := tb.nats.Conn.Request("bench.bare", payload, time.Second); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		lat.report(b)
	})
	b.Run("process-start", func(b *testing.B) {
		hook(b, base, func(int) string { return "" }, func(_ int, out []byte) {
			if len(out) > 0 {
				b.Fatalf("empty input answered %q", out)
			}
		})
	})
	b.Run("hook-relay", func(b *testing.B) {
		hook(b, append(base, "PHANTOM_GUARD_SOCKET="+relay.Path), mix, decided)
	})
	b.Run("hook-nats", func(b *testing.B) {
		hook(b, append(base, "PHANTOM_NATS_URL="+tb.nats.URL), mix, decided)
	})
	b.Run("hook-local", func(b *testing.B) {
		hook(b, base, mix, decided)
	})
}
