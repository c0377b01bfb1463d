package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/otpguard/otpguard/store"
	"github.com/stretchr/testify/require"
)

// testVerifiedAt is a session's verification time, with millisecond
// precision, in a zone other than UTC.
var testVerifiedAt = time.Date(2031, time.January, 2, 0, 4, 5, 123_000_000, time.FixedZone("BRT", -3*3600))

// newSession returns a session record of integration-1 with every field
// set.
func newSession(customer string) store.Session {
	return sessionOf(customer, "integration-1")
}

// sessionOf returns a session record of customer and integration with
// every field set.
func sessionOf(customer, integration string) store.Session {
	return store.Session{
		Integration: integration,
		CustomerID:  customer,
		Scopes:      []string{"rewards:redeem", "points:transfer"},
		VerifiedAt:  testVerifiedAt,
		ExpiresAt:   testExpiresAt,
		MAC:         []byte("\x00mac-of-" + customer + "-\xff" + strings.Repeat("m", 16)),
	}
}

// requireSession fails the test unless got equals want in every field.
// A nil and an empty Scopes are equal.
func requireSession(e *env, got, want store.Session) {
	e.t.Helper()
	t := e.t
	if got.Integration != want.Integration {
		t.Fatalf("Integration: got %q, want %q", got.Integration, want.Integration)
	}
	if got.CustomerID != want.CustomerID {
		t.Fatalf("CustomerID: got %q, want %q", got.CustomerID, want.CustomerID)
	}
	if !bytes.Equal(got.MAC, want.MAC) {
		t.Fatalf("MAC: got %x, want %x", got.MAC, want.MAC)
	}
	if !slices.Equal(got.Scopes, want.Scopes) {
		t.Fatalf("Scopes: got %q, want %q", got.Scopes, want.Scopes)
	}
	if !got.VerifiedAt.Equal(want.VerifiedAt) {
		t.Fatalf("VerifiedAt: got %v, want %v", got.VerifiedAt, want.VerifiedAt)
	}
	if !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("ExpiresAt: got %v, want %v", got.ExpiresAt, want.ExpiresAt)
	}
}

// createSession calls CreateSession and fails the test on an error.
func createSession(e *env, hash string, s store.Session, ttl time.Duration) {
	e.t.Helper()
	require.NoError(e.t, e.s.CreateSession(e.ctx, hash, s, ttl), "CreateSession(%q)", hash)
}

// getSession calls GetSession and fails the test on an error or when found is
// not wantFound.
func getSession(e *env, hash string, wantFound bool) store.Session {
	e.t.Helper()
	s, found, err := e.s.GetSession(e.ctx, hash)
	require.NoError(e.t, err, "GetSession(%q)", hash)
	if found != wantFound {
		e.t.Fatalf("GetSession(%q) found: got %v, want %v", hash, found, wantFound)
	}
	return s
}

// revoke calls RevokeSession and fails the test on an error or when deleted
// is not want.
func revoke(e *env, hash string, want bool) {
	e.t.Helper()
	deleted, err := e.s.RevokeSession(e.ctx, hash)
	require.NoError(e.t, err, "RevokeSession(%q)", hash)
	if deleted != want {
		e.t.Fatalf("RevokeSession(%q): got %v, want %v", hash, deleted, want)
	}
}

// use calls UseSession and fails the test on an error or when first is not
// want.
func use(e *env, hash, action string, want bool) {
	e.t.Helper()
	first, err := e.s.UseSession(e.ctx, hash, action)
	require.NoError(e.t, err, "UseSession(%q, %q)", hash, action)
	if first != want {
		e.t.Fatalf("UseSession(%q, %q): got %v, want %v", hash, action, first, want)
	}
}

// revokeAll calls RevokeSessions and fails the test on an error or when
// revoked is not want.
func revokeAll(e *env, scope store.LockScope, id string, want int) {
	e.t.Helper()
	n, err := e.s.RevokeSessions(e.ctx, scope, id)
	require.NoError(e.t, err, "RevokeSessions(%v, %q)", scope, id)
	if n != want {
		e.t.Fatalf("RevokeSessions(%v, %q): got %d, want %d", scope, id, n, want)
	}
}

// countIs calls CountSessions and fails the test on an error or when the
// count is not want.
func countIs(e *env, scope store.LockScope, id string, want int) {
	e.t.Helper()
	n, err := e.s.CountSessions(e.ctx, scope, id)
	require.NoError(e.t, err, "CountSessions(%v, %q)", scope, id)
	if n != want {
		e.t.Fatalf("CountSessions(%v, %q): got %d, want %d", scope, id, n, want)
	}
}

// tokenHash returns the hash of a token named name.
func tokenHash(name string) string { return store.HashToken("token-" + name) }

// revokeCase checks RevokeSessions and CountSessions for one scope: by is
// the scope, and of(id, other) returns a session whose ID in that scope is
// id and whose ID in the other scope is other.
func revokeCase(by store.LockScope, of func(id, other string) store.Session) func(e *env) {
	return func(e *env) {
		sessions := []struct {
			name string
			s    store.Session
			ttl  time.Duration
		}{
			{"a1", of("a", "x"), long},
			{"a2", of("a", "y"), long},
			{"a3", of("a", "x"), long},
			{"a-expired", of("a", "x"), short},
			{"b1", of("b", "x"), long},
			// Replaced under the same hash by b's session: it is b's.
			{"moved", of("a", "x"), long},
			{"moved", of("b", "x"), long},
			// a's session once, revoked by itself.
			{"a-revoked", of("a", "x"), long},
		}
		other := store.ScopeIntegration
		if by == store.ScopeIntegration {
			other = store.ScopeCustomer
		}
		for _, s := range sessions {
			createSession(e, tokenHash(s.name), s.s, s.ttl)
		}
		revoke(e, tokenHash("a-revoked"), true)
		countIs(e, by, "a", 4)
		e.advance(short + slack)
		countIs(e, by, "a", 3)
		countIs(e, by, "b", 2)
		countIs(e, by, "nobody", 0)
		countIs(e, other, "x", 4) // a1, a3, b1, moved
		countIs(e, other, "y", 1)

		revokeAll(e, by, "a", 3)
		for _, name := range []string{"a1", "a2", "a3", "a-expired", "a-revoked"} {
			getSession(e, tokenHash(name), false)
			use(e, tokenHash(name), "redeem", false)
		}
		requireSession(e, getSession(e, tokenHash("b1"), true), of("b", "x"))
		requireSession(e, getSession(e, tokenHash("moved"), true), of("b", "x"))
		countIs(e, by, "a", 0)
		countIs(e, by, "b", 2)
		countIs(e, other, "x", 2)
		countIs(e, other, "y", 0)
		revokeAll(e, by, "a", 0)

		// A new session of a is indexed as the first ones were.
		createSession(e, tokenHash("a4"), of("a", "y"), long)
		countIs(e, by, "a", 1)
		revokeAll(e, by, "a", 1)
		getSession(e, tokenHash("a4"), false)
		revokeAll(e, by, "b", 2)
		countIs(e, other, "x", 0)
	}
}

var sessionCases = []testCase{
	{"RoundTrip", func(e *env) {
		h := store.HashToken("token-round-trip")
		want := newSession("cust-1")
		createSession(e, h, want, long)
		requireSession(e, getSession(e, h, true), want)
		// Reading does not consume.
		requireSession(e, getSession(e, h, true), want)
	}},
	{"NoScopes", func(e *env) {
		h := store.HashToken("token-no-scopes")
		want := newSession("cust-1")
		want.Scopes = nil
		createSession(e, h, want, long)
		got := getSession(e, h, true)
		if len(got.Scopes) != 0 {
			e.t.Fatalf("Scopes: got %q, want none", got.Scopes)
		}
		requireSession(e, got, want)
	}},
	{"Missing", func(e *env) {
		got := getSession(e, store.HashToken("never-issued"), false)
		if got.CustomerID != "" || got.Scopes != nil || !got.ExpiresAt.IsZero() {
			e.t.Fatalf("GetSession on missing: got %+v, want the zero Session", got)
		}
	}},
	{"Revoke", func(e *env) {
		h := store.HashToken("token-revoke")
		other := store.HashToken("token-other")
		createSession(e, h, newSession("cust-1"), long)
		createSession(e, other, newSession("cust-2"), long)
		revoke(e, h, true)
		getSession(e, h, false)
		revoke(e, h, false)
		requireSession(e, getSession(e, other, true), newSession("cust-2"))
	}},
	{"RevokeMissing", func(e *env) {
		revoke(e, store.HashToken("never-issued"), false)
	}},
	{"Replace", func(e *env) {
		h := store.HashToken("token-replace")
		createSession(e, h, newSession("cust-1"), long)
		createSession(e, h, newSession("cust-2"), long)
		requireSession(e, getSession(e, h, true), newSession("cust-2"))
	}},
	{"Expiry", func(e *env) {
		h := store.HashToken("token-expiry")
		createSession(e, h, newSession("cust-1"), short)
		e.advance(step)
		getSession(e, h, true)
		e.advance(short - step + slack)
		getSession(e, h, false)
		revoke(e, h, false)
	}},
	{"VerifiedAt", func(e *env) {
		// VerifiedAt round-trips apart from ExpiresAt, in its own zone,
		// and so does its zero value.
		h := store.HashToken("token-verified-at")
		want := newSession("cust-1")
		want.VerifiedAt = time.Date(2030, time.May, 6, 7, 8, 9, 10_000_000, time.FixedZone("", 5*3600+1800))
		createSession(e, h, want, long)
		got := getSession(e, h, true)
		requireSession(e, got, want)
		if _, off := got.VerifiedAt.Zone(); off != 5*3600+1800 {
			e.t.Fatalf("VerifiedAt zone offset: got %d, want %d", off, 5*3600+1800)
		}
		want.VerifiedAt = time.Time{}
		createSession(e, h, want, long)
		if got := getSession(e, h, true); !got.VerifiedAt.IsZero() {
			e.t.Fatalf("VerifiedAt: got %v, want the zero time", got.VerifiedAt)
		}
	}},
	{"UseSession", func(e *env) {
		// The first use of each action is first; every later one is not,
		// per session and per action.
		h, other := tokenHash("use"), tokenHash("use-other")
		createSession(e, h, newSession("cust-1"), long)
		createSession(e, other, newSession("cust-1"), long)
		use(e, h, "redeem", true)
		use(e, h, "redeem", false)
		use(e, h, "redeem", false)
		use(e, h, "transfer", true)
		use(e, h, "transfer", false)
		for _, action := range []string{"", "redeem:", "{redeem}", "%", "red"} {
			use(e, h, action, true)
			use(e, h, action, false)
		}
		use(e, other, "redeem", true)
		use(e, other, "redeem", false)
		// Using a session does not consume or change it.
		requireSession(e, getSession(e, h, true), newSession("cust-1"))
	}},
	{"UseSessionMissing", func(e *env) {
		h := tokenHash("never-issued")
		use(e, h, "redeem", false)
		use(e, h, "redeem", false)
		getSession(e, h, false)
		// A session created after those calls has no mark.
		createSession(e, h, newSession("cust-1"), long)
		use(e, h, "redeem", true)
	}},
	{"UseSessionRevoked", func(e *env) {
		// A revoked session cannot be used, and its marks go with it: a
		// session created later under the same hash starts unused.
		h := tokenHash("use-revoked")
		createSession(e, h, newSession("cust-1"), long)
		use(e, h, "redeem", true)
		revoke(e, h, true)
		use(e, h, "redeem", false)
		use(e, h, "transfer", false)
		createSession(e, h, newSession("cust-1"), long)
		use(e, h, "redeem", true)
		revokeAll(e, store.ScopeCustomer, "cust-1", 1)
		use(e, h, "redeem", false)
		createSession(e, h, newSession("cust-1"), long)
		use(e, h, "redeem", true)
	}},
	{"UseSessionExpiry", func(e *env) {
		// The mark lives as long as the session and no longer.
		h := tokenHash("use-expiry")
		createSession(e, h, newSession("cust-1"), short)
		use(e, h, "redeem", true)
		e.advance(step)
		use(e, h, "redeem", false)
		e.advance(short - step + slack)
		use(e, h, "redeem", false)
		use(e, h, "transfer", false)
		createSession(e, h, newSession("cust-1"), long)
		use(e, h, "redeem", true)
		use(e, h, "transfer", true)
	}},
	{"RevokeByCustomer", revokeCase(store.ScopeCustomer, func(id, other string) store.Session {
		return sessionOf(id, other)
	})},
	{"RevokeByIntegration", revokeCase(store.ScopeIntegration, func(id, other string) store.Session {
		return sessionOf(other, id)
	})},
	{"CountSessions", func(e *env) {
		countIs(e, store.ScopeCustomer, "cust-1", 0)
		countIs(e, store.ScopeIntegration, "integration-1", 0)
		for i := range 5 {
			createSession(e, tokenHash(fmt.Sprint(i)), newSession("cust-1"), long)
			countIs(e, store.ScopeCustomer, "cust-1", i+1)
		}
		createSession(e, tokenHash("short"), newSession("cust-1"), short)
		countIs(e, store.ScopeCustomer, "cust-1", 6)
		countIs(e, store.ScopeIntegration, "integration-1", 6)
		revoke(e, tokenHash("0"), true)
		countIs(e, store.ScopeCustomer, "cust-1", 5)
		e.advance(short + slack)
		countIs(e, store.ScopeCustomer, "cust-1", 4)
		countIs(e, store.ScopeIntegration, "integration-1", 4)
		// Counting changes nothing.
		countIs(e, store.ScopeCustomer, "cust-1", 4)
		getSession(e, tokenHash("1"), true)
	}},
	{"SessionIndexIDs", func(e *env) {
		// Customer and integration IDs, whatever they hold, index apart:
		// from each other, and a customer from an integration of the same
		// ID.
		ids := []string{"x", "{x}", "x}", "{", "%", "%7B", "", "c:x", "i:x", "x:sessions"}
		for i, id := range ids {
			createSession(e, tokenHash(fmt.Sprint("c", i)), sessionOf(id, "integration-1"), long)
			createSession(e, tokenHash(fmt.Sprint("i", i)), sessionOf("cust-1", id), long)
		}
		for _, id := range ids {
			countIs(e, store.ScopeCustomer, id, 1)
			countIs(e, store.ScopeIntegration, id, 1)
		}
		revokeAll(e, store.ScopeCustomer, "x", 1)
		getSession(e, tokenHash("c0"), false)
		getSession(e, tokenHash("i0"), true)
		for _, id := range ids[1:] {
			countIs(e, store.ScopeCustomer, id, 1)
		}
		revokeAll(e, store.ScopeIntegration, "{x}", 1)
		getSession(e, tokenHash("i1"), false)
		getSession(e, tokenHash("c1"), true)
		countIs(e, store.ScopeIntegration, "x", 1)
	}},
	{"BadScope", func(e *env) {
		// Only the customer and integration scopes index sessions.
		h := tokenHash("bad-scope")
		createSession(e, h, newSession("cust-1"), long)
		for _, scope := range []store.LockScope{store.ScopeNone, store.ScopePair, 99} {
			if n, err := e.s.RevokeSessions(e.ctx, scope, "cust-1"); err == nil {
				e.t.Fatalf("RevokeSessions(%v): got %d, nil, want an error", scope, n)
			}
			if n, err := e.s.CountSessions(e.ctx, scope, "cust-1"); err == nil {
				e.t.Fatalf("CountSessions(%v): got %d, nil, want an error", scope, n)
			}
		}
		getSession(e, h, true)
	}},
	{"ScopesIsolation", func(e *env) {
		h := store.HashToken("token-isolation")
		in := newSession("cust-1")
		createSession(e, h, in, long)
		in.Scopes[0] = "changed-after-create"
		got := getSession(e, h, true)
		requireSession(e, got, newSession("cust-1"))
		got.Scopes[0] = "changed-after-get"
		_ = append(got.Scopes[:1], "appended-after-get")
		requireSession(e, getSession(e, h, true), newSession("cust-1"))
	}},
}
