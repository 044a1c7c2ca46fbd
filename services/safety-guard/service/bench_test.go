package service_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/guardclient"
	"github.com/phantom-run/phantom/services/safety-guard/judge"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
	"github.com/phantom-run/phantom/services/safety-guard/service"
)

// agentCommands is what coding agents typically run, some of it blocked:
// the mix the hook sees.
var agentCommands = []string{
	"git status", "git diff HEAD~1 -- src/", "ls -la", "npm test", "go test ./... 2>&1 | tail -50",
	"cat README.md | head -50", "rm -rf node_modules dist", "find . -name '*.go' | xargs grep -n TODO",
	"python3 -c 'import sys; print(sys.version)'", "git add -A && git commit -m 'fix: handle empty input'",
	"git reset --hard HEAD~1", "rm -rf /", "git push --force origin main", "git checkout -- src/main.go",
}

// latencies collects one duration per operation and reports percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	pct := func(p float64) float64 { return float64(l[int(p*float64(len(l)-1))].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
	b.ReportMetric(float64(l[len(l)-1].Nanoseconds()), "max-ns")
}

// BenchmarkDecision measures one decision three ways in the same run: the
// engine in process; the safety-guard service over NATS through the guard
// client, as the runner's relay and the worktree service ask it (the policy
// chosen from the run's workspace and profile, the decision audited); and,
// as the baseline, a bare NATS request/reply of the same size to a
// responder that answers at once.
//
//	go test -run '^$' -bench BenchmarkDecision -benchtime 20000x ./service/
func BenchmarkDecision(b *testing.B) {
	tb := setup(b, 1, service.Config{})
	ctx := tb.ctx
	root := b.TempDir()
	project := filepath.Join(root, "project")
	env := map[string]string{"HOME": root, "TMPDIR": "/tmp"}
	const runID = "01JBENCHRUN"
	pub := bus.NewPublisher(tb.nats.JS, "phantom/bench/1")
	if _, err := pub.Event(ctx, events.RunRequested{RunID: runID, Spec: runs.Spec{Agent: "claude", Prompt: "p", Workspace: project}}); err != nil {
		b.Fatal(err)
	}
	reqs := make([]rpc.GuardCheckRequest, len(agentCommands))
	for i, c := range agentCommands {
		reqs[i] = rpc.GuardCheckRequest{RunID: runID, Attempt: 1, Command: c, Cwd: project, Env: env, Origin: rpc.GuardOriginHook}
	}

	b.Run("bare-nats", func(b *testing.B) {
		nc, _ := tb.nats.Connect(b)
		reply, _ := json.Marshal(rpc.GuardCheckReply{Decision: guard.Allow})
		sub, err := nc.QueueSubscribe("bench.bare", "bench", func(m *nats.Msg) { _ = m.Respond(reply) })
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = sub.Unsubscribe() }()
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
		payload, _ := json.Marshal(reqs[0])
		lat := make(latencies, 0, 1<<15)
		for b.Loop() {
			start := time.Now()
			if _, err := tb.nats.Conn.RequestWithContext(ctx, "bench.bare", payload); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		lat.report(b)
	})

	b.Run("in-process", func(b *testing.B) {
		eng := policy.New()
		lat := make(latencies, 0, 1<<15)
		i := 0
		for b.Loop() {
			preq, _, err := judge.Resolve(reqs[i%len(reqs)], guard.ModeDefault, nil)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			eng.Check(ctx, preq)
			lat = append(lat, time.Since(start))
			i++
		}
		lat.report(b)
	})

	b.Run("over-nats", func(b *testing.B) {
		c := guardclient.New(tb.nats.Conn)
		lat := make(latencies, 0, 1<<15)
		i := 0
		for b.Loop() {
			start := time.Now()
			res, err := c.Check(ctx, reqs[i%len(reqs)])
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
			if res.Error != "" {
				b.Fatal(res.Error)
			}
			i++
		}
		lat.report(b)
	})
}
