package streams

import "time"

// RunnerEntry is the value of a live runner's key in RunnersBucket; the key is
// the runner id. The runner rewrites it every heartbeat, so an entry that
// expires (the bucket's TTL) means the runner is gone, and Running says
// which attempts it had.
type RunnerEntry struct {
	RunnerID string `json:"runnerId"`
	Host     string `json:"host"`
	Pool     string `json:"pool"`
	Slots    int    `json:"slots"`
	// Running are the attempts the runner holds (preparing or running).
	Running []RunnerAttempt `json:"running"`
	Version string          `json:"version,omitempty"`
	// HeartbeatMs is how often the runner rewrites its entry: the scheduler
	// declares it lost after three intervals without one.
	HeartbeatMs int64     `json:"heartbeatMs,omitempty"`
	Started     time.Time `json:"started"`
	Updated     time.Time `json:"updated"`
}

// RunnerAttempt is one attempt a runner holds.
type RunnerAttempt struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
}
