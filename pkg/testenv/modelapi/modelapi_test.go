package modelapi_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/testenv/modelapi"
)

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post(url, "application/json", bytes.NewBufferString(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(data)
}

func TestAnthropicToolCallThenResult(t *testing.T) {
	t.Parallel()
	s := modelapi.Start(t)
	resp, err := http.Head(s.URL + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	code, out := post(t, s.URL+"/v1/messages?beta=true", `{"model":"m","stream":true,"tools":[{"name":"Bash"}],
		"messages":[{"role":"user","content":[{"type":"text","text":"FAKE_CMD=ls -la"}]}]}`)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, out, "event: message_start")
	require.Contains(t, out, `"type":"tool_use"`)
	require.Contains(t, out, `"name":"Bash"`)
	require.Contains(t, out, `{\"command\":\"ls -la\"`)
	require.Contains(t, out, `"stop_reason":"tool_use"`)

	code, out = post(t, s.URL+"/v1/messages", `{"model":"m","stream":false,"tools":[{"name":"Bash"}],
		"messages":[{"role":"user","content":"FAKE_CMD=ls"},
		{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls"}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"a.txt"}]}]}`)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, out, "Tool said: a.txt")
	require.Len(t, s.AgentRequests(), 2)
}

func TestErrorsAndDelays(t *testing.T) {
	t.Parallel()
	s := modelapi.Start(t)
	code, out := post(t, s.URL+"/v1/messages", `{"model":"m","tools":[{"name":"Bash"}],"messages":[{"role":"user","content":"FAKE_ERROR=429"}]}`)
	require.Equal(t, http.StatusTooManyRequests, code)
	require.Contains(t, out, "rate_limit_error")
	code, out = post(t, s.URL+"/v1/responses", `{"model":"m","tools":[{"type":"function","name":"shell"}],"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"FAKE_ERROR=500"}]}]}`)
	require.Equal(t, http.StatusInternalServerError, code)
	require.Contains(t, out, "fake error 500")

	t0 := time.Now()
	code, _ = post(t, s.URL+"/v1beta/models/g:streamGenerateContent?alt=sse", `{"contents":[{"role":"user","parts":[{"text":"FAKE_SLEEP=200ms hi"}]}],"tools":[{"functionDeclarations":[{"name":"run_shell_command"}]}]}`)
	require.Equal(t, http.StatusOK, code)
	require.GreaterOrEqual(t, time.Since(t0), 200*time.Millisecond)
}

func TestOpenAIAndGeminiStreams(t *testing.T) {
	t.Parallel()
	s := modelapi.Start(t)
	code, out := post(t, s.URL+"/v1/responses", `{"model":"m","stream":true,"tools":[{"type":"function","name":"exec_command"}],
		"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"FAKE_THINK FAKE_CMD=echo hi"}]}]}`)
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{"response.created", "response.output_item.done", `"type":"reasoning"`, `"type":"function_call"`, `"name":"exec_command"`, "response.completed"} {
		require.Contains(t, out, want)
	}
	code, out = post(t, s.URL+"/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", `{"contents":[
		{"role":"user","parts":[{"text":"remember banana"}]},{"role":"model","parts":[{"text":"ok"}]},
		{"role":"user","parts":[{"text":"FAKE_RECALL"}]}],"tools":[{"functionDeclarations":[{"name":"run_shell_command"}]}]}`)
	require.Equal(t, http.StatusOK, code)
	require.True(t, strings.HasPrefix(out, "data: {"), out)
	require.Contains(t, out, "Earlier: remember banana")
}
