package storetest

import (
	"time"

	"github.com/otpguard/otpguard/store"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// fail calls Fail and returns the lock it reports, failing the test on an
// error.
func fail(e *env, subject string, limit int, window, lockFor time.Duration) time.Duration {
	e.t.Helper()
	lock, err := e.s.Fail(e.ctx, subject, limit, window, lockFor)
	require.NoError(e.t, err, "Fail(%q)", subject)
	return lock
}

// failOpen calls Fail and fails the test unless it reports no lock.
func failOpen(e *env, subject string, limit int, window, lockFor time.Duration) {
	e.t.Helper()
	if lock := fail(e, subject, limit, window, lockFor); lock != 0 {
		e.t.Fatalf("Fail(%q) lock: got %v, want 0", subject, lock)
	}
}

// failLocks calls Fail and fails the test unless it reports a lock in
// (0, lockFor].
func failLocks(e *env, subject string, limit int, window, lockFor time.Duration) {
	e.t.Helper()
	within(e.t, "Fail lock", fail(e, subject, limit, window, lockFor), 0, lockFor)
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
	{"FailLocksAtLimit", func(e *env) {
		failOpen(e, "s", 3, long, short)
		failOpen(e, "s", 3, long, short)
		locked(e, "s", false, 0)
		failLocks(e, "s", 3, long, short)
		locked(e, "s", true, short)
	}},
	{"FailWhileLocked", func(e *env) {
		// A Fail during a lock reports the remaining lock and is not
		// counted: after the lock, the count starts from zero.
		failOpen(e, "s", 3, long, short)
		failOpen(e, "s", 3, long, short)
		failLocks(e, "s", 3, long, short)
		failLocks(e, "s", 3, long, short)
		failLocks(e, "s", 3, long, short)
		e.advance(short + slack)
		locked(e, "s", false, 0)
		failOpen(e, "s", 3, long, short)
		failOpen(e, "s", 3, long, short)
		failLocks(e, "s", 3, long, short)
	}},
	{"FailLockRemaining", func(e *env) {
		failLocks(e, "s", 1, long, short)
		e.advance(step)
		locked(e, "s", true, short-step)
		within(e.t, "Fail lock while locked", fail(e, "s", 1, long, short), 0, short-step)
		e.advance(short - step + slack)
		locked(e, "s", false, 0)
	}},
	{"FailLimitOne", func(e *env) {
		failLocks(e, "s", 1, long, long)
		locked(e, "s", true, long)
	}},
	{"FailWindowExpires", func(e *env) {
		failOpen(e, "s", 3, short, long)
		failOpen(e, "s", 3, short, long)
		e.advance(short + slack)
		failOpen(e, "s", 3, short, long)
		failOpen(e, "s", 3, short, long)
		locked(e, "s", false, 0)
		failLocks(e, "s", 3, short, long)
	}},
	{"FailWindowIsFixed", func(e *env) {
		// The window starts at the first failure; later failures do not
		// extend it.
		failOpen(e, "s", 3, short, long)
		e.advance(step)
		failOpen(e, "s", 3, short, long)
		e.advance(short - step + slack)
		failOpen(e, "s", 3, short, long)
		failOpen(e, "s", 3, short, long)
		failLocks(e, "s", 3, short, long)
	}},
	{"ResetFailures", func(e *env) {
		failOpen(e, "s", 3, long, long)
		failOpen(e, "s", 3, long, long)
		resetFailures(e, "s")
		failOpen(e, "s", 3, long, long)
		failOpen(e, "s", 3, long, long)
		failLocks(e, "s", 3, long, long)
	}},
	{"ResetFailuresKeepsLock", func(e *env) {
		failLocks(e, "s", 1, long, long)
		resetFailures(e, "s")
		locked(e, "s", true, long)
	}},
	{"ResetFailuresMissing", func(e *env) {
		resetFailures(e, "nobody")
		locked(e, "nobody", false, 0)
	}},
	{"LockedMissing", func(e *env) {
		locked(e, "nobody", false, 0)
	}},
	{"FailSubjectsIndependent", func(e *env) {
		failOpen(e, "a", 2, long, long)
		failOpen(e, "b", 2, long, long)
		failLocks(e, "a", 2, long, long)
		locked(e, "b", false, 0)
		failLocks(e, "b", 2, long, long)
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
	{"FailWindow", func(e *env) {
		failOpen(e, "s", 2, 0, long)
		e.advance(clampWait)
		failOpen(e, "s", 2, 0, long)
	}},
	{"FailLock", func(e *env) {
		fail(e, "s", 1, long, 0)
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
