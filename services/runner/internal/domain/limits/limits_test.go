package limits_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/runner/internal/domain/limits"
)

// now is a Wednesday afternoon in UTC.
var now = time.Date(2026, 3, 4, 14, 10, 0, 0, time.UTC)

// transcript returns the lines of a real CLI transcript (testdata holds
// copies of ../shared/reference/cli-transcripts).
func transcript(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".ndjson"))
	require.NoError(t, err)
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	require.NoError(t, sc.Err())
	return out
}

// last returns the last line of a transcript: what the runner keeps of stdout.
func last(t *testing.T, name string) string {
	lines := transcript(t, name)
	return lines[len(lines)-1]
}

// with429 turns a real failure line into the same CLI's 429: the shape is
// the CLI's, only the status and text change.
func with429(line, from, to string) string { return strings.ReplaceAll(line, from, to) }

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func TestClassify(t *testing.T) {
	t.Parallel()
	la, err := time.LoadLocation("America/Los_Angeles")
	require.NoError(t, err)
	claude400 := last(t, "claude_http400")
	codex401 := transcript(t, "codex_http401")
	for _, tc := range []struct {
		name   string
		lines  []string
		reason string
		resets *time.Time
	}{
		{
			name: "claude result, HTTP 429 (the http400 transcript's shape)",
			lines: []string{with429(with429(claude400, `"api_error_status":400`, `"api_error_status":429`),
				"API Error: 400 fake error 400", `API Error: 429 {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Number of request tokens has exceeded your per-minute rate limit\"}}`)},
			reason: runs.ReasonRateLimited,
		},
		{
			name:   "claude result, usage limit with its epoch",
			lines:  []string{with429(claude400, "API Error: 400 fake error 400", "Claude AI usage limit reached|1772640000")},
			reason: runs.ReasonUsageLimit, resets: at("2026-03-04T16:00:00Z"),
		},
		{
			name:   "claude text, reset at a time of day in a named zone",
			lines:  []string{"Claude usage limit reached. Your limit will reset at 1pm (Etc/GMT+5)."},
			reason: runs.ReasonUsageLimit, resets: at("2026-03-04T18:00:00Z"), // 1pm at UTC-5
		},
		{
			name:   "claude 2.x, hit your limit, resets in a named zone",
			lines:  []string{`{"type":"result","subtype":"success","is_error":true,"result":"You've hit your limit · resets 3pm (America/Los_Angeles)"}`},
			reason: runs.ReasonUsageLimit, resets: ptr(time.Date(2026, 3, 4, 15, 0, 0, 0, la).UTC()),
		},
		{
			name:   "claude, 5-hour window, a time of day already past: tomorrow",
			lines:  []string{"5-hour limit reached ∙ resets 9am"},
			reason: runs.ReasonUsageLimit, resets: at("2026-03-05T09:00:00Z"),
		},
		{
			name:   "claude, weekly limit with a date",
			lines:  []string{"Opus weekly limit reached ∙ resets Mar 9, 1pm"},
			reason: runs.ReasonUsageLimit, resets: at("2026-03-09T13:00:00Z"),
		},
		{
			name:   "claude api_retry of a 429 before the failure",
			lines:  []string{with429(transcript(t, "claude_http401_retrying")[1], `"error_status":401,"error":"authentication_failed"`, `"error_status":429,"error":"rate_limit"`)},
			reason: runs.ReasonRateLimited,
		},
		{
			name: "codex, usage limit, try again at a time",
			lines: []string{codex401[0], codex401[1],
				`{"type":"error","message":"You've hit your usage limit. Visit https://chatgpt.com/codex/settings/usage to purchase more credits or try again at 3:28 PM."}`,
				`{"type":"turn.failed","error":{"message":"You've hit your usage limit. Visit https://chatgpt.com/codex/settings/usage to purchase more credits or try again at 3:28 PM."}}`},
			reason: runs.ReasonUsageLimit, resets: at("2026-03-04T15:28:00Z"),
		},
		{
			name:   "codex, usage limit, try again in days hours minutes",
			lines:  []string{`{"type":"turn.failed","error":{"message":"You've hit your usage limit. To get more access now, send a request to your admin or try again in 3 days 6 hours 57 minutes."}}`},
			reason: runs.ReasonUsageLimit, resets: ptr(now.Add(3*24*time.Hour + 6*time.Hour + 57*time.Minute)),
		},
		{
			name:   "codex, usage limit, try again on a date",
			lines:  []string{`{"type":"turn.failed","error":{"message":"You've hit your usage limit. Try again Aug 18."}}`},
			reason: runs.ReasonUsageLimit, resets: at("2026-08-18T00:00:00Z"),
		},
		{
			name:   "codex, usage limit, try again at a full date",
			lines:  []string{"■ You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro) or try again at Aug 8th, 2026 12:30 PM."},
			reason: runs.ReasonUsageLimit, resets: at("2026-08-08T12:30:00Z"),
		},
		{
			name: "codex, HTTP 429 (the http401 transcript's shape)",
			lines: []string{with429(codex401[3], "unexpected status 401 Unauthorized: fake error 401",
				"unexpected status 429 Too Many Requests: Rate limit reached for gpt-5 on tokens per min (TPM): Limit 30000, Used 29500, Requested 900. Please try again in 1.2s.")},
			reason: runs.ReasonRateLimited, resets: ptr(now.Add(1200 * time.Millisecond)),
		},
		{
			name:   "openai, insufficient quota is a usage limit",
			lines:  []string{"Error code: 429 - insufficient_quota"},
			reason: runs.ReasonUsageLimit,
		},
		{
			name:   "gemini, resource exhausted with a retry delay",
			lines:  []string{`{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED","details":[{"retryDelay":"24s"}]}}`},
			reason: runs.ReasonRateLimited, resets: ptr(now.Add(24 * time.Second)),
		},
		{
			name:   "a Retry-After on stderr",
			lines:  []string{"Error: HTTP 429 Too Many Requests (Retry-After: 30)"},
			reason: runs.ReasonRateLimited, resets: ptr(now.Add(30 * time.Second)),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, ok := limits.Classify(tc.lines, now, time.UTC)
			require.True(t, ok)
			require.Equal(t, tc.reason, v.Reason)
			require.NotEmpty(t, v.Message)
			if tc.resets == nil {
				require.Nil(t, v.ResetsAt)
			} else {
				require.NotNil(t, v.ResetsAt, "reset time")
				require.True(t, tc.resets.Equal(*v.ResetsAt), "want %s, got %s", tc.resets, v.ResetsAt)
			}
		})
	}
}

// Failures that are not quota refusals, from the real transcripts.
func TestOtherFailuresAreNotLimits(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"claude_http400", "claude_http401_noretry", "claude_http401_retrying", "codex_http401",
		"codex_conn_refused", "claude_resume_missing", "claude_bash_tool"} {
		lines := transcript(t, name)
		_, ok := limits.Classify(lines[max(len(lines)-3, 0):], now, time.UTC)
		require.False(t, ok, name)
	}
	for _, line := range []string{"", "processed 429 files", "exit status 1", `{"type":"result","is_error":true,"result":"boom"}`, "{not json"} {
		_, ok := limits.Classify([]string{line}, now, time.UTC)
		require.False(t, ok, line)
	}
}

func TestResetTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text string
		want *time.Time
	}{
		{"resets 2:05pm", at("2026-03-05T14:05:00Z")}, // 2:05pm today is past: tomorrow
		{"resets 2:15 p.m.", at("2026-03-04T14:15:00Z")},
		{"resets 12am", at("2026-03-05T00:00:00Z")},
		{"resets 12pm", at("2026-03-05T12:00:00Z")},
		{"resets Feb 3 at 10am", at("2027-02-03T10:00:00Z")}, // a date past this year: next year's
		{"try again in 45m", ptr(now.Add(45 * time.Minute))},
		{"try again in 1m30s", ptr(now.Add(90 * time.Second))},
		{"try again in 500ms", ptr(now.Add(500 * time.Millisecond))},
		{"resets (Nowhere/Zone) never", nil},
		{"resets 13pm", nil},
		{"nothing here", nil},
	} {
		got, ok := limits.ResetTime(tc.text, now, time.UTC)
		if tc.want == nil {
			require.False(t, ok, tc.text)
			continue
		}
		require.True(t, ok, tc.text)
		require.True(t, tc.want.Equal(got), "%s: want %s, got %s", tc.text, tc.want, got)
	}
}

func ptr(t time.Time) *time.Time { return &t }

// FuzzClassify: any output, however malformed, is classified without a
// panic and in bounded time.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"Claude AI usage limit reached|1772640000",
		`{"type":"error","message":"You've hit your usage limit. try again in 3 days 6 hours 57 minutes."}`,
		`{"error":{"code":429,"message":"x","details":[{"retryDelay":"24s"}]}}`,
		"resets Mar 9, 1pm (America/Los_Angeles)", "try again at Aug 8th, 2026 12:30 PM", "{", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := limits.Classify([]string{s}, now, time.UTC)
		if ok && v.Reason != runs.ReasonUsageLimit && v.Reason != runs.ReasonRateLimited {
			t.Fatalf("reason %q", v.Reason)
		}
	})
}
