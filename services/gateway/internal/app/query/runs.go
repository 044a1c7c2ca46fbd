// Package query holds the gateway's use cases that read: runs from the
// Postgres read model the projector keeps, and a run's events from the
// event log itself (the read model lags the log; a live stream must not).
package query

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// ListFilter selects a page of runs, newest first.
type ListFilter struct {
	// Statuses keeps runs in any of these states; empty keeps all.
	Statuses []string
	// IncludeArchived keeps archived runs too.
	IncludeArchived bool
	// Before keeps runs whose id sorts before it (ids are ULIDs, so: older).
	Before string
	// Limit is the number of runs to return.
	Limit int
}

// RunReader reads the runs read model.
type RunReader interface {
	// Run returns one run; found is false when there is no such row.
	Run(ctx context.Context, id string) (run api.Run, found bool, err error)
	// Runs returns the runs the filter selects, newest first.
	Runs(ctx context.Context, f ListFilter) ([]api.Run, error)
}

// api.RunPage bounds.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// ListParams is a listing request as the client sent it.
type ListParams struct {
	// Limit is 0 for the default.
	Limit           int
	Cursor          string
	Statuses        []string
	IncludeArchived bool
}

// Runs is the "read runs" use case.
type Runs struct {
	store RunReader
}

// NewRuns returns the use case.
func NewRuns(store RunReader) *Runs { return &Runs{store: store} }

// CheckRunID rejects what cannot be a run id (run ids are subject tokens).
func CheckRunID(id string) error {
	if !subjects.ValidToken(id) {
		return apperr.Invalid("id", "run id must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'")
	}
	return nil
}

// Get returns one run.
func (q *Runs) Get(ctx context.Context, id string) (api.Run, error) {
	if err := CheckRunID(id); err != nil {
		return api.Run{}, err
	}
	run, found, err := q.store.Run(ctx, id)
	if err != nil {
		return api.Run{}, apperr.Unavailable(err, "could not read run %s; retry later", id)
	}
	if !found {
		return api.Run{}, apperr.NotFound("run %s does not exist (a run just submitted may take a moment to appear)", id)
	}
	return run, nil
}

// List returns one page of runs, newest first. Paging by id keeps pages
// free of duplicates and gaps while runs are being added: new runs sort
// before the first page, never inside a later one.
func (q *Runs) List(ctx context.Context, p ListParams) (api.RunPage, error) {
	limit := p.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return api.RunPage{}, apperr.Invalid("limit", "limit must be an integer in 1..=%d, got %d", MaxLimit, p.Limit)
	}
	for _, s := range p.Statuses {
		if !KnownStatus(s) {
			return api.RunPage{}, apperr.Invalid("status", "status %q is not a run status; use one or more (comma-separated) of %s", s, strings.Join(Statuses(), ", "))
		}
	}
	before := ""
	if p.Cursor != "" {
		var err error
		if before, err = decodeCursor(p.Cursor); err != nil {
			return api.RunPage{}, err
		}
	}
	rows, err := q.store.Runs(ctx, ListFilter{Statuses: p.Statuses, IncludeArchived: p.IncludeArchived, Before: before, Limit: limit + 1})
	if err != nil {
		return api.RunPage{}, apperr.Unavailable(err, "could not list runs; retry later")
	}
	page := api.RunPage{Runs: rows}
	if len(rows) > limit {
		page.Runs = rows[:limit]
		next := encodeCursor(rows[limit-1].ID)
		page.NextCursor = &next
	}
	if page.Runs == nil {
		page.Runs = []api.Run{}
	}
	return page, nil
}

// cursorPrefix versions the cursor format, so it can change without
// misreading old cursors.
const cursorPrefix = "r1:"

func encodeCursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + lastID))
}

func decodeCursor(c string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	id, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if err != nil || !ok || !subjects.ValidToken(id) {
		return "", apperr.Invalid("cursor", "cursor is not one this API returned; use the nextCursor of a previous page, or none for the first page")
	}
	return id, nil
}

// allStatuses is every run status, in the order of a run's life.
var allStatuses = []runs.Status{
	runs.StatusRequested, runs.StatusQueued, runs.StatusRejected, runs.StatusDispatched,
	runs.StatusPreparing, runs.StatusRunning, runs.StatusPaused, runs.StatusAwaitingInput,
	runs.StatusRetryScheduled, runs.StatusCompleted, runs.StatusFailed, runs.StatusCanceled,
}

// Statuses returns every run status.
func Statuses() []string {
	out := make([]string, len(allStatuses))
	for i, s := range allStatuses {
		out[i] = string(s)
	}
	return out
}

// KnownStatus reports whether s is a run status.
func KnownStatus(s string) bool {
	for _, k := range allStatuses {
		if string(k) == s {
			return true
		}
	}
	return false
}
