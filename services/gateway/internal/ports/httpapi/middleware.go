package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/pkg/tracing"
)

// reqInfo is filled in as a request goes through: the outer middleware
// creates it, the matched route names itself in it.
type reqInfo struct {
	route     string
	streaming bool
}

type reqInfoKey struct{}

// unmatchedRoute labels requests that matched no pattern (paths outside
// /v1 that ServeMux answers itself).
const unmatchedRoute = "unmatched"

// observe is the outermost middleware: trace context, panic recovery,
// the request log line and the request metrics.
func (a *API) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := tracing.Ensure(tracing.ExtractHTTP(r.Context(), propagation.HeaderCarrier(r.Header)))
		info := &reqInfo{route: unmatchedRoute}
		ctx = context.WithValue(ctx, reqInfoKey{}, info)
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.deps.Logger.Error("handler panicked", "route", info.route, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !rec.wrote {
					writeProblem(rec, http.StatusInternalServerError, problems.Internal, "", "internal error", "")
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			a.metrics.observe(r.Method, info.route, status, elapsed, info.streaming)
			level := levelFor(status)
			a.deps.Logger.Log(ctx, level, "http request",
				"method", r.Method, "path", r.URL.Path, "route", info.route, "status", status,
				"bytes", rec.bytes, "duration_ms", elapsed.Milliseconds(), "remote", r.RemoteAddr,
				"trace_id", trace.SpanContextFromContext(ctx).TraceID().String())
		}()
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}

// route wraps one route: it names the route for logs and metrics and
// checks the bearer token unless the route is public.
func (a *API) route(rt Route) http.Handler {
	name := rt.Pattern
	if rt.Method != "" {
		name = rt.Method + " " + rt.Pattern
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok {
			info.route, info.streaming = name, rt.Streaming
		}
		if !rt.Public && !a.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="phantom"`)
			writeProblem(w, http.StatusUnauthorized, problems.Unauthorized, "Authorization",
				"send the header 'Authorization: Bearer <token>' with the gateway's PHANTOM_TOKEN", "")
			return
		}
		rt.Handler(w, r)
	})
}

// authorized compares the bearer token in constant time. Both sides are
// hashed first so that the comparison does not reveal the token's length.
func (a *API) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	want := sha256.Sum256([]byte(a.deps.Token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// recorder remembers the status and size of a response. Unwrap lets
// http.ResponseController reach the connection (flush, deadlines).
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// levelFor logs server-side failures louder than the rest.
func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
