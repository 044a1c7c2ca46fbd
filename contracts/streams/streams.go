// Package streams holds the configuration of Phantom's JetStream streams and
// key-value buckets. Every service provisions them idempotently at start, so
// any one of them can come up first.
package streams

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/subjects"
)

// Stream names.
const (
	Events   = "PHANTOM_EVENTS"
	Commands = "PHANTOM_COMMANDS"
	Dispatch = "PHANTOM_DISPATCH"
)

// Bucket names.
const (
	// RunnersBucket holds one key per live runner; entries expire after RunnerTTL
	// unless the runner heartbeats.
	RunnersBucket = "phantom_runners"
	// LeasesBucket holds leadership leases (the active scheduler's).
	LeasesBucket = "phantom_leases"
)

// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id: a publish
// retried within it is stored once.
const DuplicateWindow = 2 * time.Minute

// Options tunes the stream configurations for a deployment.
type Options struct {
	// Replicas is the number of copies of each stream (1 for one server, 3 for a cluster).
	Replicas int
	// CommandMaxAge bounds how long an unconsumed command or dispatch waits
	// (a command to a runner that is gone should not live forever).
	CommandMaxAge time.Duration
	// RunnerTTL is how long a runner entry lives without a heartbeat.
	RunnerTTL time.Duration
	// LeaseTTL is how long a leadership lease lives without renewal.
	LeaseTTL time.Duration
}

// DefaultOptions are the settings of a single-server deployment.
func DefaultOptions() Options {
	return Options{Replicas: 1, CommandMaxAge: 24 * time.Hour, RunnerTTL: 15 * time.Second, LeaseTTL: 6 * time.Second}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Replicas <= 0 {
		o.Replicas = d.Replicas
	}
	if o.CommandMaxAge <= 0 {
		o.CommandMaxAge = d.CommandMaxAge
	}
	if o.RunnerTTL <= 0 {
		o.RunnerTTL = d.RunnerTTL
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = d.LeaseTTL
	}
	return o
}

// Configs returns the three stream configurations.
func Configs(o Options) []jetstream.StreamConfig {
	o = o.withDefaults()
	return []jetstream.StreamConfig{
		{
			Name:        Events,
			Description: "Phantom's append-only event log: the source of truth of every read model.",
			Subjects:    []string{subjects.AllEvents},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
			Duplicates:  DuplicateWindow,
			// Append-only: nothing may delete or purge history.
			DenyDelete: true,
			DenyPurge:  true,
			Discard:    jetstream.DiscardOld,
		},
		{
			Name:        Commands,
			Description: "Intents addressed to one service or one runner; each is consumed once.",
			Subjects:    []string{subjects.AllCommands},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
			Duplicates:  DuplicateWindow,
			MaxAge:      o.CommandMaxAge,
		},
		{
			Name:        Dispatch,
			Description: "Runs released to runner pools; a runner of the pool pulls each once.",
			Subjects:    []string{subjects.AllDispatch},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
			Duplicates:  DuplicateWindow,
			MaxAge:      o.CommandMaxAge,
		},
	}
}

// Buckets returns the key-value bucket configurations.
func Buckets(o Options) []jetstream.KeyValueConfig {
	o = o.withDefaults()
	return []jetstream.KeyValueConfig{
		{Bucket: RunnersBucket, Description: "Live runners; an entry expires when its runner stops heartbeating.", TTL: o.RunnerTTL, History: 1, Replicas: o.Replicas, Storage: jetstream.FileStorage},
		{Bucket: LeasesBucket, Description: "Leadership leases.", TTL: o.LeaseTTL, History: 1, Replicas: o.Replicas, Storage: jetstream.FileStorage},
	}
}
