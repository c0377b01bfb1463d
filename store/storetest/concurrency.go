package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/otpguard/otpguard/store"
	"golang.org/x/time/rate"
)

// parallel runs f(i) for i in [0, n) on n goroutines released together,
// and fails the test with every error they returned, joined. f must not
// call t.Fatal.
func (e *env) parallel(n int, f func(i int) error) {
	e.t.Helper()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		e.t.Fatal(err)
	}
}

// count runs f as parallel does, and returns how many of its calls
// returned true.
func (e *env) count(n int, f func(i int) (bool, error)) int {
	e.t.Helper()
	bs := make([]bool, n)
	e.parallel(n, func(i int) error {
		b, err := f(i)
		bs[i] = b
		return err
	})
	return countTrue(bs)
}

// countTrue returns how many of bs are true.
func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// countedAttempts makes n concurrent attempts on pair pa's code, with
// maxAttempts and a pair budget of 1000, and returns the Attempts each saw,
// by attempt. Every attempt must find the code and be counted.
func countedAttempts(e *env, n, maxAttempts int) []int {
	e.t.Helper()
	b := pairBudget(maxAttempts, 1000, long, long)
	counts := make([]int, n)
	e.parallel(n, func(i int) error {
		a, err := e.s.AttemptCode(e.ctx, pa, b)
		if err != nil {
			return err
		}
		if !a.Found || a.Lock.Locked() {
			return fmt.Errorf("attempt %d: got Found %v, Lock %v %v, want a counted attempt", i, a.Found, a.Lock.Scope, a.Lock.Remaining)
		}
		counts[i] = a.Code.Attempts
		return nil
	})
	return counts
}

// guess is what a service does with a wrong code, on real goroutines: it
// calls AttemptCode, and when the attempt is judged (found, not burned)
// Fail. It returns whether the attempt was judged, the Attempts it saw,
// and Fail's lock; an Attempt or Lock that contradicts itself is an error.
func guess(e *env, p store.Pair, b store.Budgets) (judged bool, attempts int, lock store.Lock, err error) {
	a, err := e.s.AttemptCode(e.ctx, p, b)
	if err != nil {
		return false, 0, store.Lock{}, err
	}
	if err := checkAttempt(fmt.Sprintf("AttemptCode(%v)", p), a); err != nil {
		return false, 0, store.Lock{}, err
	}
	if !a.Found {
		if !a.Lock.Locked() {
			return false, 0, store.Lock{}, fmt.Errorf("AttemptCode(%v): got neither Found nor a Lock, want one", p)
		}
		return false, 0, a.Lock, nil
	}
	if a.Code.Attempts > b.MaxAttempts {
		return false, a.Code.Attempts, store.Lock{}, nil
	}
	l, err := e.s.Fail(e.ctx, p, b)
	if err == nil {
		err = checkLock(fmt.Sprintf("Fail(%v)", p), l)
	}
	return true, a.Code.Attempts, l, err
}

// integrations returns n pairs of distinct integrations on subject "s".
func integrations(n int) []store.Pair {
	ps := make([]store.Pair, n)
	for i := range ps {
		ps[i] = store.Pair{Integration: fmt.Sprintf("integration-%d", i), Subject: "s"}
	}
	return ps
}

var concurrencyCases = []testCase{
	{"AttemptCode", func(e *env) {
		// Concurrent attempts each see a distinct count.
		const n = 200
		putCode(e, pa, newCode("c"), long)
		counts := countedAttempts(e, n, 1000)
		slices.Sort(counts)
		for i, c := range counts {
			if c != i+1 {
				e.t.Fatalf("sorted attempt counts[%d]: got %d, want %d (every count 1..%d exactly once)", i, c, i+1, n)
			}
		}
		requireCode(e, attempt(e, pa, true), newCode("c"), n+1)
	}},
	{"AttemptBurnsCode", func(e *env) {
		// Of concurrent attempts on a code, exactly MaxAttempts are within
		// it, and only those charge the budget.
		const n, maxAttempts = 100, 5
		putCode(e, pa, newCode("c"), long)
		counts := countedAttempts(e, n, maxAttempts)
		inLimit := 0
		for _, c := range counts {
			if c <= maxAttempts {
				inLimit++
			}
		}
		if inLimit != maxAttempts {
			e.t.Fatalf("attempts within MaxAttempts: got %d, want %d", inLimit, maxAttempts)
		}
		slices.Sort(counts)
		for i, c := range counts {
			if c != i+1 {
				e.t.Fatalf("sorted attempt counts[%d]: got %d, want %d", i, c, i+1)
			}
		}
		// MaxAttempts charged: with a pair budget of MaxAttempts+1, one
		// more.
		b := pairBudget(noLimit, maxAttempts+1, long, long)
		putCode(e, pa, newCode("d"), long)
		requireCode(e, counted(e, pa, b), newCode("d"), 1)
		refusedAttempt(e, pa, b, store.ScopePair, long)
	}},
	{"AttemptBudget", func(e *env) {
		// With 2 of a pair budget of 10 left, of 50 concurrent attempts
		// exactly 2 are counted; the others are refused and count
		// nothing.
		const n, limit, spent = 50, 10, 8
		b := pairBudget(1000, limit, long, long)
		putCode(e, pa, newCode("old"), long)
		for range spent {
			counted(e, pa, b)
		}
		putCode(e, pa, newCode("c"), long)
		found := make([]bool, n)
		counts := make([]int, n)
		e.parallel(n, func(i int) error {
			a, err := e.s.AttemptCode(e.ctx, pa, b)
			if err != nil {
				return err
			}
			switch {
			case a.Found && !a.Lock.Locked():
				found[i], counts[i] = true, a.Code.Attempts
			case !a.Found && a.Lock.Scope == store.ScopePair && a.Lock.Remaining > 0 && a.Lock.Remaining <= long:
			default:
				return fmt.Errorf("attempt %d: got Found %v, Lock %v %v, want counted or refused with a pair lock in (0, %v]", i, a.Found, a.Lock.Scope, a.Lock.Remaining, long)
			}
			return nil
		})
		if got, want := countTrue(found), limit-spent; got != want {
			e.t.Fatalf("attempts counted: got %d, want %d", got, want)
		}
		var seen []int
		for i, f := range found {
			if f {
				seen = append(seen, counts[i])
			}
		}
		slices.Sort(seen)
		if !slices.Equal(seen, []int{1, 2}) {
			e.t.Fatalf("Attempts of the counted attempts: got %v, want [1 2]", seen)
		}
		refusedAttempt(e, pa, b, store.ScopePair, long)
		succeed(e, pa)
		requireCode(e, counted(e, pa, b), newCode("c"), 3)
	}},
	{"GuessBurst", func(e *env) {
		// Concurrent guesses, each doing what a service does with a wrong
		// code (AttemptCode, then Fail): no more than Pair.Limit are
		// judged, exactly one Fail sets the pair's lock, and the pair ends
		// locked.
		const n, limit = 100, 10
		b := pairBudget(noLimit, limit, long, long)
		putCode(e, pa, newCode("c"), long)
		sets := make([]bool, n)
		got := e.count(n, func(i int) (bool, error) {
			judged, _, l, err := guess(e, pa, b)
			if err == nil && l.Set && l.Scope != store.ScopePair {
				err = fmt.Errorf("guess %d: Fail set a %v lock, want a pair lock", i, l.Scope)
			}
			sets[i] = l.Set
			return judged, err
		})
		if got != limit {
			e.t.Fatalf("guesses judged: got %d, want %d", got, limit)
		}
		if got := countTrue(sets); got != 1 {
			e.t.Fatalf("Fail calls that reported Set: got %d, want 1", got)
		}
		locked(e, pa, store.ScopePair, long)
	}},
	{"PairGuessBurst", func(e *env) {
		// 200 concurrent wrong guesses spread over 4 integrations on one
		// subject, each with its own code: every code is judged exactly
		// MaxAttempts times (no more, and never beyond the pair's or the
		// customer's budget), every attempt is counted on its own pair's
		// code, and the customer's count ends at exactly the charges
		// made.
		const n, ways, maxAttempts = 200, 4, 5
		b := store.Budgets{
			MaxAttempts: maxAttempts,
			Pair:        store.Budget{Limit: 10, Window: long, LockFor: long},
			Customer:    store.Budget{Limit: 25, Window: long, LockFor: long},
		}
		ps := integrations(ways)
		for _, p := range ps {
			putCode(e, p, newCode(p.Integration), long)
		}
		judged := make([]bool, n)
		attempts := make([]int, n)
		e.parallel(n, func(i int) error {
			j, a, l, err := guess(e, ps[i%ways], b)
			judged[i], attempts[i] = j, a
			if err == nil && l.Locked() {
				err = fmt.Errorf("guess %d: Fail locked %v for %v, want no lock below every budget", i, l.Scope, l.Remaining)
			}
			return err
		})
		total := 0
		for w, p := range ps {
			var seen []int
			perCode := 0
			for i := w; i < n; i += ways {
				seen = append(seen, attempts[i])
				if judged[i] {
					perCode++
				}
			}
			if perCode > maxAttempts || perCode > b.Pair.Limit {
				e.t.Fatalf("guesses judged on %v's code: got %d, want at most %d", p, perCode, min(maxAttempts, b.Pair.Limit))
			}
			if perCode != maxAttempts {
				e.t.Fatalf("guesses judged on %v's code: got %d, want exactly %d (nothing else refuses)", p, perCode, maxAttempts)
			}
			slices.Sort(seen)
			for k, a := range seen {
				if a != k+1 {
					e.t.Fatalf("%v: sorted Attempts[%d]: got %d, want %d (every count 1..%d once)", p, k, a, k+1, n/ways)
				}
			}
			total += perCode
		}
		if total > b.Customer.Limit {
			e.t.Fatalf("guesses judged on the customer: got %d, want at most %d", total, b.Customer.Limit)
		}
		// The customer's count is exactly the 20 judged: 5 more lock it,
		// and not 4.
		putCode(e, ps[0], newCode("fresh"), long)
		for range b.Customer.Limit - total - 1 {
			wrongOpen(e, ps[0], b)
		}
		counted(e, ps[0], b)
		failSets(e, ps[0], b, store.ScopeCustomer, long)
	}},
	{"CustomerGuessBurst", func(e *env) {
		// 200 concurrent wrong guesses over 4 integrations on one subject,
		// with codes that never burn: no pair is judged beyond
		// Pair.Limit, exactly Customer.Limit are judged in all, exactly
		// one Fail sets the customer's lock, and the customer ends locked
		// for every integration.
		const n, ways = 200, 4
		b := store.Budgets{
			MaxAttempts: noLimit,
			Pair:        store.Budget{Limit: 10, Window: long, LockFor: long},
			Customer:    store.Budget{Limit: 25, Window: long, LockFor: long},
		}
		ps := integrations(ways)
		for _, p := range ps {
			putCode(e, p, newCode(p.Integration), long)
		}
		judged := make([]bool, n)
		setsCustomer := make([]bool, n)
		e.parallel(n, func(i int) error {
			j, _, l, err := guess(e, ps[i%ways], b)
			judged[i] = j
			setsCustomer[i] = l.Set && l.Scope == store.ScopeCustomer
			return err
		})
		total := 0
		for w, p := range ps {
			perPair := 0
			for i := w; i < n; i += ways {
				if judged[i] {
					perPair++
				}
			}
			if perPair > b.Pair.Limit {
				e.t.Fatalf("guesses judged on %v: got %d, want at most %d", p, perPair, b.Pair.Limit)
			}
			total += perPair
		}
		if total != b.Customer.Limit {
			e.t.Fatalf("guesses judged on the customer: got %d, want %d", total, b.Customer.Limit)
		}
		if got := countTrue(setsCustomer); got != 1 {
			e.t.Fatalf("Fail calls that set the customer's lock: got %d, want 1", got)
		}
		// A fifth integration, which guessed nothing, is locked out too.
		for _, p := range integrations(ways + 1) {
			locked(e, p, store.ScopeCustomer, long)
		}
	}},
	{"ConsumeCode", func(e *env) {
		const n = 50
		putCode(e, pa, newCode("c"), long)
		got := e.count(n, func(int) (bool, error) {
			return e.s.ConsumeCode(e.ctx, pa, "c")
		})
		if got != 1 {
			e.t.Fatalf("ConsumeCode calls that deleted: got %d, want 1", got)
		}
		attempt(e, pa, false)
	}},
	{"AttemptWhileConsume", func(e *env) {
		// Attempts racing a consume either see the code or not; after the
		// consume it is gone and exactly one consume deleted it.
		const n = 100
		putCode(e, pa, newCode("c"), long)
		got := e.count(n, func(i int) (bool, error) {
			if i%10 == 0 {
				return e.s.ConsumeCode(e.ctx, pa, "c")
			}
			a, err := e.s.AttemptCode(e.ctx, pa, open)
			if err == nil && a.Found && a.Code.ID != "c" {
				return false, fmt.Errorf("attempt %d: ID: got %q, want %q", i, a.Code.ID, "c")
			}
			return false, err
		})
		if got != 1 {
			e.t.Fatalf("ConsumeCode calls that deleted: got %d, want 1", got)
		}
		attempt(e, pa, false)
	}},
	{"Sessions", func(e *env) {
		const n = 100
		hash := func(i int) string { return store.HashToken(fmt.Sprintf("token-%d", i)) }
		e.parallel(n, func(i int) error {
			s := newSession(fmt.Sprintf("cust-%d", i))
			if err := e.s.CreateSession(e.ctx, hash(i), s, long); err != nil {
				return err
			}
			// Read a neighbour's session while others are being written.
			_, _, err := e.s.GetSession(e.ctx, hash((i+1)%n))
			return err
		})
		for i := 0; i < n; i++ {
			requireSession(e, getSession(e, hash(i), true), newSession(fmt.Sprintf("cust-%d", i)))
		}
		got := e.count(n, func(i int) (bool, error) {
			return e.s.RevokeSession(e.ctx, hash(i/2))
		})
		if want := n / 2; got != want {
			e.t.Fatalf("RevokeSession calls that deleted: got %d, want %d", got, want)
		}
	}},
	{"UseSession", func(e *env) {
		// Of concurrent uses of one session for one action exactly one is
		// first; with several actions at once, exactly one per action.
		const n = 50
		h := tokenHash("use")
		createSession(e, h, newSession("cust-1"), long)
		got := e.count(n, func(int) (bool, error) {
			return e.s.UseSession(e.ctx, h, "redeem")
		})
		if got != 1 {
			e.t.Fatalf("UseSession calls that were first: got %d, want 1", got)
		}
		actions := []string{"a", "b", "c", "d", "e"}
		firsts := make([]bool, n)
		e.parallel(n, func(i int) error {
			first, err := e.s.UseSession(e.ctx, h, actions[i%len(actions)])
			firsts[i] = first
			return err
		})
		for k, a := range actions {
			perAction := 0
			for i := k; i < n; i += len(actions) {
				if firsts[i] {
					perAction++
				}
			}
			if perAction != 1 {
				e.t.Fatalf("UseSession calls for %q that were first: got %d, want 1", a, perAction)
			}
		}
	}},
	{"RevokeSessions", func(e *env) {
		// Sessions created concurrently are all indexed. Revocations by
		// customer and by integration racing each other, and reads and
		// uses racing them, delete every session exactly once: the counts
		// they return add up to the number of sessions.
		const n, customers, integrations = 60, 2, 3
		hash := func(i int) string { return tokenHash(fmt.Sprint("race-", i)) }
		of := func(i int) store.Session {
			return sessionOf(fmt.Sprint("cust-", i%customers), fmt.Sprint("integration-", i%integrations))
		}
		e.parallel(n, func(i int) error {
			return e.s.CreateSession(e.ctx, hash(i), of(i), long)
		})
		for c := range customers {
			countIs(e, store.ScopeCustomer, fmt.Sprint("cust-", c), n/customers)
		}
		for in := range integrations {
			countIs(e, store.ScopeIntegration, fmt.Sprint("integration-", in), n/integrations)
		}
		const m = 100
		revoked := make([]int, m)
		e.parallel(m, func(i int) error {
			var err error
			switch i % 5 {
			case 0:
				revoked[i], err = e.s.RevokeSessions(e.ctx, store.ScopeCustomer, fmt.Sprint("cust-", i/5%customers))
			case 1:
				revoked[i], err = e.s.RevokeSessions(e.ctx, store.ScopeIntegration, fmt.Sprint("integration-", i/5%integrations))
			case 2:
				s, found, gerr := e.s.GetSession(e.ctx, hash(i%n))
				if gerr == nil && found && s.CustomerID != of(i%n).CustomerID {
					gerr = fmt.Errorf("GetSession(%d) CustomerID: got %q, want %q", i%n, s.CustomerID, of(i%n).CustomerID)
				}
				err = gerr
			case 3:
				_, err = e.s.UseSession(e.ctx, hash(i%n), "redeem")
			case 4:
				_, err = e.s.CountSessions(e.ctx, store.ScopeCustomer, fmt.Sprint("cust-", i%customers))
			}
			return err
		})
		total := 0
		for _, r := range revoked {
			total += r
		}
		if total != n {
			e.t.Fatalf("sessions revoked by all RevokeSessions calls: got %d, want %d (each exactly once)", total, n)
		}
		for i := range n {
			getSession(e, hash(i), false)
		}
		for c := range customers {
			countIs(e, store.ScopeCustomer, fmt.Sprint("cust-", c), 0)
		}
	}},
	{"Fail", func(e *env) {
		// Below the limit concurrent Fail calls change nothing; at the
		// limit one locks the pair (Set) and every other finds the lock
		// (not Set).
		const n, limit = 50, 10
		b := pairBudget(noLimit, limit, long, long)
		putCode(e, pa, newCode("c"), long)
		for range limit - 1 {
			counted(e, pa, b)
		}
		locks := make([]store.Lock, n)
		e.parallel(n, func(i int) error {
			l, err := e.s.Fail(e.ctx, pa, b)
			locks[i] = l
			return err
		})
		for i, l := range locks {
			if l != (store.Lock{}) {
				e.t.Fatalf("Fail %d below the limit: got %v %v, want the zero Lock", i, l.Scope, l.Remaining)
			}
		}
		locked(e, pa, store.ScopeNone, 0)
		counted(e, pa, b)
		e.parallel(n, func(i int) error {
			l, err := e.s.Fail(e.ctx, pa, b)
			locks[i] = l
			return err
		})
		oneLockSet(e, locks, store.ScopePair, "pair")
		locked(e, pa, store.ScopePair, long)
	}},
	{"FailCustomer", func(e *env) {
		// At the customer's limit, of concurrent Fail calls on its pairs
		// one locks the customer (Set) and every other finds the lock (not
		// Set).
		const n, limit = 50, 10
		b := customerBudget(limit, long, long)
		putCode(e, pa, newCode("ca"), long)
		putCode(e, pb, newCode("cb"), long)
		for range limit - 1 {
			counted(e, pa, b)
		}
		counted(e, pb, b)
		ps := []store.Pair{pa, pb, pc}
		locks := make([]store.Lock, n)
		e.parallel(n, func(i int) error {
			l, err := e.s.Fail(e.ctx, ps[i%len(ps)], b)
			locks[i] = l
			return err
		})
		oneLockSet(e, locks, store.ScopeCustomer, "customer")
		locked(e, pc, store.ScopeCustomer, long)
	}},
	{"Hit", func(e *env) {
		// Of concurrent Hits, exactly limit are allowed, each sees a
		// distinct Left, and exactly one sees the event that fills the
		// window (Left 0).
		const n, limit = 100, 10
		lefts := make([]int, n)
		oks := make([]bool, n)
		e.parallel(n, func(i int) error {
			w, err := e.s.Hit(e.ctx, "k", limit, long)
			if err == nil {
				err = checkWindow("Hit", w, limit)
			}
			if err == nil && !w.Allowed && (w.RetryAfter <= 0 || w.RetryAfter > long) {
				err = fmt.Errorf("hit %d: RetryAfter: got %v, want in (0, %v]", i, w.RetryAfter, long)
			}
			oks[i], lefts[i] = w.Allowed, w.Left
			return err
		})
		if got := countTrue(oks); got != limit {
			e.t.Fatalf("Hit calls allowed: got %d, want %d", got, limit)
		}
		var seen []int
		for i, ok := range oks {
			if ok {
				seen = append(seen, lefts[i])
			}
		}
		slices.Sort(seen)
		for k, left := range seen {
			if left != k {
				e.t.Fatalf("sorted Left of the allowed Hits[%d]: got %d, want %d (every Left 0..%d once, one filling event)", k, left, k, limit-1)
			}
		}
	}},
	{"Refund", func(e *env) {
		// Concurrent Refunds on a full window take back every counted
		// event and no more.
		const n, limit = 50, 10
		for left := limit - 1; left >= 0; left-- {
			hitLeft(e, "k", limit, long, left)
		}
		e.parallel(n, func(int) error { return e.s.Refund(e.ctx, "k") })
		peekLeft(e, "k", limit, limit)
		got := e.count(n, func(int) (bool, error) {
			w, err := e.s.Hit(e.ctx, "k", limit, long)
			return w.Allowed, err
		})
		if got != limit {
			e.t.Fatalf("Hit calls allowed after the refunds: got %d, want %d", got, limit)
		}
	}},
	{"Cooldown", func(e *env) {
		const n = 50
		got := e.count(n, func(int) (bool, error) {
			a, _, err := e.s.Cooldown(e.ctx, "k", long)
			return a, err
		})
		if got != 1 {
			e.t.Fatalf("Cooldown calls allowed: got %d, want 1", got)
		}
	}},
	{"Take", func(e *env) {
		const n, burst = 100, 10
		got := e.count(n, func(int) (bool, error) {
			a, _, err := e.s.Take(e.ctx, "k", rate.Every(time.Hour), burst)
			return a, err
		})
		if got != burst {
			e.t.Fatalf("Take calls allowed: got %d, want %d", got, burst)
		}
	}},
	{"ManySubjects", func(e *env) {
		// Every operation on many pairs and keys at once: a race detector
		// run catches unsynchronised shared state.
		const n = 64
		b := store.Budgets{
			MaxAttempts: 5,
			Pair:        store.Budget{Limit: 3, Window: long, LockFor: long},
			Customer:    store.Budget{Limit: 6, Window: long, LockFor: long},
		}
		e.parallel(n, func(i int) error {
			p := store.Pair{Integration: fmt.Sprintf("integration-%d", i%3), Subject: fmt.Sprintf("subject-%d", i%8)}
			key := p.Subject
			ops := []func() error{
				func() error { return e.s.PutCode(e.ctx, p, newCode("c"), long) },
				func() error { _, err := e.s.AttemptCode(e.ctx, p, b); return err },
				func() error { _, err := e.s.ConsumeCode(e.ctx, p, "c"); return err },
				func() error { _, err := e.s.Fail(e.ctx, p, b); return err },
				func() error { _, err := e.s.Locked(e.ctx, p); return err },
				func() error { return e.s.Succeed(e.ctx, p) },
				func() error { _, _, err := e.s.Cooldown(e.ctx, key, long); return err },
				func() error { _, err := e.s.Hit(e.ctx, key, 3, long); return err },
				func() error { _, err := e.s.Peek(e.ctx, key, 3); return err },
				func() error { return e.s.Refund(e.ctx, key) },
				func() error { _, _, err := e.s.Take(e.ctx, key, 1, 3); return err },
				func() error { _, err := e.s.Status(e.ctx, p.Subject); return err },
				func() error { return e.s.Unlock(e.ctx, p.Subject, p.Integration) },
				func() error { return e.s.Unlock(e.ctx, p.Subject, "") },
				func() error { return e.s.CreateSession(e.ctx, key, sessionOf(p.Subject, p.Integration), long) },
				func() error { _, err := e.s.UseSession(e.ctx, key, "redeem"); return err },
				func() error { _, err := e.s.RevokeSessions(e.ctx, store.ScopeCustomer, p.Subject); return err },
				func() error { _, err := e.s.CountSessions(e.ctx, store.ScopeIntegration, p.Integration); return err },
			}
			for j := range ops {
				if err := ops[(i+j)%len(ops)](); err != nil {
					return err
				}
			}
			return nil
		})
	}},
}

// oneLockSet fails e unless every lock that concurrent Fail calls at the
// limit returned is a lock of scope (named word) in (0, long], and exactly
// one of them reports that its call set it.
func oneLockSet(e *env, locks []store.Lock, scope store.LockScope, word string) {
	e.t.Helper()
	sets := 0
	for i, l := range locks {
		if l.Scope != scope || l.Remaining <= 0 || l.Remaining > long {
			e.t.Fatalf("Fail %d at the limit: got %v %v, want a %s lock in (0, %v]", i, l.Scope, l.Remaining, word, long)
		}
		if l.Set {
			sets++
		}
	}
	if sets != 1 {
		e.t.Fatalf("Fail calls at the limit that reported Set: got %d, want 1", sets)
	}
}
