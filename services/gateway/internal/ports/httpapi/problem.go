package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// Content types.
const (
	contentJSON    = "application/json"
	contentProblem = "application/problem+json"
)

// statusOf maps problem codes to HTTP statuses.
var statusOf = map[string]int{
	problems.InvalidRequest:      http.StatusBadRequest,
	problems.Unauthorized:        http.StatusUnauthorized,
	problems.NotFound:            http.StatusNotFound,
	problems.Conflict:            http.StatusConflict,
	problems.QueueFull:           http.StatusTooManyRequests,
	problems.WorkspaceNotGranted: http.StatusForbidden,
	problems.PolicyDenied:        http.StatusForbidden,
	problems.Unavailable:         http.StatusServiceUnavailable,
	problems.Internal:            http.StatusInternalServerError,
}

// titleOf is the short, fixed summary of each code (RFC 9457 "title").
var titleOf = map[string]string{
	problems.InvalidRequest:      "Invalid request",
	problems.Unauthorized:        "Unauthorized",
	problems.NotFound:            "Not found",
	problems.Conflict:            "Conflict",
	problems.QueueFull:           "Queue full",
	problems.WorkspaceNotGranted: "Workspace not granted",
	problems.PolicyDenied:        "Denied by policy",
	problems.Unavailable:         "Service unavailable",
	problems.Internal:            "Internal error",
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentJSON)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, status int, code, field, detail, instance string) {
	title := titleOf[code]
	if title == "" {
		title = http.StatusText(status)
	}
	w.Header().Set("Content-Type", contentProblem)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problems.Problem{
		Type: problems.TypeURI(code), Title: title, Status: status,
		Detail: detail, Instance: instance, Code: code, Field: field,
	})
}

// writeError answers err: an *apperr.Error as its problem, anything else
// as an internal error whose cause is logged, never shown.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e, ok := apperr.As(err)
	if !ok {
		log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "error", err)
		writeProblem(w, http.StatusInternalServerError, problems.Internal, "", "internal error", "")
		return
	}
	status, known := statusOf[e.Code]
	if !known {
		status = http.StatusInternalServerError
	}
	if e.Err != nil {
		log.WarnContext(r.Context(), "request failed", "path", r.URL.Path, "code", e.Code, "error", e.Err)
	}
	writeProblem(w, status, e.Code, e.Field, e.Detail, e.Instance)
}

// decodeJSON reads a request body of at most limit bytes holding exactly
// one JSON object into dst, refusing unknown fields. On failure it has
// answered the request and returns false.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any) bool {
	// A body is small: one that trickles in is held up no longer than this.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyReadTimeout))
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		// One object, nothing after it.
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errTrailing
		}
	}
	if err == nil {
		return true
	}
	field, detail := describeDecodeError(err, dst)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeProblem(w, http.StatusRequestEntityTooLarge, problems.InvalidRequest, "", fmt.Sprintf("the request body must be at most %d bytes", limit), "")
		return false
	}
	writeProblem(w, http.StatusBadRequest, problems.InvalidRequest, field, detail, "")
	return false
}

var errTrailing = errors.New("trailing data")

// bodyReadTimeout bounds reading one request body.
const bodyReadTimeout = 30 * time.Second

func describeDecodeError(err error, dst any) (field, detail string) {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "", "the request body is empty: send a JSON object"
	case errors.Is(err, errTrailing):
		return "", "the request body must hold exactly one JSON object"
	case errors.As(err, &syntax):
		return "", fmt.Sprintf("the request body is not valid JSON (at byte %d): %v", syntax.Offset, syntax)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "", "the request body is truncated JSON"
	case errors.As(err, &typ):
		if typ.Field == "" {
			return "", "the request body must be a JSON object"
		}
		return typ.Field, fmt.Sprintf("%s must be %s, got JSON %s", typ.Field, jsonKind(typ.Type), typ.Value)
	}
	// encoding/json reports an unknown field only in its message.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return name, fmt.Sprintf("unknown field %q; allowed fields: %s", name, strings.Join(jsonFields(dst), ", "))
	}
	return "", "the request body could not be read: " + err.Error()
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return t.String()
}

// jsonFields lists the JSON names of a struct's fields.
func jsonFields(dst any) []string {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}
