package middleware

import (
	"context"
	"slices"

	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
)

// ctxKey is the type of this package's context keys; being unexported, no
// other package can read or overwrite the values stored under them.
type ctxKey uint8

const (
	integrationKey ctxKey = iota
	// guardKey asks a context for the *guardContext the guard attached.
	guardKey
)

// WithIntegration returns a copy of ctx that carries the calling
// integration's ID. The API-key middleware sets it; hosts with their own
// authentication may set it themselves.
func WithIntegration(ctx context.Context, integration string) context.Context {
	return context.WithValue(ctx, integrationKey, integration)
}

// IntegrationFrom returns the integration ID carried by ctx.
func IntegrationFrom(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(integrationKey).(string)
	return id, ok && id != ""
}

// SessionFrom returns the OTP session the guard accepted for this request.
// It is set only when the action required OTP and the request carried a
// valid session; on actions that needed no OTP it reports false.
func SessionFrom(ctx context.Context) (store.Session, bool) {
	gc, ok := ctx.Value(guardKey).(*guardContext)
	if !ok {
		return store.Session{}, false
	}
	s := gc.session.Session()
	if s.Scopes != nil {
		s.Scopes = slices.Clone(s.Scopes)
	}
	return s, true
}

// DecisionFrom returns the policy decision the guard made for this request.
// To keep the path of actions that need no OTP free of allocations, the
// guard records the decision only when it required OTP (and the session was
// accepted); otherwise DecisionFrom reports false and the decision is
// visible through the guard's audit log.
func DecisionFrom(ctx context.Context) (policy.Decision, bool) {
	gc, ok := ctx.Value(guardKey).(*guardContext)
	if !ok {
		return policy.Decision{}, false
	}
	return gc.decision, true
}

// guardContext is the one context the guard allocates for a request that
// passed an OTP check (64 bytes). It answers the guard's key itself and
// delegates every other key, the deadline, Done and Err to its parent. One
// allocation carries everything; contexts wrapped around it later still
// reach it through Value.
type guardContext struct {
	context.Context
	// session is the accepted session: the store's own record, which
	// never changes, or a copy of what GetSession returned. Its Scopes and
	// MAC share the record's memory: SessionFrom hands out a copy of the
	// scopes.
	session  store.SessionRecord
	decision policy.Decision
}

// Value answers the guard's key and delegates the rest to the parent.
func (c *guardContext) Value(key any) any {
	if k, ok := key.(ctxKey); ok && k == guardKey {
		return c
	}
	return c.Context.Value(key)
}

// String describes the context without revealing the session.
func (c *guardContext) String() string {
	return "middleware.guardContext"
}

// hostIntegrationContext is the guard's context when a host function
// (WithIntegrationFunc), not the parent context, named the integration: it
// also answers the integration key, so that IntegrationFrom sees that
// integration.
type hostIntegrationContext struct {
	guardContext
	integration string
}

// Value answers the guard's keys and delegates the rest to the parent.
func (c *hostIntegrationContext) Value(key any) any {
	if k, ok := key.(ctxKey); ok {
		switch k {
		case guardKey:
			return &c.guardContext
		case integrationKey:
			return c.integration
		}
	}
	return c.Context.Value(key)
}
