package events_test

func init() {
	beyondArchitecture["guard_policy.saved"] = "safety guard: the policy of one scope (global, workspace, profile), owned by the gateway"
	beyondArchitecture["guard_policy.deleted"] = "safety guard: a scope's policy removed"
}
