package policy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phantom-run/phantom/contracts/guard"
)

// TestOverrunOfLightAnalysisIsTrusted: a clock that jumps past the budget
// while a short command is judged (a GC pause, a loaded machine) does not
// turn an allow into a block; heavy analysis past the budget is still blocked.
func TestOverrunOfLightAnalysisIsTrusted(t *testing.T) {
	clock := time.Unix(1_000_000, 0)
	e := New()
	e.now = func() time.Time {
		clock = clock.Add(time.Second) // every reading is past the deadline
		return clock
	}
	if d := e.Check(context.Background(), Request{Command: "git status"}); d.Blocked() {
		t.Fatalf("a light command was blocked by a slow clock: %+v", d)
	}
	heavy := strings.Repeat("echo a; ", 200)
	if d := e.Check(context.Background(), Request{Command: heavy}); d.Rule != guard.RuleEngineTimeout {
		t.Fatalf("heavy analysis past the budget gave %+v, want %s", d, guard.RuleEngineTimeout)
	}
}
