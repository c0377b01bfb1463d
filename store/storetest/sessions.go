package storetest

import (
	"slices"
	"time"

	"github.com/otpguard/otpguard/store"
	"github.com/stretchr/testify/require"
)

// newSession returns a session record with every field set.
func newSession(customer string) store.Session {
	return store.Session{
		Integration: "integration-1",
		CustomerID:  customer,
		Subject:     "phone:+5511987654321",
		Purpose:     "redeem",
		Scopes:      []string{"rewards:redeem", "points:transfer"},
		ExpiresAt:   testExpiresAt,
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
	if got.Subject != want.Subject {
		t.Fatalf("Subject: got %q, want %q", got.Subject, want.Subject)
	}
	if got.Purpose != want.Purpose {
		t.Fatalf("Purpose: got %q, want %q", got.Purpose, want.Purpose)
	}
	if !slices.Equal(got.Scopes, want.Scopes) {
		t.Fatalf("Scopes: got %q, want %q", got.Scopes, want.Scopes)
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
		want.Purpose = ""
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
