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
//   - AttemptCode follows the five steps of store.Codes in order: a locked
//     subject is refused (Locked = the remaining lock) before a spent budget
//     (Locked = the rest of the failure window), which is refused before a
//     missing code is reported; refusals and misses count nothing. Only an
//     attempt within maxAttempts charges the budget, in a fixed window that
//     starts with the first charge. A budget below 1 refuses every attempt.
//   - Fail counts nothing. At the limit (a limit below 1 is always reached)
//     it locks for lockFor or the rest of the window, whichever is longer,
//     clears the count and returns the lock; while locked it returns the
//     remaining lock and changes nothing; below the limit it changes
//     nothing.
//   - Cooldown with d <= 0 is always allowed.
//   - Hit counts in a fixed window that starts with the window's first event.
//   - Take is a token bucket that starts full; one token comes back every
//     1/r seconds.
//   - Codes, sessions, failure counters, locks, cooldowns, send windows and
//     token buckets live in separate namespaces: the same string used as a
//     subject, a token hash and a bucket key names unrelated records.
//   - Records are values: changing a slice passed in, or one returned, does
//     not change what the store holds.
//
// Timing: the suite uses TTLs of at most 200ms and moves time with
// Harness.Advance, so a store on real time (where Advance sleeps about 3s in
// all) finishes it in a few seconds. Cases run one after another, never in parallel,
// because Advance moves the clock of the most recent store.
package storetest

import (
	"context"
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
// so one failure does not hide the others and -run can select cases. Cases
// run sequentially. The concurrency cases use real goroutines; run the suite
// with -race.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Advance == nil {
		t.Fatal("storetest: Harness.New and Harness.Advance are required")
	}
	groups := []group{
		{"Codes", codeCases},
		{"Sessions", sessionCases},
		{"Limits", limitCases},
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
