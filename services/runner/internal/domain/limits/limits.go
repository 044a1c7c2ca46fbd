// Package limits tells, from what an agent CLI printed as it failed, whether
// it stopped because the provider refused it on quota: a usage limit (a
// subscription window or a credit balance ran out: Claude's "usage limit
// reached ... resets at ...", Codex's "You've hit your usage limit ... try
// again at ...") or a rate limit (HTTP 429), and when the quota resets when
// the CLI said so. The scheduler then holds the provider instead of failing
// its runs. It is pure: the caller gives the lines and the time.
//
// CLI wordings change between versions, so the patterns are loose and the
// lines are read both raw and, when they are JSON (stream-json, codex
// --json), through the members CLIs put their errors in.
package limits

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"
	// The reset time may name any IANA zone ("resets 3pm (Europe/Berlin)"):
	// the runner must know them all, whatever the machine has installed.
	_ "time/tzdata"

	"github.com/phantom-run/phantom/contracts/runs"
)

// Verdict is a quota refusal found in an agent's output.
type Verdict struct {
	// Reason is runs.ReasonUsageLimit or runs.ReasonRateLimited.
	Reason string
	// ResetsAt is when the quota resets, when the output said.
	ResetsAt *time.Time
	// Message is the text that said so.
	Message string
}

var (
	usagePattern = regexp.MustCompile(`(?i)usage limit reached|hit your (?:usage )?limit|(?:5-hour|weekly|daily|monthly|session) limit reached|limit reached\s*[∙·•|]|insufficient_quota|credit balance is too low|exhausted your (?:daily )?quota|usage limit`)
	ratePattern  = regexp.MustCompile(`(?i)(?:status|error|code|http)[^0-9\n]{0,20}\b429\b|\b429 too many|api error: 429|too many requests|rate[ _-]?limit|resource_exhausted|quota exceeded`)
	// epochPattern is Claude's machine-readable form: "...limit reached|1754870400".
	epochPattern = regexp.MustCompile(`limit reached\|(\d{9,11})`)
	// inPattern is a relative reset: "try again in 3 days 6 hours 57 minutes",
	// "Please try again in 1m30s", "retry after 20s", "resets in 2h".
	inPattern = regexp.MustCompile(`(?i)(?:again|after|resets?|retry)\s+in\s+(\d[\d.\s,a-z]*)`)
	// atPattern is an absolute reset: "reset at 1pm (Etc/GMT+5)", "resets 3pm
	// (America/Los_Angeles)", "try again at 3:28 PM", "resets Feb 3 at
	// 10am", "try again at Aug 8th, 2026 12:30 PM", "Try again Aug 18".
	atPattern = regexp.MustCompile(`(?i)(?:resets?|try again)\s+(?:at\s+|on\s+)?((?:[A-Z][a-z]{2,8}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s*(?:\d{4},?\s*)?(?:at\s+)?)?(?:\d{1,2}(?::\d{2})?\s*[ap]\.?m\.?)?)(?:\s*\(([A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)*)\))?`)
	// retryAfterPattern is an HTTP Retry-After or a Gemini retryDelay in seconds.
	retryAfterPattern = regexp.MustCompile(`(?i)(?:retry-after:\s*|"retryDelay"\s*:\s*")(\d+(?:\.\d+)?)s?`)
	// unitPattern reads one "<number><unit>"; units may run together (1m30s),
	// longer spellings first.
	unitPattern  = regexp.MustCompile(`(?i)(\d+(?:\.\d+)?)\s*(ms|minutes?|mins?|m|hours?|hrs?|h|days?|d|seconds?|secs?|s)`)
	clockPattern = regexp.MustCompile(`(?i)(\d{1,2})(?::(\d{2}))?\s*([ap])\.?m\.?`)
	datePattern  = regexp.MustCompile(`^([A-Z][a-z]{2,8})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s*(\d{4})?`)
)

// Classify reads lines an agent printed (the last of its stdout, its
// stderr) and says whether it stopped on a usage or rate limit. now anchors
// relative and partial reset times ("in 2 hours", "3pm"); loc is the zone
// of a reset time that names none (the runner's).
func Classify(lines []string, now time.Time, loc *time.Location) (Verdict, bool) {
	var texts []string
	status := 0
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		t, st := fromJSON(l)
		if st != 0 {
			status = st
		}
		texts = append(texts, t...)
	}
	var usage, rate string
	for _, t := range texts {
		if usage == "" && usagePattern.MatchString(t) {
			usage = t
		}
		if rate == "" && ratePattern.MatchString(t) {
			rate = t
		}
	}
	v := Verdict{}
	switch {
	case usage != "":
		v.Reason, v.Message = runs.ReasonUsageLimit, usage
	case status == 429:
		v.Reason, v.Message = runs.ReasonRateLimited, first(rate, texts)
	case rate != "":
		v.Reason, v.Message = runs.ReasonRateLimited, rate
	default:
		return Verdict{}, false
	}
	for _, t := range append([]string{v.Message}, texts...) {
		if at, ok := ResetTime(t, now, loc); ok {
			v.ResetsAt = &at
			break
		}
	}
	v.Message = clip(v.Message)
	return v, true
}

func first(preferred string, texts []string) string {
	if preferred != "" || len(texts) == 0 {
		return preferred
	}
	return texts[len(texts)-1]
}

// fromJSON returns the texts a line carries: the line itself, and when it is
// a JSON object the members CLIs put errors in (Claude's result and
// api_error_status, its api_retry's error_status, Codex's message and
// error.message, Gemini's error). The status is an HTTP status found, or 0.
func fromJSON(line string) ([]string, int) {
	out := []string{line}
	if !strings.HasPrefix(line, "{") {
		return out, 0
	}
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return out, 0
	}
	status := 0
	for _, k := range []string{"api_error_status", "error_status", "status", "code"} {
		if f, ok := m[k].(float64); ok && f >= 400 && f < 600 {
			status = int(f)
		}
	}
	for _, k := range []string{"result", "message", "error"} {
		switch v := m[k].(type) {
		case string:
			out = append(out, v)
		case map[string]any:
			if s, ok := v["message"].(string); ok {
				out = append(out, s)
			}
			if f, ok := v["code"].(float64); ok && f >= 400 && f < 600 {
				status = int(f)
			}
		}
	}
	if errs, ok := m["errors"].([]any); ok {
		for _, e := range errs {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out, status
}

// ResetTime finds when a quota resets in one text: an epoch (Claude's
// "|1754870400"), a delay ("try again in 3 days 6 hours 57 minutes",
// "retry-after: 20"), or a time of day and maybe a date, in the zone the
// text names or loc ("resets 3pm (Europe/Berlin)", "try again at Aug 8th,
// 2026 12:30 PM"). A time of day without a date is its next occurrence
// after now; a date without a year, the next one.
func ResetTime(text string, now time.Time, loc *time.Location) (time.Time, bool) {
	if m := epochPattern.FindStringSubmatch(text); m != nil {
		sec, err := strconv.ParseInt(m[1], 10, 64)
		if err == nil {
			return time.Unix(sec, 0).UTC(), true
		}
	}
	if m := inPattern.FindStringSubmatch(text); m != nil {
		if d, ok := duration(m[1]); ok {
			return now.Add(d).UTC(), true
		}
	}
	if m := retryAfterPattern.FindStringSubmatch(text); m != nil {
		if f, err := strconv.ParseFloat(m[1], 64); err == nil {
			return now.Add(time.Duration(f * float64(time.Second))).UTC(), true
		}
	}
	for _, m := range atPattern.FindAllStringSubmatch(text, -1) {
		when := strings.TrimSpace(m[1])
		if when == "" {
			continue
		}
		zone := loc
		if m[2] != "" {
			if z, err := time.LoadLocation(m[2]); err == nil {
				zone = z
			}
		}
		if t, ok := absolute(when, now, zone); ok {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// duration sums "3 days 6 hours 57 minutes", "1m30s", "20s", "500ms".
func duration(s string) (time.Duration, bool) {
	var total time.Duration
	found := false
	for _, m := range unitPattern.FindAllStringSubmatch(s, -1) {
		f, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			continue
		}
		unit := time.Second
		switch u := strings.ToLower(m[2]); {
		case u == "ms":
			unit = time.Millisecond
		case strings.HasPrefix(u, "d"):
			unit = 24 * time.Hour
		case strings.HasPrefix(u, "h"):
			unit = time.Hour
		case strings.HasPrefix(u, "m"):
			unit = time.Minute
		}
		total += time.Duration(f * float64(unit))
		found = true
	}
	return total, found && total > 0
}

var months = map[string]time.Month{
	"jan": time.January, "feb": time.February, "mar": time.March, "apr": time.April, "may": time.May, "jun": time.June,
	"jul": time.July, "aug": time.August, "sep": time.September, "oct": time.October, "nov": time.November, "dec": time.December,
}

// absolute reads "3pm", "3:28 PM", "Feb 3 at 10am", "Aug 8th, 2026 12:30 PM", "Aug 18".
func absolute(s string, now time.Time, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	local := now.In(loc)
	year, month, day := local.Date()
	dated := false
	yearGiven := false
	if m := datePattern.FindStringSubmatch(s); m != nil {
		mo, ok := months[strings.ToLower(m[1])[:3]]
		if !ok {
			return time.Time{}, false
		}
		d, _ := strconv.Atoi(m[2])
		month, day, dated = mo, d, true
		if m[3] != "" {
			year, _ = strconv.Atoi(m[3])
			yearGiven = true
		}
	}
	hour, minute := 0, 0
	clock := clockPattern.FindStringSubmatch(s)
	switch {
	case clock != nil:
		hour, _ = strconv.Atoi(clock[1])
		if clock[2] != "" {
			minute, _ = strconv.Atoi(clock[2])
		}
		if hour < 1 || hour > 12 || minute > 59 {
			return time.Time{}, false
		}
		hour %= 12
		if strings.EqualFold(clock[3], "p") {
			hour += 12
		}
	case !dated:
		return time.Time{}, false
	}
	t := time.Date(year, month, day, hour, minute, 0, 0, loc)
	switch {
	case !dated && !t.After(local):
		t = t.AddDate(0, 0, 1) // a time of day already past today: tomorrow's
	case dated && !yearGiven && t.Before(local.Add(-24*time.Hour)):
		t = t.AddDate(1, 0, 0) // a date already past this year: next year's
	}
	return t, true
}

func clip(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
