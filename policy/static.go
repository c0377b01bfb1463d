package policy

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Source returns the policy of an integration. Implementations must be safe
// for concurrent use. Policy returns an error only when the source itself
// fails (a database down, say); an integration the source does not know gets
// the source's default policy, not an error. Callers must treat an error as
// "OTP required" (fail closed).
type Source interface {
	// Policy returns the policy of the integration with the given ID.
	Policy(ctx context.Context, integration string) (Policy, error)
}

// Integration describes one integration held by a [Static]: its ID, display
// name, the trust level its policy starts from, and the effective policy.
type Integration struct {
	// ID is the integration's ID as the API-key layer reports it; it is empty
	// for a Static's default.
	ID string
	// Name is the display name; it is the ID when none was given, and
	// "default" for a Static's default.
	Name string
	// Level is the preset the policy starts from: the file's "level", or for
	// [NewStatic] the preset whose four flags the policy has ([Strict] when
	// none has them).
	Level TrustLevel
	// Policy is the effective, validated policy.
	Policy Policy
}

// Overridden reports whether Policy differs from the preset of Level (see
// [Policy.Equal]), that is whether flag overrides, SingleUse or MaxAge apply
// on top of the level.
func (i Integration) Overridden() bool {
	p, err := Preset(i.Level)
	return err != nil || !p.Equal(i.Policy)
}

// Label returns the integration's name and level for tables, as in
// "Goomer (relaxed)" or, with overrides, "Goomer (relaxed + overrides)".
func (i Integration) Label() string {
	if i.Overridden() {
		return i.Name + " (" + i.Level.String() + " + overrides)"
	}
	return i.Name + " (" + i.Level.String() + ")"
}

// Static is a fixed, validated set of per-integration policies with a default
// for integrations it does not list. It implements [Source]. A Static is
// immutable and safe for concurrent use; lookups do not allocate. A nil or
// zero Static answers the [Strict] preset for every integration.
type Static struct {
	def      Integration
	policies map[string]Policy
	byID     map[string]Integration
	ids      []string
	ready    bool
}

var _ Source = (*Static)(nil)

// NewStatic returns a Static that answers byIntegration[id] for the listed
// integrations and def for every other. Every policy is validated: a
// contradictory one is an error wrapping [ErrContradictoryPolicy] that names
// the integration and the flags, and an empty or blank integration ID is an
// error wrapping [ErrEmptyIntegrationID]; SingleUse and MaxAge are checked as
// [Policy.Validate] does. The map is copied, and so is every policy's
// SingleUse and MaxAge.
func NewStatic(def Policy, byIntegration map[string]Policy) (*Static, error) {
	list := make([]Integration, 0, len(byIntegration))
	for id, p := range byIntegration {
		list = append(list, Integration{ID: id, Name: id, Level: levelOf(p), Policy: p})
	}
	return newStatic(Integration{Name: "default", Level: levelOf(def), Policy: def}, list)
}

// newStatic builds a Static from described integrations; def.ID is ignored.
func newStatic(def Integration, list []Integration) (*Static, error) {
	if err := def.Policy.validate(); err != nil {
		return nil, fmt.Errorf("policy: default policy: %w", err)
	}
	def.ID = ""
	def.Policy = def.Policy.clone()
	s := &Static{
		def:      def,
		policies: make(map[string]Policy, len(list)),
		byID:     make(map[string]Integration, len(list)),
		ids:      make([]string, 0, len(list)),
		ready:    true,
	}
	for _, in := range list {
		if strings.TrimSpace(in.ID) == "" {
			return nil, fmt.Errorf("policy: integration %q: %w", in.ID, ErrEmptyIntegrationID)
		}
		if _, dup := s.byID[in.ID]; dup {
			return nil, fmt.Errorf("policy: integration %q: %w", in.ID, ErrDuplicateIntegration)
		}
		if err := in.Policy.validate(); err != nil {
			return nil, fmt.Errorf("policy: integration %q: %w", in.ID, err)
		}
		if in.Name == "" {
			in.Name = in.ID
		}
		in.Policy = in.Policy.clone()
		s.policies[in.ID] = in.Policy
		s.byID[in.ID] = in
		s.ids = append(s.ids, in.ID)
	}
	sort.Strings(s.ids)
	return s, nil
}

// Policy returns the policy of the integration, or the default policy for an
// integration s does not list. It never fails and does not allocate; ctx is
// unused. The policy's SingleUse and MaxAge are shared with s and must not be
// modified.
func (s *Static) Policy(ctx context.Context, integration string) (Policy, error) {
	if s == nil || !s.ready {
		return levels[Strict].policy, nil
	}
	if p, ok := s.policies[integration]; ok {
		return p, nil
	}
	return s.def.Policy, nil
}

// Default describes the policy for integrations s does not list; its ID is
// empty and its Name is "default". Its policy's SingleUse and MaxAge are
// shared with s and must not be modified.
func (s *Static) Default() Integration {
	if s == nil || !s.ready {
		return Integration{Name: "default", Level: Strict, Policy: levels[Strict].policy}
	}
	return s.def
}

// Integration describes the listed integration with the given ID, and
// reports whether s lists it. Its policy's SingleUse and MaxAge are shared
// with s and must not be modified.
func (s *Static) Integration(id string) (Integration, bool) {
	if s == nil {
		return Integration{}, false
	}
	in, ok := s.byID[id]
	return in, ok
}

// Integrations returns the IDs of the listed integrations, sorted. The slice
// is a fresh copy.
func (s *Static) Integrations() []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s.ids...)
}
