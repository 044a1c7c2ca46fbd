package query

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// PolicyAudit is one safety-guard decision as the policy_audits read model
// has it. Absent values are null.
type PolicyAudit struct {
	Seq      int64     `json:"seq"`
	ID       string    `json:"id"`
	RunID    string    `json:"runId"`
	Attempt  *int      `json:"attempt"`
	Time     time.Time `json:"time"`
	Decision string    `json:"decision"`
	Rule     *string   `json:"rule"`
	// Command is the judged command, secrets redacted.
	Command  string   `json:"command"`
	Segment  *string  `json:"segment"`
	Reason   *string  `json:"reason"`
	Cwd      *string  `json:"cwd"`
	Mode     *string  `json:"mode"`
	Origin   *string  `json:"origin"`
	Agent    *string  `json:"agent"`
	Policies []string `json:"policies"`
}

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

// RunPolicy is what the safety guard decided about one run, for its detail.
type RunPolicy struct {
	// Checks counts the decisions about the run, Denials the blocks among them.
	Checks  int `json:"checks"`
	Denials int `json:"denials"`
	// LastDenial is the most recent block, null when there is none.
	LastDenial *PolicyAudit `json:"lastDenial"`
}

// GuardPolicy is one scope's safety-guard policy as the read model has it.
type GuardPolicy struct {
	ID        string          `json:"id"`
	Scope     string          `json:"scope"`
	Target    string          `json:"target"`
	Policy    json.RawMessage `json:"policy"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

// GuardReader reads the safety guard's read models.
type GuardReader interface {
	Audits(ctx context.Context, f AuditFilter) ([]PolicyAudit, error)
	RunPolicy(ctx context.Context, runID string) (RunPolicy, error)
	GuardPolicies(ctx context.Context) ([]GuardPolicy, error)
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

// AuditPage is one page of audits.
type AuditPage struct {
	Audits []PolicyAudit `json:"audits"`
	// NextCursor fetches the next (older) page; null on the last page.
	NextCursor *string `json:"nextCursor"`
}

// Audits returns one page of decisions, newest first, paged by stream
// sequence so that new decisions never shift a later page.
func (q *Guard) Audits(ctx context.Context, p AuditParams) (AuditPage, error) {
	limit := p.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return AuditPage{}, apperr.Invalid("limit", "limit must be an integer in 1..=%d, got %d", MaxLimit, p.Limit)
	}
	if p.RunID != "" {
		if err := CheckRunID(p.RunID); err != nil {
			e, _ := apperr.As(err)
			e.Field = "run"
			return AuditPage{}, e
		}
	}
	switch p.Decision {
	case "", "allow", "block":
	default:
		return AuditPage{}, apperr.Invalid("decision", "decision must be allow or block, got %q", p.Decision)
	}
	var before int64
	if p.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		seq, ok := strings.CutPrefix(string(raw), auditCursorPrefix)
		n, perr := strconv.ParseInt(seq, 10, 64)
		if err != nil || !ok || perr != nil || n < 1 {
			return AuditPage{}, apperr.Invalid("cursor", "cursor is not one this API returned; use the nextCursor of a previous page, or none for the first page")
		}
		before = n
	}
	rows, err := q.store.Audits(ctx, AuditFilter{RunID: p.RunID, Decision: p.Decision, Before: before, Limit: limit + 1})
	if err != nil {
		return AuditPage{}, apperr.Unavailable(err, "could not list policy audits; retry later")
	}
	page := AuditPage{Audits: rows}
	if len(rows) > limit {
		page.Audits = rows[:limit]
		next := base64.RawURLEncoding.EncodeToString([]byte(auditCursorPrefix + strconv.FormatInt(rows[limit-1].Seq, 10)))
		page.NextCursor = &next
	}
	if page.Audits == nil {
		page.Audits = []PolicyAudit{}
	}
	return page, nil
}

// auditCursorPrefix versions the audit cursor format.
const auditCursorPrefix = "a1:"

// RunPolicy summarises the decisions about one run.
func (q *Guard) RunPolicy(ctx context.Context, runID string) (RunPolicy, error) {
	if err := CheckRunID(runID); err != nil {
		return RunPolicy{}, err
	}
	p, err := q.store.RunPolicy(ctx, runID)
	if err != nil {
		return RunPolicy{}, apperr.Unavailable(err, "could not read the policy decisions of run %s; retry later", runID)
	}
	return p, nil
}

// PolicyList is every configured safety-guard policy.
type PolicyList struct {
	Policies []GuardPolicy `json:"policies"`
}

// Policies lists the configured policies, global first, then by scope and target.
func (q *Guard) Policies(ctx context.Context) (PolicyList, error) {
	rows, err := q.store.GuardPolicies(ctx)
	if err != nil {
		return PolicyList{}, apperr.Unavailable(err, "could not list the guard policies; retry later")
	}
	if rows == nil {
		rows = []GuardPolicy{}
	}
	return PolicyList{Policies: rows}, nil
}
