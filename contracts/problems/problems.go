// Package problems holds the stable error codes of Phantom's HTTP API and
// RPC replies. An API error is an RFC 9457 problem+json document whose "code"
// member is one of these; clients match on the code, never on the text.
package problems

// Codes.
const (
	InvalidRequest      = "invalid_request"
	Unauthorized        = "unauthorized"
	NotFound            = "not_found"
	Conflict            = "conflict"
	QueueFull           = "queue_full"
	WorkspaceNotGranted = "workspace_not_granted"
	PolicyDenied        = "policy_denied"
	Unavailable         = "unavailable"
	Internal            = "internal"
)

// Problem is an RFC 9457 problem details document with Phantom's extensions.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Code is the stable machine-readable code.
	Code string `json:"code"`
	// Field names the offending request field, when there is one.
	Field string `json:"field,omitempty"`
}

// TypeURI is the problem type for a code.
func TypeURI(code string) string { return "https://phantom.run/problems/" + code }
