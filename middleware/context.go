package middleware

import (
	"context"

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
	return gc.session, true
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
// passed an OTP check. It answers the guard's keys itself (and the
// integration key, so IntegrationFrom also sees an integration found by a
// host function) and delegates every other key, the deadline, Done and Err
// to its parent. One allocation carries everything; contexts wrapped around
// it later still reach it through Value.
type guardContext struct {
	context.Context
	// integration is answered for integrationKey only when ownIntegration
	// is set, that is when a host function, not the parent context, named
	// the integration.
	integration    string
	ownIntegration bool
	session        store.Session
	decision       policy.Decision
	// hash holds the hex SHA-256 of the session token. It is written once,
	// before the store lookup, and never changed after, so the string the
	// store receives over it (see hashToken) stays valid and immutable for
	// as long as anything refers to it.
	hash [hexHashLen]byte
}

// Value answers the guard's keys and delegates the rest to the parent.
func (c *guardContext) Value(key any) any {
	if k, ok := key.(ctxKey); ok {
		switch k {
		case guardKey:
			return c
		case integrationKey:
			if c.ownIntegration {
				return c.integration
			}
		}
	}
	return c.Context.Value(key)
}

// String describes the context without revealing the session.
func (c *guardContext) String() string {
	return "middleware.guardContext"
}
