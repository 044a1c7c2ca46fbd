// Package projections is the list of Phantom's projections, one file each.
//
// To add a projection: write a type implementing engine.Projection in a
// new file of this package (its tables come from a migration in
// contracts/readmodel/migrations), and add it to All. The engine gives it its
// durable consumer projector-<name>, its checkpoint, metrics and rebuild.
package projections

import "github.com/phantom-run/phantom/services/projector/internal/engine"

// All returns every projection, in the order they start.
func All() []engine.Projection {
	return []engine.Projection{
		Runs{},
		// The safety guard's.
		PolicyAudits{},
		GuardPolicies{},
		// The runner's read models.
		AgentActivity{}, Capabilities{}, Conversations{},
		// The scheduler's area.
		SchedulerJobs{}, Runners{}, ProviderHolds{}, Profiles{},
	}
}
