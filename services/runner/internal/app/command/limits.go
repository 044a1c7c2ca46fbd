package command

import (
	"time"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/runner/internal/domain/limits"
)

// quotaFailure reports an attempt whose agent failed because its provider
// refused it on quota (a usage limit or an HTTP 429, read from the last
// lines it printed, see internal/domain/limits): run.failed usage_limit or
// rate_limited, with the reset time when the agent gave one, retryable (the
// scheduler holds the provider and queues the run again without using a
// retry). It returns the outcome label and true when it was such a failure.
// The output parsers (internal/domain/agentoutput) may feed the same
// classifier with more of the output.
func (x *execution) quotaFailure(lines []string, exitCode *int, took time.Duration) (string, bool) {
	v, ok := limits.Classify(lines, time.Now(), time.Local)
	if !ok {
		return "", false
	}
	d := x.a.d
	x.appendOrLog(events.RunFailed{RunID: d.RunID, Attempt: d.Attempt, Reason: v.Reason, Message: v.Message,
		ExitCode: exitCode, DurationMs: took.Milliseconds(), ResetsAt: v.ResetsAt,
		Retryable: runs.AttemptRetryable(d.Spec, v.Reason, d.RetriesLeft)})
	x.log.Warn("the provider refused the agent on quota", "reason", v.Reason, "resets_at", v.ResetsAt)
	return "failed:" + v.Reason, true
}
