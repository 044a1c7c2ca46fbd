package service

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/queue"
)

// Config is the scheduler's configuration, read from PHANTOM_* environment
// variables (the names below carry the prefix PHANTOM_).
type Config struct {
	// MaxRunning bounds the runs dispatched or running at once, overall.
	MaxRunning int `envconfig:"SCHEDULER_MAX_RUNNING" default:"2" desc:"most runs dispatched or running at once, overall (1..=10000)"`
	// MaxPerProvider bounds the runs dispatched or running at once per
	// provider (the spec's provider, else its agent).
	MaxPerProvider int `envconfig:"SCHEDULER_MAX_PER_PROVIDER" default:"1" desc:"most runs dispatched or running at once per provider, the spec's provider or else its agent (1..=10000)"`
	// ProviderLimits are per-provider limits replacing MaxPerProvider.
	ProviderLimits string `envconfig:"SCHEDULER_PROVIDER_LIMITS" desc:"per-provider limits that replace PHANTOM_SCHEDULER_MAX_PER_PROVIDER, e.g. claude=2,codex=1 (each 1..=10000)"`
	// WorkspaceLimits are limits per workspace root.
	WorkspaceLimits string `envconfig:"SCHEDULER_WORKSPACE_LIMITS" desc:"limits per workspace root, e.g. /src/app=1,/src=3: a run counts against the longest root holding its workspace (each 1..=10000)"`
	// Capacity bounds the runs waiting in the queue; a submit beyond it is
	// rejected with reason queue_full.
	Capacity int `envconfig:"SCHEDULER_CAPACITY" default:"512" desc:"most runs waiting (queued or waiting for a retry); beyond it a submit is rejected with queue_full (1..=1000000)"`
	// AgingHorizon is how long a waiting run takes to gain 20 priority levels.
	AgingHorizon time.Duration `envconfig:"SCHEDULER_AGING_HORIZON" default:"10m" desc:"how long a waiting run takes to gain 20 priority levels (-10 to 10): no run queued later than that overtakes it (1s..=24h)"`
	// DefaultMaxRetries is the retry budget of a run that sets none.
	DefaultMaxRetries int `envconfig:"SCHEDULER_DEFAULT_MAX_RETRIES" default:"2" desc:"retries of a run whose request and profile set no maxRetries (0..=10)"`
	// RetryBackoff is the first retry's backoff of a run that sets none.
	RetryBackoff time.Duration `envconfig:"SCHEDULER_RETRY_BACKOFF" default:"1s" desc:"first retry backoff of a run whose request and profile set no retryBackoffMs; it doubles per retry, with jitter (100ms..=10m)"`
	// HoldDefault is how long a provider is held after a quota failure that
	// did not say when the quota resets.
	HoldDefault time.Duration `envconfig:"SCHEDULER_HOLD_DEFAULT" default:"1m" desc:"how long a provider is held after a usage or rate limit that gave no reset time (1s..=24h)"`
	// HoldMax bounds every hold.
	HoldMax time.Duration `envconfig:"SCHEDULER_HOLD_MAX" default:"24h" desc:"longest hold of a provider, whatever reset time it gave (at least PHANTOM_SCHEDULER_HOLD_DEFAULT, at most 168h)"`
	// DeadlineGrace is how long after an attempt's deadline the scheduler
	// fails the attempt itself when no runner reported it.
	DeadlineGrace time.Duration `envconfig:"SCHEDULER_DEADLINE_GRACE" default:"1m" desc:"how long after an attempt's deadline the scheduler fails it with timeout when no runner reported its end (1s..=1h)"`
	// RunnerHeartbeat is the heartbeat assumed for a runner whose entry does not say.
	RunnerHeartbeat time.Duration `envconfig:"SCHEDULER_RUNNER_HEARTBEAT" default:"3s" desc:"heartbeat interval assumed for a runner whose entry does not give its own; three missed make it lost (100ms..=1m)"`
	// CommandRetryDelay is how long a command that could not be handled (a
	// publish failed), or a cancel waiting for its run to start or end,
	// waits before it is delivered again.
	CommandRetryDelay time.Duration `envconfig:"SCHEDULER_COMMAND_RETRY_DELAY" default:"1s" desc:"delay before a command that failed, or a cancel waiting for its run to start or end, is delivered again (10ms..=1m)"`
	// CommandAckWait is how long a command being handled may go without an
	// acknowledgement before the server delivers it again (after a crash).
	CommandAckWait time.Duration `envconfig:"SCHEDULER_COMMAND_ACK_WAIT" default:"1m" desc:"how long a command in hand may stay unacknowledged before it is delivered again, e.g. after a crash (more than PHANTOM_SCHEDULER_PUBLISH_TIMEOUT, at most 1h)"`
	// RetryInterval is how often decisions and messages that failed are
	// tried again, and the longest the scheduler sleeps between checks.
	RetryInterval time.Duration `envconfig:"SCHEDULER_RETRY_INTERVAL" default:"1s" desc:"how often decisions and dispatch messages that failed are tried again (10ms..=1m)"`
	// PublishTimeout bounds one publish round, its retries included.
	PublishTimeout time.Duration `envconfig:"SCHEDULER_PUBLISH_TIMEOUT" default:"30s" desc:"bound of one publish to NATS, retries included (100ms..=5m)"`
	// ReplayTimeout bounds the rebuild of the queue from the event log at start.
	ReplayTimeout time.Duration `envconfig:"SCHEDULER_REPLAY_TIMEOUT" default:"10m" desc:"bound of the rebuild of the queue from the event log at start (1s..=24h)"`
}

// DefaultConfig is the configuration with every default.
func DefaultConfig() Config {
	return Config{
		MaxRunning:        2,
		MaxPerProvider:    1,
		Capacity:          512,
		AgingHorizon:      10 * time.Minute,
		DefaultMaxRetries: runs.DefaultMaxRetries,
		RetryBackoff:      time.Second,
		HoldDefault:       time.Minute,
		HoldMax:           24 * time.Hour,
		DeadlineGrace:     time.Minute,
		RunnerHeartbeat:   3 * time.Second,
		CommandRetryDelay: time.Second,
		CommandAckWait:    time.Minute,
		RetryInterval:     time.Second,
		PublishTimeout:    30 * time.Second,
		ReplayTimeout:     10 * time.Minute,
	}
}

// Validate reports the first setting out of range, naming its variable.
func (c Config) Validate() error {
	ints := []struct {
		name     string
		v        int
		min, max int
	}{
		{"PHANTOM_SCHEDULER_MAX_RUNNING", c.MaxRunning, 1, 10000},
		{"PHANTOM_SCHEDULER_MAX_PER_PROVIDER", c.MaxPerProvider, 1, 10000},
		{"PHANTOM_SCHEDULER_CAPACITY", c.Capacity, 1, 1000000},
		{"PHANTOM_SCHEDULER_DEFAULT_MAX_RETRIES", c.DefaultMaxRetries, 0, runs.MaxRetriesLimit},
	}
	for _, f := range ints {
		if f.v < f.min || f.v > f.max {
			return fmt.Errorf("%s %d must be in %d..=%d", f.name, f.v, f.min, f.max)
		}
	}
	durations := []struct {
		name     string
		v        time.Duration
		min, max time.Duration
	}{
		{"PHANTOM_SCHEDULER_AGING_HORIZON", c.AgingHorizon, time.Second, 24 * time.Hour},
		{"PHANTOM_SCHEDULER_RETRY_BACKOFF", c.RetryBackoff, 100 * time.Millisecond, 10 * time.Minute},
		{"PHANTOM_SCHEDULER_HOLD_DEFAULT", c.HoldDefault, time.Second, 24 * time.Hour},
		{"PHANTOM_SCHEDULER_HOLD_MAX", c.HoldMax, c.HoldDefault, 168 * time.Hour},
		{"PHANTOM_SCHEDULER_DEADLINE_GRACE", c.DeadlineGrace, time.Second, time.Hour},
		{"PHANTOM_SCHEDULER_RUNNER_HEARTBEAT", c.RunnerHeartbeat, 100 * time.Millisecond, time.Minute},
		{"PHANTOM_SCHEDULER_COMMAND_RETRY_DELAY", c.CommandRetryDelay, 10 * time.Millisecond, time.Minute},
		{"PHANTOM_SCHEDULER_RETRY_INTERVAL", c.RetryInterval, 10 * time.Millisecond, time.Minute},
		{"PHANTOM_SCHEDULER_PUBLISH_TIMEOUT", c.PublishTimeout, 100 * time.Millisecond, 5 * time.Minute},
		{"PHANTOM_SCHEDULER_REPLAY_TIMEOUT", c.ReplayTimeout, time.Second, 24 * time.Hour},
	}
	for _, f := range durations {
		if f.v < f.min || f.v > f.max {
			return fmt.Errorf("%s %s must be in %s..=%s", f.name, f.v, f.min, f.max)
		}
	}
	if c.CommandAckWait <= c.PublishTimeout || c.CommandAckWait > time.Hour {
		return fmt.Errorf("PHANTOM_SCHEDULER_COMMAND_ACK_WAIT %s must be more than PHANTOM_SCHEDULER_PUBLISH_TIMEOUT (%s) and at most 1h", c.CommandAckWait, c.PublishTimeout)
	}
	if _, err := c.limits(); err != nil {
		return err
	}
	return nil
}

// limits are the queue limits the configuration says.
func (c Config) limits() (queue.Limits, error) {
	l := queue.Limits{MaxRunning: c.MaxRunning, MaxPerProvider: c.MaxPerProvider, Capacity: c.Capacity}
	providers, err := parseLimits("PHANTOM_SCHEDULER_PROVIDER_LIMITS", c.ProviderLimits, func(k string) error {
		return subjects.CheckToken("provider", k)
	})
	if err != nil {
		return l, err
	}
	spaces, err := parseLimits("PHANTOM_SCHEDULER_WORKSPACE_LIMITS", c.WorkspaceLimits, func(k string) error {
		if !filepath.IsAbs(k) || filepath.Clean(k) != k {
			return fmt.Errorf("workspace root %q must be an absolute, clean path", k)
		}
		return nil
	})
	if err != nil {
		return l, err
	}
	l.Providers, l.Workspaces = providers, spaces
	return l, l.Validate()
}

// policy is the queue policy the configuration says.
func (c Config) policy() queue.Policy {
	p := queue.DefaultPolicy()
	p.AgingHorizon = c.AgingHorizon
	p.DefaultMaxRetries = c.DefaultMaxRetries
	p.DefaultBackoff = c.RetryBackoff
	p.DefaultHold = c.HoldDefault
	p.MaxHold = c.HoldMax
	p.DeadlineGrace = c.DeadlineGrace
	return p
}

// parseLimits reads key=n,key=n.
func parseLimits(name, v string, checkKey func(string) error) (map[string]int, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	out := map[string]int{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		i := strings.LastIndexByte(part, '=')
		if i <= 0 {
			return nil, fmt.Errorf("%s: %q must be key=limit", name, part)
		}
		k, nv := strings.TrimSpace(part[:i]), strings.TrimSpace(part[i+1:])
		if err := checkKey(k); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		n, err := strconv.Atoi(nv)
		if err != nil || n < 1 || n > 10000 {
			return nil, fmt.Errorf("%s: the limit of %s must be an integer in 1..=10000, got %q", name, k, nv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s: %s is given twice", name, k)
		}
		out[k] = n
	}
	return out, nil
}
