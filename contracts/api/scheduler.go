package api

import (
	"encoding/json"
	"time"

	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
)

// Queue answers GET /v1/queue: the pending runs in dispatch order.
type Queue struct {
	// Live is true when the active scheduler answered: positions, effective
	// priorities and why each run waits are its own. False: no scheduler
	// answered (a failover is under way) and the list is the scheduler_jobs
	// read model's, in priority then age order, without them.
	Live     bool                 `json:"live"`
	Instance string               `json:"instance,omitempty"`
	AsOf     time.Time            `json:"asOf"`
	Limits   *rpc.SchedulerLimits `json:"limits"`
	Pending  int                  `json:"pending"`
	Running  int                  `json:"running"`
	Jobs     []rpc.QueueJob       `json:"jobs"`
}

// WaitUnknown is why a run waits when only the read model answers.
const WaitUnknown = "unknown"

// ProviderHold is a provider's last quota hold.
type ProviderHold struct {
	Until         time.Time  `json:"until"`
	Reason        *string    `json:"reason"`
	ResetKnown    *bool      `json:"resetKnown"`
	RunID         *string    `json:"runId"`
	Message       *string    `json:"message"`
	Since         *time.Time `json:"since"`
	ReleasedAt    *time.Time `json:"releasedAt"`
	ReleaseReason *string    `json:"releaseReason"`
}

// ProviderState is one provider's runs and hold.
type ProviderState struct {
	Provider string `json:"provider"`
	Queued   int    `json:"queued"`
	Retrying int    `json:"retrying"`
	Running  int    `json:"running"`
	// Held is true while a hold is on (not released, its end in the future).
	Held     bool          `json:"held"`
	LastHold *ProviderHold `json:"lastHold"`
	Holds    int           `json:"holds"`
}

// ProviderList answers GET /v1/providers.
type ProviderList struct {
	Providers []ProviderState `json:"providers"`
}

// Runner is one runner of the fleet.
type Runner struct {
	RunnerID     string     `json:"runnerId"`
	Host         string     `json:"host"`
	Pool         string     `json:"pool"`
	Slots        int        `json:"slots"`
	Version      string     `json:"version"`
	Status       string     `json:"status"`
	StartedAt    time.Time  `json:"startedAt"`
	RegisteredAt time.Time  `json:"registeredAt"`
	LastSeen     time.Time  `json:"lastSeen"`
	LostAt       *time.Time `json:"lostAt"`
	DrainedAt    *time.Time `json:"drainedAt"`
	// LeftRuns are the runs it held when lost, or handed back when drained.
	LeftRuns []string `json:"leftRuns"`
	// Running are the runs running on it now.
	Running []string `json:"running"`
}

// RunnerList answers GET /v1/runners.
type RunnerList struct {
	Runners []Runner `json:"runners"`
}

// Profile is a saved profile: defaults that fill what a run request naming
// it leaves out, and a concurrency limit of its own.
type Profile struct {
	Name     string    `json:"name"`
	Defaults runs.Spec `json:"defaults"`
	// MaxConcurrent bounds its runs dispatched or running at once; null: no
	// limit of its own.
	MaxConcurrent *int      `json:"maxConcurrent"`
	UpdatedAt     time.Time `json:"updatedAt"`
}

// ProfileList answers GET /v1/profiles.
type ProfileList struct {
	Profiles []Profile `json:"profiles"`
}

// SaveProfile is the body of PUT /v1/profiles/{name}.
type SaveProfile struct {
	// Defaults is a partial run request, validated strictly (unknown fields
	// refused), so it travels as sent.
	Defaults      json.RawMessage `json:"defaults"`
	MaxConcurrent *int            `json:"maxConcurrent"`
}
