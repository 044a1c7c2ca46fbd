// Package policies is the safety-guard's view of the configuration that
// chooses how a command is judged: the guard policies of each scope
// (guard_policy.saved / .deleted, kept in memory from the event log) and
// which workspace and profile a run was submitted with (read from its
// run.requested event).
package policies

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/safety-guard/judge"
)

// Store holds the policy of every scope. It is safe for concurrent use.
type Store struct {
	mu         sync.RWMutex
	global     *events.GuardPolicy
	workspaces map[string]events.GuardPolicy
	profiles   map[string]events.GuardPolicy
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{workspaces: map[string]events.GuardPolicy{}, profiles: map[string]events.GuardPolicy{}}
}

// Apply folds one configuration event into the store; other payloads are
// ignored.
func (s *Store) Apply(p events.Payload) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e := p.(type) {
	case *events.GuardPolicySaved:
		s.set(e.Scope, e.Target, &e.Policy)
	case *events.GuardPolicyDeleted:
		s.set(e.Scope, e.Target, nil)
	}
}

func (s *Store) set(scope, target string, p *events.GuardPolicy) {
	switch scope {
	case events.GuardScopeGlobal:
		s.global = p
	case events.GuardScopeWorkspace:
		target = filepath.Clean(target)
		if p == nil {
			delete(s.workspaces, target)
		} else {
			s.workspaces[target] = *p
		}
	case events.GuardScopeProfile:
		if p == nil {
			delete(s.profiles, target)
		} else {
			s.profiles[target] = *p
		}
	}
}

// Layers returns the policies that apply to a command of a run in
// workspace submitted with profile (either may be ""), in increasing
// precedence: global, the workspace policy of workspace or of its nearest
// parent directory that has one, the profile's.
func (s *Store) Layers(workspace, profile string) []judge.Layer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []judge.Layer
	if s.global != nil {
		out = append(out, judge.Layer{Name: events.GuardScopeGlobal, Policy: *s.global})
	}
	if workspace != "" && filepath.IsAbs(workspace) && len(s.workspaces) > 0 {
		for dir := filepath.Clean(workspace); ; dir = filepath.Dir(dir) {
			if p, ok := s.workspaces[dir]; ok {
				out = append(out, judge.Layer{Name: "workspace:" + dir, Policy: p})
				break
			}
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	if p, ok := s.profiles[profile]; ok && profile != "" {
		out = append(out, judge.Layer{Name: "profile:" + profile, Policy: p})
	}
	return out
}

// policySubjects are the configuration events the store folds.
var policySubjects = subjects.EventsRoot + "." + events.AggregateGuardPolicy + ".>"

// Follow replays every guard policy event into s, then keeps it up to date
// until ctx ends. loaded is closed once the policies stored when Follow
// started have been applied, so that no command is judged without them.
func Follow(ctx context.Context, js jetstream.JetStream, s *Store, log *slog.Logger, loaded chan<- struct{}) error {
	stream, err := js.Stream(ctx, streams.Events)
	if err != nil {
		return stopOr(ctx, fmt.Errorf("could not open %s: %w", streams.Events, err))
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(policySubjects))
	if err != nil {
		return stopOr(ctx, fmt.Errorf("could not count the guard policies in %s: %w", streams.Events, err))
	}
	var stored uint64
	for _, n := range info.State.Subjects {
		stored += n
	}
	var once sync.Once
	markLoaded := func() { once.Do(func() { close(loaded) }) }
	if stored == 0 {
		markLoaded()
	}
	cons, err := js.OrderedConsumer(ctx, streams.Events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{policySubjects},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return stopOr(ctx, fmt.Errorf("could not follow the guard policies: %w", err))
	}
	it, err := cons.Messages()
	if err != nil {
		return stopOr(ctx, fmt.Errorf("could not follow the guard policies: %w", err))
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		it.Stop()
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			log.Warn("could not read a guard policy event; retrying", "error", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		ev, err := bus.DecodeEvent(msg)
		switch {
		case err != nil:
			log.Error("skipping a guard policy event that does not decode", "subject", msg.Subject(), "error", err)
		case ev.Payload != nil:
			s.Apply(ev.Payload)
		}
		if md, err := msg.Metadata(); err == nil && md.NumPending == 0 {
			markLoaded()
		}
	}
}

// stopOr is err, unless ctx ended: a stop while Follow starts (the service
// may answer before the consumer exists when there are no policies) is a
// clean stop, not a failure.
func stopOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
