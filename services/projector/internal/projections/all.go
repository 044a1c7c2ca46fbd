// Package projections is the list of Phantom's projections, one file each.
//
// To add a projection: write a type implementing projection.Projection in a
// new file of this package (its tables come from a migration in
// contracts/readmodel/migrations), and add it to All. The engine gives it its
// durable consumer projector-<name>, its checkpoint, metrics and rebuild.
package projections

import "github.com/phantom-run/phantom/services/projector/internal/projection"

// All returns every projection, in the order they start.
func All() []projection.Projection {
	return []projection.Projection{
		Runs{},
		// Safety guard (issue 5).
		PolicyAudits{},
		GuardPolicies{},
		// The runner's read models (issue 4).
		AgentActivity{}, Capabilities{}, Conversations{},
		// The scheduler's area (issue 3).
		SchedulerJobs{}, Runners{}, ProviderHolds{}, Profiles{},
	}
}
