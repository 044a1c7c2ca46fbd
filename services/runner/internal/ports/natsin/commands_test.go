package natsin_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/runner/internal/ports/natsin"
)

// recorder is a Handler that records the commands it gets and panics on
// the first cancel, to show the router's Recoverer at work.
type recorder struct {
	mu       sync.Mutex
	got      []string
	panicked atomic.Bool
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, s)
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func (r *recorder) Cancel(cmd commands.RunnerCancel) bool {
	if !r.panicked.Swap(true) {
		panic("a handler bug")
	}
	r.add("cancel " + cmd.RunID)
	return true
}
func (r *recorder) Input(cmd commands.RunnerInput) bool   { r.add("input " + cmd.Text); return true }
func (r *recorder) Pause(cmd commands.RunnerPause) bool   { r.add("pause " + cmd.RunID); return true }
func (r *recorder) Resume(cmd commands.RunnerResume) bool { r.add("resume " + cmd.RunID); return true }
func (r *recorder) Detect(commands.RunnerDetect)          { r.add("detect") }

func TestCommandsReachTheHandlerAndAPanicIsRecovered(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := testenv.StartNATS(t)
	const runner = "r-cmds"
	_, err := natsin.EnsureCommandConsumer(ctx, n.JS, streams.Commands, runner, time.Minute)
	require.NoError(t, err)
	rec := &recorder{}
	done := make(chan error, 1)
	rctx, stop := context.WithCancel(ctx)
	go func() {
		done <- natsin.ConsumeCommands(rctx, n.JS, streams.Commands, runner, time.Minute, rec, testenv.Logger(t))
	}()

	pub := bus.NewPublisher(n.JS, "phantom/test/1")
	for _, c := range []commands.Command{
		commands.RunnerPause{RunnerID: runner, RunID: "A", Attempt: 1},
		commands.RunnerInput{RunnerID: "someone-else", RunID: "A", Attempt: 1, Text: "not for us"},
		commands.RunnerResume{RunnerID: runner, RunID: "A", Attempt: 1},
		commands.RunnerCancel{RunnerID: runner, RunID: "A", Attempt: 1},
		commands.RunnerInput{RunnerID: runner, RunID: "A", Attempt: 1, InputID: "i1", Text: "hello"},
	} {
		_, err := pub.Command(ctx, c)
		require.NoError(t, err)
	}
	// A raw message without an envelope: terminated by the subscriber.
	_, err = n.JS.Publish(ctx, "phantom.cmd.runner."+runner+".cancel", []byte("{}"))
	require.NoError(t, err)

	require.Eventually(t, func() bool { return len(rec.seen()) == 4 }, 15*time.Second, 20*time.Millisecond)
	// The command to another runner was dropped; the cancel whose handler
	// panicked was delivered again and handled (after the ones behind it:
	// a retried command loses its place); the others kept their order.
	require.ElementsMatch(t, []string{"pause A", "resume A", "cancel A", "input hello"}, rec.seen())
	require.Equal(t, []string{"pause A", "resume A"}, rec.seen()[:2])
	require.True(t, rec.panicked.Load())

	stop()
	require.NoError(t, <-done)
	c, err := n.JS.Consumer(ctx, streams.Commands, natsin.CommandConsumerName(runner))
	require.NoError(t, err)
	info, err := c.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.NumPending, "every command was settled")
	require.Zero(t, info.NumAckPending)
}
