package otpcode

import (
	"context"
	"fmt"
	"slices"

	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/telemetry"
)

// WithActionPurposes names the purposes that are actions (for example the
// catalogue's, policy.NewCatalog().Actions()). A code requested for such a
// purpose yields a session that authorizes that action only: a verification
// may ask for no scope or exactly that one, and any wider scope is refused
// with a *FieldError for "scope", code "not_permitted", before the code is
// judged. Codes with another purpose, or none, keep the scopes the
// verification asks for (none: any action). Default: no purpose is an
// action.
func WithActionPurposes(actions ...string) Option {
	return func(s *Service) error {
		set := make(map[string]bool, len(actions))
		for _, a := range actions {
			if a == "" {
				return fmt.Errorf("otpcode: empty action purpose")
			}
			set[a] = true
		}
		s.actionPurposes = set
		return nil
	}
}

// sessionScopes returns the scopes of the session a verification of a code
// with purpose creates, asked scopes included, or why they are refused.
func (s *Service) sessionScopes(purpose string, asked []string) ([]string, error) {
	if !s.actionPurposes[purpose] {
		return slices.Clone(asked), nil
	}
	for _, a := range asked {
		if a != purpose {
			return nil, &FieldError{Field: "scope", Code: "not_permitted",
				Message: fmt.Sprintf("the code was requested for %q: scope may only narrow it", purpose)}
		}
	}
	return []string{purpose}, nil
}

// Revoke ends the session with the given token, whoever holds it,
// reporting whether there was one (and then emitting
// telemetry.EventRevoked).
func (s *Service) Revoke(ctx context.Context, token string) (bool, error) {
	ok, err := s.store.RevokeSession(ctx, store.HashToken(token))
	if ok {
		s.tel.Emit(ctx, telemetry.Event{Kind: telemetry.EventRevoked, Sessions: 1})
	}
	return ok, err
}

// RevokeOwned ends the session with the given token when it was issued to
// integration, and reports whether it did. A token of another integration,
// an expired one or one that never was all report false, alike, so that a
// partner cannot probe other partners' tokens. A revocation emits
// telemetry.EventRevoked.
func (s *Service) RevokeOwned(ctx context.Context, integration, token string) (bool, error) {
	h := store.HashToken(token)
	sess, found, err := s.store.GetSession(ctx, h)
	if err != nil {
		return false, fmt.Errorf("otpcode: revoke: %w", err)
	}
	if !found || sess.Integration != integration || !s.now().Before(sess.ExpiresAt) {
		return false, nil
	}
	ok, err := s.store.RevokeSession(ctx, h)
	if err != nil {
		return false, fmt.Errorf("otpcode: revoke: %w", err)
	}
	if ok && s.tel.HasEvents() {
		s.tel.Emit(ctx, telemetry.Event{Kind: telemetry.EventRevoked, Integration: integration,
			Customer: s.customerRef(s.customerSubject(sess.CustomerID)), Sessions: 1})
	}
	return ok, nil
}

// RevokeCustomer ends every live session of the customer, from every
// integration, and returns how many it ended. It emits
// telemetry.EventRevoked, whatever the number, when it succeeds.
func (s *Service) RevokeCustomer(ctx context.Context, customerID string) (int, error) {
	n, err := s.store.RevokeSessions(ctx, store.ScopeCustomer, customerID)
	if err != nil {
		return n, fmt.Errorf("otpcode: revoke customer sessions: %w", err)
	}
	if s.tel.HasEvents() {
		s.tel.Emit(ctx, telemetry.Event{Kind: telemetry.EventRevoked, Scope: store.ScopeCustomer,
			Customer: s.customerRef(s.customerSubject(customerID)), Sessions: n})
	}
	return n, nil
}

// RevokeIntegration ends every live session issued to integration, for
// every customer (for example when a partner is downgraded), and returns
// how many it ended. It emits telemetry.EventRevoked, whatever the number,
// when it succeeds.
func (s *Service) RevokeIntegration(ctx context.Context, integration string) (int, error) {
	n, err := s.store.RevokeSessions(ctx, store.ScopeIntegration, integration)
	if err != nil {
		return n, fmt.Errorf("otpcode: revoke integration sessions: %w", err)
	}
	s.tel.Emit(ctx, telemetry.Event{Kind: telemetry.EventRevoked, Scope: store.ScopeIntegration, Integration: integration, Sessions: n})
	return n, nil
}

// CustomerStatus is what an operator sees of one customer's OTP state.
type CustomerStatus struct {
	// Limits holds the customer's locks and failure counts: customer-wide
	// and per integration.
	Limits store.Status
	// Sessions is the number of the customer's live sessions.
	Sessions int
}

// Status returns the customer's locks, failure counts and number of live
// sessions. customerID is the directory's customer ID (the ID verify-otp
// returns).
func (s *Service) Status(ctx context.Context, customerID string) (CustomerStatus, error) {
	lim, err := s.store.Status(ctx, s.customerSubject(customerID))
	if err != nil {
		return CustomerStatus{}, fmt.Errorf("otpcode: status: %w", err)
	}
	n, err := s.store.CountSessions(ctx, store.ScopeCustomer, customerID)
	if err != nil {
		return CustomerStatus{}, fmt.Errorf("otpcode: status: %w", err)
	}
	return CustomerStatus{Limits: lim, Sessions: n}, nil
}

// Unlock lifts the customer's locks and clears its failure counts: every
// one, or, when integration is not "", only that integration's. It emits
// telemetry.EventUnlocked when it succeeds.
func (s *Service) Unlock(ctx context.Context, customerID, integration string) error {
	subject := s.customerSubject(customerID)
	if err := s.store.Unlock(ctx, subject, integration); err != nil {
		return fmt.Errorf("otpcode: unlock: %w", err)
	}
	if s.tel.HasEvents() {
		s.tel.Emit(ctx, telemetry.Event{Kind: telemetry.EventUnlocked, Integration: integration, Customer: s.customerRef(subject)})
	}
	return nil
}
