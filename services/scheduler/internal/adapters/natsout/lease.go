package natsout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/streams"
)

// LeaseKey is the key of the active scheduler's lease in phantom_leases.
const LeaseKey = "scheduler"

// Lease is the active scheduler's lease: a key in the phantom_leases bucket
// (whose entries expire after the bucket's TTL) holding the instance id.
// Acquire creates the key only if it is absent; Renew rewrites it only if
// it is still the revision this instance wrote, so two instances can never
// both hold it. An instance decides only while its last renewal is younger
// than half the TTL (Fresh); another can take the key only once it has
// expired, a whole TTL after the last renewal, which leaves half a TTL
// between the moment the old holder stops and the new one starts.
type Lease struct {
	kv  jetstream.KeyValue
	id  string
	ttl time.Duration

	mu      sync.Mutex
	rev     uint64
	renewed time.Time
}

// ErrLeaseLost means the key is no longer this instance's.
var ErrLeaseLost = errors.New("the scheduler lease was lost")

// OpenLease opens the bucket for instance id.
func OpenLease(ctx context.Context, js jetstream.JetStream, id string) (*Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, streams.LeasesBucket)
	if err != nil {
		return nil, fmt.Errorf("could not open bucket %s: %w", streams.LeasesBucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("could not read bucket %s: %w", streams.LeasesBucket, err)
	}
	if st.TTL() <= 0 {
		return nil, fmt.Errorf("bucket %s has no TTL: a lease would never expire", streams.LeasesBucket)
	}
	return &Lease{kv: kv, id: id, ttl: st.TTL()}, nil
}

// TTL is how long the lease lives without renewal.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Acquire takes the lease if nobody holds it; false when another does.
func (l *Lease) Acquire(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, l.ttl/3)
	defer cancel()
	start := time.Now()
	rev, err := l.kv.Create(ctx, LeaseKey, []byte(l.id))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("could not take the scheduler lease: %w", err)
	}
	l.mu.Lock()
	l.rev, l.renewed = rev, start
	l.mu.Unlock()
	return true, nil
}

// Holder is the instance id holding the lease, "" when none.
func (l *Lease) Holder(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, l.ttl/3)
	defer cancel()
	e, err := l.kv.Get(ctx, LeaseKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(e.Value()), nil
}

// Renew extends the lease; ErrLeaseLost when another instance took it.
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	rev := l.rev
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, l.ttl/3)
	defer cancel()
	start := time.Now()
	next, err := l.kv.Update(ctx, LeaseKey, []byte(l.id), rev)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			return fmt.Errorf("%w: %v", ErrLeaseLost, err)
		}
		return fmt.Errorf("could not renew the scheduler lease: %w", err)
	}
	l.mu.Lock()
	l.rev, l.renewed = next, start
	l.mu.Unlock()
	return nil
}

// Fresh reports whether this instance may decide: its last renewal (or
// acquisition) started less than half the TTL ago.
func (l *Lease) Fresh() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rev != 0 && time.Since(l.renewed) < l.ttl/2
}

// Release gives the lease up (on shutdown), so a standby takes over at once.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	rev := l.rev
	l.rev = 0
	l.mu.Unlock()
	if rev == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.ttl/3)
	defer cancel()
	if err := l.kv.Delete(ctx, LeaseKey, jetstream.LastRevision(rev)); err != nil {
		return fmt.Errorf("could not release the scheduler lease: %w", err)
	}
	return nil
}

// Drop forgets the lease without touching the bucket (it was lost).
func (l *Lease) Drop() {
	l.mu.Lock()
	l.rev = 0
	l.mu.Unlock()
}
