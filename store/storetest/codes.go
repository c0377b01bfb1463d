package storetest

import (
	"bytes"
	"fmt"
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

// The pairs most cases use: three integrations on one subject.
var (
	pa = store.Pair{Integration: "integration-a", Subject: "s"}
	pb = store.Pair{Integration: "integration-b", Subject: "s"}
	pc = store.Pair{Integration: "integration-c", Subject: "s"}
)

// pairOf returns the pair of integration-a and subject.
func pairOf(subject string) store.Pair {
	return store.Pair{Integration: "integration-a", Subject: subject}
}

// noLimit is a maxAttempts and a budget limit no case reaches.
const noLimit = 1 << 30

// unlimited is a failure budget no case reaches.
var unlimited = store.Budget{Limit: noLimit, Window: long, LockFor: long}

// open is Budgets no case reaches.
var open = store.Budgets{MaxAttempts: noLimit, Pair: unlimited, Customer: unlimited}

// pairBudget returns Budgets of maxAttempts and a pair budget of limit
// failures per window that locks for lockFor, with a customer budget no
// case reaches.
func pairBudget(maxAttempts, limit int, window, lockFor time.Duration) store.Budgets {
	return store.Budgets{
		MaxAttempts: maxAttempts,
		Pair:        store.Budget{Limit: limit, Window: window, LockFor: lockFor},
		Customer:    unlimited,
	}
}

// customerBudget returns Budgets of a customer budget of limit consecutive
// failures, kept for window, that locks for lockFor, with no limit on
// attempts or on the pair.
func customerBudget(limit int, window, lockFor time.Duration) store.Budgets {
	return store.Budgets{
		MaxAttempts: noLimit,
		Pair:        unlimited,
		Customer:    store.Budget{Limit: limit, Window: window, LockFor: lockFor},
	}
}

// checkLock returns an error unless l is the zero Lock or a pair or
// customer lock with a positive Remaining.
func checkLock(what string, l store.Lock) error {
	switch {
	case l == store.Lock{}:
		return nil
	case l.Remaining <= 0:
		return fmt.Errorf("%s: got %v Remaining %v, want the zero Lock or a positive Remaining", what, l.Scope, l.Remaining)
	case l.Scope != store.ScopePair && l.Scope != store.ScopeCustomer:
		return fmt.Errorf("%s: got scope %v, want %v or %v", what, l.Scope, store.ScopePair, store.ScopeCustomer)
	}
	return nil
}

// checkAttempt returns an error when a contradicts itself: a bad Lock, a
// Lock with Set (only Fail sets it), refused yet found, or a Code without
// Found.
func checkAttempt(what string, a store.Attempt) error {
	if err := checkLock(what+" Lock", a.Lock); err != nil {
		return err
	}
	switch {
	case a.Lock.Set:
		return fmt.Errorf("%s Lock.Set: got true, want false (only Fail reports Set)", what)
	case a.Lock.Locked() && a.Found:
		return fmt.Errorf("%s: got Found with Lock %v %v, want a refusal to find nothing", what, a.Lock.Scope, a.Lock.Remaining)
	case !a.Found && (a.Code.ID != "" || a.Code.Attempts != 0 || a.Code.MAC != nil):
		return fmt.Errorf("%s Code when not found: got %+v, want the zero Code", what, a.Code)
	}
	return nil
}

// attemptWith calls AttemptCode and fails the test on an error or on an
// Attempt that contradicts itself (see checkAttempt).
func attemptWith(e *env, p store.Pair, b store.Budgets) store.Attempt {
	e.t.Helper()
	a, err := e.s.AttemptCode(e.ctx, p, b)
	require.NoError(e.t, err, "AttemptCode(%v)", p)
	if err := checkAttempt(fmt.Sprintf("AttemptCode(%v)", p), a); err != nil {
		e.t.Fatal(err)
	}
	return a
}

// attempt calls AttemptCode with budgets no case reaches, and fails the
// test on an error, on a refusal, or when Found is not wantFound.
func attempt(e *env, p store.Pair, wantFound bool) store.Code {
	e.t.Helper()
	a := attemptWith(e, p, open)
	if a.Lock.Locked() {
		e.t.Fatalf("AttemptCode(%v) Lock: got %v %v, want none", p, a.Lock.Scope, a.Lock.Remaining)
	}
	if a.Found != wantFound {
		e.t.Fatalf("AttemptCode(%v) found: got %v, want %v", p, a.Found, wantFound)
	}
	return a.Code
}

// counted calls AttemptCode and fails the test unless the attempt was
// counted (Found, not refused); it returns the code.
func counted(e *env, p store.Pair, b store.Budgets) store.Code {
	e.t.Helper()
	a := attemptWith(e, p, b)
	if a.Lock.Locked() || !a.Found {
		e.t.Fatalf("AttemptCode(%v, %+v): got Found %v, Lock %v %v, want a counted attempt", p, b, a.Found, a.Lock.Scope, a.Lock.Remaining)
	}
	return a.Code
}

// refusedAttempt calls AttemptCode and fails the test unless it refuses
// with a Lock of scope and Remaining in (0, max]; it returns Remaining.
func refusedAttempt(e *env, p store.Pair, b store.Budgets, scope store.LockScope, max time.Duration) time.Duration {
	e.t.Helper()
	a := attemptWith(e, p, b)
	if !a.Lock.Locked() {
		e.t.Fatalf("AttemptCode(%v, %+v): got Found %v with Attempts %d, want a %v refusal", p, b, a.Found, a.Code.Attempts, scope)
	}
	if a.Lock.Scope != scope {
		e.t.Fatalf("AttemptCode(%v) Lock.Scope: got %v, want %v", p, a.Lock.Scope, scope)
	}
	within(e.t, "AttemptCode Lock.Remaining", a.Lock.Remaining, 0, max)
	return a.Lock.Remaining
}

// refusedExactly calls AttemptCode and fails the test unless it refuses
// with a Lock of scope and Remaining equal to want.
func refusedExactly(e *env, p store.Pair, b store.Budgets, scope store.LockScope, want time.Duration) {
	e.t.Helper()
	if got := refusedAttempt(e, p, b, scope, want); got != want {
		e.t.Fatalf("AttemptCode(%v) Lock.Remaining: got %v, want %v", p, got, want)
	}
}

// putCode calls PutCode and fails the test on an error.
func putCode(e *env, p store.Pair, c store.Code, ttl time.Duration) {
	e.t.Helper()
	require.NoError(e.t, e.s.PutCode(e.ctx, p, c, ttl), "PutCode(%v)", p)
}

// consume calls ConsumeCode and fails the test on an error or when deleted
// is not want.
func consume(e *env, p store.Pair, id string, want bool) {
	e.t.Helper()
	deleted, err := e.s.ConsumeCode(e.ctx, p, id)
	require.NoError(e.t, err, "ConsumeCode(%v, %q)", p, id)
	if deleted != want {
		e.t.Fatalf("ConsumeCode(%v, %q): got %v, want %v", p, id, deleted, want)
	}
}

var codeCases = []testCase{
	{"AttemptCounts", func(e *env) {
		want := newCode("c1")
		p := pairOf("phone:+5511987654321")
		putCode(e, p, want, long)
		for n := 1; n <= 3; n++ {
			got := attempt(e, p, true)
			requireCode(e, got, want, n)
		}
	}},
	{"AttemptMissing", func(e *env) {
		// attempt checks that a miss returns the zero Code.
		attempt(e, pairOf("phone:+5511900000000"), false)
		// A miss must not create a record.
		attempt(e, pairOf("phone:+5511900000000"), false)
	}},
	{"RoundTrip", func(e *env) {
		want := newCode("round-trip-id")
		putCode(e, pairOf("email:maria@example.com"), want, long)
		requireCode(e, attempt(e, pairOf("email:maria@example.com"), true), want, 1)

		// Empty optional fields come back empty.
		bare := store.Code{ID: "bare", MAC: []byte{1}, Integration: "i", ExpiresAt: testExpiresAt}
		putCode(e, pairOf("email:bare@example.com"), bare, long)
		requireCode(e, attempt(e, pairOf("email:bare@example.com"), true), bare, 1)
	}},
	{"PutReplaces", func(e *env) {
		p := pairOf("cpf:12345678909")
		putCode(e, p, newCode("old"), long)
		attempt(e, p, true)
		attempt(e, p, true)
		fresh := newCode("new")
		fresh.MAC = bytes.Repeat([]byte{0xAB}, 32)
		fresh.Channel = "email"
		putCode(e, p, fresh, long)
		requireCode(e, attempt(e, p, true), fresh, 1)
		consume(e, p, "old", false)
		attempt(e, p, true)
	}},
	{"ConsumeWrongID", func(e *env) {
		want := newCode("right")
		putCode(e, pa, want, long)
		consume(e, pa, "wrong", false)
		consume(e, pa, "", false)
		requireCode(e, attempt(e, pa, true), want, 1)
	}},
	{"ConsumeRightID", func(e *env) {
		putCode(e, pa, newCode("right"), long)
		consume(e, pa, "right", true)
		consume(e, pa, "right", false)
		attempt(e, pa, false)
	}},
	{"ConsumeMissing", func(e *env) {
		consume(e, pairOf("nobody"), "any", false)
	}},
	{"Expiry", func(e *env) {
		putCode(e, pa, newCode("c"), short)
		attempt(e, pa, true)
		e.advance(step)
		attempt(e, pa, true)
		e.advance(short - step + slack)
		attempt(e, pa, false)
		consume(e, pa, "c", false)
	}},
	{"ExpiryAfterAttempt", func(e *env) {
		// Counting an attempt must not extend the code's life.
		putCode(e, pa, newCode("c"), short)
		e.advance(step)
		attempt(e, pa, true)
		e.advance(short - step + slack)
		attempt(e, pa, false)
	}},
	{"PutRenewsTTL", func(e *env) {
		putCode(e, pa, newCode("a"), short)
		e.advance(step)
		putCode(e, pa, newCode("b"), short)
		e.advance(short - step + slack)
		requireCode(e, attempt(e, pa, true), newCode("b"), 1)
	}},
	{"ValueIsolation", func(e *env) {
		in := newCode("c")
		putCode(e, pa, in, long)
		want := newCode("c")
		in.MAC[0] ^= 0xFF // the caller reuses its buffer
		got := attempt(e, pa, true)
		requireCode(e, got, want, 1)
		got.MAC[1] ^= 0xFF // the caller scribbles on the result
		requireCode(e, attempt(e, pa, true), want, 2)
	}},
	{"SubjectsIndependent", func(e *env) {
		a, b := pairOf("a"), pairOf("b")
		putCode(e, a, newCode("ca"), long)
		putCode(e, b, newCode("cb"), long)
		attempt(e, a, true)
		attempt(e, a, true)
		requireCode(e, attempt(e, b, true), newCode("cb"), 1)
		consume(e, a, "ca", true)
		requireCode(e, attempt(e, b, true), newCode("cb"), 2)
		consume(e, b, "ca", false)
	}},
	{"PairsHaveOwnCodes", func(e *env) {
		// Two integrations on one subject each keep their own code: a
		// PutCode replaces only its pair's code, attempts count only on
		// it, and a consume deletes only it.
		putCode(e, pa, newCode("ca"), long)
		putCode(e, pb, newCode("cb"), long)
		requireCode(e, attempt(e, pa, true), newCode("ca"), 1)
		requireCode(e, attempt(e, pb, true), newCode("cb"), 1)
		putCode(e, pa, newCode("ca2"), long)
		requireCode(e, attempt(e, pb, true), newCode("cb"), 2)
		requireCode(e, attempt(e, pa, true), newCode("ca2"), 1)
		attempt(e, pc, false)
		consume(e, pb, "ca2", false)
		consume(e, pa, "cb", false)
		consume(e, pa, "ca2", true)
		requireCode(e, attempt(e, pb, true), newCode("cb"), 3)
		attempt(e, pa, false)
		consume(e, pb, "cb", true)
		attempt(e, pb, false)
	}},
	{"BurnStaysInPair", func(e *env) {
		// One integration burning its code neither burns nor charges
		// another's code on the same subject.
		b := pairBudget(2, noLimit, long, long)
		putCode(e, pa, newCode("ca"), long)
		putCode(e, pb, newCode("cb"), long)
		for n := 1; n <= 5; n++ {
			requireCode(e, counted(e, pa, b), newCode("ca"), n)
		}
		requireCode(e, counted(e, pb, b), newCode("cb"), 1)
		requireCode(e, counted(e, pb, b), newCode("cb"), 2)
	}},
}
