package guardtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
)

// DefaultSessionTTL is the lifetime of a session IssueSession issues when
// Session.TTL is zero; it is the library's default session lifetime.
const DefaultSessionTTL = 30 * time.Minute

// ErrInvalidSession is wrapped by the error IssueSession returns for a
// Session it refuses (no integration, no keys, negative TTL) or a nil store.
var ErrInvalidSession = errors.New("guardtest: invalid session")

// Session describes an OTP session to issue without the code flow.
// Integration and Keys are required.
type Session struct {
	// Integration is the integration the session is issued to; the guard
	// accepts the session only on requests of this integration. Required.
	Integration string
	// CustomerID is the customer the session is issued for; a route that
	// binds its customer (see middleware.CustomerSource) accepts it only on
	// that customer's requests.
	CustomerID string
	// Keys are the session keys of the guard that will check the session
	// (its middleware.WithSessionKeys); the record is sealed with them.
	// Required.
	Keys *keyring.Keyring
	// Scopes lists the actions the session may authorize; empty means any,
	// as for a session verify-otp issues without a scope.
	Scopes []policy.Action
	// TTL is the session's lifetime. Zero means DefaultSessionTTL; a
	// negative TTL is refused.
	TTL time.Duration
	// Now is the clock the expiry is computed from. Nil means time.Now. Pass
	// the guard's clock when the guard has an injected one.
	Now func() time.Time
}

// IssueSession stores a valid OTP session described by s in st and returns
// its token, to be sent in the X-OTP-Session header (see WithSession). The
// token is 256 bits from crypto/rand signed with Keys, as verify-otp issues
// them (otpcode.NewSessionToken); the record
// is stored under store.HashToken(token), verified now, with ExpiresAt =
// now + TTL and the same TTL, so the guard built on st accepts it exactly
// as it accepts a session verify-otp created.
//
// It returns an error wrapping ErrInvalidSession for a nil st, an empty
// Integration, no Keys or a negative TTL, and the store's error, wrapped, when
// CreateSession fails.
func IssueSession(ctx context.Context, st store.Sessions, s Session) (token string, err error) {
	switch {
	case st == nil:
		return "", fmt.Errorf("guardtest: issue session: %w: nil session store", ErrInvalidSession)
	case s.Integration == "":
		return "", fmt.Errorf("guardtest: issue session: %w: no integration", ErrInvalidSession)
	case s.Keys == nil || s.Keys.Len() == 0:
		return "", fmt.Errorf("guardtest: issue session: %w: no session keys", ErrInvalidSession)
	case s.TTL < 0:
		return "", fmt.Errorf("guardtest: issue session: %w: negative TTL %v", ErrInvalidSession, s.TTL)
	}
	ttl := s.TTL
	if ttl == 0 {
		ttl = DefaultSessionTTL
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	token, err = otpcode.NewSessionToken(rand.Reader, s.Keys)
	if err != nil {
		return "", fmt.Errorf("guardtest: issue session: %w", err)
	}
	var scopes []string
	for _, a := range s.Scopes {
		scopes = append(scopes, string(a))
	}
	rec := store.Session{
		Integration: s.Integration,
		CustomerID:  s.CustomerID,
		Scopes:      scopes,
		VerifiedAt:  now(),
		ExpiresAt:   now().Add(ttl),
	}
	hash := store.HashToken(token)
	store.Seal(s.Keys, hash, &rec)
	if err := st.CreateSession(ctx, hash, rec, ttl); err != nil {
		return "", fmt.Errorf("guardtest: issue session: create session: %w", err)
	}
	return token, nil
}

// MustIssue is IssueSession for tests: it issues the session with the
// test's context and stops the test with tb.Fatalf when that fails.
func MustIssue(tb testing.TB, st store.Sessions, s Session) string {
	tb.Helper()
	token, err := IssueSession(tb.Context(), st, s)
	if err != nil {
		tb.Fatalf("guardtest: %v", err)
	}
	return token
}
