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

// parallel runs f(i) for i in [0, n) on n goroutines released together, and
// returns every error they returned, joined. f must not call t.Fatal.
func parallel(n int, f func(i int) error) error {
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
	return errors.Join(errs...)
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

var concurrencyCases = []testCase{
	{"AttemptCode", func(e *env) {
		const n = 200
		putCode(e, "s", newCode("c"), long)
		counts := make([]int, n)
		err := parallel(n, func(i int) error {
			c, found, err := e.s.AttemptCode(e.ctx, "s")
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("attempt %d: found: got false, want true", i)
			}
			counts[i] = c.Attempts
			return nil
		})
		if err != nil {
			e.t.Fatal(err)
		}
		slices.Sort(counts)
		for i, c := range counts {
			if c != i+1 {
				e.t.Fatalf("sorted attempt counts[%d]: got %d, want %d (every count 1..%d exactly once)", i, c, i+1, n)
			}
		}
		requireCode(e, attempt(e, "s", true), newCode("c"), n+1)
	}},
	{"ConsumeCode", func(e *env) {
		const n = 50
		putCode(e, "s", newCode("c"), long)
		deleted := make([]bool, n)
		err := parallel(n, func(i int) error {
			d, err := e.s.ConsumeCode(e.ctx, "s", "c")
			deleted[i] = d
			return err
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if got := countTrue(deleted); got != 1 {
			e.t.Fatalf("ConsumeCode calls that deleted: got %d, want 1", got)
		}
		attempt(e, "s", false)
	}},
	{"AttemptWhileConsume", func(e *env) {
		// Attempts racing a consume either see the code or not; after the
		// consume it is gone and exactly one consume deleted it.
		const n = 100
		putCode(e, "s", newCode("c"), long)
		deleted := make([]bool, n)
		err := parallel(n, func(i int) error {
			if i%10 == 0 {
				d, err := e.s.ConsumeCode(e.ctx, "s", "c")
				deleted[i] = d
				return err
			}
			c, found, err := e.s.AttemptCode(e.ctx, "s")
			if err == nil && found && c.ID != "c" {
				return fmt.Errorf("attempt %d: ID: got %q, want %q", i, c.ID, "c")
			}
			return err
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if got := countTrue(deleted); got != 1 {
			e.t.Fatalf("ConsumeCode calls that deleted: got %d, want 1", got)
		}
		attempt(e, "s", false)
	}},
	{"Sessions", func(e *env) {
		const n = 100
		hash := func(i int) string { return store.HashToken(fmt.Sprintf("token-%d", i)) }
		err := parallel(n, func(i int) error {
			s := newSession(fmt.Sprintf("cust-%d", i))
			if err := e.s.CreateSession(e.ctx, hash(i), s, long); err != nil {
				return err
			}
			// Read a neighbour's session while others are being written.
			_, _, err := e.s.GetSession(e.ctx, hash((i+1)%n))
			return err
		})
		if err != nil {
			e.t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			requireSession(e, getSession(e, hash(i), true), newSession(fmt.Sprintf("cust-%d", i)))
		}
		revoked := make([]bool, n)
		err = parallel(n, func(i int) error {
			d, err := e.s.RevokeSession(e.ctx, hash(i/2))
			revoked[i] = d
			return err
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if got, want := countTrue(revoked), n/2; got != want {
			e.t.Fatalf("RevokeSession calls that deleted: got %d, want %d", got, want)
		}
	}},
	{"Fail", func(e *env) {
		// The 10th counted failure locks; the other 90 calls find the lock
		// and are not counted.
		const n, limit = 100, 10
		locks := make([]time.Duration, n)
		err := parallel(n, func(i int) error {
			l, err := e.s.Fail(e.ctx, "s", limit, long, long)
			locks[i] = l
			return err
		})
		if err != nil {
			e.t.Fatal(err)
		}
		open := 0
		for _, l := range locks {
			switch {
			case l == 0:
				open++
			case l < 0 || l > long:
				e.t.Fatalf("Fail lock: got %v, want 0 or in (0, %v]", l, long)
			}
		}
		if open != limit-1 {
			e.t.Fatalf("Fail calls that returned no lock: got %d, want %d", open, limit-1)
		}
		locked(e, "s", true, long)
	}},
	{"Hit", func(e *env) {
		const n, limit = 100, 5
		ok := make([]bool, n)
		err := parallel(n, func(i int) error {
			a, _, err := e.s.Hit(e.ctx, "s", limit, long)
			ok[i] = a
			return err
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if got := countTrue(ok); got != limit {
			e.t.Fatalf("Hit calls allowed: got %d, want %d", got, limit)
		}
	}},
	{"Cooldown", func(e *env) {
		const n = 50
		ok := make([]bool, n)
		err := parallel(n, func(i int) error {
			a, _, err := e.s.Cooldown(e.ctx, "s", long)
			ok[i] = a
			return err
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if got := countTrue(ok); got != 1 {
			e.t.Fatalf("Cooldown calls allowed: got %d, want 1", got)
		}
	}},
	{"Take", func(e *env) {
		const n, burst = 100, 10
		ok := make([]bool, n)
		err := parallel(n, func(i int) error {
			a, _, err := e.s.Take(e.ctx, "k", rate.Every(time.Hour), burst)
			ok[i] = a
			return err
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if got := countTrue(ok); got != burst {
			e.t.Fatalf("Take calls allowed: got %d, want %d", got, burst)
		}
	}},
	{"ManySubjects", func(e *env) {
		// Every operation on many subjects at once: a race detector run
		// catches unsynchronised shared state.
		const n = 64
		err := parallel(n, func(i int) error {
			subject := fmt.Sprintf("subject-%d", i%8)
			ops := []func() error{
				func() error { return e.s.PutCode(e.ctx, subject, newCode("c"), long) },
				func() error { _, _, err := e.s.AttemptCode(e.ctx, subject); return err },
				func() error { _, err := e.s.ConsumeCode(e.ctx, subject, "c"); return err },
				func() error { _, err := e.s.Fail(e.ctx, subject, 3, long, long); return err },
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
		if err != nil {
			e.t.Fatal(err)
		}
	}},
}
