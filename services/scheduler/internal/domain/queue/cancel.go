package queue

// CancelAction is what a cancel takes.
type CancelAction uint8

// Cancel actions.
const (
	// CancelNothing: the run is unknown or already finished.
	CancelNothing CancelAction = iota + 1
	// CancelInQueue: the run holds no slot; append run.canceled for Attempt.
	CancelInQueue
	// CancelOnRunner: send a runner cancel to RunnerID for Attempt, then
	// call CancelSent; the run ends when the runner reports it.
	CancelOnRunner
	// CancelWhenStarted: the run is dispatched and no runner has started it;
	// the cancel is remembered and returned by CancelDue once run.started
	// names the runner.
	CancelWhenStarted
	// CancelAwaitingEnd: the cancel went to the runner; the run ends when
	// the runner reports it.
	CancelAwaitingEnd
)

// CancelDecision is what to do for a cancel.
type CancelDecision struct {
	Action   CancelAction
	RunID    string
	Attempt  int
	RunnerID string
	// Known is false for a run the queue never saw (or forgot).
	Known bool
	// Phase is the run's phase when the cancel came.
	Phase Phase
	CancelRequest
}

// Cancel decides what a cancel of runID does. A run that holds no slot
// (requested, queued, waiting for a retry) is canceled in the queue; a
// running one on its runner. A dispatched run that no runner has started
// yet keeps its slot and its dispatch, and the cancel is remembered until
// run.started names the runner to send it to (CancelDue): appending
// run.canceled at once would free the slot while a runner may already be
// preparing the attempt, breaking the limits and leaving two terminal
// stories for one attempt. A cancel remembered also turns a retry of the
// run into run.canceled: a run is never retried after a cancel.
func (q *Queue) Cancel(runID string, req CancelRequest) CancelDecision {
	r, ok := q.runs[runID]
	if !ok {
		_, done := q.done[runID]
		d := CancelDecision{Action: CancelNothing, RunID: runID, Known: done, CancelRequest: req}
		if done {
			d.Phase = PhaseFinished
		}
		return d
	}
	d := CancelDecision{RunID: runID, Attempt: r.Attempt, RunnerID: r.RunnerID, Known: true, Phase: r.Phase, CancelRequest: req}
	switch {
	case r.Phase.waitsForRetry():
		// The failed attempt is abandoned: the cancel ends the next one.
		d.Action, d.Attempt = CancelInQueue, r.Attempt+1
	case r.Phase == PhaseRequested || r.Phase == PhaseQueued:
		d.Action = CancelInQueue
	case r.Phase == PhaseRunning && r.cancelSent:
		d.Action = CancelAwaitingEnd
	case r.Phase == PhaseRunning:
		d.Action = CancelOnRunner
		if r.cancel == nil {
			c := req
			r.cancel = &c
		}
	case r.Phase == PhaseDispatched:
		d.Action = CancelWhenStarted
		if r.cancel == nil {
			c := req
			r.cancel = &c
		}
	default:
		d.Action = CancelNothing
	}
	return d
}

// CancelSent records that the cancel of the current attempt reached its runner.
func (q *Queue) CancelSent(runID string, attempt int) {
	if r, ok := q.runs[runID]; ok && r.Attempt == attempt && r.Phase == PhaseRunning {
		r.cancelSent = true
	}
}

// CancelDue returns a remembered cancel of a run that has now started and
// whose runner has not been sent it.
func (q *Queue) CancelDue(runID string) (CancelDecision, bool) {
	r, ok := q.runs[runID]
	if !ok || r.cancel == nil || r.cancelSent || r.Phase != PhaseRunning {
		return CancelDecision{}, false
	}
	return CancelDecision{Action: CancelOnRunner, RunID: runID, Attempt: r.Attempt, RunnerID: r.RunnerID, Known: true, Phase: r.Phase, CancelRequest: *r.cancel}, true
}
