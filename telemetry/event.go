package telemetry

import (
	"time"

	"github.com/otpguard/otpguard/store"
)

// EventKind names what an Event reports.
type EventKind uint8

// The events otpguard emits (see WithEvents). Each is something an operator
// may need to act on or account for.
const (
	// EventLocked: a wrong or expired code spent a failure budget and
	// locked the pair or the customer (Event.Scope says which) for
	// Event.Duration. Emitted by the OTP service; Event.Customer is set.
	EventLocked EventKind = iota + 1
	// EventBreakerTripped: an integration's wrong codes reached its
	// failure limit; its request and verify calls are refused for every
	// customer for Event.Duration. Event.Scope is store.ScopeIntegration.
	// Page on it: a partner key is probably being abused.
	EventBreakerTripped
	// EventUnlocked: an operator lifted a customer's locks and cleared its
	// failure counts (Service.Unlock): every integration's, or only
	// Event.Integration's. Event.Customer is set.
	EventUnlocked
	// EventRevoked: sessions were ended before their expiry —
	// Event.Sessions of them: one session by its token (Event.Integration
	// is its integration when the holder revoked it), every session of a
	// customer (Event.Customer set, Event.Scope store.ScopeCustomer) or
	// every session of an integration (Event.Scope
	// store.ScopeIntegration).
	EventRevoked
	// EventDeliveryFailed: a channel (Event.Channel) failed to deliver a
	// code for Event.Integration and Event.Customer. The service falls
	// back to the next channel, if any; the metric otpguard_codes_sent
	// says whether it did.
	EventDeliveryFailed
	// EventIntegrityFailure: the guard found a session record whose MAC
	// does not verify — someone wrote to the session store without the
	// keys — and refused the request (Event.Integration, Event.Action).
	// Page on it.
	EventIntegrityFailure
)

var eventNames = [...]string{
	EventLocked:           "otp.locked",
	EventBreakerTripped:   "otp.breaker_tripped",
	EventUnlocked:         "otp.unlocked",
	EventRevoked:          "otp.revoked",
	EventDeliveryFailed:   "otp.delivery_failed",
	EventIntegrityFailure: "otp.integrity_failure",
}

// String returns the event's name as audit logs use it: "otp.locked",
// "otp.breaker_tripped", "otp.unlocked", "otp.revoked",
// "otp.delivery_failed", "otp.integrity_failure" ("otp.unknown" for any
// other value).
func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return "otp.unknown"
}

// Event is something an operator may need to act on. It never holds a
// code, a token, an identifier or a customer ID: a customer appears only
// as its pseudonymous reference. Fields a kind does not use are zero.
type Event struct {
	// Kind is what happened.
	Kind EventKind
	// Integration is the integration whose call caused it, or the one it
	// concerns ("" for none).
	Integration string
	// Customer is the customer's pseudonymous reference: a keyed hash
	// (22 characters of base64url) of the customer under the OTP
	// service's keys, in a domain of its own, so that it links the
	// customer's events and audit lines to each other but not to any
	// store record, and reveals nothing without the keys. The same
	// customer has the same reference on every instance sharing the
	// first key. "" when the event concerns no one customer.
	Customer string
	// Scope is what is locked or revoked.
	Scope store.LockScope
	// Duration is how long the lock or the breaker lasts.
	Duration time.Duration
	// Channel is the channel that failed, for EventDeliveryFailed.
	Channel string
	// Sessions is the number of sessions ended, for EventRevoked.
	Sessions int
	// Action is the guarded action, for EventIntegrityFailure.
	Action string
}
