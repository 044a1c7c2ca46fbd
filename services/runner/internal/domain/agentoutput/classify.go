package agentoutput

import (
	"fmt"
	"strings"

	"github.com/phantom-run/phantom/contracts/runs"
)

// Classify says how an agent that exited by itself (no signal, not stopped
// by the runner) ended: "" for success, else a reason code (runs.Reason*)
// with a message. It reads the exit code, what the output said (o) and the
// last line of standard error.
//
// Claude Code exits 1 for every failure and says which in its result (an
// API error has subtype success with is_error true, so the subtype alone is
// not enough); Codex reports turn.failed; Gemini CLI has exit codes of its
// own (41 auth, 42 input, 53 turn limit).
func Classify(adapterName string, code int, o Outcome, stderr string) (reason, message string) {
	failed := code != 0 || (o.HasResult && o.IsError)
	if !failed {
		return "", ""
	}
	text := o.ErrorText
	if text == "" {
		text = strings.TrimSpace(stderr)
	}
	lower := strings.ToLower(text + " " + stderr)
	describe := func(what string) string {
		msg := fmt.Sprintf("%s (exit code %d)", what, code)
		if text != "" {
			msg += ": " + text
		}
		return msg
	}
	switch {
	case o.MaxTurns || (adapterName == "gemini" && code == 53):
		return runs.ReasonMaxTurns, describe("the agent reached its turn limit")
	case usageLimit(lower):
		return runs.ReasonUsageLimit, describe("the provider's usage limit was reached")
	case o.APIStatus == 429 || rateLimit(lower):
		return runs.ReasonRateLimited, describe("the provider rate-limited the agent")
	case o.APIStatus >= 400:
		return runs.ReasonAPIError, describe(fmt.Sprintf("the model API answered HTTP %d", o.APIStatus))
	case o.APIError:
		return runs.ReasonAPIError, describe("the model API failed")
	case adapterName == "gemini" && code == 41:
		return runs.ReasonAPIError, describe("Gemini CLI is not authenticated")
	case o.IsError && o.ErrorText != "" && (strings.Contains(lower, "api error") || strings.Contains(lower, "unexpected status")):
		return runs.ReasonAPIError, describe("the model API failed")
	}
	msg := fmt.Sprintf("the agent exited with code %d", code)
	// The last thing it said on stderr is usually why.
	if why := strings.TrimSpace(stderr); why != "" {
		msg += ": " + why
	} else if text != "" {
		msg += ": " + text
	}
	return runs.ReasonAgentError, msg
}

func usageLimit(s string) bool {
	for _, k := range []string{"usage limit", "hit your limit", "quota exceeded", "exceeded your current quota", "resource_exhausted"} {
		if strings.Contains(s, k) {
			return true
		}
	}
	return false
}

func rateLimit(s string) bool {
	for _, k := range []string{"rate limit", "rate_limit", "too many requests"} {
		if strings.Contains(s, k) {
			return true
		}
	}
	return false
}

// ResumeFailed reports whether an agent could not resume its provider
// session: from its output (Claude Code, Codex) or its standard error
// (Gemini CLI prints "Invalid session identifier").
func ResumeFailed(o Outcome, stderr string) bool {
	return o.ResumeInvalid || ResumeFailureIn(stderr)
}

// ResumeFailureIn reports whether text (standard error) says a session
// could not be resumed.
func ResumeFailureIn(text string) bool {
	s := strings.ToLower(text)
	return strings.Contains(s, "invalid session identifier") || strings.Contains(s, "no conversation found") ||
		strings.Contains(s, "no rollout found") || strings.Contains(s, "error resuming session")
}
