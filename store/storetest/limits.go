package storetest

import (
	"time"

	"github.com/otpguard/otpguard/store"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// fail calls Fail and returns the lock it reports, failing the test on an
// error.
func fail(e *env, subject string, limit int, lockFor time.Duration) time.Duration {
	e.t.Helper()
	lock, err := e.s.Fail(e.ctx, subject, limit, lockFor)
	require.NoError(e.t, err, "Fail(%q)", subject)
	return lock
}

// failOpen calls Fail and fails the test unless it reports no lock.
func failOpen(e *env, subject string, limit int, lockFor time.Duration) {
	e.t.Helper()
	if lock := fail(e, subject, limit, lockFor); lock != 0 {
		e.t.Fatalf("Fail(%q) lock: got %v, want 0", subject, lock)
	}
}

// failLocks calls Fail and fails the test unless it reports a lock in
// (0, max]; it returns the lock.
func failLocks(e *env, subject string, limit int, lockFor, max time.Duration) time.Duration {
	e.t.Helper()
	lock := fail(e, subject, limit, lockFor)
	within(e.t, "Fail lock", lock, 0, max)
	return lock
}

// locked calls Locked and fails the test unless locked is want; when it is,
// the remaining lock must be in (0, max].
func locked(e *env, subject string, want bool, max time.Duration) {
	e.t.Helper()
	remaining, isLocked, err := e.s.Locked(e.ctx, subject)
	require.NoError(e.t, err, "Locked(%q)", subject)
	if isLocked != want {
		e.t.Fatalf("Locked(%q): got %v, want %v", subject, isLocked, want)
	}
	if want {
		within(e.t, "Locked remaining", remaining, 0, max)
	} else if remaining != 0 {
		e.t.Fatalf("Locked(%q) remaining when unlocked: got %v, want 0", subject, remaining)
	}
}

// resetFailures calls ResetFailures and fails the test on an error.
func resetFailures(e *env, subject string) {
	e.t.Helper()
	require.NoError(e.t, e.s.ResetFailures(e.ctx, subject), "ResetFailures(%q)", subject)
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
func cooldownOf(e *env, subject string, d time.Duration) allowedFunc {
	return func() (bool, time.Duration, error) { return e.s.Cooldown(e.ctx, subject, d) }
}

// hitOf binds Hit's arguments.
func hitOf(e *env, subject string, limit int, window time.Duration) allowedFunc {
	return func() (bool, time.Duration, error) { return e.s.Hit(e.ctx, subject, limit, window) }
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

var limitCases = []testCase{
	{"AttemptChargesBudget", func(e *env) {
		// Every counted attempt charges the failure budget. Once it is
		// spent AttemptCode refuses until the window ends and counts
		// nothing; ResetFailures restores the whole budget.
		want := newCode("c")
		putCode(e, "s", want, long)
		for n := 1; n <= 3; n++ {
			requireCode(e, counted(e, "s", noLimit, 3, long), want, n)
		}
		refusedAttempt(e, "s", noLimit, 3, long, long)
		refusedAttempt(e, "s", noLimit, 3, long, long)
		locked(e, "s", false, 0) // a spent budget is not a lock
		resetFailures(e, "s")
		for n := 4; n <= 6; n++ {
			requireCode(e, counted(e, "s", noLimit, 3, long), want, n)
		}
		refusedAttempt(e, "s", noLimit, 3, long, long)
	}},
	{"BudgetWindowIsFixed", func(e *env) {
		// The window starts with the first count; later counts do not
		// extend it. A refusal reports the rest of the window.
		want := newCode("c")
		putCode(e, "s", want, long)
		counted(e, "s", noLimit, 2, short)
		e.advance(step)
		counted(e, "s", noLimit, 2, short)
		refusedAttempt(e, "s", noLimit, 2, short, short-step)
		e.advance(short - step + slack)
		requireCode(e, counted(e, "s", noLimit, 2, short), want, 3)
		counted(e, "s", noLimit, 2, short)
		refusedAttempt(e, "s", noLimit, 2, short, short)
	}},
	{"BudgetSpentBeforeMissingCode", func(e *env) {
		// A spent budget refuses before the code is looked up.
		putCode(e, "s", newCode("c"), long)
		counted(e, "s", noLimit, 1, long)
		consume(e, "s", "c", true)
		refusedAttempt(e, "s", noLimit, 1, long, long)
	}},
	{"MissingCodeCountsNothing", func(e *env) {
		for range 3 {
			a := attemptWith(e, "s", noLimit, 1, long)
			if a.Found || a.Locked != 0 {
				e.t.Fatalf("AttemptCode without a code: got Found %v, Locked %v, want neither", a.Found, a.Locked)
			}
		}
		putCode(e, "s", newCode("c"), long)
		requireCode(e, counted(e, "s", noLimit, 1, long), newCode("c"), 1)
		refusedAttempt(e, "s", noLimit, 1, long, long)
	}},
	{"BurnedCodeDoesNotCharge", func(e *env) {
		// Attempts past maxAttempts are counted on the code, and returned,
		// but do not charge the budget.
		burned := newCode("burned")
		putCode(e, "s", burned, long)
		for n := 1; n <= 6; n++ {
			requireCode(e, counted(e, "s", 2, 3, long), burned, n)
		}
		// Two of three charged: the next code gets one attempt.
		fresh := newCode("fresh")
		putCode(e, "s", fresh, long)
		requireCode(e, counted(e, "s", 2, 3, long), fresh, 1)
		refusedAttempt(e, "s", 2, 3, long, long)
	}},
	{"ZeroBudget", func(e *env) {
		// A budget below 1 refuses every attempt, for at most a window.
		putCode(e, "s", newCode("c"), long)
		refusedAttempt(e, "s", noLimit, 0, short, short)
		refusedAttempt(e, "s", noLimit, -1, short, short)
		requireCode(e, attempt(e, "s", true), newCode("c"), 1)
	}},
	{"LockedSubjectCountsNothing", func(e *env) {
		// While subject is locked AttemptCode refuses, whatever the
		// budget, and counts nothing on the code or the budget.
		want := newCode("c")
		putCode(e, "s", want, long)
		counted(e, "s", noLimit, 1, short)
		failLocks(e, "s", 1, short, short)
		for range 3 {
			refusedAttempt(e, "s", noLimit, noLimit, short, short)
		}
		e.advance(short + slack)
		locked(e, "s", false, 0)
		requireCode(e, counted(e, "s", noLimit, 1, short), want, 2)
		refusedAttempt(e, "s", noLimit, 1, short, short)
	}},
	{"LockBeforeMissingCode", func(e *env) {
		// A lock refuses before the code is looked up.
		putCode(e, "s", newCode("c"), long)
		counted(e, "s", noLimit, 1, long)
		failLocks(e, "s", 1, long, long)
		consume(e, "s", "c", true)
		refusedAttempt(e, "s", noLimit, noLimit, long, long)
	}},
	{"FailBelowLimitChangesNothing", func(e *env) {
		// Fail does not count: only AttemptCode does.
		putCode(e, "s", newCode("c"), long)
		counted(e, "s", noLimit, 10, long)
		counted(e, "s", noLimit, 10, long)
		for range 5 {
			failOpen(e, "s", 3, long)
		}
		locked(e, "s", false, 0)
		requireCode(e, counted(e, "s", noLimit, 10, long), newCode("c"), 3)
		failLocks(e, "s", 3, long, long)
		locked(e, "s", true, long)
	}},
	{"FailLockForOutlastsWindow", func(e *env) {
		// lockFor is longer than the rest of the window: the lock is
		// lockFor.
		putCode(e, "s", newCode("c"), long)
		counted(e, "s", noLimit, 1, short)
		within(e.t, "Fail lock", fail(e, "s", 1, long), long-time.Second, long)
		remaining, _, err := e.s.Locked(e.ctx, "s")
		require.NoError(e.t, err)
		within(e.t, "Locked remaining", remaining, long-time.Second, long)
	}},
	{"FailWindowOutlastsLockFor", func(e *env) {
		// The rest of the window is longer than lockFor: the lock lasts
		// until the window ends, so no more than limit wrong codes are
		// evaluated in one window.
		putCode(e, "s", newCode("c"), long)
		counted(e, "s", noLimit, 1, long)
		within(e.t, "Fail lock", fail(e, "s", 1, short), long-time.Second, long)
		remaining, _, err := e.s.Locked(e.ctx, "s")
		require.NoError(e.t, err)
		within(e.t, "Locked remaining", remaining, long-time.Second, long)
	}},
	{"FailLockClearsCount", func(e *env) {
		// The lock (here until the window ends, later than lockFor) clears
		// the count and counts nothing: once it is over, the whole budget
		// is back. (The window has ended by then too; the stores' own
		// tests check that the count is deleted.)
		want := newCode("c")
		putCode(e, "s", want, long)
		for range 3 {
			counted(e, "s", noLimit, 3, short)
		}
		within(e.t, "Fail lock", fail(e, "s", 3, step), step, short)
		refusedAttempt(e, "s", noLimit, 3, short, short)
		e.advance(short + slack)
		locked(e, "s", false, 0)
		for n := 4; n <= 6; n++ {
			requireCode(e, counted(e, "s", noLimit, 3, short), want, n)
		}
		refusedAttempt(e, "s", noLimit, 3, short, short)
	}},
	{"FailWhileLocked", func(e *env) {
		// During a lock Fail and AttemptCode report the remaining lock; a
		// Fail with a longer lockFor does not extend it.
		putCode(e, "s", newCode("c"), long)
		counted(e, "s", noLimit, 1, short)
		failLocks(e, "s", 1, short, short)
		e.advance(step)
		locked(e, "s", true, short-step)
		within(e.t, "Fail while locked", fail(e, "s", 1, long), 0, short-step)
		refusedAttempt(e, "s", noLimit, 1, short, short-step)
		e.advance(short - step + slack)
		locked(e, "s", false, 0)
		failOpen(e, "s", 1, long)
	}},
	{"ResetFailuresKeepsLock", func(e *env) {
		putCode(e, "s", newCode("c"), long)
		counted(e, "s", noLimit, 1, long)
		failLocks(e, "s", 1, long, long)
		resetFailures(e, "s")
		locked(e, "s", true, long)
		refusedAttempt(e, "s", noLimit, 1, long, long)
	}},
	{"ResetFailuresMissing", func(e *env) {
		resetFailures(e, "nobody")
		locked(e, "nobody", false, 0)
	}},
	{"LockedMissing", func(e *env) {
		locked(e, "nobody", false, 0)
	}},
	{"FailSubjectsIndependent", func(e *env) {
		putCode(e, "a", newCode("a"), long)
		putCode(e, "b", newCode("b"), long)
		counted(e, "a", noLimit, 2, long)
		counted(e, "b", noLimit, 2, long)
		counted(e, "a", noLimit, 2, long)
		failLocks(e, "a", 2, long, long)
		failOpen(e, "b", 2, long)
		locked(e, "b", false, 0)
		requireCode(e, counted(e, "b", noLimit, 2, long), newCode("b"), 2)
		refusedAttempt(e, "a", noLimit, 2, long, long)
		locked(e, "c", false, 0)
	}},
	{"Cooldown", func(e *env) {
		allowed(e, "Cooldown", cooldownOf(e, "s", short))
		refused(e, "Cooldown", short, cooldownOf(e, "s", short))
		e.advance(step)
		refused(e, "Cooldown", short-step, cooldownOf(e, "s", short))
		e.advance(short - step + slack)
		allowed(e, "Cooldown", cooldownOf(e, "s", short))
		refused(e, "Cooldown", short, cooldownOf(e, "s", short))
	}},
	{"CooldownRefusalDoesNotExtend", func(e *env) {
		allowed(e, "Cooldown", cooldownOf(e, "s", short))
		e.advance(step)
		refused(e, "Cooldown", short-step, cooldownOf(e, "s", long))
		e.advance(short - step + slack)
		allowed(e, "Cooldown", cooldownOf(e, "s", short))
	}},
	{"CooldownDisabled", func(e *env) {
		for _, d := range []time.Duration{0, -time.Second} {
			allowed(e, "Cooldown(0)", cooldownOf(e, "s", d))
			allowed(e, "Cooldown(0)", cooldownOf(e, "s", d))
		}
	}},
	{"CooldownSubjectsIndependent", func(e *env) {
		allowed(e, "Cooldown a", cooldownOf(e, "a", long))
		allowed(e, "Cooldown b", cooldownOf(e, "b", long))
		refused(e, "Cooldown a", long, cooldownOf(e, "a", long))
	}},
	{"Hit", func(e *env) {
		for i := 0; i < 3; i++ {
			allowed(e, "Hit", hitOf(e, "s", 3, short))
		}
		refused(e, "Hit", short, hitOf(e, "s", 3, short))
		retry := refused(e, "Hit", short, hitOf(e, "s", 3, short))
		e.advance(retry + slack)
		for i := 0; i < 3; i++ {
			allowed(e, "Hit after window", hitOf(e, "s", 3, short))
		}
		refused(e, "Hit after window", short, hitOf(e, "s", 3, short))
	}},
	{"HitWindowIsFixed", func(e *env) {
		allowed(e, "Hit", hitOf(e, "s", 2, short))
		e.advance(step)
		allowed(e, "Hit", hitOf(e, "s", 2, short))
		refused(e, "Hit", short-step, hitOf(e, "s", 2, short))
		e.advance(short - step + slack)
		allowed(e, "Hit after window", hitOf(e, "s", 2, short))
	}},
	{"HitSubjectsIndependent", func(e *env) {
		allowed(e, "Hit a", hitOf(e, "a", 1, long))
		refused(e, "Hit a", long, hitOf(e, "a", 1, long))
		allowed(e, "Hit b", hitOf(e, "b", 1, long))
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
		putCode(e, "zero", newCode("c"), 0)
		putCode(e, "negative", newCode("c"), -time.Hour)
		e.advance(clampWait)
		attempt(e, "zero", false)
		attempt(e, "negative", false)
	}},
	{"CreateSession", func(e *env) {
		zero, negative := store.HashToken("zero"), store.HashToken("negative")
		createSession(e, zero, newSession("c"), 0)
		createSession(e, negative, newSession("c"), -time.Hour)
		e.advance(clampWait)
		getSession(e, zero, false)
		getSession(e, negative, false)
	}},
	{"AttemptWindow", func(e *env) {
		putCode(e, "s", newCode("c"), long)
		counted(e, "s", noLimit, 1, 0)
		e.advance(clampWait)
		counted(e, "s", noLimit, 1, -time.Hour)
		e.advance(clampWait)
		counted(e, "s", noLimit, 1, 0)
	}},
	{"FailLock", func(e *env) {
		// A limit below 1 is reached with no count; the lock is then
		// lockFor alone, clamped.
		failLocks(e, "s", 0, 0, clampWait)
		e.advance(clampWait)
		locked(e, "s", false, 0)
	}},
	{"HitWindow", func(e *env) {
		allowed(e, "Hit", hitOf(e, "s", 1, 0))
		e.advance(clampWait)
		allowed(e, "Hit", hitOf(e, "s", 1, -time.Hour))
		e.advance(clampWait)
		allowed(e, "Hit", hitOf(e, "s", 1, 0))
	}},
}
