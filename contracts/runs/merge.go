package runs

import "time"

// Merge fills what a request leaves out from defaults (a profile's, or the
// original request of a rerun): null-safe, a missing field inherits and an
// explicit value wins, an explicit zero or empty list included.
//
// "Missing" is what JSON decoding leaves for an absent member: nil for
// pointers, lists, maps and documents, "" for strings, false for the plain
// flags continue and forkSession. So `"labels": {}` or `"allowedTools": []`
// in a request clears what the defaults had, and `"priority": 0` overrides
// a default priority; an empty string cannot clear a default string (there
// is no way to tell it from an absent one), which is why every string field
// whose empty value means something also has a non-empty spelling
// (isolation: "none", "worktree"). The budget and harness blocks merge field
// by field. Profile names the request's own profile and is never inherited.
// Neither argument is changed; the result shares no map, list or pointer with
// them that a later change to one could reach.
func Merge(defaults, request Spec) Spec {
	out := request
	str(&out.Agent, defaults.Agent)
	str(&out.Prompt, defaults.Prompt)
	str(&out.Workspace, defaults.Workspace)
	str(&out.Pool, defaults.Pool)
	str(&out.Provider, defaults.Provider)
	str(&out.Model, defaults.Model)
	str(&out.Isolation, defaults.Isolation)
	out.Priority = ptr(request.Priority, defaults.Priority)
	out.TimeoutSeconds = ptr(request.TimeoutSeconds, defaults.TimeoutSeconds)
	out.MaxRetries = ptr(request.MaxRetries, defaults.MaxRetries)
	out.RetryBackoffMs = ptr(request.RetryBackoffMs, defaults.RetryBackoffMs)
	out.RetryOnTimeout = ptr(request.RetryOnTimeout, defaults.RetryOnTimeout)
	out.Interactive = ptr(request.Interactive, defaults.Interactive)
	out.Labels = dict(request.Labels, defaults.Labels)
	out.Budget = mergeBudget(defaults.Budget, request.Budget)
	out.Harness = mergeHarness(defaults.Harness, request.Harness)
	return out
}

func str(dst *string, def string) {
	if *dst == "" {
		*dst = def
	}
}

// ptr returns a copy of the request's value when it has one, else of the default's.
func ptr[T any](req, def *T) *T {
	src := req
	if src == nil {
		src = def
	}
	if src == nil {
		return nil
	}
	v := *src
	return &v
}

func dict(req, def map[string]string) map[string]string {
	src := req
	if src == nil {
		src = def
	}
	if src == nil {
		return nil
	}
	out := make(map[string]string, len(src))
	for k, v := range src {
		out[k] = v
	}
	return out
}

func list(req, def []string) []string {
	src := req
	if src == nil {
		src = def
	}
	if src == nil {
		return nil
	}
	return append(make([]string, 0, len(src)), src...)
}

func doc(req, def []byte) []byte {
	src := req
	if src == nil {
		src = def
	}
	if src == nil {
		return nil
	}
	return append(make([]byte, 0, len(src)), src...)
}

func mergeBudget(def, req *Budget) *Budget {
	if def == nil && req == nil {
		return nil
	}
	var d, r Budget
	if def != nil {
		d = *def
	}
	if req != nil {
		r = *req
	}
	return &Budget{MaxCostUSD: ptr(r.MaxCostUSD, d.MaxCostUSD), MaxTokens: ptr(r.MaxTokens, d.MaxTokens)}
}

func mergeHarness(def, req *Harness) *Harness {
	if def == nil && req == nil {
		return nil
	}
	var d, r Harness
	if def != nil {
		d = *def
	}
	if req != nil {
		r = *req
	}
	out := Harness{
		AllowedTools:       list(r.AllowedTools, d.AllowedTools),
		DisallowedTools:    list(r.DisallowedTools, d.DisallowedTools),
		PermissionMode:     r.PermissionMode,
		AutoApprove:        ptr(r.AutoApprove, d.AutoApprove),
		Sandbox:            r.Sandbox,
		MaxTurns:           ptr(r.MaxTurns, d.MaxTurns),
		TimeoutMs:          ptr(r.TimeoutMs, d.TimeoutMs),
		MaxToolResultLines: ptr(r.MaxToolResultLines, d.MaxToolResultLines),
		MCPConfig:          doc(r.MCPConfig, d.MCPConfig),
		OutputSchema:       doc(r.OutputSchema, d.OutputSchema),
		ShellPrelude:       r.ShellPrelude,
		CLIAllowlist:       list(r.CLIAllowlist, d.CLIAllowlist),
		Env:                dict(r.Env, d.Env),
		AppendSystemPrompt: r.AppendSystemPrompt,
		ResumeSessionID:    r.ResumeSessionID,
		Continue:           r.Continue || d.Continue,
		ForkSession:        r.ForkSession || d.ForkSession,
	}
	str(&out.PermissionMode, d.PermissionMode)
	str(&out.Sandbox, d.Sandbox)
	str(&out.ShellPrelude, d.ShellPrelude)
	str(&out.AppendSystemPrompt, d.AppendSystemPrompt)
	str(&out.ResumeSessionID, d.ResumeSessionID)
	return &out
}

// Retry policy defaults, used when neither the request nor its profile sets one.
const (
	DefaultMaxRetries     = 2
	DefaultRetryBackoffMs = 1000
)

// MaxRetriesOr returns the spec's maxRetries, or def.
func (s Spec) MaxRetriesOr(def int) int {
	if s.MaxRetries == nil {
		return def
	}
	return *s.MaxRetries
}

// RetryBackoffOr returns the spec's first retry backoff, or def.
func (s Spec) RetryBackoffOr(def time.Duration) time.Duration {
	if s.RetryBackoffMs == nil {
		return def
	}
	return time.Duration(*s.RetryBackoffMs) * time.Millisecond
}

// HoldReason reports whether a failure of this kind comes from the
// provider's quota (a usage limit or a rate limit): the scheduler puts the
// provider on hold and re-queues the attempt, without counting it as a
// retry, so the run waits instead of failing.
func HoldReason(reason string) bool {
	return reason == ReasonUsageLimit || reason == ReasonRateLimited
}

// AttemptRetryable is the Retryable of a run.failed: whether another attempt
// follows a failure of this kind of an attempt dispatched with retriesLeft.
// Holds always re-queue; other retryable kinds need retries left; a timeout
// is retryable when the request says so; a cancel or a policy denial never is.
func AttemptRetryable(s Spec, reason string, retriesLeft int) bool {
	switch {
	case HoldReason(reason):
		return true
	case retriesLeft <= 0:
		return false
	case reason == ReasonTimeout:
		return s.RetryOnTimeout != nil && *s.RetryOnTimeout
	}
	return RetryableReason(reason)
}
