package natsout

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/streams"
)

// RunnerObserver receives what the phantom_runners bucket shows.
type RunnerObserver interface {
	RunnerSeen(runnerID string, at time.Time, heartbeat time.Duration)
	RunnerGone(runnerID string)
}

// WatchRunners follows the phantom_runners bucket until ctx ends: every
// entry written (a registration or a heartbeat) is a sighting at the time
// the server stored it, every entry deleted a runner that left. An entry
// that expires says nothing: the observer notices the silence.
func WatchRunners(ctx context.Context, js jetstream.JetStream, obs RunnerObserver, log *slog.Logger) error {
	kv, err := js.KeyValue(ctx, streams.RunnersBucket)
	if err != nil {
		return fmt.Errorf("could not open bucket %s: %w", streams.RunnersBucket, err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("could not watch bucket %s: %w", streams.RunnersBucket, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("the watch of bucket %s ended", streams.RunnersBucket)
			}
			if e == nil {
				continue // the initial values are all delivered
			}
			switch e.Operation() {
			case jetstream.KeyValuePut:
				var entry streams.RunnerEntry
				if err := json.Unmarshal(e.Value(), &entry); err != nil {
					log.Warn("unreadable runner entry", "key", e.Key(), "error", err)
					continue
				}
				obs.RunnerSeen(e.Key(), e.Created(), time.Duration(entry.HeartbeatMs)*time.Millisecond)
			default:
				obs.RunnerGone(e.Key())
			}
		}
	}
}
