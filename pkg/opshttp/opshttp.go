// Package opshttp serves the operational endpoints every Phantom service
// has: /healthz (the process is alive), /readyz (its dependencies answer) and
// /metrics (Prometheus).
package opshttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether one dependency is ready.
type Check func(ctx context.Context) error

// Checks is a set of named readiness checks, safe for concurrent use.
type Checks struct {
	mu     sync.RWMutex
	checks map[string]Check
}

// NewChecks returns an empty set.
func NewChecks() *Checks { return &Checks{checks: map[string]Check{}} }

// Add registers a check under name.
func (c *Checks) Add(name string, check Check) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks[name] = check
}

// Run runs every check with a timeout and returns the failures by name.
func (c *Checks) Run(ctx context.Context) map[string]string {
	c.mu.RLock()
	names := make([]string, 0, len(c.checks))
	for n := range c.checks {
		names = append(names, n)
	}
	c.mu.RUnlock()
	sort.Strings(names)
	failed := map[string]string{}
	for _, n := range names {
		c.mu.RLock()
		check := c.checks[n]
		c.mu.RUnlock()
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := check(cctx); err != nil {
			failed[n] = err.Error()
		}
		cancel()
	}
	return failed
}

// Register adds /healthz, /readyz and /metrics to mux.
func Register(mux *http.ServeMux, checks *Checks, gatherer prometheus.Gatherer) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		failed := checks.Run(r.Context())
		if len(failed) > 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failed": failed})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve serves h on addr until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("could not listen on %s: %w", addr, err)
	}
	return ServeListener(ctx, l, h, log)
}

// ServeListener serves h on l until ctx ends.
func ServeListener(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Debug("http listening", "addr", l.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("could not serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("could not shut down http: %w", err)
	}
	return nil
}
