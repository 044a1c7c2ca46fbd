package query

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// AuditFilter selects a page of audits, newest first.
type AuditFilter struct {
	// RunID keeps one run's audits; "" keeps all.
	RunID string
	// Decision keeps "allow" or "block"; "" keeps both.
	Decision string
	// Before keeps audits older than this stream sequence (0: no bound).
	Before int64
	Limit  int
}

// GuardReader reads the safety guard's read models.
type GuardReader interface {
	Audits(ctx context.Context, f AuditFilter) ([]api.PolicyAudit, error)
	RunPolicy(ctx context.Context, runID string) (api.RunPolicy, error)
	GuardPolicies(ctx context.Context) ([]api.GuardPolicyRecord, error)
}

// Guard is the "read the safety guard's decisions and policies" use case.
type Guard struct {
	store GuardReader
}

// NewGuard returns the use case.
func NewGuard(store GuardReader) *Guard { return &Guard{store: store} }

// AuditParams is an audit listing request as the client sent it.
type AuditParams struct {
	Limit    int
	Cursor   string
	RunID    string
	Decision string
}

// Audits returns one page of decisions, newest first, paged by stream
// sequence so that new decisions never shift a later page.
func (q *Guard) Audits(ctx context.Context, p AuditParams) (api.PolicyAuditPage, error) {
	limit := p.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return api.PolicyAuditPage{}, apperr.Invalid("limit", "limit must be an integer in 1..=%d, got %d", MaxLimit, p.Limit)
	}
	if p.RunID != "" {
		if err := CheckRunID(p.RunID); err != nil {
			e, _ := apperr.As(err)
			e.Field = "run"
			return api.PolicyAuditPage{}, e
		}
	}
	switch p.Decision {
	case "", "allow", "block":
	default:
		return api.PolicyAuditPage{}, apperr.Invalid("decision", "decision must be allow or block, got %q", p.Decision)
	}
	var before int64
	if p.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		seq, ok := strings.CutPrefix(string(raw), auditCursorPrefix)
		n, perr := strconv.ParseInt(seq, 10, 64)
		if err != nil || !ok || perr != nil || n < 1 {
			return api.PolicyAuditPage{}, apperr.Invalid("cursor", "cursor is not one this API returned; use the nextCursor of a previous page, or none for the first page")
		}
		before = n
	}
	rows, err := q.store.Audits(ctx, AuditFilter{RunID: p.RunID, Decision: p.Decision, Before: before, Limit: limit + 1})
	if err != nil {
		return api.PolicyAuditPage{}, apperr.Unavailable(err, "could not list policy audits; retry later")
	}
	page := api.PolicyAuditPage{Audits: rows}
	if len(rows) > limit {
		page.Audits = rows[:limit]
		next := base64.RawURLEncoding.EncodeToString([]byte(auditCursorPrefix + strconv.FormatInt(rows[limit-1].Seq, 10)))
		page.NextCursor = &next
	}
	if page.Audits == nil {
		page.Audits = []api.PolicyAudit{}
	}
	return page, nil
}

// auditCursorPrefix versions the audit cursor format.
const auditCursorPrefix = "a1:"

// RunPolicy summarises the decisions about one run.
func (q *Guard) RunPolicy(ctx context.Context, runID string) (api.RunPolicy, error) {
	if err := CheckRunID(runID); err != nil {
		return api.RunPolicy{}, err
	}
	p, err := q.store.RunPolicy(ctx, runID)
	if err != nil {
		return api.RunPolicy{}, apperr.Unavailable(err, "could not read the policy decisions of run %s; retry later", runID)
	}
	return p, nil
}

// Policies lists the configured policies, global first, then by scope and target.
func (q *Guard) Policies(ctx context.Context) (api.GuardPolicyList, error) {
	rows, err := q.store.GuardPolicies(ctx)
	if err != nil {
		return api.GuardPolicyList{}, apperr.Unavailable(err, "could not list the guard policies; retry later")
	}
	if rows == nil {
		rows = []api.GuardPolicyRecord{}
	}
	return api.GuardPolicyList{Policies: rows}, nil
}
