// Package readmodel is the Postgres schema of Phantom's read models: the
// contract between the projector, which alone writes them from the event log,
// and the gateway, which reads them. Migrations are golang-migrate files,
// numbered in ranges per area (0001-0099 foundation, 0100 scheduler, 0200
// runner, 0300 safety-guard) and recorded in schema_migrations.
package readmodel

import (
	"embed"
	"io/fs"
)

//go:embed migrations/*.sql
var files embed.FS

// Migrations returns the migration files at the root of an fs.FS.
func Migrations() fs.FS {
	sub, err := fs.Sub(files, "migrations")
	if err != nil {
		// The directory is embedded at build time; its absence is a build defect.
		panic(err)
	}
	return sub
}

// Projection names, as recorded in projection_checkpoints.
const (
	// ProjectionRuns keeps runs and run_events.
	ProjectionRuns = "runs"
)

// Projections of the safety guard.
const (
	// ProjectionPolicyAudits keeps policy_audits.
	ProjectionPolicyAudits = "policy_audits"
	// ProjectionGuardPolicies keeps guard_policies.
	ProjectionGuardPolicies = "guard_policies"
)

// Projections of the runner's read models.
const (
	// ProjectionAgentActivity keeps messages, tool_calls and usage (from run.semantic).
	ProjectionAgentActivity = "agent_activity"
	// ProjectionCapabilities keeps capability_snapshots (from runner events).
	ProjectionCapabilities = "capabilities"
	// ProjectionConversations keeps conversations and conversation_runs.
	ProjectionConversations = "conversations"
)

// Projections of the scheduler's area.
const (
	// ProjectionSchedulerJobs keeps scheduler_jobs.
	ProjectionSchedulerJobs = "scheduler_jobs"
	// ProjectionRunners keeps runners.
	ProjectionRunners = "runners"
	// ProjectionProviderHolds keeps provider_holds.
	ProjectionProviderHolds = "provider_holds"
	// ProjectionProfiles keeps profiles.
	ProjectionProfiles = "profiles"
)
