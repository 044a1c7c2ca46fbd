package fakeagent

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Script is what a prompt asks the fake agent to do.
type Script struct {
	// Text is the prompt without its directives: what the agent echoes.
	Text string
	// Sleep is how long to wait before answering.
	Sleep time.Duration
	// Exit is the exit code (0..255).
	Exit int
	// Stderr lines are printed on standard error.
	Stderr []string
	// Tools are used in order, each as a tool_use then a tool_result.
	Tools []Tool
	// ToolExec runs Bash tool commands for real.
	ToolExec bool
	// Lines is how many extra assistant text events to print.
	Lines int
	// Bytes is how many bytes of raw text lines to print.
	Bytes int64
	// Interval is the pause between the lines of Lines.
	Interval time.Duration
	// Stdin makes the agent interactive: one turn per input line.
	Stdin bool
	// Crash names the signal to die by ("" for no crash).
	Crash string
	// Trap ignores SIGINT and SIGTERM.
	Trap bool
	// Model is the model named in the output.
	Model string
	// Session is the session id ("" for a new one).
	Session string
	// Pieces is a file of pieces of output to print before answering.
	Pieces string
}

// Tool is one scripted tool call.
type Tool struct {
	// Name is the tool's name, e.g. Bash, Read.
	Name string
	// Input is the command (Bash), the path (Read, Write, Edit) or free text.
	Input string
}

// DefaultModel is the model the fake agent claims to be.
const DefaultModel = "claude-fake-1"

// Bounds of the numeric directives.
const (
	maxSleep = 24 * time.Hour
	maxLines = 10_000_000
	maxBytes = int64(1) << 40
)

// directive kinds: a text directive's value runs to the next directive.
type kind int

const (
	kindWord kind = iota
	kindText
	kindFlag
)

var directives = map[string]kind{
	"sleep":     kindWord,
	"exit":      kindWord,
	"stderr":    kindText,
	"tool":      kindText,
	"tool-exec": kindWord,
	"lines":     kindWord,
	"bytes":     kindWord,
	"interval":  kindWord,
	"stdin":     kindWord,
	"crash":     kindFlag,
	"trap":      kindWord,
	"model":     kindWord,
	"session":   kindWord,
	"pieces":    kindWord,
}

// isDirective reports whether a word starts a directive.
func isDirective(word string) bool {
	key, _, hasValue := strings.Cut(word, "=")
	k, known := directives[key]
	return known && (hasValue || k == kindFlag)
}

// Parse reads the directives of a prompt. A known directive with a bad value
// is an error naming it and its allowed values; unknown words are prompt text.
func Parse(prompt string) (Script, error) {
	s := Script{Model: DefaultModel}
	var text []string
	rest := prompt
	for {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if rest == "" {
			break
		}
		word, after := cutWord(rest)
		if !isDirective(word) {
			text = append(text, word)
			rest = after
			continue
		}
		key, value, _ := strings.Cut(word, "=")
		switch {
		case strings.HasPrefix(value, `"`):
			// A quoted value may hold spaces; it ends at the closing quote.
			body := rest[len(key)+2:]
			end := strings.IndexByte(body, '"')
			if end < 0 {
				return Script{}, fmt.Errorf("%s: the quoted value has no closing quote", key)
			}
			value, after = body[:end], body[end+1:]
		case directives[key] == kindText:
			value, after = textValue(rest[len(key)+1:])
		}
		rest = after
		if err := s.set(key, value); err != nil {
			return Script{}, err
		}
	}
	s.Text = strings.Join(text, " ")
	return s, nil
}

// cutWord splits s (no leading space) at its first space.
func cutWord(s string) (word, rest string) {
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// textValue returns the words of s up to the next directive.
func textValue(s string) (value, rest string) {
	pos := 0
	for pos < len(s) {
		// Find the next word start.
		i := strings.IndexFunc(s[pos:], func(r rune) bool { return !unicode.IsSpace(r) })
		if i < 0 {
			break
		}
		start := pos + i
		word, _ := cutWord(s[start:])
		if start > 0 && isDirective(word) {
			return strings.TrimSpace(s[:start]), s[start:]
		}
		pos = start + len(word)
	}
	return strings.TrimSpace(s), ""
}

func (s *Script) set(key, value string) error {
	switch key {
	case "sleep", "interval":
		d, err := time.ParseDuration(value)
		if err != nil || d < 0 || d > maxSleep {
			return fmt.Errorf("%s=%q must be a Go duration in 0..24h (e.g. 500ms, 2s)", key, value)
		}
		if key == "sleep" {
			s.Sleep = d
		} else {
			s.Interval = d
		}
	case "exit":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || n > 255 {
			return fmt.Errorf("exit=%q must be an integer in 0..255", value)
		}
		s.Exit = n
	case "stderr":
		s.Stderr = append(s.Stderr, value)
	case "tool":
		name, input, ok := strings.Cut(value, ":")
		if !ok || name == "" {
			return fmt.Errorf("tool=%q must be NAME:INPUT, e.g. tool=Bash:echo hi", value)
		}
		s.Tools = append(s.Tools, Tool{Name: name, Input: input})
	case "pieces":
		s.Pieces = value
	case "tool-exec", "stdin", "trap":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("%s=%q must be 1 or 0", key, value)
		}
		switch key {
		case "tool-exec":
			s.ToolExec = b
		case "stdin":
			s.Stdin = b
		default:
			s.Trap = b
		}
	case "lines":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || n > maxLines {
			return fmt.Errorf("lines=%q must be an integer in 0..%d", value, maxLines)
		}
		s.Lines = n
	case "bytes":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 0 || n > maxBytes {
			return fmt.Errorf("bytes=%q must be an integer in 0..%d", value, maxBytes)
		}
		s.Bytes = n
	case "crash":
		if value == "" {
			value = "KILL"
		}
		if _, ok := signalByName(value); !ok {
			return fmt.Errorf("crash=%q must name a signal: KILL, TERM, INT, HUP or ABRT", value)
		}
		s.Crash = strings.TrimPrefix(strings.ToUpper(value), "SIG")
	case "model":
		if value == "" {
			return fmt.Errorf("model must not be empty")
		}
		s.Model = value
	case "session":
		if value == "" {
			return fmt.Errorf("session must not be empty")
		}
		s.Session = value
	}
	return nil
}
