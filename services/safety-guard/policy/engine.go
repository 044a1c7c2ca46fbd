package policy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/secrets"
)

// DefaultTimeout bounds the time one Check may spend; past it the command is
// blocked with guard.RuleEngineTimeout.
const DefaultTimeout = 10 * time.Millisecond

// DefaultMaxSteps bounds the work of one Check in analysis steps (commands,
// words and re-parsed scripts visited). The step budget trips long before the
// time budget on pathological input, which keeps decisions deterministic.
const DefaultMaxSteps = 50_000

// MaxCommandBytes is the longest command Check analyses; longer ones are
// blocked with guard.RuleEngineBudget.
const MaxCommandBytes = 128 << 10

// DefaultMaxDepth is how deeply scripts handed to shells, eval or
// interpreters may nest before the command is blocked.
const DefaultMaxDepth = 10

// Engine judges commands. The zero value is not usable; call New. An Engine is
// safe for concurrent use. Its configuration is immutable; the only state it
// keeps is where agents' credential files resolve to, reused for a second.
type Engine struct {
	timeout  time.Duration
	maxSteps int
	maxDepth int
	now      func() time.Time
	secrets  *secrets.Cache
}

// Option configures an Engine.
type Option func(*Engine)

// WithTimeout sets the time budget of one Check (DefaultTimeout if d <= 0).
func WithTimeout(d time.Duration) Option {
	return func(e *Engine) {
		if d > 0 {
			e.timeout = d
		}
	}
}

// WithMaxSteps sets the step budget of one Check (DefaultMaxSteps if n <= 0).
func WithMaxSteps(n int) Option {
	return func(e *Engine) {
		if n > 0 {
			e.maxSteps = n
		}
	}
}

// WithMaxDepth sets how deeply re-parsed scripts may nest (DefaultMaxDepth if n <= 0).
func WithMaxDepth(n int) Option {
	return func(e *Engine) {
		if n > 0 {
			e.maxDepth = n
		}
	}
}

// New returns an Engine.
func New(opts ...Option) *Engine {
	e := &Engine{timeout: DefaultTimeout, maxSteps: DefaultMaxSteps, maxDepth: DefaultMaxDepth, now: time.Now, secrets: &secrets.Cache{}}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Check judges one command. It never returns an error: input it cannot judge
// is blocked with a rule that says why (see the engine.* rules).
func (e *Engine) Check(ctx context.Context, r Request) (d Decision) {
	if strings.TrimSpace(r.Command) == "" {
		return allowDecision()
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if len(r.Command) > MaxCommandBytes {
		// Parsing alone would take longer than the time budget allows, and
		// no agent writes commands this long by hand.
		return Decision{Decision: guard.Block, Rule: guard.RuleEngineBudget, Segment: family.Clip(r.Command),
			Reason: fmt.Sprintf("Command is longer than %d KiB and cannot be judged safely; split it into smaller commands or write a script file.", MaxCommandBytes>>10)}
	}
	ru := newRun(ctx, e, &r)
	defer func() {
		// A panic is a bug, but a guard must fail closed rather than take the
		// caller down; the fuzz test treats this rule as a failure.
		if p := recover(); p != nil {
			d = Decision{Decision: guard.Block, Rule: guard.RuleEngineInternal, Segment: family.Clip(r.Command), Reason: fmt.Sprintf("internal error while analysing the command (%v); blocked to stay safe", p)}
		}
	}()
	f := ru.judge()
	if f == nil && ru.overran() {
		// Deadline checks run between analysis steps; parsing or the last
		// step may still overrun. An allow that took too long is not trusted.
		f = &family.Finding{Rule: guard.RuleEngineTimeout, Segment: r.Command, Reason: reasonTimeout}
	}
	if f == nil {
		return allowDecision()
	}
	return Decision{Decision: guard.Block, Rule: f.Rule, Segment: family.Clip(f.Segment), Reason: clipReason(f.Reason)}
}

// clipReason bounds a reason that quotes a pathological word.
func clipReason(s string) string {
	const max = 1024
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
