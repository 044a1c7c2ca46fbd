package command

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// MaxProfileConcurrent bounds a profile's maxConcurrent.
const MaxProfileConcurrent = 10000

// ProfileSource finds a profile by name, as last saved.
type ProfileSource interface {
	// Profile returns the profile, false when none has that name.
	Profile(ctx context.Context, name string) (api.Profile, bool, error)
}

// ProfileStore records profiles.
type ProfileStore interface {
	ProfileSource
	// SaveProfile appends profile.saved with the defaults as sent.
	SaveProfile(ctx context.Context, name string, defaults json.RawMessage, maxConcurrent *int) (time.Time, error)
}

// Profiles saves and reads profiles.
type Profiles struct {
	store  ProfileStore
	limits Limits
}

// NewProfiles returns the use case.
func NewProfiles(store ProfileStore, limits Limits) *Profiles {
	return &Profiles{store: store, limits: limits}
}

// Save validates and saves a profile. The defaults are a partial run
// request (unknown fields refused, every present field in its range); the
// profile itself and the prompt cannot be defaulted.
func (p *Profiles) Save(ctx context.Context, name string, req api.SaveProfile) (api.Profile, error) {
	if !subjects.ValidToken(name) {
		return api.Profile{}, apperr.Invalid("name", "profile name %q must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'", runs.Clip(name))
	}
	raw := bytes.TrimSpace(req.Defaults)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		raw = []byte("{}")
	}
	var spec runs.Spec
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return api.Profile{}, apperr.Invalid("defaults", "defaults must be an object with the fields of a run request: %v", err)
	}
	if spec.Profile != "" {
		return api.Profile{}, apperr.Invalid("defaults.profile", "a profile cannot name another profile")
	}
	if spec.Prompt != "" {
		return api.Profile{}, apperr.Invalid("defaults.prompt", "a profile cannot hold a prompt: every run brings its own")
	}
	if err := ValidatePartial(spec, p.limits); err != nil {
		if e, ok := apperr.As(err); ok && e.Field != "" {
			e.Field = "defaults." + e.Field
		}
		return api.Profile{}, err
	}
	if m := req.MaxConcurrent; m != nil && (*m < 1 || *m > MaxProfileConcurrent) {
		return api.Profile{}, apperr.Invalid("maxConcurrent", "maxConcurrent must be an integer in 1..=%d or null, got %d", MaxProfileConcurrent, *m)
	}
	canonical, err := json.Marshal(spec)
	if err != nil {
		return api.Profile{}, fmt.Errorf("could not encode the defaults: %w", err)
	}
	at, err := p.store.SaveProfile(ctx, name, canonical, req.MaxConcurrent)
	if err != nil {
		return api.Profile{}, apperr.Unavailable(err, "could not save the profile: the message bus did not accept it; retry later")
	}
	return api.Profile{Name: name, Defaults: spec, MaxConcurrent: req.MaxConcurrent, UpdatedAt: at}, nil
}

// Get returns a profile, as last saved (from the event log: a profile is
// usable the moment it is saved).
func (p *Profiles) Get(ctx context.Context, name string) (api.Profile, error) {
	if !subjects.ValidToken(name) {
		return api.Profile{}, apperr.Invalid("name", "profile name %q must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'", runs.Clip(name))
	}
	prof, ok, err := p.store.Profile(ctx, name)
	if err != nil {
		return api.Profile{}, apperr.Unavailable(err, "could not read the profile; retry later")
	}
	if !ok {
		return api.Profile{}, &apperr.Error{Code: problems.NotFound, Detail: fmt.Sprintf("no profile named %q", name)}
	}
	return prof, nil
}

// applyProfile fills what spec leaves out from its profile (runs.Merge).
func applyProfile(ctx context.Context, src ProfileSource, spec runs.Spec) (runs.Spec, error) {
	if spec.Profile == "" || src == nil {
		return spec, nil
	}
	if !subjects.ValidToken(spec.Profile) {
		return spec, apperr.Invalid("profile", "profile %q must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'", runs.Clip(spec.Profile))
	}
	prof, ok, err := src.Profile(ctx, spec.Profile)
	if err != nil {
		return spec, apperr.Unavailable(err, "could not read profile %s; retry later", spec.Profile)
	}
	if !ok {
		return spec, apperr.Invalid("profile", "no profile named %q (save one with PUT /v1/profiles/%s)", spec.Profile, spec.Profile)
	}
	return runs.Merge(prof.Defaults, spec), nil
}
