package service

import (
	"fmt"
	"time"

	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/daemon"
)

// Config is the runner's configuration (PHANTOM_* variables). Zero fields
// take their defaults, so a host embedding the runner may set only some.
type Config struct {
	Host             string        `envconfig:"HOST" desc:"this machine's name in subjects, shared with its worktree service (default: the hostname, sanitized)"`
	Pool             string        `envconfig:"RUNNER_POOL" default:"default" desc:"the runner pool whose dispatches this runner pulls"`
	Slots            int           `envconfig:"RUNNER_SLOTS" default:"2" desc:"agents this runner runs at once (1..256)"`
	Heartbeat        time.Duration `envconfig:"RUNNER_HEARTBEAT" default:"3s" desc:"how often the runner renews its entry in phantom_runners (below the bucket's TTL)"`
	ChunkInterval    time.Duration `envconfig:"RUNNER_CHUNK_INTERVAL" default:"50ms" desc:"longest time agent output waits to be batched into a chunk event (1ms..10s)"`
	ChunkBytes       int           `envconfig:"RUNNER_CHUNK_BYTES" default:"32768" desc:"largest chunk event, in bytes of output (1024..524288)"`
	MaxLineBytes     int           `envconfig:"RUNNER_MAX_LINE_BYTES" default:"1048576" desc:"longer output lines are truncated, with a run.warning (1024..67108864)"`
	KillGrace        time.Duration `envconfig:"RUNNER_KILL_GRACE" default:"5s" desc:"a stopped agent gets SIGINT, SIGTERM at half this, SIGKILL at its end (100ms..5m)"`
	DrainTimeout     time.Duration `envconfig:"RUNNER_DRAIN_TIMEOUT" default:"20s" desc:"on shutdown, how long running agents may finish before they are stopped and handed back (0..1h)"`
	PrepareTimeout   time.Duration `envconfig:"RUNNER_PREPARE_TIMEOUT" default:"2m" desc:"bound on the worktree service's answer (1s..1h)"`
	PublishWindow    int           `envconfig:"RUNNER_PUBLISH_WINDOW" default:"128" desc:"events of one attempt sent and not yet acknowledged, at most (1..4096)"`
	CommandsInactive time.Duration `envconfig:"RUNNER_COMMANDS_INACTIVE" default:"10m" desc:"the consumer of a runner's commands is deleted once the runner is gone this long (10s..168h)"`
	FakeAgentCommand string        `envconfig:"FAKE_AGENT_COMMAND" desc:"executable of agent fake (default: this binary, as the built-in fake agent)"`
	AgentsFile       string        `envconfig:"AGENTS_FILE" desc:"agents.toml that changes the built-in agents (claude, codex, gemini, fake) or adds others (optional)"`
	PricesFile       string        `envconfig:"RUNNER_PRICES_FILE" desc:"TOML price table (USD per million tokens by model) that fills costs the CLI does not report (optional)"`
	DetectInterval   time.Duration `envconfig:"RUNNER_DETECT_INTERVAL" default:"10m" desc:"how often the runner detects its agent CLIs again and publishes runner.capabilities (1m..24h)"`
	GuardHook        bool          `envconfig:"RUNNER_GUARD_HOOK" default:"true" desc:"inject the safety guard's PreToolUse hook into every Claude Code run"`
	GuardHookCommand string        `envconfig:"RUNNER_GUARD_HOOK_COMMAND" desc:"the hook command Claude Code runs (default: this executable followed by guard hook)"`
	GuardTimeout     time.Duration `envconfig:"RUNNER_GUARD_TIMEOUT" default:"2s" desc:"bound on one safety-guard check relayed for a hook or the shell prelude (100ms..30s)"`
	SpawnRetries     int           `envconfig:"RUNNER_SPAWN_RETRIES" default:"2" desc:"how many times a failed agent start is tried again, with backoff from 100ms (0..10)"`
}

// DefaultConfig is the configuration with every default (the tags above
// state the same, for the environment and --help; a test keeps them equal).
// Host has none here: it defaults to this machine's name, when the runner
// starts.
func DefaultConfig() Config {
	return Config{
		Pool:             runs.DefaultPool,
		Slots:            2,
		Heartbeat:        3 * time.Second,
		ChunkInterval:    50 * time.Millisecond,
		ChunkBytes:       32 << 10,
		MaxLineBytes:     1 << 20,
		KillGrace:        5 * time.Second,
		DrainTimeout:     20 * time.Second,
		PrepareTimeout:   2 * time.Minute,
		PublishWindow:    128,
		CommandsInactive: 10 * time.Minute,
		DetectInterval:   10 * time.Minute,
		GuardHook:        true,
		GuardTimeout:     2 * time.Second,
		SpawnRetries:     2,
	}
}

// withDefaults fills the zero fields of a host that set only some with
// DefaultConfig's, and checks every range. A zero that means something is
// kept: DrainTimeout 0 stops running agents at once, SpawnRetries 0 tries
// a start once, GuardHook false injects no hook.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.Host == "" {
		c.Host = daemon.HostToken()
	}
	orDefault(&c.Pool, d.Pool)
	orDefault(&c.Slots, d.Slots)
	orDefault(&c.Heartbeat, d.Heartbeat)
	orDefault(&c.ChunkInterval, d.ChunkInterval)
	orDefault(&c.ChunkBytes, d.ChunkBytes)
	orDefault(&c.MaxLineBytes, d.MaxLineBytes)
	orDefault(&c.KillGrace, d.KillGrace)
	orDefault(&c.PrepareTimeout, d.PrepareTimeout)
	orDefault(&c.PublishWindow, d.PublishWindow)
	orDefault(&c.CommandsInactive, d.CommandsInactive)
	orDefault(&c.DetectInterval, d.DetectInterval)
	orDefault(&c.GuardTimeout, d.GuardTimeout)
	if err := subjects.CheckToken("PHANTOM_HOST", c.Host); err != nil {
		return c, err
	}
	if err := subjects.CheckToken("PHANTOM_RUNNER_POOL", c.Pool); err != nil {
		return c, err
	}
	for _, r := range []struct {
		name     string
		v, lo, h int
	}{
		{"PHANTOM_RUNNER_SLOTS", c.Slots, 1, 256},
		{"PHANTOM_RUNNER_CHUNK_BYTES", c.ChunkBytes, 1024, 512 << 10},
		{"PHANTOM_RUNNER_MAX_LINE_BYTES", c.MaxLineBytes, 1024, 64 << 20},
		{"PHANTOM_RUNNER_PUBLISH_WINDOW", c.PublishWindow, 1, 4096},
		{"PHANTOM_RUNNER_SPAWN_RETRIES", c.SpawnRetries, 0, 10},
	} {
		if r.v < r.lo || r.v > r.h {
			return c, fmt.Errorf("%s %d must be in %d..%d", r.name, r.v, r.lo, r.h)
		}
	}
	for _, r := range []struct {
		name     string
		v, lo, h time.Duration
	}{
		{"PHANTOM_RUNNER_HEARTBEAT", c.Heartbeat, 100 * time.Millisecond, time.Minute},
		{"PHANTOM_RUNNER_CHUNK_INTERVAL", c.ChunkInterval, time.Millisecond, 10 * time.Second},
		{"PHANTOM_RUNNER_KILL_GRACE", c.KillGrace, 100 * time.Millisecond, 5 * time.Minute},
		{"PHANTOM_RUNNER_DRAIN_TIMEOUT", c.DrainTimeout, 0, time.Hour},
		{"PHANTOM_RUNNER_PREPARE_TIMEOUT", c.PrepareTimeout, time.Second, time.Hour},
		{"PHANTOM_RUNNER_COMMANDS_INACTIVE", c.CommandsInactive, 10 * time.Second, 168 * time.Hour},
		{"PHANTOM_RUNNER_DETECT_INTERVAL", c.DetectInterval, time.Minute, 24 * time.Hour},
		{"PHANTOM_RUNNER_GUARD_TIMEOUT", c.GuardTimeout, 100 * time.Millisecond, 30 * time.Second},
	} {
		if r.v < r.lo || r.v > r.h {
			return c, fmt.Errorf("%s %s must be in %s..%s", r.name, r.v, r.lo, r.h)
		}
	}
	return c, nil
}

// orDefault sets a zero *v to def.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
