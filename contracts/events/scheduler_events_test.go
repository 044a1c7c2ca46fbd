package events_test

func init() {
	// Quota holds: the scheduler's decision to hold a provider is a
	// fact of its own, so that a standby scheduler and the read models know
	// it without re-deriving it from run failures.
	beyondArchitecture["provider.held"] = "scheduler: a provider on hold until its quota resets"
	beyondArchitecture["provider.released"] = "scheduler: a provider's hold ended"
}
