package modelapi

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	magicError  = regexp.MustCompile(`FAKE_ERROR=(\d{3})`)
	magicSleep  = regexp.MustCompile(`FAKE_SLEEP=([0-9][0-9a-zµ.]*)`)
	magicCmd    = regexp.MustCompile(`FAKE_CMD=([^\n]+)`)
	magicReply  = regexp.MustCompile(`FAKE_REPLY=([^\n]+)`)
	defaultText = "Hello from fake model"
)

// Magic is the default script: it reads the magic words of the package doc
// in the latest user message. Auxiliary requests (a CLI's own side
// questions) get a short neutral answer and never errors or delays, so that
// only the agent's turns follow the script.
func Magic(req Request) Reply {
	prompt := req.LastUserText()
	if req.Auxiliary {
		return auxiliaryReply(req)
	}
	var rep Reply
	if m := magicSleep.FindStringSubmatch(prompt); m != nil {
		if d, err := time.ParseDuration(m[1]); err == nil {
			rep.Delay = d
		}
	}
	if m := magicError.FindStringSubmatch(prompt); m != nil {
		rep.Status, _ = strconv.Atoi(m[1])
		if rep.Status == http.StatusTooManyRequests {
			rep.RetryAfter = time.Second
		}
		return rep
	}
	if strings.Contains(prompt, "FAKE_THINK") {
		rep.Thinking = "Thinking about the request"
	}
	result, afterTool := req.LastToolResult()
	switch {
	case strings.Contains(prompt, "FAKE_LOOP"):
		rep.Text = "Looping."
		rep.ToolCalls = []ToolCall{req.ShellCall(fmt.Sprintf("call_loop_%d", len(req.Messages)), "echo loop")}
	case afterTool:
		rep.Text = "Tool said: " + strings.TrimSpace(result.Text)
	case magicCmd.MatchString(prompt) || strings.Contains(prompt, "USE_BASH"):
		cmd := "echo hi"
		if m := magicCmd.FindStringSubmatch(prompt); m != nil {
			cmd = strings.TrimSpace(m[1])
		}
		rep.Text = "I'll run that."
		rep.ToolCalls = []ToolCall{req.ShellCall(fmt.Sprintf("call_%d", len(req.Messages)), cmd)}
	case strings.Contains(prompt, "FAKE_RECALL"):
		texts := req.UserTexts()
		rep.Text = "Earlier: " + strings.Join(texts[:len(texts)-1], " | ")
	case magicReply.MatchString(prompt):
		rep.Text = strings.TrimSpace(magicReply.FindStringSubmatch(prompt)[1])
	default:
		rep.Text = defaultText
	}
	return rep
}

// auxiliaryReply answers a CLI's own side request: JSON when it asks for
// JSON (Gemini's model router and next-speaker check), else a short text.
func auxiliaryReply(req Request) Reply {
	body := string(req.Body)
	switch {
	case strings.Contains(body, "complexity_score"):
		return Reply{Text: `{"complexity_reasoning":"a simple request","complexity_score":10}`}
	case strings.Contains(body, "model_choice"):
		return Reply{Text: `{"reasoning":"simple request","model_choice":"flash"}`}
	case strings.Contains(body, "next_speaker"):
		return Reply{Text: `{"reasoning":"the model answered","next_speaker":"user"}`}
	case strings.Contains(body, "application/json"):
		return Reply{Text: `{}`}
	}
	return Reply{Text: "Fake title"}
}
