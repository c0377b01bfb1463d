package storetest

import (
	"fmt"
	"time"

	"github.com/otpguard/otpguard/store"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// fail calls Fail and returns the lock it reports, failing the test on an
// error or a Lock that contradicts itself.
func fail(e *env, p store.Pair, b store.Budgets) store.Lock {
	e.t.Helper()
	l, err := e.s.Fail(e.ctx, p, b)
	require.NoError(e.t, err, "Fail(%v)", p)
	if err := checkLock(fmt.Sprintf("Fail(%v)", p), l); err != nil {
		e.t.Fatal(err)
	}
	return l
}

// failOpen calls Fail and fails the test unless it reports no lock.
func failOpen(e *env, p store.Pair, b store.Budgets) {
	e.t.Helper()
	if l := fail(e, p, b); l.Locked() {
		e.t.Fatalf("Fail(%v): got a %v lock of %v, want none", p, l.Scope, l.Remaining)
	}
}

// failLock calls Fail and fails the test unless it reports a lock of scope
// with Remaining in (0, max] and Set equal to set; it returns Remaining.
func failLock(e *env, p store.Pair, b store.Budgets, scope store.LockScope, set bool, max time.Duration) time.Duration {
	e.t.Helper()
	l := fail(e, p, b)
	if l.Scope != scope {
		e.t.Fatalf("Fail(%v) lock: got %v %v, want a %v lock", p, l.Scope, l.Remaining, scope)
	}
	if l.Set != set {
		e.t.Fatalf("Fail(%v) %v lock Set: got %v, want %v", p, l.Scope, l.Set, set)
	}
	within(e.t, "Fail lock", l.Remaining, 0, max)
	return l.Remaining
}

// failSets calls Fail and fails the test unless it reports that it set the
// lock in force, a lock of scope with Remaining in (0, max]; it returns
// Remaining.
func failSets(e *env, p store.Pair, b store.Budgets, scope store.LockScope, max time.Duration) time.Duration {
	e.t.Helper()
	return failLock(e, p, b, scope, true, max)
}

// failFinds calls Fail and fails the test unless it reports a lock in force
// of scope with Remaining in (0, max] that it did not set (Set false); it
// returns Remaining.
func failFinds(e *env, p store.Pair, b store.Budgets, scope store.LockScope, max time.Duration) time.Duration {
	e.t.Helper()
	return failLock(e, p, b, scope, false, max)
}

// wrong does what a service does with a wrong code: AttemptCode, which
// must count, then Fail. It returns Fail's lock.
func wrong(e *env, p store.Pair, b store.Budgets) store.Lock {
	e.t.Helper()
	counted(e, p, b)
	return fail(e, p, b)
}

// wrongOpen is wrong, and fails the test if Fail reports a lock.
func wrongOpen(e *env, p store.Pair, b store.Budgets) {
	e.t.Helper()
	if l := wrong(e, p, b); l.Locked() {
		e.t.Fatalf("Fail(%v) after a wrong code: got a %v lock of %v, want none", p, l.Scope, l.Remaining)
	}
}

// locked calls Locked and fails the test unless the lock's scope is scope
// (ScopeNone: the zero Lock) with Remaining in (0, max]; it returns
// Remaining.
func locked(e *env, p store.Pair, scope store.LockScope, max time.Duration) time.Duration {
	e.t.Helper()
	l, err := e.s.Locked(e.ctx, p)
	require.NoError(e.t, err, "Locked(%v)", p)
	if err := checkLock(fmt.Sprintf("Locked(%v)", p), l); err != nil {
		e.t.Fatal(err)
	}
	if l.Set {
		e.t.Fatalf("Locked(%v) Set: got true, want false (only Fail reports Set)", p)
	}
	if l.Scope != scope {
		e.t.Fatalf("Locked(%v): got %v %v, want %v", p, l.Scope, l.Remaining, scope)
	}
	if scope != store.ScopeNone {
		within(e.t, "Locked Remaining", l.Remaining, 0, max)
	}
	return l.Remaining
}

// succeed calls Succeed and fails the test on an error.
func succeed(e *env, p store.Pair) {
	e.t.Helper()
	require.NoError(e.t, e.s.Succeed(e.ctx, p), "Succeed(%v)", p)
}

// allowedFunc is the shape of Cooldown, Hit and Take once their arguments are
// bound.
type allowedFunc func() (bool, time.Duration, error)

// allowed calls f and fails the test unless it allows with retryAfter 0.
func allowed(e *env, what string, f allowedFunc) {
	e.t.Helper()
	ok, retry, err := f()
	require.NoError(e.t, err, what)
	if !ok {
		e.t.Fatalf("%s allowed: got false (retry after %v), want true", what, retry)
	}
	if retry != 0 {
		e.t.Fatalf("%s retryAfter when allowed: got %v, want 0", what, retry)
	}
}

// refused calls f and fails the test unless it refuses with retryAfter in
// (0, max]; it returns retryAfter.
func refused(e *env, what string, max time.Duration, f allowedFunc) time.Duration {
	e.t.Helper()
	ok, retry, err := f()
	require.NoError(e.t, err, what)
	if ok {
		e.t.Fatalf("%s allowed: got true, want false", what)
	}
	within(e.t, what+" retryAfter", retry, 0, max)
	return retry
}

// cooldownOf binds Cooldown's arguments.
func cooldownOf(e *env, key string, d time.Duration) allowedFunc {
	return func() (bool, time.Duration, error) { return e.s.Cooldown(e.ctx, key, d) }
}

// checkWindow returns an error when w contradicts itself: allowed with a
// RetryAfter or with Left outside [0, limit), or refused with a Left.
func checkWindow(what string, w store.Window, limit int) error {
	switch {
	case w.Allowed && w.RetryAfter != 0:
		return fmt.Errorf("%s RetryAfter when allowed: got %v, want 0", what, w.RetryAfter)
	case w.Allowed && (w.Left < 0 || w.Left >= limit):
		return fmt.Errorf("%s Left when allowed: got %d, want in [0, %d)", what, w.Left, limit)
	case !w.Allowed && w.Left != 0:
		return fmt.Errorf("%s Left when refused: got %d, want 0", what, w.Left)
	case !w.Allowed && w.RetryAfter < 0:
		return fmt.Errorf("%s RetryAfter when refused: got %v, want >= 0", what, w.RetryAfter)
	}
	return nil
}

// hit calls Hit and fails the test on an error or a Window that
// contradicts itself (see checkWindow).
func hit(e *env, key string, limit int, window time.Duration) store.Window {
	e.t.Helper()
	w, err := e.s.Hit(e.ctx, key, limit, window)
	require.NoError(e.t, err, "Hit(%q)", key)
	if err := checkWindow(fmt.Sprintf("Hit(%q)", key), w, limit); err != nil {
		e.t.Fatal(err)
	}
	return w
}

// hitLeft calls Hit and fails the test unless it allows with Left equal to
// left.
func hitLeft(e *env, key string, limit int, window time.Duration, left int) {
	e.t.Helper()
	w := hit(e, key, limit, window)
	if !w.Allowed || w.Left != left {
		e.t.Fatalf("Hit(%q, %d): got Allowed %v, Left %d, want allowed with Left %d", key, limit, w.Allowed, w.Left, left)
	}
}

// hitOf binds Hit's arguments, for allowed and refused.
func hitOf(e *env, key string, limit int, window time.Duration) allowedFunc {
	return func() (bool, time.Duration, error) {
		w, err := e.s.Hit(e.ctx, key, limit, window)
		if err == nil {
			err = checkWindow(fmt.Sprintf("Hit(%q)", key), w, limit)
		}
		return w.Allowed, w.RetryAfter, err
	}
}

// peek calls Peek and fails the test on an error or a Window that
// contradicts itself. Peek's Left counts the event it would allow, so it
// is checked against limit+1.
func peek(e *env, key string, limit int) store.Window {
	e.t.Helper()
	w, err := e.s.Peek(e.ctx, key, limit)
	require.NoError(e.t, err, "Peek(%q)", key)
	if err := checkWindow(fmt.Sprintf("Peek(%q)", key), w, limit+1); err != nil {
		e.t.Fatal(err)
	}
	if w.Allowed && w.Left < 1 {
		e.t.Fatalf("Peek(%q) Left when allowed: got %d, want at least 1", key, w.Left)
	}
	return w
}

// peekLeft calls Peek and fails the test unless it would allow with Left
// equal to left.
func peekLeft(e *env, key string, limit, left int) {
	e.t.Helper()
	w := peek(e, key, limit)
	if !w.Allowed || w.Left != left {
		e.t.Fatalf("Peek(%q, %d): got Allowed %v, Left %d, want allowed with Left %d", key, limit, w.Allowed, w.Left, left)
	}
}

// peekRefused calls Peek and fails the test unless it would refuse with
// RetryAfter in (0, max]; it returns RetryAfter.
func peekRefused(e *env, key string, limit int, max time.Duration) time.Duration {
	e.t.Helper()
	w := peek(e, key, limit)
	if w.Allowed {
		e.t.Fatalf("Peek(%q, %d): got allowed with Left %d, want refused", key, limit, w.Left)
	}
	within(e.t, "Peek RetryAfter", w.RetryAfter, 0, max)
	return w.RetryAfter
}

// refund calls Refund and fails the test on an error.
func refund(e *env, key string) {
	e.t.Helper()
	require.NoError(e.t, e.s.Refund(e.ctx, key), "Refund(%q)", key)
}

// takeOf binds Take's arguments.
func takeOf(e *env, key string, r rate.Limit, burst int) allowedFunc {
	return func() (bool, time.Duration, error) { return e.s.Take(e.ctx, key, r, burst) }
}

// takeRate is the refill rate of the buckets the suite drains: one token
// every takePeriod.
const takeRate = rate.Limit(5)

// takePeriod is 1/takeRate, the same as short.
const takePeriod = 200 * time.Millisecond

// pairCases are the cases of one pair's failure budget and lock, with a
// customer budget no case reaches.
var pairCases = []testCase{
	{"AttemptChargesBudget", func(e *env) {
		// Every counted attempt charges the pair's failure budget. Once
		// it is spent AttemptCode refuses until the window ends and
		// counts nothing; Succeed restores the whole budget.
		b := pairBudget(noLimit, 3, long, long)
		want := newCode("c")
		putCode(e, pa, want, long)
		for n := 1; n <= 3; n++ {
			requireCode(e, counted(e, pa, b), want, n)
		}
		refusedAttempt(e, pa, b, store.ScopePair, long)
		refusedAttempt(e, pa, b, store.ScopePair, long)
		locked(e, pa, store.ScopeNone, 0) // a spent budget is not a lock
		succeed(e, pa)
		for n := 4; n <= 6; n++ {
			requireCode(e, counted(e, pa, b), want, n)
		}
		refusedAttempt(e, pa, b, store.ScopePair, long)
	}},
	{"BudgetWindowIsFixed", func(e *env) {
		// The window starts with the first count; later counts do not
		// extend it. A refusal reports the rest of the window.
		b := pairBudget(noLimit, 2, short, short)
		want := newCode("c")
		putCode(e, pa, want, long)
		counted(e, pa, b)
		e.advance(step)
		counted(e, pa, b)
		refusedAttempt(e, pa, b, store.ScopePair, short-step)
		e.advance(short - step + slack)
		requireCode(e, counted(e, pa, b), want, 3)
		counted(e, pa, b)
		refusedAttempt(e, pa, b, store.ScopePair, short)
	}},
	{"BudgetSpentBeforeMissingCode", func(e *env) {
		// A spent budget refuses before the code is looked up.
		b := pairBudget(noLimit, 1, long, long)
		putCode(e, pa, newCode("c"), long)
		counted(e, pa, b)
		consume(e, pa, "c", true)
		refusedAttempt(e, pa, b, store.ScopePair, long)
	}},
	{"MissingCodeCountsNothing", func(e *env) {
		b := pairBudget(noLimit, 1, long, long)
		for range 3 {
			a := attemptWith(e, pa, b)
			if a.Found || a.Lock.Locked() {
				e.t.Fatalf("AttemptCode without a code: got Found %v, Lock %v %v, want neither", a.Found, a.Lock.Scope, a.Lock.Remaining)
			}
		}
		putCode(e, pa, newCode("c"), long)
		requireCode(e, counted(e, pa, b), newCode("c"), 1)
		refusedAttempt(e, pa, b, store.ScopePair, long)
	}},
	{"BurnedCodeDoesNotCharge", func(e *env) {
		// Attempts past MaxAttempts are counted on the code, and
		// returned, but charge neither the pair's budget nor the
		// customer's.
		b := store.Budgets{
			MaxAttempts: 2,
			Pair:        store.Budget{Limit: 3, Window: long, LockFor: long},
			Customer:    store.Budget{Limit: 3, Window: long, LockFor: long},
		}
		burned := newCode("burned")
		putCode(e, pa, burned, long)
		for n := 1; n <= 6; n++ {
			requireCode(e, counted(e, pa, b), burned, n)
		}
		// Two of three charged on each budget: the next code gets one
		// attempt, which spends both. With both spent the customer's
		// refuses first, on every pair.
		fresh := newCode("fresh")
		putCode(e, pa, fresh, long)
		requireCode(e, counted(e, pa, b), fresh, 1)
		refusedExactly(e, pa, b, store.ScopeCustomer, long)
		putCode(e, pb, newCode("other"), long)
		refusedExactly(e, pb, b, store.ScopeCustomer, long)
		// Under a customer budget not yet spent, the pair's refuses: it
		// was charged three times, and b's not at all.
		pairOnly := b
		pairOnly.Customer = unlimited
		refusedAttempt(e, pa, pairOnly, store.ScopePair, long)
		requireCode(e, counted(e, pb, pairOnly), newCode("other"), 1)
	}},
	{"ZeroBudget", func(e *env) {
		// A pair budget below 1 refuses every attempt, for at most a
		// window.
		putCode(e, pa, newCode("c"), long)
		refusedAttempt(e, pa, pairBudget(noLimit, 0, short, short), store.ScopePair, short)
		refusedAttempt(e, pa, pairBudget(noLimit, -1, short, short), store.ScopePair, short)
		requireCode(e, attempt(e, pa, true), newCode("c"), 1)
	}},
	{"LockedPairCountsNothing", func(e *env) {
		// While the pair is locked AttemptCode refuses, whatever the
		// budget, and counts nothing on the code or the budget.
		b := pairBudget(noLimit, 1, short, short)
		want := newCode("c")
		putCode(e, pa, want, long)
		counted(e, pa, b)
		failSets(e, pa, b, store.ScopePair, short)
		for range 3 {
			refusedAttempt(e, pa, open, store.ScopePair, short)
		}
		e.advance(short + slack)
		locked(e, pa, store.ScopeNone, 0)
		requireCode(e, counted(e, pa, b), want, 2)
		refusedAttempt(e, pa, b, store.ScopePair, short)
	}},
	{"LockBeforeMissingCode", func(e *env) {
		// A lock refuses before the code is looked up.
		b := pairBudget(noLimit, 1, long, long)
		putCode(e, pa, newCode("c"), long)
		counted(e, pa, b)
		failSets(e, pa, b, store.ScopePair, long)
		consume(e, pa, "c", true)
		refusedAttempt(e, pa, open, store.ScopePair, long)
	}},
	{"FailBelowLimitChangesNothing", func(e *env) {
		// Fail does not count: only AttemptCode does.
		b := pairBudget(noLimit, 3, long, long)
		putCode(e, pa, newCode("c"), long)
		counted(e, pa, b)
		counted(e, pa, b)
		for range 5 {
			failOpen(e, pa, b)
		}
		locked(e, pa, store.ScopeNone, 0)
		requireCode(e, counted(e, pa, b), newCode("c"), 3)
		failSets(e, pa, b, store.ScopePair, long)
		locked(e, pa, store.ScopePair, long)
	}},
	{"FailLockForOutlastsWindow", func(e *env) {
		// LockFor is longer than the rest of the window: the lock is
		// LockFor.
		b := pairBudget(noLimit, 1, short, long)
		putCode(e, pa, newCode("c"), long)
		counted(e, pa, b)
		failSets(e, pa, b, store.ScopePair, long)
		within(e.t, "Fail lock", locked(e, pa, store.ScopePair, long), long-time.Second, long)
	}},
	{"FailWindowOutlastsLockFor", func(e *env) {
		// The rest of the window is longer than LockFor: the lock lasts
		// until the window ends, so no more than Limit wrong codes are
		// judged in one window.
		b := pairBudget(noLimit, 1, long, short)
		putCode(e, pa, newCode("c"), long)
		counted(e, pa, b)
		within(e.t, "Fail lock", failSets(e, pa, b, store.ScopePair, long), long-time.Second, long)
		within(e.t, "Locked Remaining", locked(e, pa, store.ScopePair, long), long-time.Second, long)
	}},
	{"FailLockClearsCount", func(e *env) {
		// The lock (here until the window ends, later than LockFor)
		// clears the count and counts nothing: once it is over, the whole
		// budget is back. (The window has ended by then too; the stores'
		// own tests check that the count is deleted.)
		b := pairBudget(noLimit, 3, short, step)
		want := newCode("c")
		putCode(e, pa, want, long)
		for range 3 {
			counted(e, pa, b)
		}
		within(e.t, "Fail lock", failSets(e, pa, b, store.ScopePair, short), step, short)
		refusedAttempt(e, pa, b, store.ScopePair, short)
		e.advance(short + slack)
		locked(e, pa, store.ScopeNone, 0)
		for n := 4; n <= 6; n++ {
			requireCode(e, counted(e, pa, b), want, n)
		}
		refusedAttempt(e, pa, b, store.ScopePair, short)
	}},
	{"FailWhileLocked", func(e *env) {
		// During a lock Fail and AttemptCode report the remaining lock,
		// which that Fail did not set (Set false); a Fail with a longer
		// LockFor does not extend it.
		b := pairBudget(noLimit, 1, short, short)
		putCode(e, pa, newCode("c"), long)
		counted(e, pa, b)
		failSets(e, pa, b, store.ScopePair, short)
		e.advance(step)
		locked(e, pa, store.ScopePair, short-step)
		failFinds(e, pa, pairBudget(noLimit, 1, long, long), store.ScopePair, short-step)
		refusedAttempt(e, pa, b, store.ScopePair, short-step)
		e.advance(short - step + slack)
		locked(e, pa, store.ScopeNone, 0)
		failOpen(e, pa, pairBudget(noLimit, 1, long, long))
	}},
	{"SucceedKeepsLock", func(e *env) {
		b := pairBudget(noLimit, 1, long, long)
		putCode(e, pa, newCode("c"), long)
		counted(e, pa, b)
		failSets(e, pa, b, store.ScopePair, long)
		succeed(e, pa)
		locked(e, pa, store.ScopePair, long)
		refusedAttempt(e, pa, b, store.ScopePair, long)
	}},
	{"SucceedMissing", func(e *env) {
		succeed(e, pairOf("nobody"))
		locked(e, pairOf("nobody"), store.ScopeNone, 0)
	}},
	{"LockedMissing", func(e *env) {
		locked(e, pairOf("nobody"), store.ScopeNone, 0)
	}},
	{"FailSubjectsIndependent", func(e *env) {
		b := pairBudget(noLimit, 2, long, long)
		a, bp := pairOf("a"), pairOf("b")
		putCode(e, a, newCode("a"), long)
		putCode(e, bp, newCode("b"), long)
		counted(e, a, b)
		counted(e, bp, b)
		counted(e, a, b)
		failSets(e, a, b, store.ScopePair, long)
		failOpen(e, bp, b)
		locked(e, bp, store.ScopeNone, 0)
		requireCode(e, counted(e, bp, b), newCode("b"), 2)
		refusedAttempt(e, a, b, store.ScopePair, long)
		locked(e, pairOf("c"), store.ScopeNone, 0)
	}},
	{"PairLockIsolated", func(e *env) {
		// Integration a spends its pair budget on subject s and is
		// locked; integration b, on the same subject, is not: its own
		// code is found and judged.
		b := pairBudget(noLimit, 3, long, long)
		putCode(e, pa, newCode("ca"), long)
		putCode(e, pb, newCode("cb"), long)
		wrongOpen(e, pa, b)
		wrongOpen(e, pa, b)
		counted(e, pa, b)
		failSets(e, pa, b, store.ScopePair, long)
		locked(e, pa, store.ScopePair, long)
		refusedAttempt(e, pa, b, store.ScopePair, long)
		locked(e, pb, store.ScopeNone, 0)
		requireCode(e, counted(e, pb, b), newCode("cb"), 1)
		failOpen(e, pb, b)
		locked(e, pb, store.ScopeNone, 0)
		locked(e, pc, store.ScopeNone, 0)
	}},
	{"PairBudgetsIndependent", func(e *env) {
		// Each pair has its own count: b's failures do not spend a's
		// budget, and b's Succeed does not refill it.
		b := pairBudget(noLimit, 3, long, long)
		putCode(e, pa, newCode("ca"), long)
		putCode(e, pb, newCode("cb"), long)
		counted(e, pa, b)
		counted(e, pa, b)
		for range 2 {
			counted(e, pb, b)
		}
		succeed(e, pb)
		requireCode(e, counted(e, pa, b), newCode("ca"), 3)
		refusedAttempt(e, pa, b, store.ScopePair, long)
		for n := 3; n <= 5; n++ {
			requireCode(e, counted(e, pb, b), newCode("cb"), n)
		}
		refusedAttempt(e, pb, b, store.ScopePair, long)
	}},
}

// customerCases are the cases of the customer's failure budget and lock,
// which a subject's pairs share.
var customerCases = []testCase{
	{"BudgetAcrossPairs", func(e *env) {
		// Failures on every pair of a subject add up: 10 by a (which
		// locks a's pair) and 5 by b spend a customer budget of 15, and
		// the customer is locked for every integration, a third one
		// included, for Customer.LockFor.
		const customerLock = 2 * long
		b := store.Budgets{
			MaxAttempts: noLimit,
			Pair:        store.Budget{Limit: 10, Window: long, LockFor: step},
			Customer:    store.Budget{Limit: 15, Window: long, LockFor: customerLock},
		}
		putCode(e, pa, newCode("ca"), long)
		putCode(e, pb, newCode("cb"), long)
		putCode(e, pc, newCode("cc"), long)
		for range 9 {
			wrongOpen(e, pa, b)
		}
		counted(e, pa, b)
		within(e.t, "Fail pair lock", failSets(e, pa, b, store.ScopePair, long), long-time.Second, long)
		for range 4 {
			wrongOpen(e, pb, b)
		}
		counted(e, pb, b)
		within(e.t, "Fail customer lock", failSets(e, pb, b, store.ScopeCustomer, customerLock), customerLock-time.Second, customerLock)

		for _, p := range []store.Pair{pa, pb, pc} {
			within(e.t, "Locked Remaining", locked(e, p, store.ScopeCustomer, customerLock), customerLock-time.Second, customerLock)
			refusedAttempt(e, p, b, store.ScopeCustomer, customerLock)
			refusedAttempt(e, p, open, store.ScopeCustomer, customerLock)
		}
		// Another subject is not locked.
		other := store.Pair{Integration: pc.Integration, Subject: "other"}
		locked(e, other, store.ScopeNone, 0)
		putCode(e, other, newCode("co"), long)
		counted(e, other, b)
	}},
	{"BudgetSpentRefuses", func(e *env) {
		// Once the customer's count has reached Customer.Limit (with no
		// Fail yet), every pair's AttemptCode refuses with a customer
		// lock of at most Customer.LockFor, before it looks for a code,
		// and counts nothing.
		b := customerBudget(2, long, long)
		putCode(e, pa, newCode("ca"), long)
		putCode(e, pb, newCode("cb"), long)
		counted(e, pa, b)
		counted(e, pb, b)
		refusedAttempt(e, pa, b, store.ScopeCustomer, long)
		refusedAttempt(e, pb, b, store.ScopeCustomer, long)
		refusedAttempt(e, pc, b, store.ScopeCustomer, long)
		locked(e, pc, store.ScopeNone, 0) // a spent budget is not a lock
		succeed(e, pc)
		requireCode(e, counted(e, pa, b), newCode("ca"), 2)
		requireCode(e, counted(e, pb, b), newCode("cb"), 2)
	}},
	{"ZeroBudget", func(e *env) {
		// A customer budget below 1 refuses every attempt with a customer
		// lock of at most Customer.LockFor, and Fail always locks.
		putCode(e, pa, newCode("c"), long)
		refusedAttempt(e, pa, customerBudget(0, long, short), store.ScopeCustomer, short)
		refusedAttempt(e, pa, customerBudget(-1, long, short), store.ScopeCustomer, short)
		requireCode(e, attempt(e, pa, true), newCode("c"), 1)
		failSets(e, pb, customerBudget(0, long, short), store.ScopeCustomer, short)
		locked(e, pa, store.ScopeCustomer, short)
	}},
	{"LockIsLockFor", func(e *env) {
		// The customer lock lasts Customer.LockFor, however long its
		// Window, and counts nothing while it runs.
		b := customerBudget(1, long, short)
		putCode(e, pa, newCode("ca"), long)
		putCode(e, pb, newCode("cb"), long)
		counted(e, pa, b)
		failSets(e, pa, b, store.ScopeCustomer, short)
		refusedAttempt(e, pb, open, store.ScopeCustomer, short)
		e.advance(short + slack)
		locked(e, pa, store.ScopeNone, 0)
		locked(e, pb, store.ScopeNone, 0)
		requireCode(e, counted(e, pb, b), newCode("cb"), 1)
		requireCode(e, counted(e, pa, open), newCode("ca"), 2)
	}},
	{"CustomerLockOverPairLock", func(e *env) {
		// When the pair and the customer are both locked, Fail, Locked and
		// AttemptCode report the customer's lock; once it ends, the
		// pair's is still there, and only on its pair.
		b := store.Budgets{
			MaxAttempts: noLimit,
			Pair:        store.Budget{Limit: 1, Window: long, LockFor: long},
			Customer:    store.Budget{Limit: 1, Window: long, LockFor: short},
		}
		putCode(e, pa, newCode("ca"), long)
		putCode(e, pb, newCode("cb"), long)
		counted(e, pa, b)
		failSets(e, pa, b, store.ScopeCustomer, short)
		locked(e, pa, store.ScopeCustomer, short)
		locked(e, pb, store.ScopeCustomer, short)
		refusedAttempt(e, pa, b, store.ScopeCustomer, short)
		e.advance(short + slack)
		within(e.t, "Locked Remaining", locked(e, pa, store.ScopePair, long), long-time.Second, long)
		refusedAttempt(e, pa, b, store.ScopePair, long)
		locked(e, pb, store.ScopeNone, 0)
		requireCode(e, counted(e, pb, b), newCode("cb"), 1)
	}},
	{"FailReportsLockInForce", func(e *env) {
		// A Fail that sets no lock reports the lock in force, with Set
		// false: the customer's, on every pair of the subject.
		b := customerBudget(1, long, long)
		putCode(e, pa, newCode("ca"), long)
		counted(e, pa, b)
		failSets(e, pa, b, store.ScopeCustomer, long)
		failFinds(e, pb, b, store.ScopeCustomer, long)
		failFinds(e, pa, customerBudget(noLimit, long, long), store.ScopeCustomer, long)
		failOpen(e, pairOf("other"), b)
	}},
	{"FailReportsSet", func(e *env) {
		// Fail returns the lock in force after it, as Locked reports it,
		// with Set true only when that very call set that lock: not when
		// the lock was in force already, nor when the lock it set is
		// hidden by the customer's.
		b := store.Budgets{
			MaxAttempts: noLimit,
			Pair:        store.Budget{Limit: 1, Window: long, LockFor: long},
			Customer:    store.Budget{Limit: 3, Window: long, LockFor: short},
		}
		putCode(e, pa, newCode("ca"), long)
		putCode(e, pb, newCode("cb"), long)
		putCode(e, pc, newCode("cc"), long)
		// a's Fail at a's limit, below the customer's, sets a's pair lock;
		// a second Fail reports that lock, and did not set it.
		counted(e, pa, b)
		set := failSets(e, pa, b, store.ScopePair, long)
		within(e.t, "Fail lock while locked", failFinds(e, pa, b, store.ScopePair, set), set-time.Second, set)
		locked(e, pa, store.ScopePair, set)
		// b's and c's counts spend the customer's budget: a's Fail, its
		// pair locked already, sets the customer's lock.
		counted(e, pb, b)
		counted(e, pc, b)
		failSets(e, pa, b, store.ScopeCustomer, short)
		// b's Fail sets b's pair lock under the customer's, and returns
		// the customer's, which it did not set. c's Fail, with budgets it
		// has not reached, sets nothing.
		failFinds(e, pb, b, store.ScopeCustomer, short)
		failFinds(e, pc, open, store.ScopeCustomer, short)
		locked(e, pb, store.ScopeCustomer, short)
		// Once the customer's lock ends, b's pair lock shows (b's Fail did
		// set it), and c's Fail at c's limit sets c's.
		e.advance(short + slack)
		within(e.t, "Locked Remaining", locked(e, pb, store.ScopePair, long), long-time.Second, long)
		failFinds(e, pb, b, store.ScopePair, long)
		locked(e, pc, store.ScopeNone, 0)
		failSets(e, pc, b, store.ScopePair, long)
		failFinds(e, pc, b, store.ScopePair, long)
	}},
	{"SpentBudgetsCustomerFirst", func(e *env) {
		// When the pair's budget and the customer's are both spent, and
		// nothing is locked yet, AttemptCode refuses with the customer's:
		// a customer lock of Customer.LockFor, not the rest of the pair's
		// window. Nothing is counted.
		const customerLock = 2 * long
		b := store.Budgets{
			MaxAttempts: noLimit,
			Pair:        store.Budget{Limit: 1, Window: long, LockFor: long},
			Customer:    store.Budget{Limit: 1, Window: long, LockFor: customerLock},
		}
		putCode(e, pa, newCode("ca"), long)
		putCode(e, pb, newCode("cb"), long)
		counted(e, pa, b)
		for range 2 {
			refusedExactly(e, pa, b, store.ScopeCustomer, customerLock)
		}
		refusedExactly(e, pb, b, store.ScopeCustomer, customerLock)
		// Under a customer budget not yet spent, a's spent pair budget
		// refuses, with the rest of its window.
		pairOnly := b
		pairOnly.Customer = unlimited
		within(e.t, "AttemptCode Lock.Remaining", refusedAttempt(e, pa, pairOnly, store.ScopePair, long), long-time.Second, long)
		// Budgets below 1 are always spent: the customer's refuses first.
		zero := store.Budgets{
			MaxAttempts: noLimit,
			Pair:        store.Budget{Limit: 0, Window: long, LockFor: long},
			Customer:    store.Budget{Limit: 0, Window: long, LockFor: customerLock},
		}
		refusedExactly(e, pc, zero, store.ScopeCustomer, customerLock)
		// A spent budget is not a lock, and the refusals counted nothing.
		locked(e, pa, store.ScopeNone, 0)
		locked(e, pc, store.ScopeNone, 0)
		requireCode(e, counted(e, pa, open), newCode("ca"), 2)
		requireCode(e, counted(e, pb, open), newCode("cb"), 1)
	}},
	{"SucceedClearsCount", func(e *env) {
		// The customer budget counts consecutive failures: a Succeed on
		// any pair forgets the customer's count.
		b := customerBudget(3, long, long)
		putCode(e, pa, newCode("ca"), long)
		putCode(e, pb, newCode("cb"), long)
		wrongOpen(e, pa, b)
		wrongOpen(e, pb, b)
		succeed(e, pb)
		wrongOpen(e, pa, b)
		wrongOpen(e, pb, b)
		counted(e, pa, b)
		failSets(e, pa, b, store.ScopeCustomer, long)
	}},
	{"SucceedKeepsLock", func(e *env) {
		b := customerBudget(1, long, long)
		putCode(e, pa, newCode("ca"), long)
		counted(e, pa, b)
		failSets(e, pa, b, store.ScopeCustomer, long)
		succeed(e, pa)
		succeed(e, pb)
		locked(e, pb, store.ScopeCustomer, long)
		refusedAttempt(e, pa, b, store.ScopeCustomer, long)
	}},
	{"CountForgotten", func(e *env) {
		// The customer's count is forgotten once Customer.Window passes
		// without a failure.
		b := customerBudget(2, short, long)
		putCode(e, pa, newCode("ca"), long)
		putCode(e, pb, newCode("cb"), long)
		wrongOpen(e, pa, b)
		e.advance(short + slack)
		wrongOpen(e, pb, b)
		counted(e, pa, b)
		failSets(e, pa, b, store.ScopeCustomer, long)
	}},
	{"CountKeptByFailures", func(e *env) {
		// Every failure keeps the customer's count for another
		// Customer.Window: failures a step apart add up long past the
		// first one's window.
		b := customerBudget(7, short, long)
		putCode(e, pa, newCode("ca"), long)
		putCode(e, pb, newCode("cb"), long)
		for i := range 6 {
			wrongOpen(e, []store.Pair{pa, pb}[i%2], b)
			e.advance(step)
		}
		counted(e, pa, b)
		failSets(e, pa, b, store.ScopeCustomer, long)
	}},
}

// windowCases are the cases of Cooldown, Hit, Peek, Refund and Take.
var windowCases = []testCase{
	{"Cooldown", func(e *env) {
		allowed(e, "Cooldown", cooldownOf(e, "k", short))
		refused(e, "Cooldown", short, cooldownOf(e, "k", short))
		e.advance(step)
		refused(e, "Cooldown", short-step, cooldownOf(e, "k", short))
		e.advance(short - step + slack)
		allowed(e, "Cooldown", cooldownOf(e, "k", short))
		refused(e, "Cooldown", short, cooldownOf(e, "k", short))
	}},
	{"CooldownRefusalDoesNotExtend", func(e *env) {
		allowed(e, "Cooldown", cooldownOf(e, "k", short))
		e.advance(step)
		refused(e, "Cooldown", short-step, cooldownOf(e, "k", long))
		e.advance(short - step + slack)
		allowed(e, "Cooldown", cooldownOf(e, "k", short))
	}},
	{"CooldownDisabled", func(e *env) {
		for _, d := range []time.Duration{0, -time.Second} {
			allowed(e, "Cooldown(0)", cooldownOf(e, "k", d))
			allowed(e, "Cooldown(0)", cooldownOf(e, "k", d))
		}
	}},
	{"CooldownKeysIndependent", func(e *env) {
		allowed(e, "Cooldown a", cooldownOf(e, "a", long))
		allowed(e, "Cooldown b", cooldownOf(e, "b", long))
		refused(e, "Cooldown a", long, cooldownOf(e, "a", long))
	}},
	{"Hit", func(e *env) {
		for i := 0; i < 3; i++ {
			allowed(e, "Hit", hitOf(e, "k", 3, short))
		}
		refused(e, "Hit", short, hitOf(e, "k", 3, short))
		retry := refused(e, "Hit", short, hitOf(e, "k", 3, short))
		e.advance(retry + slack)
		for i := 0; i < 3; i++ {
			allowed(e, "Hit after window", hitOf(e, "k", 3, short))
		}
		refused(e, "Hit after window", short, hitOf(e, "k", 3, short))
	}},
	{"HitLeft", func(e *env) {
		// Left counts down to 0 on the event that fills the window.
		for left := 2; left >= 0; left-- {
			hitLeft(e, "k", 3, long, left)
		}
		refused(e, "Hit", long, hitOf(e, "k", 3, long))
		hitLeft(e, "other", 1, long, 0)
	}},
	{"HitWindowIsFixed", func(e *env) {
		allowed(e, "Hit", hitOf(e, "k", 2, short))
		e.advance(step)
		allowed(e, "Hit", hitOf(e, "k", 2, short))
		refused(e, "Hit", short-step, hitOf(e, "k", 2, short))
		e.advance(short - step + slack)
		allowed(e, "Hit after window", hitOf(e, "k", 2, short))
	}},
	{"HitZeroLimit", func(e *env) {
		refused(e, "Hit(0)", short, hitOf(e, "k", 0, short))
		refused(e, "Hit(-1)", short, hitOf(e, "k", -1, short))
	}},
	{"HitKeysIndependent", func(e *env) {
		allowed(e, "Hit a", hitOf(e, "a", 1, long))
		refused(e, "Hit a", long, hitOf(e, "a", 1, long))
		allowed(e, "Hit b", hitOf(e, "b", 1, long))
	}},
	{"Peek", func(e *env) {
		// Peek reports what Hit would do, and counts nothing: Left is
		// what the window allows now.
		peekLeft(e, "k", 3, 3)
		peekLeft(e, "k", 3, 3)
		hitLeft(e, "k", 3, short, 2)
		for range 5 {
			peekLeft(e, "k", 3, 2)
		}
		hitLeft(e, "k", 3, short, 1)
		hitLeft(e, "k", 3, short, 0)
		retry := peekRefused(e, "k", 3, short)
		refused(e, "Hit", retry, hitOf(e, "k", 3, short))
		peekRefused(e, "k", 3, retry)
		// The same window under a larger limit.
		peekLeft(e, "k", 5, 2)
		e.advance(short + slack)
		peekLeft(e, "k", 3, 3)
		hitLeft(e, "k", 3, short, 2)
	}},
	{"PeekZeroLimit", func(e *env) {
		for _, limit := range []int{0, -1} {
			if w := peek(e, "k", limit); w.Allowed {
				e.t.Fatalf("Peek(%d): got allowed, want refused", limit)
			}
		}
		allowed(e, "Hit after Peek", hitOf(e, "k", 1, long))
	}},
	{"Refund", func(e *env) {
		// Refund takes back one counted event: a full window allows one
		// more.
		hitLeft(e, "k", 2, long, 1)
		hitLeft(e, "k", 2, long, 0)
		refused(e, "Hit", long, hitOf(e, "k", 2, long))
		refund(e, "k")
		peekLeft(e, "k", 2, 1)
		hitLeft(e, "k", 2, long, 0)
		refused(e, "Hit after the refunded event", long, hitOf(e, "k", 2, long))
	}},
	{"RefundFloor", func(e *env) {
		// Refund never takes back more than was counted.
		hitLeft(e, "k", 3, long, 2)
		for range 5 {
			refund(e, "k")
		}
		peekLeft(e, "k", 3, 3)
		for left := 2; left >= 0; left-- {
			hitLeft(e, "k", 3, long, left)
		}
		refused(e, "Hit", long, hitOf(e, "k", 3, long))
	}},
	{"RefundMissing", func(e *env) {
		// Without a window Refund does nothing.
		refund(e, "k")
		refund(e, "k")
		peekLeft(e, "k", 2, 2)
		hitLeft(e, "k", 2, long, 1)
		hitLeft(e, "k", 2, long, 0)
		refused(e, "Hit", long, hitOf(e, "k", 2, long))
	}},
	{"RefundKeepsWindow", func(e *env) {
		// Refund does not move the window's end, and does nothing once
		// the window has ended.
		hitLeft(e, "k", 1, short, 0)
		e.advance(step)
		refund(e, "k")
		hitLeft(e, "k", 1, short, 0)
		refused(e, "Hit", short-step, hitOf(e, "k", 1, short))
		e.advance(short - step + slack)
		refund(e, "k")
		hitLeft(e, "k", 1, long, 0)
		refused(e, "Hit", long, hitOf(e, "k", 1, long))
	}},
	{"Take", func(e *env) {
		for i := 0; i < 3; i++ {
			allowed(e, "Take", takeOf(e, "k", takeRate, 3))
		}
		refused(e, "Take", takePeriod, takeOf(e, "k", takeRate, 3))
		e.advance(takePeriod)
		allowed(e, "Take after refill", takeOf(e, "k", takeRate, 3))
		refused(e, "Take after refill", takePeriod, takeOf(e, "k", takeRate, 3))
	}},
	{"TakeRetryAfterRefills", func(e *env) {
		allowed(e, "Take", takeOf(e, "k", takeRate, 1))
		retry := refused(e, "Take", takePeriod, takeOf(e, "k", takeRate, 1))
		e.advance(retry)
		allowed(e, "Take after retryAfter", takeOf(e, "k", takeRate, 1))
	}},
	{"TakeKeysIndependent", func(e *env) {
		allowed(e, "Take a", takeOf(e, "a", rate.Every(time.Hour), 1))
		refused(e, "Take a", time.Hour, takeOf(e, "a", rate.Every(time.Hour), 1))
		allowed(e, "Take b", takeOf(e, "b", rate.Every(time.Hour), 1))
	}},
}

var ttlCases = []testCase{
	{"PutCode", func(e *env) {
		putCode(e, pairOf("zero"), newCode("c"), 0)
		putCode(e, pairOf("negative"), newCode("c"), -time.Hour)
		e.advance(clampWait)
		attempt(e, pairOf("zero"), false)
		attempt(e, pairOf("negative"), false)
	}},
	{"CreateSession", func(e *env) {
		zero, negative := store.HashToken("zero"), store.HashToken("negative")
		createSession(e, zero, newSession("c"), 0)
		createSession(e, negative, newSession("c"), -time.Hour)
		e.advance(clampWait)
		getSession(e, zero, false)
		getSession(e, negative, false)
	}},
	{"PairWindow", func(e *env) {
		putCode(e, pa, newCode("c"), long)
		counted(e, pa, pairBudget(noLimit, 1, 0, long))
		e.advance(clampWait)
		counted(e, pa, pairBudget(noLimit, 1, -time.Hour, long))
		e.advance(clampWait)
		counted(e, pa, pairBudget(noLimit, 1, 0, long))
	}},
	{"CustomerWindow", func(e *env) {
		putCode(e, pa, newCode("c"), long)
		counted(e, pa, customerBudget(1, 0, long))
		e.advance(clampWait)
		counted(e, pa, customerBudget(1, -time.Hour, long))
		e.advance(clampWait)
		counted(e, pa, customerBudget(1, 0, long))
	}},
	{"PairLock", func(e *env) {
		// A limit below 1 is reached with no count; the lock is then
		// LockFor alone, clamped.
		failSets(e, pa, pairBudget(noLimit, 0, 0, 0), store.ScopePair, clampWait)
		e.advance(clampWait)
		locked(e, pa, store.ScopeNone, 0)
	}},
	{"CustomerLock", func(e *env) {
		failSets(e, pa, customerBudget(0, 0, -time.Hour), store.ScopeCustomer, clampWait)
		e.advance(clampWait)
		locked(e, pa, store.ScopeNone, 0)
	}},
	{"HitWindow", func(e *env) {
		allowed(e, "Hit", hitOf(e, "k", 1, 0))
		e.advance(clampWait)
		allowed(e, "Hit", hitOf(e, "k", 1, -time.Hour))
		e.advance(clampWait)
		allowed(e, "Hit", hitOf(e, "k", 1, 0))
	}},
}
