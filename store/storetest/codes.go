package storetest

import (
	"bytes"
	"time"

	"github.com/otpguard/otpguard/store"
	"github.com/stretchr/testify/require"
)

// testExpiresAt is a record expiry with millisecond precision, the precision
// every store keeps.
var testExpiresAt = time.Date(2031, time.January, 2, 3, 4, 5, 678_000_000, time.UTC)

// newCode returns a code record with every field set.
func newCode(id string) store.Code {
	mac := make([]byte, 32)
	for i := range mac {
		mac[i] = byte(i*7 + len(id))
	}
	return store.Code{
		ID:          id,
		MAC:         mac,
		Integration: "integration-1",
		Purpose:     "redeem",
		Channel:     "sms",
		ExpiresAt:   testExpiresAt,
	}
}

// requireCode fails the test unless got equals want in every field but
// Attempts, which must equal attempts.
func requireCode(e *env, got, want store.Code, attempts int) {
	e.t.Helper()
	t := e.t
	if got.ID != want.ID {
		t.Fatalf("ID: got %q, want %q", got.ID, want.ID)
	}
	if !bytes.Equal(got.MAC, want.MAC) {
		t.Fatalf("MAC: got %x, want %x", got.MAC, want.MAC)
	}
	if got.Integration != want.Integration {
		t.Fatalf("Integration: got %q, want %q", got.Integration, want.Integration)
	}
	if got.Purpose != want.Purpose {
		t.Fatalf("Purpose: got %q, want %q", got.Purpose, want.Purpose)
	}
	if got.Channel != want.Channel {
		t.Fatalf("Channel: got %q, want %q", got.Channel, want.Channel)
	}
	if got.Attempts != attempts {
		t.Fatalf("Attempts: got %d, want %d", got.Attempts, attempts)
	}
	if !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("ExpiresAt: got %v, want %v", got.ExpiresAt, want.ExpiresAt)
	}
}

// noLimit is a maxAttempts and a budget no case reaches.
const noLimit = 1 << 30

// attemptWith calls AttemptCode and fails the test on an error or on an
// Attempt that contradicts itself (refused yet found, a negative Locked, or
// a Code without Found).
func attemptWith(e *env, subject string, maxAttempts, budget int, window time.Duration) store.Attempt {
	e.t.Helper()
	a, err := e.s.AttemptCode(e.ctx, subject, maxAttempts, budget, window)
	require.NoError(e.t, err, "AttemptCode(%q)", subject)
	switch {
	case a.Locked < 0:
		e.t.Fatalf("AttemptCode(%q) Locked: got %v, want >= 0", subject, a.Locked)
	case a.Locked > 0 && a.Found:
		e.t.Fatalf("AttemptCode(%q): got Found with Locked %v, want a refusal to find nothing", subject, a.Locked)
	case !a.Found && (a.Code.ID != "" || a.Code.Attempts != 0 || a.Code.MAC != nil):
		e.t.Fatalf("AttemptCode(%q) Code when not found: got %+v, want the zero Code", subject, a.Code)
	}
	return a
}

// attempt calls AttemptCode with limits no case reaches, and fails the test
// on an error, on a refusal, or when Found is not wantFound.
func attempt(e *env, subject string, wantFound bool) store.Code {
	e.t.Helper()
	a := attemptWith(e, subject, noLimit, noLimit, long)
	if a.Locked != 0 {
		e.t.Fatalf("AttemptCode(%q) Locked: got %v, want 0", subject, a.Locked)
	}
	if a.Found != wantFound {
		e.t.Fatalf("AttemptCode(%q) found: got %v, want %v", subject, a.Found, wantFound)
	}
	return a.Code
}

// counted calls AttemptCode and fails the test unless the attempt was
// counted (Found, not refused); it returns the code.
func counted(e *env, subject string, maxAttempts, budget int, window time.Duration) store.Code {
	e.t.Helper()
	a := attemptWith(e, subject, maxAttempts, budget, window)
	if a.Locked != 0 || !a.Found {
		e.t.Fatalf("AttemptCode(%q, max %d, budget %d): got Found %v, Locked %v, want a counted attempt", subject, maxAttempts, budget, a.Found, a.Locked)
	}
	return a.Code
}

// refusedAttempt calls AttemptCode and fails the test unless it refuses
// with Locked in (0, max]; it returns Locked.
func refusedAttempt(e *env, subject string, maxAttempts, budget int, window, max time.Duration) time.Duration {
	e.t.Helper()
	a := attemptWith(e, subject, maxAttempts, budget, window)
	if a.Found {
		e.t.Fatalf("AttemptCode(%q, max %d, budget %d): got Found with Attempts %d, want a refusal", subject, maxAttempts, budget, a.Code.Attempts)
	}
	within(e.t, "AttemptCode Locked", a.Locked, 0, max)
	return a.Locked
}

// putCode calls PutCode and fails the test on an error.
func putCode(e *env, subject string, c store.Code, ttl time.Duration) {
	e.t.Helper()
	require.NoError(e.t, e.s.PutCode(e.ctx, subject, c, ttl), "PutCode(%q)", subject)
}

// consume calls ConsumeCode and fails the test on an error or when deleted
// is not want.
func consume(e *env, subject, id string, want bool) {
	e.t.Helper()
	deleted, err := e.s.ConsumeCode(e.ctx, subject, id)
	require.NoError(e.t, err, "ConsumeCode(%q, %q)", subject, id)
	if deleted != want {
		e.t.Fatalf("ConsumeCode(%q, %q): got %v, want %v", subject, id, deleted, want)
	}
}

var codeCases = []testCase{
	{"AttemptCounts", func(e *env) {
		want := newCode("c1")
		putCode(e, "phone:+5511987654321", want, long)
		for n := 1; n <= 3; n++ {
			got := attempt(e, "phone:+5511987654321", true)
			requireCode(e, got, want, n)
		}
	}},
	{"AttemptMissing", func(e *env) {
		// attempt checks that a miss returns the zero Code.
		attempt(e, "phone:+5511900000000", false)
		// A miss must not create a record.
		attempt(e, "phone:+5511900000000", false)
	}},
	{"RoundTrip", func(e *env) {
		want := newCode("round-trip-id")
		putCode(e, "email:maria@example.com", want, long)
		requireCode(e, attempt(e, "email:maria@example.com", true), want, 1)

		// Empty optional fields come back empty.
		bare := store.Code{ID: "bare", MAC: []byte{1}, Integration: "i", ExpiresAt: testExpiresAt}
		putCode(e, "email:bare@example.com", bare, long)
		requireCode(e, attempt(e, "email:bare@example.com", true), bare, 1)
	}},
	{"PutReplaces", func(e *env) {
		putCode(e, "cpf:12345678909", newCode("old"), long)
		attempt(e, "cpf:12345678909", true)
		attempt(e, "cpf:12345678909", true)
		fresh := newCode("new")
		fresh.MAC = bytes.Repeat([]byte{0xAB}, 32)
		fresh.Channel = "email"
		putCode(e, "cpf:12345678909", fresh, long)
		requireCode(e, attempt(e, "cpf:12345678909", true), fresh, 1)
		consume(e, "cpf:12345678909", "old", false)
		attempt(e, "cpf:12345678909", true)
	}},
	{"ConsumeWrongID", func(e *env) {
		want := newCode("right")
		putCode(e, "s", want, long)
		consume(e, "s", "wrong", false)
		consume(e, "s", "", false)
		requireCode(e, attempt(e, "s", true), want, 1)
	}},
	{"ConsumeRightID", func(e *env) {
		putCode(e, "s", newCode("right"), long)
		consume(e, "s", "right", true)
		consume(e, "s", "right", false)
		attempt(e, "s", false)
	}},
	{"ConsumeMissing", func(e *env) {
		consume(e, "nobody", "any", false)
	}},
	{"Expiry", func(e *env) {
		putCode(e, "s", newCode("c"), short)
		attempt(e, "s", true)
		e.advance(step)
		attempt(e, "s", true)
		e.advance(short - step + slack)
		attempt(e, "s", false)
		consume(e, "s", "c", false)
	}},
	{"ExpiryAfterAttempt", func(e *env) {
		// Counting an attempt must not extend the code's life.
		putCode(e, "s", newCode("c"), short)
		e.advance(step)
		attempt(e, "s", true)
		e.advance(short - step + slack)
		attempt(e, "s", false)
	}},
	{"PutRenewsTTL", func(e *env) {
		putCode(e, "s", newCode("a"), short)
		e.advance(step)
		putCode(e, "s", newCode("b"), short)
		e.advance(short - step + slack)
		requireCode(e, attempt(e, "s", true), newCode("b"), 1)
	}},
	{"ValueIsolation", func(e *env) {
		in := newCode("c")
		putCode(e, "s", in, long)
		want := newCode("c")
		in.MAC[0] ^= 0xFF // the caller reuses its buffer
		got := attempt(e, "s", true)
		requireCode(e, got, want, 1)
		got.MAC[1] ^= 0xFF // the caller scribbles on the result
		requireCode(e, attempt(e, "s", true), want, 2)
	}},
	{"SubjectsIndependent", func(e *env) {
		putCode(e, "a", newCode("ca"), long)
		putCode(e, "b", newCode("cb"), long)
		attempt(e, "a", true)
		attempt(e, "a", true)
		requireCode(e, attempt(e, "b", true), newCode("cb"), 1)
		consume(e, "a", "ca", true)
		requireCode(e, attempt(e, "b", true), newCode("cb"), 2)
		consume(e, "b", "ca", false)
	}},
}
