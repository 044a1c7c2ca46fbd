package adapters

import (
	"context"
	"time"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/scheduler/internal/app/command"
)

// Outbox publishes the scheduler's events and commands through a
// bus.Publisher, which retries a publish without PubAck under the same id.
type Outbox struct {
	pub     *bus.Publisher
	timeout time.Duration
}

var _ command.Bus = (*Outbox)(nil)

// NewOutbox returns an Outbox; each publish, retries included, is bounded by
// timeout.
func NewOutbox(pub *bus.Publisher, timeout time.Duration) *Outbox {
	return &Outbox{pub: pub, timeout: timeout}
}

// Append appends ev with ce-id id.
func (o *Outbox) Append(ctx context.Context, ev events.Payload, id string, attempt int) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	_, err := o.pub.Event(ctx, ev, bus.WithID(id), bus.WithAttempt(attempt))
	return err
}

// Dispatch sends d to phantom.dispatch.<pool>.
func (o *Outbox) Dispatch(ctx context.Context, d commands.Dispatch) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	_, err := o.pub.Command(ctx, d, bus.WithID(command.DispatchID(d.RunID, d.Attempt)), bus.WithAttempt(d.Attempt))
	return err
}

// CancelOnRunner sends c to phantom.cmd.runner.<runner_id>.cancel.
func (o *Outbox) CancelOnRunner(ctx context.Context, c commands.RunnerCancel) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	_, err := o.pub.Command(ctx, c, bus.WithID(command.RunnerCancelID(c.RunID, c.Attempt)), bus.WithAttempt(c.Attempt))
	return err
}
