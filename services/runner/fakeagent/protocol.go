package fakeagent

// The shapes below mirror Claude Code 2.1's stream-json output field for
// field (see the recorded transcripts in shared/reference/cli-transcripts),
// so that whatever parses a real agent parses the fake one the same way.

type initEvent struct {
	Type              string   `json:"type"`
	Subtype           string   `json:"subtype"`
	Cwd               string   `json:"cwd"`
	SessionID         string   `json:"session_id"`
	Tools             []string `json:"tools"`
	MCPServers        []any    `json:"mcp_servers"`
	Model             string   `json:"model"`
	PermissionMode    string   `json:"permissionMode"`
	SlashCommands     []string `json:"slash_commands"`
	APIKeySource      string   `json:"apiKeySource"`
	ClaudeCodeVersion string   `json:"claude_code_version"`
	OutputStyle       string   `json:"output_style"`
	Agents            []string `json:"agents"`
	Skills            []string `json:"skills"`
	Plugins           []any    `json:"plugins"`
	UUID              string   `json:"uuid"`
	FastModeState     string   `json:"fast_mode_state"`
	// PhantomFake marks the output as the fake agent's (the real CLI never sets it).
	PhantomFake bool `json:"phantom_fake_agent"`
}

type usage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

type textBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type toolUseBlock struct {
	Type  string         `json:"type"`
	ID    string         `json:"id"`
	Name  string         `json:"name"`
	Input map[string]any `json:"input"`
}

type assistantMessage struct {
	ID                string  `json:"id"`
	Type              string  `json:"type"`
	Role              string  `json:"role"`
	Model             string  `json:"model"`
	Content           []any   `json:"content"`
	StopReason        *string `json:"stop_reason"`
	StopSequence      *string `json:"stop_sequence"`
	Usage             usage   `json:"usage"`
	ContextManagement any     `json:"context_management"`
}

type assistantEvent struct {
	Type            string           `json:"type"`
	Message         assistantMessage `json:"message"`
	ParentToolUseID *string          `json:"parent_tool_use_id"`
	SessionID       string           `json:"session_id"`
	UUID            string           `json:"uuid"`
	RequestID       string           `json:"request_id"`
}

type toolResultBlock struct {
	ToolUseID string `json:"tool_use_id"`
	Type      string `json:"type"`
	Content   string `json:"content"`
	IsError   bool   `json:"is_error"`
}

type userMessage struct {
	Role    string `json:"role"`
	Content any    `json:"content"`
}

type toolUseResult struct {
	Stdout           string `json:"stdout"`
	Stderr           string `json:"stderr"`
	Interrupted      bool   `json:"interrupted"`
	IsImage          bool   `json:"isImage"`
	NoOutputExpected bool   `json:"noOutputExpected"`
}

type userEvent struct {
	Type            string         `json:"type"`
	Message         userMessage    `json:"message"`
	ParentToolUseID *string        `json:"parent_tool_use_id"`
	SessionID       string         `json:"session_id"`
	UUID            string         `json:"uuid"`
	Timestamp       string         `json:"timestamp"`
	ToolUseResult   *toolUseResult `json:"tool_use_result,omitempty"`
	IsReplay        bool           `json:"isReplay,omitempty"`
}

type resultUsage struct {
	InputTokens              int64  `json:"input_tokens"`
	CacheCreationInputTokens int64  `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64  `json:"cache_read_input_tokens"`
	OutputTokens             int64  `json:"output_tokens"`
	ServiceTier              string `json:"service_tier"`
}

type modelUsage struct {
	InputTokens              int64   `json:"inputTokens"`
	OutputTokens             int64   `json:"outputTokens"`
	CacheReadInputTokens     int64   `json:"cacheReadInputTokens"`
	CacheCreationInputTokens int64   `json:"cacheCreationInputTokens"`
	WebSearchRequests        int64   `json:"webSearchRequests"`
	CostUSD                  float64 `json:"costUSD"`
	ContextWindow            int64   `json:"contextWindow"`
	MaxOutputTokens          int64   `json:"maxOutputTokens"`
}

type resultEvent struct {
	Type              string                `json:"type"`
	Subtype           string                `json:"subtype"`
	IsError           bool                  `json:"is_error"`
	APIErrorStatus    *int                  `json:"api_error_status"`
	DurationMs        int64                 `json:"duration_ms"`
	DurationAPIMs     int64                 `json:"duration_api_ms"`
	NumTurns          int                   `json:"num_turns"`
	Result            string                `json:"result"`
	StopReason        string                `json:"stop_reason"`
	SessionID         string                `json:"session_id"`
	TotalCostUSD      float64               `json:"total_cost_usd"`
	Usage             resultUsage           `json:"usage"`
	ModelUsage        map[string]modelUsage `json:"modelUsage"`
	PermissionDenials []any                 `json:"permission_denials"`
	TerminalReason    string                `json:"terminal_reason"`
	FastModeState     string                `json:"fast_mode_state"`
	UUID              string                `json:"uuid"`
}

// tools is what the init event lists, as the real CLI does.
var tools = []string{"Task", "Bash", "Edit", "Glob", "Grep", "NotebookEdit", "Read", "TodoWrite", "WebFetch", "WebSearch", "Write"}

// Prices per token of the fake model, so that cost figures are not zero.
const (
	inputPrice  = 3.0 / 1_000_000
	outputPrice = 15.0 / 1_000_000
)
