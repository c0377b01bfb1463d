package otpcode

import (
	"context"
	"errors"
	"time"

	"github.com/otpguard/otpguard/store"
)

// EventKind names what an Event reports.
type EventKind uint8

// The events a Service emits (see WithEvents).
const (
	// EventLocked: a wrong code spent a failure budget and locked the pair
	// or the customer (Event.Scope says which) for Event.Duration.
	EventLocked EventKind = iota + 1
	// EventBreakerTripped: an integration's wrong codes reached
	// Limits.IntegrationFailLimit; its request and verify calls are refused
	// for every customer for Event.Duration. Page on it: a partner key is
	// probably being abused.
	EventBreakerTripped
)

// String returns the event's name: "otp.locked", "otp.breaker_tripped".
func (k EventKind) String() string {
	switch k {
	case EventLocked:
		return "otp.locked"
	case EventBreakerTripped:
		return "otp.breaker_tripped"
	}
	return "otp.unknown"
}

// Event is something an operator may need to act on. It never holds a
// code, a token or an identifier.
type Event struct {
	// Kind is what happened.
	Kind EventKind
	// Integration is the integration whose call caused it.
	Integration string
	// Scope is what is locked.
	Scope store.LockScope
	// Duration is how long the lock or the breaker lasts.
	Duration time.Duration
}

// WithEvents sets the hook that receives the service's events, for alerts.
// It is called synchronously on the request's goroutine: it must be quick
// and safe for concurrent use. Default: none.
func WithEvents(hook func(context.Context, Event)) Option {
	return func(s *Service) error {
		if hook == nil {
			return errors.New("otpcode: nil event hook")
		}
		s.events = hook
		return nil
	}
}

// emit hands e to the event hook, if any.
func (s *Service) emit(ctx context.Context, e Event) {
	if s.events != nil {
		s.events(ctx, e)
	}
}
