package otpcode

import (
	"errors"
	"fmt"
	"time"

	"github.com/otpguard/otpguard/store"
)

// Sentinel errors of the request/verify flow. Every error the Service
// returns for a client-side condition wraps at least one of them, so callers
// test with errors.Is; any other error is a system failure (a store or a
// directory that failed) and must be treated as "refuse" (fail closed).
var (
	// ErrInvalidInput reports a missing or malformed field; the error is a
	// *FieldError naming the field.
	ErrInvalidInput = errors.New("otpcode: invalid input")
	// ErrInvalidIdentifier reports an identifier that is not a phone number,
	// an email address or a CPF; the error is also an *IdentifierError.
	ErrInvalidIdentifier = errors.New("otpcode: invalid identifier")
	// ErrAmbiguousIdentifier reports bare digits that are both a valid CPF
	// and a valid phone number of the default region, sent without an
	// identifier type. It wraps ErrInvalidIdentifier; the Service returns it
	// in a *FieldError with code "ambiguous".
	ErrAmbiguousIdentifier error = &subError{msg: "otpcode: ambiguous identifier", parent: ErrInvalidIdentifier}
	// ErrChannelNotPermitted reports a requested channel that is not offered
	// for the identifier or not allowed by the caller.
	ErrChannelNotPermitted = errors.New("otpcode: channel not permitted")
	// ErrUnknownCustomer reports an identifier with no customer and no
	// channel to reach one (for example an unknown CPF).
	ErrUnknownCustomer = errors.New("otpcode: unknown customer")
	// ErrNotRequested reports a verification for an identifier that has no
	// outstanding code.
	ErrNotRequested = errors.New("otpcode: no code was requested for this identifier")
	// ErrInvalidCode reports a wrong code.
	ErrInvalidCode = errors.New("otpcode: invalid code")
	// ErrExpired reports a code past its lifetime.
	ErrExpired = errors.New("otpcode: code expired")
	// ErrTooManyAttempts reports a code whose guesses ran out; it is burned.
	ErrTooManyAttempts = errors.New("otpcode: too many attempts")
	// ErrLocked reports a failure budget that is spent: the pair's (this
	// integration and this customer), the customer's (every integration) or
	// the integration's breaker (every customer); LimitError.Scope says
	// which.
	ErrLocked = errors.New("otpcode: locked")
	// ErrCooldown reports a new request inside the resend cooldown.
	ErrCooldown = errors.New("otpcode: resend cooldown")
	// ErrSendLimit reports a send window that is full: the pair's, the
	// customer's or the integration's; LimitError.Scope says which.
	ErrSendLimit = errors.New("otpcode: send limit reached")
	// ErrDestinationNotPermitted reports a phone number no code may be sent
	// to: a number type such as premium rate or satellite, or a country
	// outside the allow-list (see WithAllowedRegions).
	ErrDestinationNotPermitted = errors.New("otpcode: destination not permitted")
	// ErrRateLimited reports an integration over its request rate.
	ErrRateLimited = errors.New("otpcode: integration rate limited")
	// ErrDelivery reports that every channel failed to deliver a code.
	ErrDelivery = errors.New("otpcode: delivery failed")
)

// LimitError is returned when a limit refuses a request. It wraps one of
// ErrTooManyAttempts, ErrLocked, ErrCooldown, ErrSendLimit or ErrRateLimited.
type LimitError struct {
	// Err is the sentinel naming the limit.
	Err error
	// RetryAfter is how long until a retry can succeed; zero means now.
	// For ErrTooManyAttempts the code is burned and the retry is a new
	// request: RetryAfter is what is left of the resend cooldown that began
	// when the code was requested, zero when the cooldown is over or off.
	// (The send window or a lock may still refuse that request.)
	RetryAfter time.Duration
	// LockDuration is the remaining lock, for ErrLocked.
	LockDuration time.Duration
	// Scope is what the limit applies to, for ErrLocked and ErrSendLimit:
	// store.ScopePair (this integration and customer), store.ScopeCustomer
	// (the customer, for every integration) or store.ScopeIntegration (this
	// integration, for every customer).
	Scope store.LockScope
}

// Error implements error.
func (e *LimitError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%v (retry after %v)", e.Err, e.RetryAfter)
	}
	return e.Err.Error()
}

// Unwrap returns the sentinel.
func (e *LimitError) Unwrap() error { return e.Err }

// FieldError names a request field that is missing or malformed. It wraps
// ErrInvalidInput, or a more specific sentinel such as ErrInvalidIdentifier
// or ErrChannelNotPermitted.
type FieldError struct {
	// Field is the field's JSON name, such as "identifier" or "otp_code".
	Field string
	// Code is a short machine-readable reason: "required", "invalid_format",
	// "not_permitted", or "ambiguous" (for "identifier", wrapping
	// ErrAmbiguousIdentifier: send identifier_type).
	Code string
	// Message is a sentence for people. It never repeats a secret.
	Message string
	// Err is the sentinel or the underlying error; nil means ErrInvalidInput.
	Err error
}

// Error implements error.
func (e *FieldError) Error() string {
	return fmt.Sprintf("otpcode: %s: %s", e.Field, e.Message)
}

// Unwrap returns the wrapped errors: ErrInvalidInput and Err.
func (e *FieldError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalidInput}
	}
	return []error{ErrInvalidInput, e.Err}
}

// subError is a sentinel that is also its parent sentinel for errors.Is.
type subError struct {
	msg    string
	parent error
}

func (e *subError) Error() string { return e.msg }

func (e *subError) Unwrap() error { return e.parent }
