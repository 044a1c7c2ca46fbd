package service_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
)

// BenchmarkEventStream replays a run of 2,000 events through the gateway's
// SSE endpoint and, as the baseline, through a bare ordered consumer on the
// same subjects.
func BenchmarkEventStream(b *testing.B) {
	const chunks = 2000
	bb := setup(b)
	id := envelope.NewID()
	bb.project(bb.emit(events.RunRequested{RunID: id, Spec: fakeSpec}))
	for i := 1; i <= chunks; i++ {
		bb.emit(chunk(id, int64(i)))
	}
	bb.emit(events.RunCompleted{RunID: id, Attempt: 1})
	const total = chunks + 2

	var gw, raw time.Duration
	for b.Loop() {
		start := time.Now()
		c := bb.openEvents(id, "", "")
		n := 0
		for {
			if _, err := c.next(); err != nil {
				break
			}
			n++
		}
		c.close()
		gw += time.Since(start)
		require.Equal(b, total, n)

		start = time.Now()
		cons, err := bb.nats.JS.OrderedConsumer(bb.ctx, streams.Events, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{subjects.AggregateEvents(events.AggregateRun, id)},
		})
		require.NoError(b, err)
		it, err := cons.Messages(jetstream.PullMaxMessages(64))
		require.NoError(b, err)
		for range total {
			_, err := it.Next()
			require.NoError(b, err)
		}
		it.Stop()
		raw += time.Since(start)
	}
	b.ReportMetric(float64(total*b.N)/gw.Seconds(), "gateway_events/s")
	b.ReportMetric(float64(total*b.N)/raw.Seconds(), "raw_events/s")
	b.ReportMetric(gw.Seconds()/raw.Seconds(), "gateway/raw")
}

// BenchmarkSubmit measures POST /v1/runs answered by a scheduler that
// queues at once, against the bare bus round trip (subscribe, publish the
// command, wait for run.queued) to the same scheduler.
func BenchmarkSubmit(b *testing.B) {
	bb := setup(b)
	bb.startScheduler(queued)
	body := []byte(`{"agent":"fake","prompt":"p","workspace":"/w"}`)
	pub := bus.NewPublisher(bb.nats.JS, "phantom/bench/raw")

	var gw, raw time.Duration
	for b.Loop() {
		start := time.Now()
		res := bb.do(bb.request(http.MethodPost, "/v1/runs", body))
		gw += time.Since(start)
		require.Equal(b, http.StatusAccepted, res.status)

		start = time.Now()
		runID := envelope.NewID()
		sub, err := bb.nats.Conn.SubscribeSync(subjects.AggregateEvents(events.AggregateRun, runID))
		require.NoError(b, err)
		ctx, cancel := context.WithTimeout(bb.ctx, 5*time.Second)
		require.NoError(b, bb.nats.Conn.FlushWithContext(ctx))
		_, err = pub.Command(ctx, commands.SubmitRun{RunID: runID, Spec: runs.Spec{Agent: "fake", Prompt: "p", Workspace: "/w"}}, bus.WithID("submit-"+runID))
		require.NoError(b, err)
		for {
			msg, err := sub.NextMsgWithContext(ctx)
			require.NoError(b, err)
			if msg.Header.Get(envelope.HeaderType) == "run.queued" {
				break
			}
		}
		cancel()
		_ = sub.Unsubscribe()
		raw += time.Since(start)
	}
	b.ReportMetric(float64(gw.Microseconds())/float64(b.N), "gateway_µs/submit")
	b.ReportMetric(float64(raw.Microseconds())/float64(b.N), "raw_µs/submit")
	b.ReportMetric(gw.Seconds()/raw.Seconds(), "gateway/raw")
}
