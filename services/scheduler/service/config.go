package service

import (
	"fmt"
	"time"
)

// Config is the scheduler's configuration, read from PHANTOM_* environment
// variables (the names below carry the prefix PHANTOM_).
type Config struct {
	// MaxRunning bounds the runs dispatched or running at once, overall.
	MaxRunning int `envconfig:"SCHEDULER_MAX_RUNNING" default:"2" desc:"most runs dispatched or running at once, overall (1..=10000)"`
	// MaxPerProvider bounds the runs dispatched or running at once per
	// provider (the spec's provider, else its agent).
	MaxPerProvider int `envconfig:"SCHEDULER_MAX_PER_PROVIDER" default:"1" desc:"most runs dispatched or running at once per provider, the spec's provider or else its agent (1..=10000)"`
	// Capacity bounds the runs waiting in the queue; a submit beyond it is
	// rejected with reason queue_full.
	Capacity int `envconfig:"SCHEDULER_CAPACITY" default:"512" desc:"most runs waiting in the queue; beyond it a submit is rejected with queue_full (1..=1000000)"`
	// CommandRetryDelay is how long a command that could not be handled (a
	// publish failed), or a cancel waiting for its run to start, waits
	// before it is delivered again.
	CommandRetryDelay time.Duration `envconfig:"SCHEDULER_COMMAND_RETRY_DELAY" default:"1s" desc:"delay before a command that failed, or a cancel waiting for its run to start, is delivered again (10ms..=1m)"`
	// CommandAckWait is how long a command being handled may go without an
	// acknowledgement before the server delivers it again (after a crash).
	CommandAckWait time.Duration `envconfig:"SCHEDULER_COMMAND_ACK_WAIT" default:"1m" desc:"how long a command in hand may stay unacknowledged before it is delivered again, e.g. after a crash (more than PHANTOM_SCHEDULER_PUBLISH_TIMEOUT, at most 1h)"`
	// RetryInterval is how often decisions and dispatch messages that failed
	// are tried again.
	RetryInterval time.Duration `envconfig:"SCHEDULER_RETRY_INTERVAL" default:"1s" desc:"how often decisions and dispatch messages that failed are tried again (10ms..=1m)"`
	// PublishTimeout bounds one publish, its retries included.
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
	return nil
}
