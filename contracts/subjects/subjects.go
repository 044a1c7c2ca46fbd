// Package subjects builds and parses the NATS subjects Phantom talks on.
//
// The layout is part of the public contract (subscribers outside Phantom rely
// on it), so every subject is built here and nowhere else:
//
//	phantom.events.<aggregate>.<id>.<type>   the append-only event log
//	phantom.cmd.<service>.<verb>             intents addressed to one service
//	phantom.cmd.runner.<runner_id>.<verb>    intents addressed to one runner
//	phantom.dispatch.<pool>                  runs released to a runner pool
//	phantom.rpc.guard.check                  request/reply, not persisted
//	phantom.rpc.worktree.<host>.<verb>       request/reply, not persisted
//	phantom.rpc.scheduler.queue              request/reply, not persisted
package subjects

import (
	"fmt"
	"strings"
)

// Stream, bucket and subject roots.
const (
	EventsRoot   = "phantom.events"
	CommandsRoot = "phantom.cmd"
	DispatchRoot = "phantom.dispatch"
	RPCRoot      = "phantom.rpc"

	AllEvents   = EventsRoot + ".>"
	AllCommands = CommandsRoot + ".>"
	AllDispatch = DispatchRoot + ".>"

	// GuardCheck is the safety-guard's request/reply subject; replicas share it
	// through the queue group GuardQueueGroup.
	GuardCheck      = RPCRoot + ".guard.check"
	GuardQueueGroup = "safety-guard"

	// SchedulerQueue is answered by the active scheduler with the queue as it
	// stands (positions, effective priorities, why each run waits).
	SchedulerQueue = RPCRoot + ".scheduler.queue"
)

// ValidToken reports whether s can stand as one subject token (an id, a pool,
// a host or a verb): 1-128 characters of A-Z, a-z, 0-9, '_' or '-' (no
// dots, wildcards or whitespace). A loop rather than a regular expression:
// `{1,128}` compiles to 128 copies of the class, which every Phantom process
// (the guard hook included, one per agent command) paid at start.
func ValidToken(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// CheckToken returns an error naming field when s cannot be a subject token.
func CheckToken(field, s string) error {
	if !ValidToken(s) {
		return fmt.Errorf("%s %q must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'", field, s)
	}
	return nil
}

// Event is the subject of one event: phantom.events.<aggregate>.<id>.<type>.
func Event(aggregate, id, eventType string) string {
	return EventsRoot + "." + aggregate + "." + id + "." + eventType
}

// AggregateEvents matches every event of one aggregate instance, e.g. all of a run.
func AggregateEvents(aggregate, id string) string {
	return EventsRoot + "." + aggregate + "." + id + ".>"
}

// EventsOfType matches one event type across every instance of its aggregate,
// e.g. phantom.events.run.*.run.completed.
func EventsOfType(aggregate, eventType string) string {
	return EventsRoot + "." + aggregate + ".*." + eventType
}

// ParsedEvent is what an event subject says.
type ParsedEvent struct {
	Aggregate string
	ID        string
	Type      string
}

// ParseEvent splits an event subject into aggregate, id and type.
func ParseEvent(subject string) (ParsedEvent, error) {
	rest, ok := strings.CutPrefix(subject, EventsRoot+".")
	if !ok {
		return ParsedEvent{}, fmt.Errorf("subject %q is not under %s", subject, EventsRoot)
	}
	parts := strings.SplitN(rest, ".", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return ParsedEvent{}, fmt.Errorf("subject %q is not %s.<aggregate>.<id>.<type>", subject, EventsRoot)
	}
	return ParsedEvent{Aggregate: parts[0], ID: parts[1], Type: parts[2]}, nil
}

// Command is the subject of a command addressed to a service.
func Command(service, verb string) string {
	return CommandsRoot + "." + service + "." + verb
}

// ServiceCommands matches every command of one service.
func ServiceCommands(service string) string { return CommandsRoot + "." + service + ".>" }

// RunnerCommand is the subject of a command addressed to one runner.
func RunnerCommand(runnerID, verb string) string {
	return CommandsRoot + ".runner." + runnerID + "." + verb
}

// RunnerCommands matches every command addressed to one runner.
func RunnerCommands(runnerID string) string { return CommandsRoot + ".runner." + runnerID + ".>" }

// Dispatch is the subject runs are released on for one runner pool.
func Dispatch(pool string) string { return DispatchRoot + "." + pool }

// WorktreeRPC is the request/reply subject of one worktree host.
func WorktreeRPC(host, verb string) string { return RPCRoot + ".worktree." + host + "." + verb }

// WorktreeHostRPC matches every request to one worktree host.
func WorktreeHostRPC(host string) string { return RPCRoot + ".worktree." + host + ".>" }
