package command

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
)

// interleaver is a mutex that runs next once, right after an unlock: the
// moment another goroutine may take the lock before its holder takes it again.
type interleaver struct {
	sync.Mutex
	next func()
}

func (l *interleaver) Unlock() {
	l.Mutex.Unlock()
	if f := l.next; f != nil {
		l.next = nil
		f()
	}
}

// A stop with a detail (budget, harness timeout, fencing) and a cancel at
// the same moment: whichever wins, the attempt keeps the winner's request
// whole, never the loser's detail.
func TestAConcurrentCancelKeepsItsOwnDetail(t *testing.T) {
	t.Parallel()
	for _, first := range []stop{
		{reason: stopBudget, detail: "over budget"},
		{reason: stopTimeout, detail: "past the harness timeout"},
		{reason: stopFenced, detail: "attempt 2 of the run was dispatched"},
	} {
		t.Run(first.reason, func(t *testing.T) {
			t.Parallel()
			a := newAttempt(dispatch(1), &delivery{})
			l := &interleaver{}
			a.mu = l
			cancel := stop{reason: stopCanceled, cancel: commands.RunnerCancel{RunID: "run1", Attempt: 1, By: "me"}}
			var canceled bool
			// The cancel comes between the first request's critical
			// section and whatever it does next.
			l.next = func() { canceled = a.requestStop(cancel) }
			won := a.requestStop(first)

			require.True(t, won)
			require.False(t, canceled, "the cancel came second")
			require.Equal(t, first, a.stopRequested())
			select {
			case <-a.stopped:
			default:
				t.Fatal("the first request closes stopped")
			}
		})
	}
}
