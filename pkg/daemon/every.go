package daemon

import (
	"context"
	"time"
)

// Every calls fn every interval, the first time one interval from now, until
// ctx ends (it then returns nil) or fn returns an error (returned as is). It
// is the loop of a service's periodic chores (a lease renewed, a lock's
// connection checked, gauges refreshed), so that each owns one ticker,
// stopped when it returns, and says only what it does each time.
func Every(ctx context.Context, interval time.Duration, fn func(ctx context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := fn(ctx); err != nil {
			return err
		}
	}
}
