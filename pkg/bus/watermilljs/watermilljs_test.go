package watermilljs_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/bus/watermilljs"
	"github.com/phantom-run/phantom/pkg/testenv"
)

const topic = "phantom.cmd.test.do"

type testBundle struct {
	ctx  context.Context
	nats *testenv.NATS
	pub  *bus.Publisher
	wpub *watermilljs.Publisher
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	n := testenv.StartNATS(t)
	pub := bus.NewPublisher(n.JS, "phantom/test/1")
	return &testBundle{ctx: ctx, nats: n, pub: pub, wpub: watermilljs.NewPublisher(pub, 0)}
}

func (b *testBundle) subscriber(t *testing.T, cc jetstream.ConsumerConfig) *watermilljs.Subscriber {
	t.Helper()
	s, err := watermilljs.NewSubscriber(b.nats.JS, watermilljs.SubscriberConfig{
		Stream:   streams.Commands,
		Durable:  func(string) string { return "test-handler" },
		Consumer: cc,
		NakDelay: 50 * time.Millisecond,
		Logger:   testenv.Logger(t),
	})
	require.NoError(t, err)
	return s
}

// publishCE publishes n CloudEvents-shaped watermill messages and returns their UUIDs.
func (b *testBundle) publishCE(t *testing.T, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		env, err := b.pub.NewEnvelope(b.ctx, "command.test.do", "", map[string]int{"i": i})
		require.NoError(t, err)
		m := message.NewMessage(env.ID, env.Data)
		for k, v := range env.Header() {
			m.Metadata.Set(k, v[0])
		}
		require.NoError(t, b.wpub.Publish(topic, m))
		ids = append(ids, env.ID)
	}
	return ids
}

func receive(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		require.True(t, ok, "channel closed")
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return nil
	}
}

// watermill-nats v2.1.3: consumers were not durable by default, so a
// restarted handler started over or lost its place.
func TestConsumersAreDurableAcrossRestarts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.publishCE(t, 1)

	s1 := b.subscriber(t, jetstream.ConsumerConfig{})
	ch, err := s1.Subscribe(b.ctx, topic)
	require.NoError(t, err)
	m := receive(t, ch)
	require.Equal(t, ids[0], m.UUID)
	m.Ack()
	require.Eventually(t, func() bool {
		c, err := b.nats.JS.Consumer(b.ctx, streams.Commands, "test-handler")
		if err != nil {
			return false
		}
		info, err := c.Info(b.ctx)
		return err == nil && info.AckFloor.Consumer == 1
	}, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, s1.Close())

	// While no one listens, more arrives.
	later := b.publishCE(t, 2)

	c, err := b.nats.JS.Consumer(b.ctx, streams.Commands, "test-handler")
	require.NoError(t, err, "the consumer must outlive its subscriber")
	info, err := c.Info(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "test-handler", info.Config.Durable)

	s2 := b.subscriber(t, jetstream.ConsumerConfig{})
	t.Cleanup(func() { _ = s2.Close() })
	ch, err = s2.Subscribe(b.ctx, topic)
	require.NoError(t, err)
	for _, want := range later {
		m := receive(t, ch)
		require.Equal(t, want, m.UUID, "resumes after the last acked message, in order")
		m.Ack()
	}
}

// watermill-nats v2.1.3 ignored ConfigureConsumer.
func TestConsumerConfigurationReachesTheServer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.subscriber(t, jetstream.ConsumerConfig{MaxAckPending: 7, AckWait: 3 * time.Second, MaxDeliver: 4, Description: "configured"})
	t.Cleanup(func() { _ = s.Close() })
	_, err := s.Subscribe(b.ctx, topic)
	require.NoError(t, err)
	c, err := b.nats.JS.Consumer(b.ctx, streams.Commands, "test-handler")
	require.NoError(t, err)
	info, err := c.Info(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 7, info.Config.MaxAckPending)
	require.Equal(t, 3*time.Second, info.Config.AckWait)
	require.Equal(t, 4, info.Config.MaxDeliver)
	require.Equal(t, "configured", info.Config.Description)
	require.Equal(t, topic, info.Config.FilterSubject)
	require.Equal(t, jetstream.AckExplicitPolicy, info.Config.AckPolicy)
}

// watermill-nats v2.1.3 dereferenced a nil message when unmarshaling failed,
// panicking the process.
func TestMalformedMessageIsTerminatedNotPanicked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// No headers at all, then garbage headers, then a good message.
	_, err := b.nats.JS.Publish(b.ctx, topic, []byte("not an event"))
	require.NoError(t, err)
	_, err = b.nats.Conn.Request(topic, nil, time.Second) // publish with empty body via core NATS (stored by the stream)
	require.NoError(t, err)
	good := b.publishCE(t, 1)

	s := b.subscriber(t, jetstream.ConsumerConfig{AckWait: time.Second})
	t.Cleanup(func() { _ = s.Close() })
	ch, err := s.Subscribe(b.ctx, topic)
	require.NoError(t, err)
	m := receive(t, ch)
	require.Equal(t, good[0], m.UUID, "the malformed messages are skipped")
	m.Ack()

	c, err := b.nats.JS.Consumer(b.ctx, streams.Commands, "test-handler")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := c.Info(b.ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0 && info.NumRedelivered == 0
	}, 5*time.Second, 20*time.Millisecond, "malformed messages are terminated, not redelivered")
}

// watermill-nats v2.1.3 raced on shutdown: Close drained the connection
// while handlers still wrote to the output channel. Run with -race.
func TestCloseDuringDeliveryNeitherRacesNorLoses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const total = 200
	ids := b.publishCE(t, total)

	seen := sync.Map{}
	for round := 0; round < 20; round++ {
		s := b.subscriber(t, jetstream.ConsumerConfig{AckWait: time.Second})
		ctx, cancel := context.WithCancel(b.ctx)
		ch, err := s.Subscribe(ctx, topic)
		require.NoError(t, err)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range ch {
				seen.Store(m.UUID, true)
				m.Ack()
			}
		}()
		time.Sleep(time.Duration(round%5) * 5 * time.Millisecond)
		// Close and cancel concurrently, mid-delivery.
		go cancel()
		require.NoError(t, s.Close())
		wg.Wait()
		cancel()
	}
	// Whatever was not acked is redelivered to the next subscriber: nothing is lost.
	s := b.subscriber(t, jetstream.ConsumerConfig{AckWait: time.Second})
	t.Cleanup(func() { _ = s.Close() })
	ch, err := s.Subscribe(b.ctx, topic)
	require.NoError(t, err)
	deadline := time.After(30 * time.Second)
	for {
		missing := 0
		for _, id := range ids {
			if _, ok := seen.Load(id); !ok {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		select {
		case m := <-ch:
			seen.Store(m.UUID, true)
			m.Ack()
		case <-deadline:
			t.Fatalf("%d of %d messages never delivered", missing, total)
		}
	}
}

// watermill-nats v2.1.3 did not set Nats-Msg-Id, so a retried publish was stored twice.
func TestPublishCarriesMsgIDAndDeduplicates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := message.NewMessage("the-same-id", []byte(`{}`))
	require.NoError(t, b.wpub.Publish(topic, m))
	require.NoError(t, b.wpub.Publish(topic, m))
	s, err := b.nats.JS.Stream(b.ctx, streams.Commands)
	require.NoError(t, err)
	info, err := s.Info(b.ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.State.Msgs)
	raw, err := s.GetLastMsgForSubject(b.ctx, topic)
	require.NoError(t, err)
	require.Equal(t, "the-same-id", raw.Header.Get("Nats-Msg-Id"))
}

func TestNackedMessageIsRedelivered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.publishCE(t, 1)
	s := b.subscriber(t, jetstream.ConsumerConfig{})
	t.Cleanup(func() { _ = s.Close() })
	ch, err := s.Subscribe(b.ctx, topic)
	require.NoError(t, err)
	m := receive(t, ch)
	m.Nack()
	m = receive(t, ch)
	require.Equal(t, ids[0], m.UUID)
	m.Ack()
}

func TestSubscriberRequiresStreamAndDurable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := watermilljs.NewSubscriber(b.nats.JS, watermilljs.SubscriberConfig{Durable: func(string) string { return "x" }})
	require.ErrorContains(t, err, "Stream is required")
	_, err = watermilljs.NewSubscriber(b.nats.JS, watermilljs.SubscriberConfig{Stream: streams.Commands})
	require.ErrorContains(t, err, "always durable")
}
