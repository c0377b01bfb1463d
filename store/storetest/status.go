package storetest

import (
	"fmt"
	"strings"
	"time"

	"github.com/otpguard/otpguard/store"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// status calls Status and fails the test on an error.
func status(e *env, subject string) store.Status {
	e.t.Helper()
	st, err := e.s.Status(e.ctx, subject)
	require.NoError(e.t, err, "Status(%q)", subject)
	return st
}

// unlock calls Unlock and fails the test on an error.
func unlock(e *env, subject, integration string) {
	e.t.Helper()
	require.NoError(e.t, e.s.Unlock(e.ctx, subject, integration), "Unlock(%q, %q)", subject, integration)
}

// pairWant is what requireStatus expects of one pair.
type pairWant struct {
	integration string
	locked      bool
	failures    int
}

// requireStatus calls Status and fails the test unless it reports the
// customer locked (a customer lock of at most long) or not, customerFailures,
// and exactly pairs, in that order, each locked (a pair lock of at most
// long) or not and with its failure count. No lock may report Set.
func requireStatus(e *env, subject string, customerLocked bool, customerFailures int, pairs ...pairWant) {
	e.t.Helper()
	st := status(e, subject)
	checkStatusLock(e, fmt.Sprintf("Status(%q).Customer", subject), st.Customer, store.ScopeCustomer, customerLocked)
	if st.CustomerFailures != customerFailures {
		e.t.Fatalf("Status(%q).CustomerFailures: got %d, want %d", subject, st.CustomerFailures, customerFailures)
	}
	if got, want := describePairs(st.Pairs), describeWant(pairs); got != want {
		e.t.Fatalf("Status(%q).Pairs: got %s, want %s", subject, got, want)
	}
	for i, p := range st.Pairs {
		checkStatusLock(e, fmt.Sprintf("Status(%q).Pairs[%d] (%q).Lock", subject, i, p.Integration), p.Lock, store.ScopePair, pairs[i].locked)
	}
}

// checkStatusLock fails the test unless l is a lock of scope with Remaining
// in (0, long] and Set false, when locked, or the zero Lock.
func checkStatusLock(e *env, what string, l store.Lock, scope store.LockScope, locked bool) {
	e.t.Helper()
	if !locked {
		if l != (store.Lock{}) {
			e.t.Fatalf("%s: got %v %v, want the zero Lock", what, l.Scope, l.Remaining)
		}
		return
	}
	if l.Scope != scope || l.Set {
		e.t.Fatalf("%s: got %v Set %v, want a %v lock, Set false", what, l.Scope, l.Set, scope)
	}
	within(e.t, what+".Remaining", l.Remaining, 0, long)
}

// describePairs renders each pair's integration, whether it is locked, and
// its failure count, as describeWant does.
func describePairs(ps []store.PairStatus) string {
	var b strings.Builder
	b.WriteString("[")
	for _, p := range ps {
		fmt.Fprintf(&b, " %q locked=%v failures=%d", p.Integration, p.Lock.Locked(), p.Failures)
	}
	b.WriteString(" ]")
	return b.String()
}

// describeWant renders what requireStatus expects, as describePairs does.
func describeWant(ps []pairWant) string {
	var b strings.Builder
	b.WriteString("[")
	for _, p := range ps {
		fmt.Fprintf(&b, " %q locked=%v failures=%d", p.integration, p.locked, p.failures)
	}
	b.WriteString(" ]")
	return b.String()
}

// pd is a pair whose integration ID holds what keys are built of; it sorts
// after pa, pb and pc.
var pd = store.Pair{Integration: "{d}%:", Subject: "s"}

// lockSubject puts a code for pa, pb, pc and pd and leaves subject "s" with
// pd's failure count at 1 (with open budgets), pa and pb locked, and the
// customer locked; pc has neither count nor lock. It returns the budgets it
// used: a pair budget of 1 and a customer budget of 3.
func lockSubject(e *env) store.Budgets {
	e.t.Helper()
	b := store.Budgets{
		MaxAttempts: noLimit,
		Pair:        store.Budget{Limit: 1, Window: long, LockFor: long},
		Customer:    store.Budget{Limit: 3, Window: long, LockFor: long},
	}
	for _, p := range []store.Pair{pa, pb, pc, pd} {
		putCode(e, p, newCode(p.Integration), long)
	}
	counted(e, pd, open)
	counted(e, pa, b)
	failSets(e, pa, b, store.ScopePair, long)
	counted(e, pb, b)
	failSets(e, pb, b, store.ScopeCustomer, long) // b's pair lock is set too
	requireStatus(e, "s", true, 0,
		pairWant{pa.Integration, true, 0},
		pairWant{pb.Integration, true, 0},
		pairWant{pd.Integration, false, 1})
	return b
}

var statusCases = []testCase{
	{"Empty", func(e *env) {
		// A fresh subject, one with only a code, and one with another
		// subject's locks report nothing.
		requireStatus(e, "s", false, 0)
		putCode(e, pa, newCode("c"), long)
		requireStatus(e, "s", false, 0)
		other := pairOf("other")
		putCode(e, other, newCode("c"), long)
		counted(e, other, pairBudget(noLimit, 1, long, long))
		failSets(e, other, pairBudget(noLimit, 1, long, long), store.ScopePair, long)
		requireStatus(e, "s", false, 0)
		requireStatus(e, "other", false, 1, pairWant{other.Integration, true, 0})
	}},
	{"CountsAndLocks", func(e *env) {
		// Status lists the customer's count and every pair with a lock or
		// a count, sorted by integration; not a pair whose count Succeed
		// cleared, nor another subject's pairs, even one whose subject
		// begins with this one.
		b := store.Budgets{
			MaxAttempts: noLimit,
			Pair:        store.Budget{Limit: 2, Window: long, LockFor: long},
			Customer:    store.Budget{Limit: 100, Window: long, LockFor: long},
		}
		for _, p := range []store.Pair{pa, pb, pc, pd} {
			putCode(e, p, newCode(p.Integration), long)
		}
		counted(e, pc, b)
		succeed(e, pc) // clears c's count and the customer's
		counted(e, pd, b)
		wrongOpen(e, pa, b)
		counted(e, pa, b)
		failSets(e, pa, b, store.ScopePair, long)
		counted(e, pb, b)
		for _, other := range []store.Pair{
			{Integration: "integration-z", Subject: "s2"},
			{Integration: "integration-y", Subject: "s\x00integration-x"},
			{Integration: "integration-x", Subject: "s:integration-x"},
		} {
			putCode(e, other, newCode("o"), long)
			counted(e, other, b)
			counted(e, other, b)
			failSets(e, other, b, store.ScopePair, long)
		}
		want := []pairWant{
			{pa.Integration, true, 0},
			{pb.Integration, false, 1},
			{pd.Integration, false, 1},
		}
		requireStatus(e, "s", false, 4, want...)
		// Status changes nothing: it reports the same again, and b's
		// count and a's lock are still there.
		requireStatus(e, "s", false, 4, want...)
		counted(e, pb, b)
		refusedAttempt(e, pb, b, store.ScopePair, long)
		locked(e, pa, store.ScopePair, long)
		requireStatus(e, "s2", false, 2, pairWant{"integration-z", true, 0})
	}},
	{"CustomerLock", func(e *env) {
		// The customer's lock is reported beside the pairs' counts, which
		// it does not clear; the customer's count is cleared by the lock.
		b := customerBudget(2, long, long)
		putCode(e, pa, newCode("a"), long)
		putCode(e, pb, newCode("b"), long)
		counted(e, pa, b)
		requireStatus(e, "s", false, 1, pairWant{pa.Integration, false, 1})
		counted(e, pb, b)
		failSets(e, pb, b, store.ScopeCustomer, long)
		requireStatus(e, "s", true, 0,
			pairWant{pa.Integration, false, 1},
			pairWant{pb.Integration, false, 1})
	}},
	{"Expiry", func(e *env) {
		// Counts and locks leave Status when they expire.
		b := store.Budgets{
			MaxAttempts: noLimit,
			Pair:        store.Budget{Limit: 1, Window: short, LockFor: short},
			Customer:    store.Budget{Limit: 10, Window: short, LockFor: short},
		}
		putCode(e, pa, newCode("a"), long)
		putCode(e, pb, newCode("b"), long)
		counted(e, pa, b)
		counted(e, pb, b)
		failSets(e, pb, b, store.ScopePair, short)
		requireStatus(e, "s", false, 2, pairWant{pa.Integration, false, 1}, pairWant{pb.Integration, true, 0})
		e.advance(short + slack)
		requireStatus(e, "s", false, 0)
	}},
	{"LockWithoutCount", func(e *env) {
		// A pair locked by Fail with no count before it (a limit below 1)
		// is listed, and Unlock(subject, "") finds it.
		b := pairBudget(noLimit, 0, long, long)
		failSets(e, pa, b, store.ScopePair, long)
		failSets(e, pb, b, store.ScopePair, long)
		requireStatus(e, "s", false, 0, pairWant{pa.Integration, true, 0}, pairWant{pb.Integration, true, 0})
		unlock(e, "s", "")
		requireStatus(e, "s", false, 0)
		locked(e, pa, store.ScopeNone, 0)
		locked(e, pb, store.ScopeNone, 0)
	}},
	{"UnlockAll", func(e *env) {
		// Unlock(subject, "") clears the customer's lock and count and
		// every pair's, and nothing of another subject: every pair of the
		// subject, and the customer, get their whole budgets back, and
		// their codes are untouched.
		other := store.Pair{Integration: pa.Integration, Subject: "s2"}
		putCode(e, other, newCode("o"), long)
		counted(e, other, pairBudget(noLimit, 1, long, long))
		failSets(e, other, pairBudget(noLimit, 1, long, long), store.ScopePair, long)
		b := lockSubject(e)
		unlock(e, "s", "")
		requireStatus(e, "s", false, 0)
		for _, p := range []store.Pair{pa, pb, pc, pd} {
			locked(e, p, store.ScopeNone, 0)
		}
		// Pair budgets of 1 and a customer budget of 3, all whole again.
		requireCode(e, counted(e, pa, b), newCode(pa.Integration), 2)
		requireCode(e, counted(e, pd, b), newCode(pd.Integration), 2)
		requireCode(e, counted(e, pb, b), newCode(pb.Integration), 2)
		refusedAttempt(e, pc, b, store.ScopeCustomer, long)
		locked(e, other, store.ScopePair, long)
		requireStatus(e, "s2", false, 1, pairWant{other.Integration, true, 0})
	}},
	{"UnlockPair", func(e *env) {
		// Unlock(subject, integration) clears that pair's lock and count
		// only: the customer's lock and the other pairs' stay.
		b := lockSubject(e)
		unlock(e, "s", pa.Integration)
		requireStatus(e, "s", true, 0,
			pairWant{pb.Integration, true, 0},
			pairWant{pd.Integration, false, 1})
		locked(e, pa, store.ScopeCustomer, long)
		unlock(e, "s", pd.Integration)
		requireStatus(e, "s", true, 0, pairWant{pb.Integration, true, 0})
		unlock(e, "s", pc.Integration) // has nothing
		requireStatus(e, "s", true, 0, pairWant{pb.Integration, true, 0})
		unlock(e, "s", "")
		requireStatus(e, "s", false, 0)
		// a's pair budget of 1 is whole; b's was cleared with the rest.
		counted(e, pa, b)
		counted(e, pb, b)
	}},
	{"UnlockLeavesTheRest", func(e *env) {
		// Unlock touches no code, cooldown, window, bucket or session.
		lockSubject(e)
		createSession(e, tokenHash("s"), newSession("s"), long)
		allowed(e, "Cooldown", cooldownOf(e, "s", long))
		hitLeft(e, "s", 1, long, 0)
		allowed(e, "Take", takeOf(e, "s", rate.Every(time.Hour), 1))
		unlock(e, "s", pa.Integration)
		unlock(e, "s", "")
		refused(e, "Cooldown", long, cooldownOf(e, "s", long))
		refused(e, "Hit", long, hitOf(e, "s", 1, long))
		refused(e, "Take", time.Hour, takeOf(e, "s", rate.Every(time.Hour), 1))
		requireSession(e, getSession(e, tokenHash("s"), true), newSession("s"))
		for _, p := range []store.Pair{pa, pb, pc, pd} {
			consume(e, p, p.Integration, true)
		}
	}},
	{"UnlockMissing", func(e *env) {
		unlock(e, "nobody", "")
		unlock(e, "nobody", pa.Integration)
		requireStatus(e, "nobody", false, 0)
	}},
}
