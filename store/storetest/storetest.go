// Package storetest is the conformance suite every otpguard store must pass,
// ours and third parties', and the benchmarks every store can run.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{New: newStore, Advance: advance})
//	}
//
// The suite pins down the semantics the store package leaves to
// implementations, so that every store answers alike:
//
//   - AttemptCode, ConsumeCode and GetSession report found=false once the
//     TTL given at write time has run out; TTLs below store.MinTTL are
//     clamped up, so no record lives forever.
//   - Each store.Pair has its own code, failure count and lock: PutCode,
//     AttemptCode, ConsumeCode, Fail and Succeed on one integration's pair
//     never replace, burn, consume, charge, lock or refill another's. The
//     customer's count and lock are shared by every pair of its subject.
//   - AttemptCode follows the five steps of store.Codes in order: a lock
//     (the customer's before the pair's) refuses first, with its remaining
//     time; then a spent customer budget (a customer lock of exactly
//     Customer.LockFor) and, only after it, a spent pair budget (a pair lock
//     of the rest of the pair's window); then a missing code is reported.
//     Refusals and misses count nothing. Only an attempt within
//     MaxAttempts charges the budgets: the pair's in a fixed window that
//     starts with its first charge, the customer's kept for
//     Customer.Window after each charge. A budget limit below 1 refuses
//     every attempt.
//   - Fail counts nothing. At the pair's limit (a limit below 1 is always
//     reached) it locks the pair for Pair.LockFor or the rest of the
//     window, whichever is longer, and clears the pair's count; at the
//     customer's limit it locks the customer for Customer.LockFor and
//     clears the customer's count. A lock in force is neither extended nor
//     shortened. It returns the lock in force afterwards, as Locked reports
//     it (the customer's before the pair's), with Set true exactly when
//     that call set that lock: a pair lock set under the customer's lock is
//     reported as the customer's, Set false. Of concurrent Fail calls that
//     find one lock to set, exactly one reports Set. Locked and AttemptCode
//     never report Set.
//   - Succeed clears the pair's and the customer's counts, and no lock.
//   - Status reports the customer's lock and count, and every pair of the
//     subject that has a lock or a count (no other), sorted by integration;
//     it changes nothing. Unlock(subject, "") clears the customer's lock and
//     count and every pair's; Unlock(subject, integration) that pair's
//     only. Neither touches codes, cooldowns, windows, buckets or sessions.
//   - Every Session field round-trips, VerifiedAt included. UseSession is
//     first once per session and action (exactly one of concurrent calls),
//     never for a missing, expired or revoked session, and a session
//     created later under the same hash starts unused.
//   - CountSessions and RevokeSessions see exactly the live sessions whose
//     CustomerID (ScopeCustomer) or Integration (ScopeIntegration) is the ID
//     given: not expired or revoked ones, not one replaced under the same
//     hash by another customer's; whatever the IDs hold, a customer's index
//     and an integration's of the same ID are apart. Concurrent revocations
//     delete, and count, each session once. Another scope is an error.
//   - Cooldown with d <= 0 is always allowed.
//   - Hit counts in a fixed window that starts with the window's first
//     event; Left counts down to 0 on the event that fills it. Peek counts
//     nothing. Refund takes back one counted event of the running window,
//     never more than were counted, and leaves the window's end alone.
//   - Take is a token bucket that starts full; one token comes back every
//     1/r seconds.
//   - Codes, sessions, failure counters, locks, cooldowns, windows and
//     token buckets live in separate namespaces: the same string used as an
//     integration, a subject, a token hash and a key names unrelated
//     records.
//   - Records are values: changing a slice passed in, or one returned, does
//     not change what the store holds.
//
// Timing: the suite uses TTLs of at most 200ms and moves time with
// Harness.Advance, so a store on real time (where Advance sleeps about 6s
// in all) finishes it in a few seconds. Cases run one after another, never in
// parallel, because Advance moves the clock of the most recent store.
package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/otpguard/otpguard/store"
)

// Harness tells the suite how to make a store and how to move its time.
type Harness struct {
	// New returns a fresh, empty store for one test (or benchmark). It
	// registers any clean-up with tb.Cleanup.
	New func(tb testing.TB) store.Store
	// Advance moves the clock of the store returned by the last New forward
	// by d. A store on an injected clock moves it; a store on real time
	// (Redis) sleeps. The suite advances by at most a few hundred
	// milliseconds at a time, so real-time stores stay fast.
	Advance func(tb testing.TB, d time.Duration)
}

// Durations the suite uses. A case that checks a record is still alive part
// way through its life advances by step and then by the rest of short, so a
// real-time store whose Advance oversleeps by up to short-step (150ms, as on
// a loaded CI machine) still passes.
const (
	// short is a TTL, window, lock or refill period the suite waits out with
	// Advance.
	short = 200 * time.Millisecond
	// step is how far into short the suite checks that a record is still
	// alive.
	step = 50 * time.Millisecond
	// slack is added when the suite advances past a deadline, so a
	// real-time store rounding to milliseconds is safely past it.
	slack = 10 * time.Millisecond
	// long is a TTL, window or lock that must not run out during a case.
	long = time.Minute
	// clampWait is how far the suite advances to outlive a clamped TTL.
	clampWait = 5 * time.Millisecond
)

// env is what one case works with: a fresh store and a way to move its time.
type env struct {
	t   *testing.T
	s   store.Store
	h   Harness
	ctx context.Context
}

// advance moves the store's time forward by d.
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	e.h.Advance(e.t, d)
}

// testCase is one named conformance case.
type testCase struct {
	name string
	run  func(e *env)
}

// group is a named set of cases, run as one t.Run level.
type group struct {
	name  string
	cases []testCase
}

// Run runs the conformance suite against the stores h makes. Every case is a
// subtest (for example "Codes/AttemptCounts") with a fresh store from h.New,
// so one failure does not hide the others and -run can select cases. The
// groups are Codes, Sessions, Limits (a pair's budget, and the key-based
// limits), Customer (the customer's budget across pairs), Status (Status and
// Unlock), TTL, Namespaces and Concurrency. Cases run sequentially. The concurrency cases use real
// goroutines; run the suite with -race.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Advance == nil {
		t.Fatal("storetest: Harness.New and Harness.Advance are required")
	}
	groups := []group{
		{"Codes", codeCases},
		{"Sessions", sessionCases},
		{"Limits", slices.Concat(pairCases, windowCases)},
		{"Customer", customerCases},
		{"Status", statusCases},
		{"TTL", ttlCases},
		{"Namespaces", namespaceCases},
		{"Concurrency", concurrencyCases},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					s := h.New(t)
					if s == nil {
						t.Fatal("storetest: Harness.New returned nil")
					}
					c.run(&env{t: t, s: s, h: h, ctx: context.Background()})
				})
			}
		})
	}
}

// within fails the test unless lo < got <= hi.
func within(t *testing.T, what string, got, lo, hi time.Duration) {
	t.Helper()
	if got <= lo || got > hi {
		t.Fatalf("%s: got %v, want in (%v, %v]", what, got, lo, hi)
	}
}
