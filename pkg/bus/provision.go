package bus

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/streams"
)

// Provision creates or updates every stream and bucket Phantom uses. It is
// idempotent and safe to run from many services at once.
func Provision(ctx context.Context, js jetstream.JetStream, o streams.Options) error {
	for _, sc := range streams.Configs(o) {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("could not provision stream %s: %w", sc.Name, err)
		}
	}
	for _, kc := range streams.Buckets(o) {
		if _, err := js.CreateOrUpdateKeyValue(ctx, kc); err != nil {
			return fmt.Errorf("could not provision bucket %s: %w", kc.Bucket, err)
		}
	}
	return nil
}
