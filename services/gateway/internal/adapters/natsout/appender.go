package natsout

import (
	"context"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/pkg/bus"
)

// Appender appends the events of the configuration aggregates the gateway
// owns (guard policies).
type Appender struct {
	pub *bus.Publisher
}

// NewAppender returns an appender publishing with pub.
func NewAppender(pub *bus.Publisher) *Appender { return &Appender{pub: pub} }

// Append appends ev and waits for the stream to store it.
func (a *Appender) Append(ctx context.Context, ev events.Payload) error {
	_, err := a.pub.Event(ctx, ev)
	return err
}
