// Package apperr is how the gateway's use cases say that a request cannot be
// served: a stable problem code from contracts/problems, the request field at
// fault and a sentence for people. The HTTP port turns it into an RFC 9457
// problem document; the use cases never know about HTTP.
package apperr

import (
	"errors"
	"fmt"

	"github.com/phantom-run/phantom/contracts/problems"
)

// Error is a refusal the client can act on.
type Error struct {
	// Code is one of the contracts/problems codes.
	Code string
	// Field names the offending request field, when there is one.
	Field string
	// Detail says what is wrong and what would be accepted.
	Detail string
	// Instance, when set, is the URI of the resource the refusal is about
	// (a rejected run, say).
	Instance string
	// Err is the cause, kept for logs only.
	Err error
}

func (e *Error) Error() string {
	msg := e.Code
	if e.Field != "" {
		msg += " (" + e.Field + ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Invalid is a malformed request field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: problems.InvalidRequest, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// NotFound is an absent resource.
func NotFound(format string, args ...any) *Error {
	return &Error{Code: problems.NotFound, Detail: fmt.Sprintf(format, args...)}
}

// Unavailable is a dependency that did not answer; err is kept for the logs.
func Unavailable(err error, format string, args ...any) *Error {
	return &Error{Code: problems.Unavailable, Detail: fmt.Sprintf(format, args...), Err: err}
}

// As returns the *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
