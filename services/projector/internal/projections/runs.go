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
	"github.com/phantom-run/phantom/services/projector/internal/engine"
)

// Runs keeps run_events (one row per run event) and runs (one row per run,
// folded by package runstate).
//
// Write path per batch, in three round trips (they are what costs on a busy
// database server): a savepoint and the current rows of the runs the batch
// is about; run_events by COPY; the savepoint's release and the folded runs
// rows, written with one INSERT ... SELECT FROM unnest(...) ON CONFLICT DO
// UPDATE. If the COPY meets an event already stored (same id or sequence),
// it is rolled back to the savepoint and only the new events are copied and
// folded.
//
// An event whose ce-id is already in run_events (the same fact published
// again after the stream's duplicate window) is skipped: it is neither stored
// twice nor folded twice.
type Runs struct{}

var _ engine.Projection = Runs{}

// Name implements engine.Projection.
func (Runs) Name() string { return readmodel.ProjectionRuns }

// Subjects implements engine.Projection: every event of every run.
func (Runs) Subjects() []string {
	return []string{subjects.EventsRoot + "." + events.AggregateRun + ".>"}
}

// Tables implements engine.Projection.
func (Runs) Tables() []string { return []string{"run_events", "runs"} }

const savepoint = "runs_projection"

// Apply implements engine.Projection.
func (Runs) Apply(ctx context.Context, tx pgx.Tx, batch []bus.Event) error {
	rows := make([]eventRow, len(batch))
	for i, ev := range batch {
		rows[i] = newEventRow(ev)
	}
	rows = uniqueIDs(rows)
	ids := runIDs(rows)

	var q pgx.Batch
	q.Queue(`SAVEPOINT ` + savepoint)
	q.Queue(selectRunsSQL, ids)
	res := tx.SendBatch(ctx, &q)
	_, err := res.Exec()
	var state map[string]*runstate.Run
	if err == nil {
		state, err = scanRuns(res.Query())
	}
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("could not read runs: %w", err)
	}

	if _, err := copyEvents(ctx, tx, rows); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
			return err
		}
		// Some event is stored already: keep only the new ones.
		if rows, err = dropStored(ctx, tx, rows); err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		if _, err := copyEvents(ctx, tx, rows); err != nil {
			return err
		}
		ids = runIDs(rows)
		if state, err = scanRuns(tx.Query(ctx, selectRunsSQL, ids)); err != nil {
			return fmt.Errorf("could not read runs: %w", err)
		}
	}

	order, err := fold(state, ids, rows)
	if err != nil {
		return err
	}
	var w pgx.Batch
	w.Queue(`RELEASE SAVEPOINT ` + savepoint)
	queueStore(&w, order)
	if err := tx.SendBatch(ctx, &w).Close(); err != nil {
		return fmt.Errorf("could not write %d runs: %w", len(order), err)
	}
	return nil
}

// runIDs lists the runs rows are about, in first-seen order.
func runIDs(rows []eventRow) []string {
	ids := make([]string, 0, 16)
	seen := make(map[string]bool, 16)
	for _, r := range rows {
		if id := r.runID; !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// dropStored rolls back to the savepoint and returns the rows whose event
// (by id or sequence) is not in run_events yet.
func dropStored(ctx context.Context, tx pgx.Tx, rows []eventRow) ([]eventRow, error) {
	if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT `+savepoint); err != nil {
		return nil, fmt.Errorf("could not roll back to the savepoint: %w", err)
	}
	ids := make([]string, len(rows))
	seqs := make([]int64, len(rows))
	for i, r := range rows {
		ids[i], seqs[i] = r.id, int64(r.ev.Seq)
	}
	existing, err := tx.Query(ctx, `SELECT id, seq FROM run_events WHERE id = ANY($1) OR seq = ANY($2)`, ids, seqs)
	if err != nil {
		return nil, fmt.Errorf("could not look up stored run events: %w", err)
	}
	storedIDs := map[string]bool{}
	storedSeqs := map[int64]bool{}
	var id string
	var seq int64
	_, err = pgx.ForEachRow(existing, []any{&id, &seq}, func() error {
		storedIDs[id], storedSeqs[seq] = true, true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("could not read stored run events: %w", err)
	}
	fresh := rows[:0:0]
	for _, r := range rows {
		if !storedIDs[r.id] && !storedSeqs[int64(r.ev.Seq)] {
			fresh = append(fresh, r)
		}
	}
	return fresh, nil
}

// eventRow is one run_events row with the event it came from.
type eventRow struct {
	ev bus.Event
	// id and runID are cleaned for Postgres.
	id      string
	runID   string
	attempt int
	data    []byte
}

func newEventRow(ev bus.Event) eventRow {
	r := eventRow{ev: ev, id: cleanText(ev.ID), data: cleanJSON(ev.Data)}
	if p, err := subjects.ParseEvent(ev.NATSSubject); err == nil {
		r.runID = cleanText(p.ID)
	} else {
		r.runID = cleanText(ev.Payload.AggregateID())
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
	return []any{int64(r.ev.Seq), r.id, r.runID, cleanText(r.ev.Type),
		cleanText(r.ev.Source), attempt, r.ev.Time, r.data}
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
		if _, dup := seen[r.id]; dup {
			continue
		}
		seen[r.id] = struct{}{}
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

// fold folds rows, in stream order, into the runs of state (creating
// placeholders for runs not seen before) and returns the runs touched, in
// the order of ids.
func fold(state map[string]*runstate.Run, ids []string, rows []eventRow) ([]*runstate.Run, error) {
	for _, r := range rows {
		run, ok := state[r.runID]
		if !ok {
			run = runstate.New(r.runID, runstate.Event{Seq: r.ev.Seq, Time: r.ev.Time})
			state[r.runID] = run
		}
		ev := runstate.Event{Seq: r.ev.Seq, Time: r.ev.Time, Attempt: headerAttempt(r.ev), Payload: r.ev.Payload}
		if err := run.Apply(ev); err != nil {
			return nil, fmt.Errorf("%w: event %s (seq %d): %w", engine.ErrBadEvent, r.ev.ID, r.ev.Seq, err)
		}
	}
	order := make([]*runstate.Run, len(ids))
	for i, id := range ids {
		order[i] = state[id]
	}
	return order, nil
}

// scanRuns reads runs rows (from selectRunsSQL, and the error of that
// query) by id.
func scanRuns(rs pgx.Rows, err error) (map[string]*runstate.Run, error) {
	if err != nil {
		return nil, err
	}
	out := map[string]*runstate.Run{}
	defer rs.Close()
	for rs.Next() {
		r := &runstate.Run{}
		var status string
		var lastSeq int64
		if err := rs.Scan(&r.ID, &r.Agent, &r.Provider, &r.Pool, &r.Prompt, &r.Workspace, &r.Spec, &status,
			&r.Priority, &r.Attempt, &r.RunnerID, &r.Host, &r.PID, &r.Cwd, &r.ExitCode, &r.Reason, &r.Message,
			&r.Result, &r.RerunOf, &r.ConversationID, &r.RequestedBy, &r.Archived, &r.CreatedAt, &r.QueuedAt,
			&r.DispatchedAt, &r.StartedAt, &r.FinishedAt, &r.UpdatedAt, &lastSeq); err != nil {
			return nil, err
		}
		r.Status = runs.Status(status)
		r.LastSeq = uint64(lastSeq)
		out[r.ID] = r
	}
	return out, rs.Err()
}

// queueStore queues the write of rows as one statement: the columns travel
// as arrays.
func queueStore(q *pgx.Batch, rows []*runstate.Run) {
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
		id[i], agent[i], provider[i], pool[i] = r.ID, cleanText(r.Agent), cleanText(r.Provider), cleanText(r.Pool)
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
	q.Queue(upsertRunsSQL, id, agent, provider, pool, prompt, workspace, spec, status, priority, attempt,
		runnerID, host, pid, cwd, exitCode, reason, message, result, rerunOf, conversationID, requestedBy, archived,
		createdAt, queuedAt, dispatchedAt, startedAt, finishedAt, updatedAt, lastSeq)
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
