// Package fakeagent is Phantom's scripted stand-in for a coding agent CLI. It
// prints Claude Code's stream-json exactly as `claude -p PROMPT
// --output-format stream-json --verbose` does (a system/init event, one
// assistant event per content block, tool results as user events, a final
// result event), so demos and tests exercise the same paths as a real agent
// without a model, a network or an API key.
//
// A binary becomes the fake agent when the environment variable
// PHANTOM_FAKE_AGENT is "1": it calls MainIfRequested first thing in main (the
// runner, `phantom` and test binaries all do), which then acts as the agent
// and exits. The runner launches agent "fake" as its own executable with that
// variable set; cmd/phantom-fake-agent is the same agent as a binary of its own.
//
// The prompt is the command line (all arguments joined by spaces, or the
// argument after -p when there is one). Words of the prompt that look like
// key=value with a known key are directives; every other word is the text the
// agent "answers" by echoing it back.
//
//	sleep=DURATION     wait this long before answering (Go duration: 500ms, 2s, 1m)
//	exit=N             exit with code N (0..255); the result has is_error true when N != 0
//	stderr=TEXT        print TEXT as one line on standard error (repeatable)
//	tool=NAME:INPUT    use a tool: an assistant tool_use block, then its tool_result as a
//	                   user event (repeatable). For Bash, INPUT is the command; it is NOT
//	                   run unless tool-exec=1, a plausible result is printed instead
//	tool-exec=1        really run Bash tool commands (sh -c, in the working directory)
//	lines=N            print N extra assistant text events ("line i of N")
//	bytes=N            print N bytes of raw, non-JSON text lines as fast as possible
//	                   (for throughput benchmarks)
//	interval=DURATION  pause between the lines of lines=N (for live-streaming tests)
//	stdin=1            interactive: read standard input line by line; each line (plain
//	                   text or a stream-json user message) is a turn answered with an
//	                   assistant event and a result event; exit when stdin closes
//	crash[=SIGNAL]     die by a signal (KILL by default, or TERM, INT, HUP, ABRT) right
//	                   after printing the init event
//	trap=1             ignore SIGINT and SIGTERM (to test a runner's kill escalation)
//	model=NAME         the model named in the output (default claude-fake-1)
//	session=UUID       the session id (default: a new random UUID)
//	pieces=FILE        print the pieces of FILE (relative to the working directory)
//	                   before answering: a JSON array of {"stdout": TEXT} or
//	                   {"stderr": TEXT}, each written with one write call, with
//	                   "pause": DURATION after it. A secret split across writes and
//	                   pauses, kept out of the prompt (tests of redaction).
//
// TEXT and INPUT run to the next directive or the end of the prompt; wrap them
// in double quotes to end them earlier: stderr="warned" then the answer.
// A word like key=value with an unknown key is plain prompt text.
package fakeagent
