package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/events"
)

// renderer prints a run's events: the agent's output as it came (stdout
// chunks to stdout, stderr chunks to stderr) and the other events as short
// status lines on stderr, so `phantom run ... > out.txt` keeps only what the
// agent printed.
type renderer struct {
	stdout, stderr io.Writer
	// quiet drops the status lines.
	quiet bool
}

func (r *renderer) render(e api.RunEvent) error {
	p, err := e.Payload()
	if err != nil {
		return err
	}
	switch ev := p.(type) {
	case *events.RunChunkStdout:
		_, err := io.WriteString(r.stdout, ev.Data)
		return err
	case *events.RunChunkStderr:
		_, err := io.WriteString(r.stderr, ev.Data)
		return err
	}
	if r.quiet || p == nil {
		return nil
	}
	if line := describe(p); line != "" {
		_, err := fmt.Fprintf(r.stderr, "phantom: run %s %s\n", e.RunID, line)
		return err
	}
	return nil
}

// describe is the status line of an event, "" for events not worth a line
// (semantic events, metrics: the output already says it).
func describe(p events.Payload) string {
	switch e := p.(type) {
	case *events.RunRequested:
		return fmt.Sprintf("requested: agent %s in %s", e.Spec.Agent, e.Spec.Workspace)
	case *events.RunQueued:
		if e.Attempt > 1 {
			return fmt.Sprintf("queued again for attempt %d", e.Attempt)
		}
		return fmt.Sprintf("queued (position %d)", e.Position)
	case *events.RunRejected:
		return "rejected: " + reason(e.Reason, e.Message, e.Field)
	case *events.RunDispatched:
		return fmt.Sprintf("dispatched to pool %s (attempt %d)", e.Pool, e.Attempt)
	case *events.RunWorktreePrepared:
		return fmt.Sprintf("worktree %s on branch %s", e.Path, e.Branch)
	case *events.RunStarted:
		return fmt.Sprintf("started on %s (pid %d) in %s", e.Host, e.PID, e.Cwd)
	case *events.RunProgress:
		if e.Message != "" {
			return e.Phase + ": " + e.Message
		}
		return e.Phase
	case *events.RunWarning:
		return fmt.Sprintf("warning: %s: %s", e.Code, e.Message)
	case *events.RunCompatibilityWarning:
		return fmt.Sprintf("option %s dropped: %s", e.Option, e.Reason)
	case *events.RunCLIMissing:
		s := fmt.Sprintf("agent CLI %s is not installed on the runner", e.Command)
		if e.Install != "" {
			s += " (install: " + e.Install + ")"
		}
		return s
	case *events.RunCWDMissing:
		return fmt.Sprintf("working directory %s does not exist on the runner", e.Cwd)
	case *events.RunPolicyAudit:
		if e.Decision == "block" {
			return fmt.Sprintf("blocked %q: %s", e.Command, e.Reason)
		}
		return ""
	case *events.RunCLIExit:
		if e.Signal != "" {
			return fmt.Sprintf("agent killed by %s", e.Signal)
		}
		return fmt.Sprintf("agent exited with code %d", e.ExitCode)
	case *events.RunPaused:
		return "paused"
	case *events.RunResumed:
		return "resumed"
	case *events.RunRetryScheduled:
		return fmt.Sprintf("attempt %d failed (%s); attempt %d in %s", e.Attempt, e.Reason, e.NextAttempt, time.Duration(e.BackoffMs)*time.Millisecond)
	case *events.RunCompleted:
		return fmt.Sprintf("completed in %s", duration(e.DurationMs))
	case *events.RunFailed:
		s := "failed: " + reason(e.Reason, e.Message, "")
		if e.ExitCode != nil {
			s += fmt.Sprintf(" (exit code %d)", *e.ExitCode)
		}
		if e.Retryable {
			s += "; will retry"
		}
		return s
	case *events.RunCanceled:
		s := "canceled"
		if e.By != "" {
			s += " by " + e.By
		}
		if e.Reason != "" {
			s += " (" + e.Reason + ")"
		}
		return s
	}
	return ""
}

func reason(code, message, field string) string {
	s := code
	if message != "" {
		s += ": " + message
	}
	if field != "" {
		s += " (field " + field + ")"
	}
	return s
}

func duration(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	if d >= time.Second {
		d = d.Round(100 * time.Millisecond)
	}
	return d.String()
}

// exitCodeFor is phantom run's exit code for a run's terminal event.
func exitCodeFor(e api.RunEvent) int {
	p, err := e.Payload()
	if err != nil {
		return ExitFailed
	}
	switch ev := p.(type) {
	case *events.RunCompleted:
		return ExitOK
	case *events.RunFailed:
		if ev.ExitCode != nil && *ev.ExitCode > 0 && *ev.ExitCode < 256 {
			return *ev.ExitCode
		}
	}
	return ExitFailed
}

// age is a short "how long ago".
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(int(d.Seconds()), 0))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// oneLine shortens text to one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
