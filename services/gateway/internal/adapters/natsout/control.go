package natsout

import (
	"context"
	"time"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/pkg/bus"
)

// Control publishes the commands that reach runners (input, pause, resume,
// detect) and the events of the configuration aggregates the gateway owns
// (conversations), each publish bounded by timeout.
type Control struct {
	pub     *bus.Publisher
	timeout time.Duration
}

// NewControl returns the adapter.
func NewControl(pub *bus.Publisher, timeout time.Duration) *Control {
	return &Control{pub: pub, timeout: timeout}
}

// Command publishes a command and waits for the stream to store it.
func (c *Control) Command(ctx context.Context, cmd commands.Command) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	_, err := c.pub.Command(ctx, cmd)
	return err
}

// Event appends an event and waits for the stream to store it.
func (c *Control) Event(ctx context.Context, ev events.Payload) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	_, err := c.pub.Event(ctx, ev)
	return err
}
