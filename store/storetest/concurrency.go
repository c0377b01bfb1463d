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

// countedAttempts makes n concurrent attempts on subject "s"'s code, with
// maxAttempts and a budget of 1000, and returns the Attempts each saw, by
// attempt. Every attempt must find the code and be counted.
func countedAttempts(e *env, n, maxAttempts int) []int {
	e.t.Helper()
	counts := make([]int, n)
	e.parallel(n, func(i int) error {
		a, err := e.s.AttemptCode(e.ctx, "s", maxAttempts, 1000, long)
		if err != nil {
			return err
		}
		if !a.Found || a.Locked != 0 {
			return fmt.Errorf("attempt %d: got Found %v, Locked %v, want a counted attempt", i, a.Found, a.Locked)
		}
		counts[i] = a.Code.Attempts
		return nil
	})
	return counts
}

var concurrencyCases = []testCase{
	{"AttemptCode", func(e *env) {
		// Concurrent attempts each see a distinct count.
		const n = 200
		putCode(e, "s", newCode("c"), long)
		counts := countedAttempts(e, n, 1000)
		slices.Sort(counts)
		for i, c := range counts {
			if c != i+1 {
				e.t.Fatalf("sorted attempt counts[%d]: got %d, want %d (every count 1..%d exactly once)", i, c, i+1, n)
			}
		}
		requireCode(e, attempt(e, "s", true), newCode("c"), n+1)
	}},
	{"AttemptBurnsCode", func(e *env) {
		// Of concurrent attempts on a code, exactly maxAttempts are within
		// it, and only those charge the budget.
		const n, maxAttempts = 100, 5
		putCode(e, "s", newCode("c"), long)
		counts := countedAttempts(e, n, maxAttempts)
		inLimit := 0
		for _, c := range counts {
			if c <= maxAttempts {
				inLimit++
			}
		}
		if inLimit != maxAttempts {
			e.t.Fatalf("attempts within maxAttempts: got %d, want %d", inLimit, maxAttempts)
		}
		slices.Sort(counts)
		for i, c := range counts {
			if c != i+1 {
				e.t.Fatalf("sorted attempt counts[%d]: got %d, want %d", i, c, i+1)
			}
		}
		// maxAttempts charged: with a budget of maxAttempts+1, one more.
		putCode(e, "s", newCode("d"), long)
		requireCode(e, counted(e, "s", noLimit, maxAttempts+1, long), newCode("d"), 1)
		refusedAttempt(e, "s", noLimit, maxAttempts+1, long, long)
	}},
	{"AttemptBudget", func(e *env) {
		// With 2 of a budget of 10 left, of 50 concurrent attempts exactly
		// 2 are counted; the others are refused and count nothing.
		const n, budget, spent = 50, 10, 8
		putCode(e, "s", newCode("old"), long)
		for range spent {
			counted(e, "s", 1000, budget, long)
		}
		putCode(e, "s", newCode("c"), long)
		found := make([]bool, n)
		counts := make([]int, n)
		e.parallel(n, func(i int) error {
			a, err := e.s.AttemptCode(e.ctx, "s", 1000, budget, long)
			if err != nil {
				return err
			}
			switch {
			case a.Found && a.Locked == 0:
				found[i], counts[i] = true, a.Code.Attempts
			case !a.Found && a.Locked > 0 && a.Locked <= long:
			default:
				return fmt.Errorf("attempt %d: got Found %v, Locked %v, want counted or refused with Locked in (0, %v]", i, a.Found, a.Locked, long)
			}
			return nil
		})
		if got, want := countTrue(found), budget-spent; got != want {
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
		refusedAttempt(e, "s", 1000, budget, long, long)
		resetFailures(e, "s")
		requireCode(e, counted(e, "s", 1000, budget, long), newCode("c"), 3)
	}},
	{"GuessBurst", func(e *env) {
		// Concurrent guesses, each doing what a service does with a wrong
		// code (AttemptCode, then Fail): no more than limit are evaluated,
		// and the subject ends locked.
		const n, limit = 100, 10
		putCode(e, "s", newCode("c"), long)
		got := e.count(n, func(i int) (bool, error) {
			a, err := e.s.AttemptCode(e.ctx, "s", noLimit, limit, long)
			if err != nil {
				return false, err
			}
			if !a.Found {
				if a.Locked <= 0 {
					return false, fmt.Errorf("guess %d: got neither Found nor Locked, want one", i)
				}
				return false, nil
			}
			_, err = e.s.Fail(e.ctx, "s", limit, long)
			return true, err
		})
		if got != limit {
			e.t.Fatalf("guesses evaluated: got %d, want %d", got, limit)
		}
		locked(e, "s", true, long)
	}},
	{"ConsumeCode", func(e *env) {
		const n = 50
		putCode(e, "s", newCode("c"), long)
		got := e.count(n, func(int) (bool, error) {
			return e.s.ConsumeCode(e.ctx, "s", "c")
		})
		if got != 1 {
			e.t.Fatalf("ConsumeCode calls that deleted: got %d, want 1", got)
		}
		attempt(e, "s", false)
	}},
	{"AttemptWhileConsume", func(e *env) {
		// Attempts racing a consume either see the code or not; after the
		// consume it is gone and exactly one consume deleted it.
		const n = 100
		putCode(e, "s", newCode("c"), long)
		got := e.count(n, func(i int) (bool, error) {
			if i%10 == 0 {
				return e.s.ConsumeCode(e.ctx, "s", "c")
			}
			a, err := e.s.AttemptCode(e.ctx, "s", noLimit, noLimit, long)
			if err == nil && a.Found && a.Code.ID != "c" {
				return false, fmt.Errorf("attempt %d: ID: got %q, want %q", i, a.Code.ID, "c")
			}
			return false, err
		})
		if got != 1 {
			e.t.Fatalf("ConsumeCode calls that deleted: got %d, want 1", got)
		}
		attempt(e, "s", false)
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
	{"Fail", func(e *env) {
		// Below the limit concurrent Fail calls change nothing; at the
		// limit one locks and every other finds the lock.
		const n, limit = 50, 10
		putCode(e, "s", newCode("c"), long)
		for range limit - 1 {
			counted(e, "s", noLimit, limit, long)
		}
		locks := make([]time.Duration, n)
		e.parallel(n, func(i int) error {
			l, err := e.s.Fail(e.ctx, "s", limit, long)
			locks[i] = l
			return err
		})
		for i, l := range locks {
			if l != 0 {
				e.t.Fatalf("Fail %d below the limit: got lock %v, want 0", i, l)
			}
		}
		locked(e, "s", false, 0)
		counted(e, "s", noLimit, limit, long)
		e.parallel(n, func(i int) error {
			l, err := e.s.Fail(e.ctx, "s", limit, long)
			locks[i] = l
			return err
		})
		for i, l := range locks {
			if l <= 0 || l > long {
				e.t.Fatalf("Fail %d at the limit: got lock %v, want in (0, %v]", i, l, long)
			}
		}
		locked(e, "s", true, long)
	}},
	{"Hit", func(e *env) {
		const n, limit = 100, 5
		got := e.count(n, func(int) (bool, error) {
			a, _, err := e.s.Hit(e.ctx, "s", limit, long)
			return a, err
		})
		if got != limit {
			e.t.Fatalf("Hit calls allowed: got %d, want %d", got, limit)
		}
	}},
	{"Cooldown", func(e *env) {
		const n = 50
		got := e.count(n, func(int) (bool, error) {
			a, _, err := e.s.Cooldown(e.ctx, "s", long)
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
		// Every operation on many subjects at once: a race detector run
		// catches unsynchronised shared state.
		const n = 64
		e.parallel(n, func(i int) error {
			subject := fmt.Sprintf("subject-%d", i%8)
			ops := []func() error{
				func() error { return e.s.PutCode(e.ctx, subject, newCode("c"), long) },
				func() error { _, err := e.s.AttemptCode(e.ctx, subject, 5, 3, long); return err },
				func() error { _, err := e.s.ConsumeCode(e.ctx, subject, "c"); return err },
				func() error { _, err := e.s.Fail(e.ctx, subject, 3, long); return err },
				func() error { _, _, err := e.s.Locked(e.ctx, subject); return err },
				func() error { return e.s.ResetFailures(e.ctx, subject) },
				func() error { _, _, err := e.s.Cooldown(e.ctx, subject, long); return err },
				func() error { _, _, err := e.s.Hit(e.ctx, subject, 3, long); return err },
				func() error { _, _, err := e.s.Take(e.ctx, subject, 1, 3); return err },
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
