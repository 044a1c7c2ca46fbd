package eventlog_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/runner/internal/adapters/eventlog"
)

type bundle struct {
	ctx  context.Context
	nats *testenv.NATS
	pub  *bus.Publisher
}

func setup(t testing.TB) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	n := testenv.StartNATS(t)
	return &bundle{ctx: ctx, nats: n, pub: bus.NewPublisher(n.JS, "phantom/runner/test")}
}

func chunkEvent(runID string, stderr bool, seq int64, data string) events.Payload {
	c := events.RunChunk{RunID: runID, Attempt: 1, Seq: seq, Data: data, Lines: 1}
	if stderr {
		return events.RunChunkStderr{RunChunk: c}
	}
	return events.RunChunkStdout{RunChunk: c}
}

// readRun returns the run's events in stream order.
func (b *bundle) readRun(t *testing.T, runID string, want int) []bus.Event {
	t.Helper()
	c, err := b.nats.JS.OrderedConsumer(b.ctx, streams.Events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.AggregateEvents(events.AggregateRun, runID)},
	})
	require.NoError(t, err)
	var out []bus.Event
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		batch, err := c.Fetch(want-len(out), jetstream.FetchMaxWait(2*time.Second))
		require.NoError(t, err)
		for msg := range batch.Messages() {
			ev, err := bus.DecodeEvent(msg)
			require.NoError(t, err)
			out = append(out, ev)
		}
	}
	require.Len(t, out, want)
	_, err = c.Next(jetstream.FetchMaxWait(200 * time.Millisecond))
	require.Error(t, err, "no more than %d events", want)
	return out
}

func TestTwoStreamsKeepTheirOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, err := eventlog.New(b.ctx, b.nats.Conn, b.pub, 64, 5*time.Second)
	require.NoError(t, err)
	const n = 3000
	var wg sync.WaitGroup
	for _, stderr := range []bool{false, true} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(1); i <= n; i++ {
				require.NoError(t, a.Append(b.ctx, chunkEvent("r1", stderr, i, "x"), bus.WithAttempt(1)))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, a.AppendSync(b.ctx, events.RunCompleted{RunID: "r1", Attempt: 1}))
	require.NoError(t, a.Close())
	sent, _ := a.Counts()
	require.Equal(t, int64(2*n+1), sent)

	evs := b.readRun(t, "r1", 2*n+1)
	next := map[string]int64{"run.chunk.stdout": 1, "run.chunk.stderr": 1}
	for _, ev := range evs[:2*n] {
		var seq int64
		switch p := ev.Payload.(type) {
		case *events.RunChunkStdout:
			seq = p.Seq
		case *events.RunChunkStderr:
			seq = p.Seq
		}
		require.Equal(t, next[ev.Type], seq, "%s in order", ev.Type)
		next[ev.Type]++
	}
	require.Equal(t, "run.completed", evs[2*n].Type, "an event appended after Sync comes after everything before it")
}

func TestUnacknowledgedEventsAreResentAndStoredOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// An ack timeout shorter than any round trip: every event counts as lost
	// and is published again with its Nats-Msg-Id.
	a, err := eventlog.New(b.ctx, b.nats.Conn, b.pub, 16, time.Nanosecond)
	require.NoError(t, err)
	for i := int64(1); i <= 200; i++ {
		require.NoError(t, a.Append(b.ctx, chunkEvent("r2", false, i, "y")))
	}
	require.NoError(t, a.Close())
	_, resent := a.Counts()
	require.Greater(t, resent, int64(0))
	evs := b.readRun(t, "r2", 200)
	for i, ev := range evs {
		require.Equal(t, int64(i+1), ev.Payload.(*events.RunChunkStdout).Seq)
	}
}

func TestRetriesEndWhenTheAppenderIsStopped(t *testing.T) {
	t.Parallel()
	// A server without Phantom's streams: no publish is ever acknowledged.
	srv, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	pub := bus.NewPublisher(js, "phantom/runner/test", bus.WithRetries(1, time.Millisecond), bus.WithAttemptTimeout(100*time.Millisecond))

	ctx, cancel := context.WithCancel(context.Background())
	a, err := eventlog.New(ctx, nc, pub, 4, 50*time.Millisecond)
	require.NoError(t, err)
	require.NoError(t, a.Append(ctx, events.RunCompleted{RunID: "r3", Attempt: 1}))
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	err = a.Sync()
	require.ErrorIs(t, err, context.Canceled, "an event is retried until the appender stops, then reported lost")
	require.Less(t, time.Since(start), 5*time.Second)
	require.ErrorIs(t, a.Close(), context.Canceled)
	require.ErrorIs(t, a.Append(context.Background(), events.RunCompleted{RunID: "r3", Attempt: 1}), context.Canceled)
}

// BenchmarkAppendVsBareAsync measures the appender against a bare nats.go
// async publish of the same messages on the same stream, in the same run
// (alternating rounds, best of each, so warm-up favours neither), and
// reports the ratio (the target is >= 0.70).
func BenchmarkAppendVsBareAsync(b *testing.B) {
	bd := setup(b)
	data := strings.Repeat("a line of agent output, about this long.\n", 5)
	n := max(b.N, 20000)
	bareRound := func(round int) float64 {
		msgs := make([]*nats.Msg, n)
		for i := range msgs {
			m, _, err := bd.pub.EventMsg(bd.ctx, chunkEvent(fmt.Sprintf("bare%d", round), false, int64(i+1), data))
			require.NoError(b, err)
			msgs[i] = m
		}
		start := time.Now()
		for _, m := range msgs {
			_, err := bd.nats.JS.PublishMsgAsync(m)
			require.NoError(b, err)
		}
		select {
		case <-bd.nats.JS.PublishAsyncComplete():
		case <-time.After(60 * time.Second):
			b.Fatal("bare publishes not acknowledged")
		}
		return float64(n) / time.Since(start).Seconds()
	}
	ourRound := func(round int) float64 {
		a, err := eventlog.New(bd.ctx, bd.nats.Conn, bd.pub, 128, 5*time.Second)
		require.NoError(b, err)
		runID := fmt.Sprintf("phantom%d", round)
		attempt := bus.WithAttempt(1)
		start := time.Now()
		for i := range n {
			if err := a.Append(bd.ctx, chunkEvent(runID, false, int64(i+1), data), attempt); err != nil {
				b.Fatal(err)
			}
		}
		require.NoError(b, a.Close())
		return float64(n) / time.Since(start).Seconds()
	}
	b.ResetTimer()
	var bare, ours float64
	for round := range 5 {
		bare = max(bare, bareRound(round))
		ours = max(ours, ourRound(round))
	}
	b.StopTimer()
	b.ReportMetric(bare, "bare-msg/s")
	b.ReportMetric(ours, "appender-msg/s")
	b.ReportMetric(ours/bare, "ratio")
}
