package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/pkg/tracing"
)

type testBundle struct {
	ctx  context.Context
	nats *testenv.NATS
	pub  *bus.Publisher
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	n := testenv.StartNATS(t)
	return &testBundle{ctx: ctx, nats: n, pub: bus.NewPublisher(n.JS, "phantom/test/1")}
}

func TestProvisionIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// StartNATS provisioned once; twice more must change nothing.
	require.NoError(t, bus.Provision(b.ctx, b.nats.JS, streams.DefaultOptions()))
	require.NoError(t, bus.Provision(b.ctx, b.nats.JS, streams.DefaultOptions()))
	s, err := b.nats.JS.Stream(b.ctx, streams.Events)
	require.NoError(t, err)
	info, err := s.Info(b.ctx)
	require.NoError(t, err)
	require.True(t, info.Config.DenyDelete)
	require.True(t, info.Config.DenyPurge)
	require.Equal(t, streams.DuplicateWindow, info.Config.Duplicates)
	for _, name := range []string{streams.Commands, streams.Dispatch} {
		s, err := b.nats.JS.Stream(b.ctx, name)
		require.NoError(t, err)
		info, err := s.Info(b.ctx)
		require.NoError(t, err)
		require.Equal(t, jetstream.WorkQueuePolicy, info.Config.Retention, name)
	}
}

func TestEventsStreamIsAppendOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ack, err := b.pub.Event(b.ctx, events.RunArchived{RunID: "r1"})
	require.NoError(t, err)
	s, err := b.nats.JS.Stream(b.ctx, streams.Events)
	require.NoError(t, err)
	require.Error(t, s.DeleteMsg(b.ctx, ack.Sequence), "deleting an event must be refused")
	require.Error(t, s.Purge(b.ctx), "purging the event log must be refused")
	info, err := s.Info(b.ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.State.Msgs)
}

func TestEventCarriesCloudEventsHeadersOnItsSubject(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sub, err := b.nats.Conn.SubscribeSync(subjects.AllEvents)
	require.NoError(t, err)
	ctx := tracing.Ensure(b.ctx)
	wantTP, _ := tracing.TraceParent(ctx)
	_, err = b.pub.Event(ctx, events.RunCompleted{RunID: "01ABC", Attempt: 2, ExitCode: 0}, bus.WithAttempt(2))
	require.NoError(t, err)
	msg, err := sub.NextMsg(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "phantom.events.run.01ABC.run.completed", msg.Subject)
	require.Equal(t, "1.0", msg.Header.Get("ce-specversion"))
	require.Equal(t, "run.completed", msg.Header.Get("ce-type"))
	require.Equal(t, "phantom/test/1", msg.Header.Get("ce-source"))
	require.Equal(t, "01ABC", msg.Header.Get("ce-subject"))
	require.Equal(t, "application/json", msg.Header.Get("content-type"))
	require.Equal(t, "2", msg.Header.Get("ce-attempt"))
	require.NotEmpty(t, msg.Header.Get("ce-id"))
	require.Equal(t, msg.Header.Get("ce-id"), msg.Header.Get(nats.MsgIdHdr))
	require.Equal(t, wantTP, msg.Header.Get("traceparent"))
	_, err = time.Parse(time.RFC3339Nano, msg.Header.Get("ce-time"))
	require.NoError(t, err)

	env, err := envelope.FromHeader(msg.Header, msg.Data)
	require.NoError(t, err)
	p, err := events.Decode(env.Type, env.Data)
	require.NoError(t, err)
	require.Equal(t, &events.RunCompleted{RunID: "01ABC", Attempt: 2}, p)
	require.Equal(t, "2", env.Extensions["attempt"])
}

func TestRetriedPublishIsStoredOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	msg, _, err := b.pub.EventMsg(b.ctx, events.RunArchived{RunID: "r2"})
	require.NoError(t, err)
	first, err := b.pub.PublishMsg(b.ctx, msg)
	require.NoError(t, err)
	// The same message again, as after a lost PubAck: the stream keeps one.
	again, err := b.pub.PublishMsg(b.ctx, msg)
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, first.Sequence, again.Sequence)
	s, err := b.nats.JS.Stream(b.ctx, streams.Events)
	require.NoError(t, err)
	info, err := s.Info(b.ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.State.Msgs)
}

func TestPublishWithoutStreamFailsWithoutRetryingForever(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pub := bus.NewPublisher(b.nats.JS, "phantom/test/1", bus.WithRetries(3, 10*time.Millisecond), bus.WithAttemptTimeout(200*time.Millisecond))
	start := time.Now()
	_, err := pub.PublishMsg(b.ctx, &nats.Msg{Subject: "nowhere.at.all", Data: []byte("x")})
	require.Error(t, err)
	require.Contains(t, err.Error(), "could not publish to nowhere.at.all")
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestEnsureConsumerIsDurableExplicitAndBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := bus.EnsureConsumer(b.ctx, b.nats.JS, streams.Events, jetstream.ConsumerConfig{FilterSubject: subjects.AllEvents})
	require.ErrorIs(t, err, bus.ErrNotDurable)

	c, err := bus.EnsureConsumer(b.ctx, b.nats.JS, streams.Events, jetstream.ConsumerConfig{
		Durable: "projector", FilterSubject: subjects.AllEvents, AckPolicy: jetstream.AckNonePolicy,
	})
	require.NoError(t, err)
	info, err := c.Info(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "projector", info.Config.Durable)
	require.Equal(t, jetstream.AckExplicitPolicy, info.Config.AckPolicy, "ack policy is always explicit")
	require.Equal(t, bus.DefaultMaxAckPending, info.Config.MaxAckPending)
}

func TestDecodeEventRejectsMalformedAndKeepsUnknownRaw(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, err := bus.EnsureConsumer(b.ctx, b.nats.JS, streams.Events, jetstream.ConsumerConfig{Durable: "decode", FilterSubject: subjects.AllEvents})
	require.NoError(t, err)

	// A message without CloudEvents headers.
	_, err = b.nats.JS.Publish(b.ctx, "phantom.events.run.x.run.completed", []byte("{"))
	require.NoError(t, err)
	// A well-formed envelope of a type this version does not know.
	env, err := b.pub.NewEnvelope(b.ctx, "run.from_the_future", "x", map[string]int{"n": 1})
	require.NoError(t, err)
	_, err = b.pub.PublishMsg(b.ctx, env.Msg("phantom.events.run.x.run.from_the_future"))
	require.NoError(t, err)

	batch, err := c.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var got []jetstream.Msg
	for m := range batch.Messages() {
		got = append(got, m)
	}
	require.Len(t, got, 2)
	_, err = bus.DecodeEvent(got[0])
	require.ErrorContains(t, err, "malformed event")
	ev, err := bus.DecodeEvent(got[1])
	require.NoError(t, err)
	require.Nil(t, ev.Payload)
	require.Equal(t, "run.from_the_future", ev.Type)
	require.JSONEq(t, `{"n":1}`, string(ev.Data))
	require.Equal(t, uint64(2), ev.Seq)
}

func TestEmbeddedReportsPortInUse(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t)
	addr := n.Conn.ConnectedAddr()
	_, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: addr, StoreDir: t.TempDir()})
	require.ErrorIs(t, err, bus.ErrPortInUse)
}

func TestNothingPulledIsTheIdleStateNotAFailure(t *testing.T) {
	t.Parallel()
	for _, err := range []error{nats.ErrTimeout, fmt.Errorf("pull: %w", nats.ErrTimeout), context.DeadlineExceeded, jetstream.ErrNoMessages} {
		require.True(t, bus.NothingPulled(err), "%v", err)
	}
	for _, err := range []error{nil, errors.New("connection closed"), jetstream.ErrConsumerDeleted, context.Canceled} {
		require.False(t, bus.NothingPulled(err), "%v", err)
	}
}
