package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/projector/internal/domain/runstate"
	"github.com/phantom-run/phantom/services/projector/internal/projection"
)

// Runs keeps run_events (one row per run event) and runs (one row per run,
// folded by package runstate).
//
// Write path per batch: run_events by COPY (under a savepoint; if an event id
// or sequence is already there, the batch is filtered and copied again), then
// the runs rows the batch touches are read, folded in memory and written back
// with one INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE.
//
// An event whose ce-id is already in run_events (the same fact published
// again after the stream's duplicate window) is skipped: it is neither stored
// twice nor folded twice.
type Runs struct{}

var _ projection.Projection = Runs{}

// Name implements projection.Projection.
func (Runs) Name() string { return readmodel.ProjectionRuns }

// Subjects implements projection.Projection: every event of every run.
func (Runs) Subjects() []string {
	return []string{subjects.EventsRoot + "." + events.AggregateRun + ".>"}
}

// Tables implements projection.Projection.
func (Runs) Tables() []string { return []string{"run_events", "runs"} }

// Apply implements projection.Projection.
func (Runs) Apply(ctx context.Context, tx pgx.Tx, batch []bus.Event) error {
	rows := make([]eventRow, len(batch))
	for i, ev := range batch {
		rows[i] = newEventRow(ev)
	}
	rows, err := insertEvents(ctx, tx, rows)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	return foldRuns(ctx, tx, rows)
}

// eventRow is one run_events row with the event it came from.
type eventRow struct {
	ev      bus.Event
	runID   string
	attempt int
	data    []byte
}

func newEventRow(ev bus.Event) eventRow {
	r := eventRow{ev: ev, data: cleanJSON(ev.Data)}
	if p, err := subjects.ParseEvent(ev.NATSSubject); err == nil {
		r.runID = p.ID
	} else {
		r.runID = ev.Payload.AggregateID()
	}
	r.attempt = runstate.AttemptOf(ev.Payload)
	if r.attempt == 0 {
		r.attempt = headerAttempt(ev)
	}
	return r
}

// headerAttempt is the ce-attempt extension, 0 when absent or not a positive number.
func headerAttempt(ev bus.Event) int {
	v, ok := ev.Extensions["attempt"]
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

var eventColumns = []string{"seq", "id", "run_id", "type", "source", "attempt", "time", "data"}

func (r eventRow) values() []any {
	var attempt *int32
	if r.attempt > 0 && r.attempt <= 1<<31-1 {
		a := int32(r.attempt)
		attempt = &a
	}
	return []any{int64(r.ev.Seq), cleanText(r.ev.ID), cleanText(r.runID), cleanText(r.ev.Type),
		cleanText(r.ev.Source), attempt, r.ev.Time, r.data}
}

// insertEvents copies rows into run_events and returns the rows it stored:
// all of them, but for events already there (same id or sequence) and
// repeats of an id within the batch.
func insertEvents(ctx context.Context, tx pgx.Tx, rows []eventRow) ([]eventRow, error) {
	rows = uniqueIDs(rows)
	sp, err := tx.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("could not open a savepoint: %w", err)
	}
	_, err = copyEvents(ctx, sp, rows)
	if err == nil {
		if err := sp.Commit(ctx); err != nil {
			return nil, fmt.Errorf("could not release the savepoint: %w", err)
		}
		return rows, nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		_ = sp.Rollback(ctx)
		return nil, err
	}
	// Some event is stored already: roll the copy back and keep only the new ones.
	if err := sp.Rollback(ctx); err != nil {
		return nil, fmt.Errorf("could not roll back to the savepoint: %w", err)
	}
	ids := make([]string, len(rows))
	seqs := make([]int64, len(rows))
	for i, r := range rows {
		ids[i], seqs[i] = cleanText(r.ev.ID), int64(r.ev.Seq)
	}
	existing, err := tx.Query(ctx, `SELECT id, seq FROM run_events WHERE id = ANY($1) OR seq = ANY($2)`, ids, seqs)
	if err != nil {
		return nil, fmt.Errorf("could not look up stored run events: %w", err)
	}
	storedIDs := map[string]bool{}
	storedSeqs := map[int64]bool{}
	for existing.Next() {
		var id string
		var seq int64
		if err := existing.Scan(&id, &seq); err != nil {
			existing.Close()
			return nil, fmt.Errorf("could not read stored run events: %w", err)
		}
		storedIDs[id], storedSeqs[seq] = true, true
	}
	existing.Close()
	if err := existing.Err(); err != nil {
		return nil, fmt.Errorf("could not read stored run events: %w", err)
	}
	fresh := rows[:0:0]
	for _, r := range rows {
		if !storedIDs[cleanText(r.ev.ID)] && !storedSeqs[int64(r.ev.Seq)] {
			fresh = append(fresh, r)
		}
	}
	if _, err := copyEvents(ctx, tx, fresh); err != nil {
		return nil, err
	}
	return fresh, nil
}

func copyEvents(ctx context.Context, tx pgx.Tx, rows []eventRow) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"run_events"}, eventColumns,
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return rows[i].values(), nil }))
	if err != nil {
		return 0, fmt.Errorf("could not copy %d run events: %w", len(rows), err)
	}
	return n, nil
}

// uniqueIDs drops the repeats of an event id within the batch, keeping the first.
func uniqueIDs(rows []eventRow) []eventRow {
	seen := make(map[string]struct{}, len(rows))
	out := rows[:0:0]
	for _, r := range rows {
		if _, dup := seen[r.ev.ID]; dup {
			continue
		}
		seen[r.ev.ID] = struct{}{}
		out = append(out, r)
	}
	if len(out) == len(rows) {
		return rows
	}
	return out
}

// runColumns are the columns of runs, in the order rows are read and written.
var runColumns = []string{
	"id", "agent", "provider", "pool", "prompt", "workspace", "spec", "status", "priority", "attempt",
	"runner_id", "host", "pid", "cwd", "exit_code", "reason", "message", "result", "rerun_of",
	"conversation_id", "requested_by", "archived", "created_at", "queued_at", "dispatched_at",
	"started_at", "finished_at", "updated_at", "last_seq",
}

// runTypes are the array types of runColumns, for unnest.
var runTypes = []string{
	"text", "text", "text", "text", "text", "text", "jsonb", "text", "integer", "integer",
	"text", "text", "integer", "text", "integer", "text", "text", "text", "text",
	"text", "text", "boolean", "timestamptz", "timestamptz", "timestamptz",
	"timestamptz", "timestamptz", "timestamptz", "bigint",
}

var (
	selectRunsSQL = `SELECT ` + strings.Join(runColumns, ", ") + ` FROM runs WHERE id = ANY($1)`
	upsertRunsSQL = upsertSQL()
)

func upsertSQL() string {
	params := make([]string, len(runColumns))
	for i, t := range runTypes {
		params[i] = fmt.Sprintf("$%d::%s[]", i+1, t)
	}
	sets := make([]string, 0, len(runColumns)-1)
	for _, c := range runColumns[1:] {
		sets = append(sets, c+" = EXCLUDED."+c)
	}
	return `INSERT INTO runs (` + strings.Join(runColumns, ", ") + `) SELECT * FROM unnest(` +
		strings.Join(params, ", ") + `) ON CONFLICT (id) DO UPDATE SET ` + strings.Join(sets, ", ")
}

// foldRuns reads the runs the events are about, folds the events into them
// in stream order and writes them back.
func foldRuns(ctx context.Context, tx pgx.Tx, rows []eventRow) error {
	ids := make([]string, 0, 16)
	seen := map[string]bool{}
	for _, r := range rows {
		if id := cleanText(r.runID); !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	state, err := loadRuns(ctx, tx, ids)
	if err != nil {
		return err
	}
	// Every run the batch is about is written back once, in first-seen order.
	order := make([]*runstate.Run, 0, len(ids))
	for _, r := range rows {
		id := cleanText(r.runID)
		run, ok := state[id]
		if !ok {
			run = runstate.New(id, runstate.Event{Seq: r.ev.Seq, Time: r.ev.Time})
			state[id] = run
		}
		if seen[id] {
			seen[id] = false
			order = append(order, run)
		}
		if err := run.Apply(runstate.Event{Seq: r.ev.Seq, Time: r.ev.Time, Attempt: headerAttempt(r.ev), Payload: r.ev.Payload}); err != nil {
			return fmt.Errorf("%w: event %s (seq %d): %w", projection.ErrBadEvent, r.ev.ID, r.ev.Seq, err)
		}
	}
	return storeRuns(ctx, tx, order)
}

func loadRuns(ctx context.Context, tx pgx.Tx, ids []string) (map[string]*runstate.Run, error) {
	out := make(map[string]*runstate.Run, len(ids))
	rs, err := tx.Query(ctx, selectRunsSQL, ids)
	if err != nil {
		return nil, fmt.Errorf("could not read runs: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		r := &runstate.Run{}
		var status string
		var lastSeq int64
		if err := rs.Scan(&r.ID, &r.Agent, &r.Provider, &r.Pool, &r.Prompt, &r.Workspace, &r.Spec, &status,
			&r.Priority, &r.Attempt, &r.RunnerID, &r.Host, &r.PID, &r.Cwd, &r.ExitCode, &r.Reason, &r.Message,
			&r.Result, &r.RerunOf, &r.ConversationID, &r.RequestedBy, &r.Archived, &r.CreatedAt, &r.QueuedAt,
			&r.DispatchedAt, &r.StartedAt, &r.FinishedAt, &r.UpdatedAt, &lastSeq); err != nil {
			return nil, fmt.Errorf("could not read a run: %w", err)
		}
		r.Status = runs.Status(status)
		r.LastSeq = uint64(lastSeq)
		out[r.ID] = r
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("could not read runs: %w", err)
	}
	return out, nil
}

// storeRuns writes rows with one statement: the columns travel as arrays.
func storeRuns(ctx context.Context, tx pgx.Tx, rows []*runstate.Run) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	var (
		id, agent, provider, pool, prompt, workspace, spec, status = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		priority, attempt                                          = make([]int32, n), make([]int32, n)
		runnerID, host, cwd, reason, message, result               = make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
		rerunOf, conversationID, requestedBy                       = make([]*string, n), make([]*string, n), make([]*string, n)
		pid, exitCode                                              = make([]*int32, n), make([]*int32, n)
		archived                                                   = make([]bool, n)
		createdAt, updatedAt                                       = make([]time.Time, n), make([]time.Time, n)
		queuedAt, dispatchedAt, startedAt, finishedAt              = make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
		lastSeq                                                    = make([]int64, n)
	)
	for i, r := range rows {
		id[i], agent[i], provider[i], pool[i] = cleanText(r.ID), cleanText(r.Agent), cleanText(r.Provider), cleanText(r.Pool)
		prompt[i], workspace[i], spec[i], status[i] = cleanText(r.Prompt), cleanText(r.Workspace), string(cleanJSON(r.Spec)), cleanText(string(r.Status))
		priority[i], attempt[i] = int32(r.Priority), int32(r.Attempt)
		runnerID[i], host[i], cwd[i] = cleanTextp(r.RunnerID), cleanTextp(r.Host), cleanTextp(r.Cwd)
		reason[i], message[i], result[i] = cleanTextp(r.Reason), cleanTextp(r.Message), cleanTextp(r.Result)
		rerunOf[i], conversationID[i], requestedBy[i] = cleanTextp(r.RerunOf), cleanTextp(r.ConversationID), cleanTextp(r.RequestedBy)
		pid[i], exitCode[i] = int32p(r.PID), int32p(r.ExitCode)
		archived[i] = r.Archived
		createdAt[i], updatedAt[i] = r.CreatedAt, r.UpdatedAt
		queuedAt[i], dispatchedAt[i], startedAt[i], finishedAt[i] = r.QueuedAt, r.DispatchedAt, r.StartedAt, r.FinishedAt
		lastSeq[i] = int64(r.LastSeq)
	}
	_, err := tx.Exec(ctx, upsertRunsSQL, id, agent, provider, pool, prompt, workspace, spec, status, priority, attempt,
		runnerID, host, pid, cwd, exitCode, reason, message, result, rerunOf, conversationID, requestedBy, archived,
		createdAt, queuedAt, dispatchedAt, startedAt, finishedAt, updatedAt, lastSeq)
	if err != nil {
		return fmt.Errorf("could not write %d runs: %w", n, err)
	}
	return nil
}

// int32p narrows an optional int to the integer column, saturating (pids and
// exit codes fit; a value that does not is kept recognisably at the bound).
func int32p(v *int) *int32 {
	if v == nil {
		return nil
	}
	n := *v
	switch {
	case n > 1<<31-1:
		n = 1<<31 - 1
	case n < -1<<31:
		n = -1 << 31
	}
	out := int32(n)
	return &out
}
