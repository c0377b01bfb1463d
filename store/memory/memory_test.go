package memory_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/store/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// clockStart is where every test clock starts. storetest.Clock reads
// without a lock, so that benchmarks measure the store rather than the
// clock.
var clockStart = time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)

// newStore returns a store on a fresh fake clock, closed at the end of the
// test.
func newStore(tb testing.TB, opts ...memory.Option) (*memory.Store, *storetest.Clock) {
	tb.Helper()
	clk := storetest.NewClock(clockStart)
	s := memory.New(append([]memory.Option{memory.WithClock(clk.Now)}, opts...)...)
	tb.Cleanup(s.Close)
	return s, clk
}

// harness runs the storetest suite on fake clocks: Advance moves the clock
// of the store made last, and never sleeps.
func harness() storetest.Harness {
	var (
		mu  sync.Mutex
		clk *storetest.Clock
	)
	return storetest.Harness{
		New: func(tb testing.TB) store.Store {
			s, c := newStore(tb)
			mu.Lock()
			clk = c
			mu.Unlock()
			return s
		},
		Advance: func(tb testing.TB, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			if clk == nil {
				tb.Fatal("Advance before New")
			}
			clk.Advance(d)
		},
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, harness())
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, harness())
}

// BenchmarkBaseline is the floor GetSession is measured against: a lookup of
// the same keys in one Go map under a sync.RWMutex, plus one read of the same
// clock, with nothing else.
func BenchmarkBaseline(b *testing.B) {
	type record struct{ until time.Time }
	clk := storetest.NewClock(clockStart)
	var mu sync.RWMutex
	m := make(map[string]any)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = store.HashToken(fmt.Sprintf("bench-token-%d", i))
		m[keys[i]] = &record{until: clk.Now().Add(time.Hour)}
	}
	now := clk.Now
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mu.RLock()
		v, ok := m[keys[i%len(keys)]]
		mu.RUnlock()
		if r, _ := v.(*record); !ok || !now().Before(r.until) {
			b.Fatal("baseline lookup missed")
		}
	}
}

// goroutinesAtMost polls until at most n goroutines run, and reports whether
// that happened within a second. Goroutines that have finished may take a
// moment to disappear from runtime.NumGoroutine.
func goroutinesAtMost(n int) bool {
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// settledGoroutines waits until goroutines that earlier tests ended have
// left runtime.NumGoroutine, and returns the count.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 100 {
		time.Sleep(2 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

func TestCloseStopsJanitor(t *testing.T) {
	before := settledGoroutines()

	stores := make([]*memory.Store, 5)
	for i := range stores {
		stores[i] = memory.New(memory.WithCleanupInterval(time.Millisecond))
	}
	if got, want := runtime.NumGoroutine(), before+len(stores); got < want {
		t.Fatalf("goroutines with %d stores open: got %d, want at least %d (one janitor each)", len(stores), got, want)
	}
	for _, s := range stores {
		s.Close()
		s.Close() // idempotent
	}
	if !goroutinesAtMost(before) {
		t.Fatalf("goroutines after Close: got %d, want at most %d", runtime.NumGoroutine(), before)
	}
}

func TestCloseConcurrent(t *testing.T) {
	before := settledGoroutines()
	s := memory.New(memory.WithCleanupInterval(time.Millisecond))
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Close()
		}()
	}
	wg.Wait()
	if !goroutinesAtMost(before) {
		t.Fatalf("goroutines after Close: got %d, want at most %d", runtime.NumGoroutine(), before)
	}
	// The store stays usable after Close.
	ctx := context.Background()
	require.NoError(t, s.CreateSession(ctx, "h", store.Session{CustomerID: "c"}, time.Minute))
	_, found, err := s.GetSession(ctx, "h")
	require.NoError(t, err)
	assert.True(t, found, "GetSession after Close: got found=false, want true")
}

func TestNoJanitor(t *testing.T) {
	before := settledGoroutines()
	for _, d := range []time.Duration{0, -time.Second} {
		s := memory.New(memory.WithCleanupInterval(d))
		if got := runtime.NumGoroutine(); got > before {
			t.Errorf("WithCleanupInterval(%v): goroutines got %d, want %d", d, got, before)
		}
		s.Close()
	}
}

// Pairs the tests use: integrations a and b on one subject.
var (
	pa = store.Pair{Integration: "a", Subject: "subj"}
	pb = store.Pair{Integration: "b", Subject: "subj"}
)

// pairOf returns the pair of integration "a" and subject.
func pairOf(subject string) store.Pair { return store.Pair{Integration: "a", Subject: subject} }

// pairItem is the Items key of a pair's record in family.
func pairItem(family string, p store.Pair) string {
	return family + "/" + p.Subject + "\x00" + p.Integration
}

// budgets returns Budgets of maxAttempts, a pair budget and a customer
// budget.
func budgets(maxAttempts int, pair, customer store.Budget) store.Budgets {
	return store.Budgets{MaxAttempts: maxAttempts, Pair: pair, Customer: customer}
}

// unlimited is a budget no test reaches.
var unlimited = store.Budget{Limit: 1 << 30, Window: time.Hour, LockFor: time.Hour}

// open is Budgets no test reaches.
var open = budgets(1<<30, unlimited, unlimited)

func TestExpiryFollowsClock(t *testing.T) {
	ctx := context.Background()
	s, clk := newStore(t)
	const ttl = 10 * time.Minute
	require.NoError(t, s.PutCode(ctx, pa, store.Code{ID: "c"}, ttl))
	require.NoError(t, s.CreateSession(ctx, "hash", store.Session{CustomerID: "c"}, ttl))
	// A pair budget of 1 spent on "spent", a customer budget of 1 spent
	// on "custspent", a pair lock on "locked" and a customer lock on
	// "custlocked", all for ttl.
	spent, custSpent := pairOf("spent"), pairOf("custspent")
	pairOne := budgets(10, store.Budget{Limit: 1, Window: ttl, LockFor: ttl}, unlimited)
	custOne := budgets(10, unlimited, store.Budget{Limit: 1, Window: ttl, LockFor: ttl})
	for _, p := range []store.Pair{spent, custSpent} {
		require.NoError(t, s.PutCode(ctx, p, store.Code{ID: "c"}, 2*ttl))
	}
	a, err := s.AttemptCode(ctx, spent, pairOne)
	require.NoError(t, err)
	require.True(t, a.Found, "AttemptCode: got found=false, want true")
	a, err = s.AttemptCode(ctx, custSpent, custOne)
	require.NoError(t, err)
	require.True(t, a.Found, "AttemptCode: got found=false, want true")
	lock, err := s.Fail(ctx, pairOf("locked"), budgets(10, store.Budget{Limit: 0, LockFor: ttl}, unlimited))
	require.NoError(t, err)
	require.Equal(t, store.Lock{Scope: store.ScopePair, Remaining: ttl, Set: true}, lock, "Fail lock")
	lock, err = s.Fail(ctx, pairOf("custlocked"), budgets(10, unlimited, store.Budget{Limit: 0, LockFor: ttl}))
	require.NoError(t, err)
	require.Equal(t, store.Lock{Scope: store.ScopeCustomer, Remaining: ttl, Set: true}, lock, "Fail lock")

	// One nanosecond before the deadline everything is alive, at the
	// deadline everything is gone: the decision is the clock's, to the
	// nanosecond, however much real time passes.
	clk.Advance(ttl - time.Nanosecond)
	_, found, err := s.GetSession(ctx, "hash")
	require.NoError(t, err)
	assert.True(t, found, "GetSession 1ns before expiry: got found=false, want true")
	for _, tt := range []struct {
		p     store.Pair
		scope store.LockScope
	}{{pairOf("locked"), store.ScopePair}, {pairOf("custlocked"), store.ScopeCustomer}} {
		want := store.Lock{Scope: tt.scope, Remaining: time.Nanosecond}
		l, err := s.Locked(ctx, tt.p)
		require.NoError(t, err)
		assert.Equal(t, want, l, "Locked 1ns before expiry")
		a, err = s.AttemptCode(ctx, tt.p, open)
		require.NoError(t, err)
		assert.Equal(t, store.Attempt{Lock: want}, a, "AttemptCode 1ns before the lock ends")
	}
	a, err = s.AttemptCode(ctx, spent, pairOne)
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{Lock: store.Lock{Scope: store.ScopePair, Remaining: time.Nanosecond}}, a, "AttemptCode 1ns before the pair window ends")
	a, err = s.AttemptCode(ctx, custSpent, custOne)
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{Lock: store.Lock{Scope: store.ScopeCustomer, Remaining: ttl}}, a, "AttemptCode 1ns before the customer count is forgotten")
	a, err = s.AttemptCode(ctx, pa, open)
	require.NoError(t, err)
	require.True(t, a.Found, "AttemptCode 1ns before expiry: got found=false, want true")
	assert.Equal(t, 1, a.Code.Attempts)

	clk.Advance(time.Nanosecond)
	_, found, err = s.GetSession(ctx, "hash")
	require.NoError(t, err)
	assert.False(t, found, "GetSession at expiry: got found=true, want false")
	for _, p := range []store.Pair{pairOf("locked"), pairOf("custlocked")} {
		l, err := s.Locked(ctx, p)
		require.NoError(t, err)
		assert.Equal(t, store.Lock{}, l, "Locked at expiry")
	}
	a, err = s.AttemptCode(ctx, pa, open)
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{}, a, "AttemptCode at expiry: got %+v, want nothing found", a)
	for _, tt := range []struct {
		p store.Pair
		b store.Budgets
	}{{spent, pairOne}, {custSpent, custOne}} {
		a, err = s.AttemptCode(ctx, tt.p, tt.b)
		require.NoError(t, err)
		assert.True(t, a.Found, "AttemptCode(%v) once the count is gone: got %+v, want a counted attempt", tt.p, a)
		assert.Equal(t, 2, a.Code.Attempts)
	}
}

func TestClockBehindRealTime(t *testing.T) {
	// A clock that stands still keeps every record, even one with the
	// smallest TTL, however long the test runs in real time.
	ctx := context.Background()
	s, _ := newStore(t, memory.WithCleanupInterval(time.Millisecond))
	require.NoError(t, s.CreateSession(ctx, "hash", store.Session{CustomerID: "c"}, store.MinTTL))
	s.Sweep()
	_, found, err := s.GetSession(ctx, "hash")
	require.NoError(t, err)
	assert.True(t, found, "GetSession on a stopped clock: got found=false, want true")
}

func TestClampTTL(t *testing.T) {
	// A TTL below store.MinTTL lives exactly store.MinTTL.
	ctx := context.Background()
	for _, ttl := range []time.Duration{0, -time.Hour, store.MinTTL / 2} {
		t.Run(ttl.String(), func(t *testing.T) {
			s, clk := newStore(t)
			require.NoError(t, s.PutCode(ctx, pa, store.Code{ID: "c"}, ttl))
			require.NoError(t, s.CreateSession(ctx, "hash", store.Session{CustomerID: "c"}, ttl))
			clk.Advance(store.MinTTL - time.Nanosecond)
			_, found, err := s.GetSession(ctx, "hash")
			require.NoError(t, err)
			assert.True(t, found, "GetSession 1ns before MinTTL: got found=false, want true")
			a, err := s.AttemptCode(ctx, pa, open)
			require.NoError(t, err)
			assert.True(t, a.Found, "AttemptCode 1ns before MinTTL: got found=false, want true")
			clk.Advance(time.Nanosecond)
			_, found, err = s.GetSession(ctx, "hash")
			require.NoError(t, err)
			assert.False(t, found, "GetSession at MinTTL: got found=true, want false")
			a, err = s.AttemptCode(ctx, pa, open)
			require.NoError(t, err)
			assert.False(t, a.Found, "AttemptCode at MinTTL: got found=true, want false")
		})
	}
}

func TestExactDurations(t *testing.T) {
	ctx := context.Background()
	s, clk := newStore(t)
	tests := []struct {
		name string
		run  func() (bool, time.Duration, error)
		want time.Duration
	}{
		{"Cooldown", func() (bool, time.Duration, error) { return s.Cooldown(ctx, "a", time.Minute) }, time.Minute - 250*time.Microsecond},
		{"Hit", func() (bool, time.Duration, error) {
			w, err := s.Hit(ctx, "a", 1, time.Minute)
			return w.Allowed, w.RetryAfter, err
		}, time.Minute - 250*time.Microsecond},
		{"Take", func() (bool, time.Duration, error) { return s.Take(ctx, "a", rate.Every(time.Minute), 1) }, time.Minute - 250*time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, _, err := tt.run()
			require.NoError(t, err)
			require.True(t, ok, "first call: got refused, want allowed")
			clk.Advance(250 * time.Microsecond)
			ok, retry, err := tt.run()
			require.NoError(t, err)
			require.False(t, ok, "second call: got allowed, want refused")
			assert.Equal(t, tt.want, retry, "retryAfter: got %v, want %v", retry, tt.want)
			clk.Advance(-250 * time.Microsecond) // back, for the next case
		})
	}
}

func TestTake(t *testing.T) {
	ctx := context.Background()
	take := func(s *memory.Store, key string, r rate.Limit, burst int) (bool, time.Duration) {
		t.Helper()
		ok, retry, err := s.Take(ctx, key, r, burst)
		require.NoError(t, err)
		return ok, retry
	}
	t.Run("NeverRefills", func(t *testing.T) {
		s, clk := newStore(t)
		ok, _ := take(s, "k", 0, 1)
		require.True(t, ok, "first take: got refused, want allowed")
		ok, retry := take(s, "k", 0, 1)
		assert.False(t, ok, "take at rate 0: got allowed, want refused")
		assert.Equal(t, rate.InfDuration, retry, "retryAfter: got %v, want rate.InfDuration", retry)
		clk.Advance(23 * time.Hour)
		s.Sweep()
		ok, _ = take(s, "k", 0, 1)
		assert.False(t, ok, "take at rate 0 after 23h: got allowed, want refused")
	})
	t.Run("ZeroBurst", func(t *testing.T) {
		s, _ := newStore(t)
		ok, retry := take(s, "k", 10, 0)
		assert.False(t, ok, "take with burst 0: got allowed, want refused")
		assert.Equal(t, rate.InfDuration, retry, "retryAfter: got %v, want rate.InfDuration", retry)
	})
	t.Run("Infinite", func(t *testing.T) {
		s, _ := newStore(t)
		for i := range 100 {
			ok, _ := take(s, "k", rate.Inf, 0)
			require.True(t, ok, "take %d at rate.Inf: got refused, want allowed", i)
		}
	})
	t.Run("TinyRate", func(t *testing.T) {
		// A refill too slow for a Duration saturates instead of
		// overflowing, and the bucket is not evicted early.
		s, clk := newStore(t)
		ok, _ := take(s, "k", 1e-12, 1)
		require.True(t, ok)
		ok, retry := take(s, "k", 1e-12, 1)
		assert.False(t, ok, "second take: got allowed, want refused")
		assert.Equal(t, rate.InfDuration, retry, "retryAfter: got %v, want rate.InfDuration", retry)
		clk.Advance(100 * 365 * 24 * time.Hour)
		s.Sweep()
		assert.Contains(t, s.Items(), "buckets/k", "bucket of a tiny rate: got evicted, want kept")
	})
	t.Run("ChangeKeepsTokens", func(t *testing.T) {
		// Changing the rate or burst of a key must not refill it.
		s, _ := newStore(t)
		for range 3 {
			ok, _ := take(s, "k", rate.Every(time.Hour), 3)
			require.True(t, ok)
		}
		ok, retry := take(s, "k", rate.Every(time.Minute), 5)
		assert.False(t, ok, "take after raising burst: got allowed, want refused")
		assert.Equal(t, time.Minute, retry, "retryAfter at the new rate: got %v, want 1m", retry)
	})
	t.Run("IdleBucketEvicted", func(t *testing.T) {
		s, clk := newStore(t)
		ok, _ := take(s, "k", 1, 2)
		require.True(t, ok)
		require.Contains(t, s.Items(), "buckets/k")
		// Full again after 1s, kept a minute more.
		clk.Advance(time.Second + time.Minute - time.Nanosecond)
		s.Sweep()
		require.Contains(t, s.Items(), "buckets/k", "bucket before its idle deadline: got evicted, want kept")
		clk.Advance(time.Nanosecond)
		s.Sweep()
		assert.NotContains(t, s.Items(), "buckets/k", "bucket after its idle deadline: got kept, want evicted")
	})
}

func TestLimitsEdges(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	lock, err := s.Fail(ctx, pairOf("zero-limit"), budgets(10, store.Budget{Limit: 0, LockFor: time.Minute}, unlimited))
	require.NoError(t, err)
	assert.Equal(t, store.Lock{Scope: store.ScopePair, Remaining: time.Minute, Set: true}, lock, "Fail with a pair limit of 0")
	lock, err = s.Fail(ctx, pairOf("zero-customer-limit"), budgets(10, unlimited, store.Budget{Limit: 0, LockFor: time.Minute}))
	require.NoError(t, err)
	assert.Equal(t, store.Lock{Scope: store.ScopeCustomer, Remaining: time.Minute, Set: true}, lock, "Fail with a customer limit of 0")

	// A pair budget of 0 refuses at once, and starts an empty window that
	// runs down.
	zero := pairOf("zero-budget")
	require.NoError(t, s.PutCode(ctx, zero, store.Code{ID: "c"}, time.Hour))
	a, err := s.AttemptCode(ctx, zero, budgets(10, store.Budget{Limit: 0, Window: time.Minute}, unlimited))
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{Lock: store.Lock{Scope: store.ScopePair, Remaining: time.Minute}}, a, "AttemptCode with a pair budget of 0")
	assert.Contains(t, s.Items(), pairItem("pair-failures", zero), "window of a pair budget of 0: got none, want an empty one")
	// A customer budget of 0 refuses with the lock Fail would set,
	// clamped, and starts nothing.
	a, err = s.AttemptCode(ctx, zero, budgets(10, unlimited, store.Budget{Limit: 0, LockFor: 0}))
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{Lock: store.Lock{Scope: store.ScopeCustomer, Remaining: store.MinTTL}}, a, "AttemptCode with a customer budget of 0")
	assert.NotContains(t, s.Items(), "customer-failures/zero-budget")
	// Both budgets of 0: the customer's refuses first, and the pair's
	// starts no window.
	both := pairOf("zero-budgets")
	a, err = s.AttemptCode(ctx, both, budgets(10, store.Budget{Limit: 0, Window: time.Minute}, store.Budget{Limit: 0, LockFor: time.Hour}))
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{Lock: store.Lock{Scope: store.ScopeCustomer, Remaining: time.Hour}}, a, "AttemptCode with both budgets of 0")
	assert.NotContains(t, s.Items(), pairItem("pair-failures", both), "window of a pair budget of 0 behind a spent customer budget: got one, want none")

	w, err := s.Hit(ctx, "zero-limit", 0, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, store.Window{RetryAfter: time.Minute}, w, "Hit with limit 0")
	w, err = s.Peek(ctx, "zero-limit", 0)
	require.NoError(t, err)
	assert.Equal(t, store.Window{RetryAfter: time.Minute}, w, "Peek with limit 0 on a running window")
	w, err = s.Peek(ctx, "no-window", 0)
	require.NoError(t, err)
	assert.Equal(t, store.Window{}, w, "Peek with limit 0 and no window: refused, with no window to wait for")
}

func TestAttemptAndFailExact(t *testing.T) {
	// On an injected clock every duration is exact.
	ctx := context.Background()
	const window, lockFor = 10 * time.Minute, 15 * time.Minute
	tests := []struct {
		name     string
		lockFor  time.Duration
		wantLock time.Duration // after 4 minutes of a 10-minute window
	}{
		{"lockFor outlasts the window", lockFor, lockFor},
		{"window outlasts lockFor", time.Minute, window - 4*time.Minute},
		{"lockFor zero", 0, window - 4*time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newStore(t)
			b := budgets(5, store.Budget{Limit: 3, Window: window, LockFor: tt.lockFor}, unlimited)
			pairLock := func(d time.Duration) store.Attempt {
				return store.Attempt{Lock: store.Lock{Scope: store.ScopePair, Remaining: d}}
			}
			require.NoError(t, s.PutCode(ctx, pa, store.Code{ID: "c"}, time.Hour))
			for n := 1; n <= 2; n++ {
				a, err := s.AttemptCode(ctx, pa, b)
				require.NoError(t, err)
				require.Equal(t, store.Attempt{Code: store.Code{ID: "c", Attempts: n}, Found: true}, a, "attempt %d", n)
			}
			clk.Advance(4 * time.Minute)
			lock, err := s.Fail(ctx, pa, b)
			require.NoError(t, err)
			assert.Zero(t, lock, "Fail below the limit: got %+v, want the zero Lock", lock)
			a, err := s.AttemptCode(ctx, pa, b)
			require.NoError(t, err)
			require.True(t, a.Found, "third attempt: got %+v, want counted", a)
			require.Contains(t, s.Items(), pairItem("pair-failures", pa))

			lock, err = s.Fail(ctx, pa, b)
			require.NoError(t, err)
			assert.Equal(t, store.Lock{Scope: store.ScopePair, Remaining: tt.wantLock, Set: true}, lock, "Fail at the limit")
			assert.NotContains(t, s.Items(), pairItem("pair-failures", pa), "failure count after the lock: got kept, want deleted")

			clk.Advance(time.Second)
			a, err = s.AttemptCode(ctx, pa, b)
			require.NoError(t, err)
			assert.Equal(t, pairLock(tt.wantLock-time.Second), a, "AttemptCode while locked")
			lock, err = s.Fail(ctx, pa, budgets(5, store.Budget{Limit: 3, Window: window, LockFor: time.Hour}, unlimited))
			require.NoError(t, err)
			assert.Equal(t, store.Lock{Scope: store.ScopePair, Remaining: tt.wantLock - time.Second}, lock, "Fail while locked: want the remaining lock")

			// Once the lock is over the whole budget is back, and the
			// refused attempts counted nothing on the code.
			clk.Advance(tt.wantLock - time.Second)
			for n := 4; n <= 5; n++ {
				a, err = s.AttemptCode(ctx, pa, b)
				require.NoError(t, err)
				require.Equal(t, store.Attempt{Code: store.Code{ID: "c", Attempts: n}, Found: true}, a, "attempt %d after the lock", n)
			}
			// Burned: counted on the code, not on the budget.
			for n := 6; n <= 8; n++ {
				a, err = s.AttemptCode(ctx, pa, b)
				require.NoError(t, err)
				require.Equal(t, store.Attempt{Code: store.Code{ID: "c", Attempts: n}, Found: true}, a, "burned attempt %d", n)
			}
			require.NoError(t, s.PutCode(ctx, pa, store.Code{ID: "d"}, time.Hour))
			a, err = s.AttemptCode(ctx, pa, b)
			require.NoError(t, err)
			require.True(t, a.Found, "third charge: got %+v, want counted", a)
			clk.Advance(time.Minute)
			a, err = s.AttemptCode(ctx, pa, b)
			require.NoError(t, err)
			assert.Equal(t, pairLock(window-time.Minute), a, "AttemptCode with the budget spent")
		})
	}
}

func TestCustomerExact(t *testing.T) {
	ctx := context.Background()
	const window, lockFor = 10 * time.Minute, 24 * time.Hour
	b := budgets(100, unlimited, store.Budget{Limit: 3, Window: window, LockFor: lockFor})
	customerLock := func(d time.Duration) store.Lock { return store.Lock{Scope: store.ScopeCustomer, Remaining: d} }
	attempt := func(t *testing.T, s *memory.Store, p store.Pair) store.Attempt {
		t.Helper()
		a, err := s.AttemptCode(ctx, p, b)
		require.NoError(t, err)
		return a
	}

	t.Run("each count keeps the count for Window", func(t *testing.T) {
		s, clk := newStore(t)
		require.NoError(t, s.PutCode(ctx, pa, store.Code{ID: "a"}, 2*lockFor))
		require.NoError(t, s.PutCode(ctx, pb, store.Code{ID: "b"}, 2*lockFor))
		require.True(t, attempt(t, s, pa).Found)
		clk.Advance(window - time.Nanosecond)
		require.True(t, attempt(t, s, pb).Found)
		// Past the first count's Window, within the second's.
		clk.Advance(window - time.Nanosecond)
		require.True(t, attempt(t, s, pa).Found, "third count: want counted")
		assert.Equal(t, store.Attempt{Lock: customerLock(lockFor)}, attempt(t, s, pb), "AttemptCode with the customer's budget spent")

		lock, err := s.Fail(ctx, pa, b)
		require.NoError(t, err)
		assert.Equal(t, store.Lock{Scope: store.ScopeCustomer, Remaining: lockFor, Set: true}, lock, "Fail at the customer's limit")
		assert.NotContains(t, s.Items(), "customer-failures/subj", "customer count after the lock: got kept, want deleted")
		clk.Advance(lockFor - time.Nanosecond)
		for _, p := range []store.Pair{pa, pb, {Integration: "c", Subject: "subj"}} {
			l, err := s.Locked(ctx, p)
			require.NoError(t, err)
			assert.Equal(t, customerLock(time.Nanosecond), l, "Locked(%v) 1ns before the lock ends", p)
		}
		clk.Advance(time.Nanosecond)
		l, err := s.Locked(ctx, pa)
		require.NoError(t, err)
		assert.Zero(t, l, "Locked once the lock ended: got %+v", l)
		assert.Equal(t, 2, attempt(t, s, pb).Code.Attempts, "attempts on b's code: the refused one counted nothing")
	})
	t.Run("forgotten after Window without a count", func(t *testing.T) {
		s, clk := newStore(t)
		require.NoError(t, s.PutCode(ctx, pa, store.Code{ID: "a"}, time.Hour))
		require.True(t, attempt(t, s, pa).Found)
		clk.Advance(window - time.Nanosecond)
		s.Sweep()
		require.Contains(t, s.Items(), "customer-failures/subj")
		clk.Advance(time.Nanosecond)
		s.Sweep()
		assert.NotContains(t, s.Items(), "customer-failures/subj", "customer count after Window: got kept, want deleted")
	})
}

func TestSucceedClearsCounts(t *testing.T) {
	// Succeed clears the pair's count and the customer's, and nothing
	// else: not another pair's count, not a lock.
	ctx := context.Background()
	s, _ := newStore(t)
	other := pairOf("other")
	for _, p := range []store.Pair{pa, pb, other} {
		require.NoError(t, s.PutCode(ctx, p, store.Code{ID: "c"}, time.Hour))
		a, err := s.AttemptCode(ctx, p, open)
		require.NoError(t, err)
		require.True(t, a.Found)
	}
	locked := pairOf("locked")
	_, err := s.Fail(ctx, locked, budgets(10, store.Budget{Limit: 0, LockFor: time.Hour}, store.Budget{Limit: 0, LockFor: time.Hour}))
	require.NoError(t, err)

	require.NoError(t, s.Succeed(ctx, pa))
	require.NoError(t, s.Succeed(ctx, locked))
	items := s.Items()
	assert.NotContains(t, items, pairItem("pair-failures", pa))
	assert.NotContains(t, items, "customer-failures/subj")
	assert.Contains(t, items, pairItem("pair-failures", pb))
	assert.Contains(t, items, pairItem("pair-failures", other))
	assert.Contains(t, items, "customer-failures/other")
	assert.Contains(t, items, pairItem("pair-locks", locked))
	assert.Contains(t, items, "customer-locks/locked")
}

func TestFailLeavesLockInForce(t *testing.T) {
	// A lock in force is neither extended nor shortened by a Fail whose
	// limit is reached again (a limit below 1).
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		scope store.LockScope
		b     func(lockFor time.Duration) store.Budgets
	}{
		{"pair", store.ScopePair, func(d time.Duration) store.Budgets {
			return budgets(10, store.Budget{Limit: 0, LockFor: d}, unlimited)
		}},
		{"customer", store.ScopeCustomer, func(d time.Duration) store.Budgets {
			return budgets(10, unlimited, store.Budget{Limit: 0, LockFor: d})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newStore(t)
			lock, err := s.Fail(ctx, pa, tt.b(10*time.Minute))
			require.NoError(t, err)
			require.Equal(t, store.Lock{Scope: tt.scope, Remaining: 10 * time.Minute, Set: true}, lock, "Fail that sets the lock")
			want := store.Lock{Scope: tt.scope, Remaining: 10 * time.Minute}
			clk.Advance(time.Minute)
			want.Remaining -= time.Minute
			for _, d := range []time.Duration{time.Hour, time.Nanosecond} {
				lock, err = s.Fail(ctx, pa, tt.b(d))
				require.NoError(t, err)
				assert.Equal(t, want, lock, "Fail with LockFor %v during the lock: want the lock in force, not Set", d)
				lock, err = s.Locked(ctx, pa)
				require.NoError(t, err)
				assert.Equal(t, want, lock, "Locked after a Fail with LockFor %v", d)
			}
		})
	}
}

func TestFailPairLockUnderCustomerLock(t *testing.T) {
	// b's attempt was charged before a's Fail locked the customer. a's
	// Fail sets a's pair lock and the customer's, and returns the
	// customer's with Set. b's own Fail still locks b's pair, but returns
	// the lock in force, the customer's, without Set; once the customer's
	// lock ends, b's pair lock shows.
	ctx := context.Background()
	s, clk := newStore(t)
	b := budgets(10, store.Budget{Limit: 1, Window: time.Hour, LockFor: 15 * time.Minute}, store.Budget{Limit: 2, Window: time.Hour, LockFor: 30 * time.Minute})
	for _, p := range []store.Pair{pa, pb} {
		require.NoError(t, s.PutCode(ctx, p, store.Code{ID: "c"}, time.Hour))
		a, err := s.AttemptCode(ctx, p, b)
		require.NoError(t, err)
		require.True(t, a.Found)
	}
	lock, err := s.Fail(ctx, pa, b)
	require.NoError(t, err)
	assert.Equal(t, store.Lock{Scope: store.ScopeCustomer, Remaining: 30 * time.Minute, Set: true}, lock, "Fail(a): pair and customer locked")
	lock, err = s.Fail(ctx, pb, b)
	require.NoError(t, err)
	assert.Equal(t, store.Lock{Scope: store.ScopeCustomer, Remaining: 30 * time.Minute}, lock, "Fail(b): b's pair locked under the customer's lock")
	assert.Contains(t, s.Items(), pairItem("pair-locks", pb), "b's pair lock: got none, want one")
	assert.NotContains(t, s.Items(), pairItem("pair-failures", pb), "b's count after its lock: got kept, want deleted")
	for _, p := range []store.Pair{pa, pb} {
		lock, err = s.Locked(ctx, p)
		require.NoError(t, err)
		assert.Equal(t, store.Lock{Scope: store.ScopeCustomer, Remaining: 30 * time.Minute}, lock, "Locked(%v)", p)
	}
	// The pair locks last until their windows end, an hour after the
	// first count.
	clk.Advance(30 * time.Minute)
	for _, p := range []store.Pair{pa, pb} {
		lock, err = s.Locked(ctx, p)
		require.NoError(t, err)
		assert.Equal(t, store.Lock{Scope: store.ScopePair, Remaining: 30 * time.Minute}, lock, "Locked(%v) after the customer's lock", p)
		lock, err = s.Fail(ctx, p, b)
		require.NoError(t, err)
		assert.Equal(t, store.Lock{Scope: store.ScopePair, Remaining: 30 * time.Minute}, lock, "Fail(%v) after the customer's lock", p)
	}
}

func TestHitPeekRefundExact(t *testing.T) {
	ctx := context.Background()
	s, clk := newStore(t)
	hit := func(want store.Window) {
		t.Helper()
		w, err := s.Hit(ctx, "k", 3, time.Minute)
		require.NoError(t, err)
		require.Equal(t, want, w, "Hit")
	}
	peek := func(want store.Window) {
		t.Helper()
		w, err := s.Peek(ctx, "k", 3)
		require.NoError(t, err)
		require.Equal(t, want, w, "Peek")
	}
	refund := func() {
		t.Helper()
		require.NoError(t, s.Refund(ctx, "k"))
	}

	// Neither Peek nor Refund writes a record.
	peek(store.Window{Allowed: true, Left: 3})
	refund()
	assert.Empty(t, s.Items(), "records after Peek and Refund on nothing")

	hit(store.Window{Allowed: true, Left: 2})
	clk.Advance(10 * time.Second)
	peek(store.Window{Allowed: true, Left: 2})
	hit(store.Window{Allowed: true, Left: 1})
	hit(store.Window{Allowed: true, Left: 0})
	hit(store.Window{RetryAfter: 50 * time.Second})
	peek(store.Window{RetryAfter: 50 * time.Second})
	refund()
	peek(store.Window{Allowed: true, Left: 1})
	hit(store.Window{Allowed: true, Left: 0})
	for range 5 {
		refund()
	}
	peek(store.Window{Allowed: true, Left: 3})
	hit(store.Window{Allowed: true, Left: 2})
	hit(store.Window{Allowed: true, Left: 1})
	clk.Advance(50*time.Second - time.Nanosecond)
	peek(store.Window{Allowed: true, Left: 1})
	clk.Advance(time.Nanosecond)
	refund() // the window has ended: nothing to take back
	peek(store.Window{Allowed: true, Left: 3})
	hit(store.Window{Allowed: true, Left: 2})
	hit(store.Window{Allowed: true, Left: 1})
	hit(store.Window{Allowed: true, Left: 0})
	hit(store.Window{RetryAfter: time.Minute})
}

func TestPairRecords(t *testing.T) {
	// A pair's records and its customer's are parts of one record, kept
	// under the subject; Items lists the parts under subject NUL
	// integration and under the subject.
	ctx := context.Background()
	s, _ := newStore(t)
	require.NoError(t, s.PutCode(ctx, pa, store.Code{ID: "c"}, time.Hour))
	a, err := s.AttemptCode(ctx, pa, open)
	require.NoError(t, err)
	require.True(t, a.Found)
	items := s.Items()
	for _, k := range []string{"subjects/subj", "codes/subj\x00a", "pair-failures/subj\x00a", "customer-failures/subj"} {
		assert.Contains(t, items, k)
	}
	assert.Len(t, items, 4)
}

func TestVerifyPathReusesRecords(t *testing.T) {
	// A verification's success path on a subject with a code builds no
	// key and starts no counter afresh: Succeed clears the counts in
	// place, and the next verification counts in the same memory. Of the
	// store calls a successful otpcode.Verify makes, only AttemptCode
	// allocates (the copy of the MAC it returns), and CreateSession (the
	// session's record, not measured here); PutCode copies the MAC it is
	// given.
	ctx := store.WithTime(context.Background(), clockStart)
	s, _ := newStore(t)
	p := store.Pair{Integration: "goomer", Subject: strings.Repeat("s", 22)} // a pseudonym's length (keyring.Pseudonym)
	b := budgets(5, store.Budget{Limit: 10, Window: time.Hour, LockFor: time.Hour}, store.Budget{Limit: 20, Window: time.Hour, LockFor: time.Hour})
	code := store.Code{ID: "c", MAC: make([]byte, sha256.Size)}
	verify := func() {
		require.NoError(t, s.PutCode(ctx, p, code, time.Hour))
		if _, _, err := s.Take(ctx, "rate:integration:goomer", rate.Inf, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Hit(ctx, "fails:integration:goomer", 1000, time.Hour); err != nil {
			t.Fatal(err)
		}
		a, err := s.AttemptCode(ctx, p, b)
		if err != nil || !a.Found || a.Code.Attempts != 1 {
			t.Fatalf("AttemptCode: got %+v, %v, want the code's first attempt", a, err)
		}
		if ok, err := s.ConsumeCode(ctx, p, "c"); !ok || err != nil {
			t.Fatalf("ConsumeCode: got %v, %v, want true", ok, err)
		}
		require.NoError(t, s.Succeed(ctx, p))
		require.NoError(t, s.Refund(ctx, "fails:integration:goomer"))
	}
	verify() // the first one makes the records
	allocs := testing.AllocsPerRun(100, verify)
	assert.Equal(t, 2.0, allocs, "allocations per PutCode and success path: got %v, want 2 (the MAC's copies in and out)", allocs)
}

func TestCodeShapes(t *testing.T) {
	// Whatever the code, it reads back exactly as PutCode got it: its
	// strings, kept packed with its MAC, a nil MAC as nil and an empty one
	// as empty, and its ExpiresAt with its location and monotonic reading.
	ctx := context.Background()
	base := store.Code{
		ID:          strings.Repeat("i", 43), // a token's length
		MAC:         bytes.Repeat([]byte{0xa5}, sha256.Size),
		Integration: "goomer",
		Purpose:     "redeem",
		Channel:     "sms",
		Attempts:    2,
		ExpiresAt:   time.Date(2030, time.March, 4, 5, 11, 7, 123_456_789, time.UTC),
	}
	long := strings.Repeat("x", 300) // a length of two bytes as a uvarint
	shapes := []struct {
		name string
		pair string // the pair's integration; "goomer" unless set
		edit func(*store.Code)
	}{
		{"every field", "", func(*store.Code) {}},
		{"the pair's integration", "", func(c *store.Code) { c.Integration = "goomer" }},
		{"another integration", "", func(c *store.Code) { c.Integration = "balcao" }},
		{"no integration", "", func(c *store.Code) { c.Integration = "" }},
		{"no integration, pair of none", "-", func(c *store.Code) { c.Integration = "" }},
		{"an integration, pair of none", "-", func(*store.Code) {}},
		{"zero but ID", "", func(c *store.Code) { *c = store.Code{ID: c.ID} }},
		{"zero", "", func(c *store.Code) { *c = store.Code{} }},
		{"empty MAC", "", func(c *store.Code) { c.MAC = []byte{} }},
		{"nil MAC", "", func(c *store.Code) { c.MAC = nil }},
		{"long strings", "", func(c *store.Code) {
			c.ID, c.Integration, c.Purpose, c.Channel = long+"i", long+"n", long+"p", long+"c"
			c.MAC = bytes.Repeat(c.MAC, 10)
		}},
		{"large Attempts", "", func(c *store.Code) { c.Attempts = math.MaxInt - 1 }},
		{"negative Attempts", "", func(c *store.Code) { c.Attempts = -5 }},
		{"Local ExpiresAt", "", func(c *store.Code) { c.ExpiresAt = c.ExpiresAt.Local() }},
		{"other location", "", func(c *store.Code) { c.ExpiresAt = c.ExpiresAt.In(time.FixedZone("BRT", -3*3600)) }},
		{"monotonic reading", "", func(c *store.Code) { c.ExpiresAt = time.Now().Add(5 * time.Minute) }},
		{"far ExpiresAt", "", func(c *store.Code) { c.ExpiresAt = time.Date(9999, time.December, 31, 0, 0, 0, 1, time.UTC) }},
	}
	for _, c := range shapes {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newStore(t)
			p := store.Pair{Integration: "goomer", Subject: "subj"}
			switch c.pair {
			case "-":
				p.Integration = ""
			case "":
			default:
				p.Integration = c.pair
			}
			want := base
			want.MAC = slices.Clone(base.MAC)
			c.edit(&want)
			in := want
			in.MAC = slices.Clone(want.MAC)
			require.NoError(t, s.PutCode(ctx, p, in, time.Hour))
			clear(in.MAC) // the store keeps its own copy
			a, err := s.AttemptCode(ctx, p, budgets(math.MaxInt, unlimited, unlimited))
			require.NoError(t, err)
			require.True(t, a.Found)
			want.Attempts++
			assert.Equal(t, want, a.Code) // every field, nil and empty MACs apart
			assert.Equal(t, want.ExpiresAt.Location(), a.Code.ExpiresAt.Location(), "ExpiresAt's location")
			ok, err := s.ConsumeCode(ctx, p, want.ID+"x")
			require.NoError(t, err)
			assert.False(t, ok, "ConsumeCode with another ID")
			ok, err = s.ConsumeCode(ctx, p, want.ID)
			require.NoError(t, err)
			assert.True(t, ok, "ConsumeCode with the code's ID")
		})
	}
}

func TestSubjectPairs(t *testing.T) {
	// A subject's first pair is kept in its record, the others chained to
	// it in no order: Status still lists them by integration, a pair
	// added when the first has no part takes its place, and a sweep that
	// drops the first moves another into its place.
	ctx := context.Background()
	s, clk := newStore(t)
	p := func(integration string) store.Pair { return store.Pair{Integration: integration, Subject: "subj"} }
	b := budgets(10, store.Budget{Limit: 10, Window: time.Hour}, unlimited)
	for _, integration := range []string{"c", "a", "d", "b"} {
		require.NoError(t, s.PutCode(ctx, p(integration), store.Code{ID: integration}, 2*time.Hour))
		a, err := s.AttemptCode(ctx, p(integration), b)
		require.NoError(t, err)
		require.True(t, a.Found)
	}
	st, err := s.Status(ctx, "subj")
	require.NoError(t, err)
	pairs := []store.PairStatus{{Integration: "a", Failures: 1}, {Integration: "b", Failures: 1}, {Integration: "c", Failures: 1}, {Integration: "d", Failures: 1}}
	assert.Equal(t, store.Status{CustomerFailures: 4, Pairs: pairs}, st)

	// c, the first, cleared: e takes its place; c reads as no pair.
	ok, err := s.ConsumeCode(ctx, p("c"), "c")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.Succeed(ctx, p("c")))
	require.NoError(t, s.PutCode(ctx, p("e"), store.Code{ID: "e"}, 30*time.Minute))
	_, err = s.Fail(ctx, p("e"), budgets(10, store.Budget{Limit: 0, LockFor: time.Hour}, unlimited))
	require.NoError(t, err)
	items := s.Items()
	for _, k := range []string{pairItem("codes", p("c")), pairItem("pair-failures", p("c"))} {
		assert.NotContains(t, items, k)
	}
	for _, i := range []string{"a", "b", "d"} {
		assert.Contains(t, items, pairItem("codes", p(i)))
		assert.Contains(t, items, pairItem("pair-failures", p(i)))
	}
	assert.Contains(t, items, pairItem("codes", p("e")))
	assert.Contains(t, items, pairItem("pair-locks", p("e")))
	st, err = s.Status(ctx, "subj")
	require.NoError(t, err)
	pairs = []store.PairStatus{pairs[0], pairs[1], pairs[3], {Integration: "e", Lock: store.Lock{Scope: store.ScopePair, Remaining: time.Hour}}}
	assert.Equal(t, store.Status{Pairs: pairs}, st)

	// e's code ends, then its lock: the sweep drops e, the first, and
	// keeps the others, whose codes and counts are as they were.
	clk.Advance(time.Hour)
	s.Sweep()
	items = s.Items()
	assert.NotContains(t, items, pairItem("codes", p("e")))
	assert.NotContains(t, items, pairItem("pair-locks", p("e")))
	st, err = s.Status(ctx, "subj")
	require.NoError(t, err)
	assert.Equal(t, store.Status{}, st, "Status once the windows ended")
	for _, i := range []string{"a", "b", "d"} {
		a, err := s.AttemptCode(ctx, p(i), b)
		require.NoError(t, err)
		assert.Equal(t, store.Attempt{Code: store.Code{ID: i, Attempts: 2}, Found: true}, a, "pair %s after the sweep", i)
	}
	clk.Advance(time.Hour)
	s.Sweep()
	assert.Empty(t, s.Items(), "records once every part has ended")
}

func TestDeadlineEdges(t *testing.T) {
	ctx := context.Background()
	// More than about 292 years before the store's first reading of its
	// clock (clockStart) the tick saturates at 0, the earliest there is:
	// deadlines set there count from it, and a cleared part, whose zero
	// deadline has passed at every tick, 0 included, still reads as none.
	s, _ := newStore(t)
	earliest := clockStart.AddDate(-300, 0, 0)
	early := store.WithTime(ctx, earliest)
	earlier := store.WithTime(ctx, earliest.AddDate(-100, 0, 0)) // the same tick
	lock, err := s.Fail(early, pb, budgets(10, store.Budget{Limit: 0, LockFor: time.Minute}, unlimited))
	require.NoError(t, err)
	assert.Equal(t, store.Lock{Scope: store.ScopePair, Remaining: time.Minute, Set: true}, lock, "a lock set at the earliest tick")
	lock, err = s.Locked(earlier, pb)
	require.NoError(t, err)
	assert.Equal(t, store.Lock{Scope: store.ScopePair, Remaining: time.Minute}, lock, "the lock a century earlier still, at the same saturated tick")
	require.NoError(t, s.PutCode(early, pa, store.Code{ID: "c"}, time.Hour))
	a, err := s.AttemptCode(early, pa, open)
	require.NoError(t, err)
	require.True(t, a.Found)
	ok, err := s.ConsumeCode(early, pa, "c")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.Succeed(early, pa))
	st, err := s.Status(early, "subj")
	require.NoError(t, err)
	assert.Equal(t, store.Status{Pairs: []store.PairStatus{{Integration: pb.Integration, Lock: store.Lock{Scope: store.ScopePair, Remaining: time.Minute}}}}, st, "Status at the earliest tick after Succeed: only pb's lock")
	a, err = s.AttemptCode(early, pa, open)
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{}, a, "AttemptCode at the earliest tick on a consumed code")

	// Deadlines count from the store's first reading of its clock: a lock
	// for the longest Duration, set then, is in force for all of it, and
	// one set later is held as the latest deadline there is.
	s, clk := newStore(t)
	forever := budgets(10, store.Budget{Limit: 0, LockFor: math.MaxInt64}, unlimited)
	lock, err = s.Fail(ctx, pa, forever)
	require.NoError(t, err)
	want := time.Duration(math.MaxInt64)
	assert.Equal(t, store.Lock{Scope: store.ScopePair, Remaining: want, Set: true}, lock)
	clk.Advance(100 * 365 * 24 * time.Hour)
	lock, err = s.Locked(ctx, pa)
	require.NoError(t, err)
	assert.Equal(t, store.Lock{Scope: store.ScopePair, Remaining: want - 100*365*24*time.Hour}, lock, "a century later")
}

func TestSubjectRecordSize(t *testing.T) {
	// 128 bytes is a size class of Go's allocator, and what a subject
	// with one pair costs besides go-cache's map entry and its code's
	// packed strings (BenchmarkMemoryPerEntry in bench/): a field more
	// takes 144.
	if strconv.IntSize == 32 {
		t.Skip("sized for 64-bit platforms")
	}
	assert.Equal(t, uintptr(128), memory.SubjectRecordSize, "size of a subject's record")
}

func TestSucceedStartsFreshWindow(t *testing.T) {
	// After Succeed, whose counts are cleared in place, the next failure
	// starts a window of its own, not the rest of the cleared one, and
	// the customer's count starts from one.
	ctx := context.Background()
	s, clk := newStore(t)
	const window = 10 * time.Minute
	b := budgets(10, store.Budget{Limit: 2, Window: window, LockFor: time.Minute}, unlimited)
	require.NoError(t, s.PutCode(ctx, pa, store.Code{ID: "c"}, time.Hour))
	a, err := s.AttemptCode(ctx, pa, b)
	require.NoError(t, err)
	require.True(t, a.Found)
	clk.Advance(4 * time.Minute)
	require.NoError(t, s.Succeed(ctx, pa))

	// The cleared window would end in 6 minutes; the fresh one starts 1
	// minute later, with the next count, and ends a window after it.
	clk.Advance(time.Minute)
	for n := 1; n <= 2; n++ {
		a, err = s.AttemptCode(ctx, pa, b)
		require.NoError(t, err)
		require.True(t, a.Found, "count %d after Succeed: got %+v, want counted", n, a)
		st, err := s.Status(ctx, "subj")
		require.NoError(t, err)
		assert.Equal(t, store.Status{CustomerFailures: n, Pairs: []store.PairStatus{{Integration: "a", Failures: n}}}, st, "Status after count %d since Succeed", n)
	}
	clk.Advance(time.Minute)
	a, err = s.AttemptCode(ctx, pa, b)
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{Lock: store.Lock{Scope: store.ScopePair, Remaining: window - time.Minute}}, a, "AttemptCode with the fresh window's budget spent")
	lock, err := s.Fail(ctx, pa, b)
	require.NoError(t, err)
	assert.Equal(t, store.Lock{Scope: store.ScopePair, Remaining: window - time.Minute, Set: true}, lock, "Fail: a lock until the fresh window ends")
}

func TestStatusAfterSucceed(t *testing.T) {
	// Counts that Succeed clears in place show as none: the customer's is
	// 0 and the pair is not listed, while another pair's count and a
	// locked pair still are.
	ctx := context.Background()
	s, _ := newStore(t)
	for _, p := range []store.Pair{pa, pb} {
		require.NoError(t, s.PutCode(ctx, p, store.Code{ID: "c"}, time.Hour))
		a, err := s.AttemptCode(ctx, p, open)
		require.NoError(t, err)
		require.True(t, a.Found)
	}
	c := store.Pair{Integration: "c", Subject: "subj"}
	_, err := s.Fail(ctx, c, budgets(10, store.Budget{Limit: 0, LockFor: time.Hour}, unlimited))
	require.NoError(t, err)
	require.NoError(t, s.Succeed(ctx, pa))
	st, err := s.Status(ctx, "subj")
	require.NoError(t, err)
	assert.Equal(t, store.Status{Pairs: []store.PairStatus{
		{Integration: "b", Failures: 1},
		{Integration: "c", Lock: store.Lock{Scope: store.ScopePair, Remaining: time.Hour}},
	}}, st)
	require.NoError(t, s.Succeed(ctx, pb))
	require.NoError(t, s.Succeed(ctx, c))
	st, err = s.Status(ctx, "subj")
	require.NoError(t, err)
	assert.Equal(t, store.Status{Pairs: []store.PairStatus{
		{Integration: "c", Lock: store.Lock{Scope: store.ScopePair, Remaining: time.Hour}},
	}}, st)
}

func TestSweepReclaimsClearedRecords(t *testing.T) {
	// A subject's record that a verification left empty (its code
	// consumed, its counts cleared) is kept for reuse until the janitor
	// runs, which drops it; one with a part still alive keeps that part
	// alone.
	ctx := context.Background()
	s, clk := newStore(t)
	const window = 10 * time.Minute
	b := budgets(10, store.Budget{Limit: 5, Window: window}, store.Budget{Limit: 5, Window: window})
	for _, p := range []store.Pair{pa, pb, pairOf("other")} {
		require.NoError(t, s.PutCode(ctx, p, store.Code{ID: "c"}, time.Hour))
		a, err := s.AttemptCode(ctx, p, b)
		require.NoError(t, err)
		require.True(t, a.Found)
	}
	ok, err := s.ConsumeCode(ctx, pa, "c")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.Succeed(ctx, pa))
	ok, err = s.ConsumeCode(ctx, pairOf("other"), "c")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.Succeed(ctx, pairOf("other")))
	items := s.Items()
	assert.Contains(t, items, "subjects/other", "an emptied record before a sweep: got deleted, want kept for reuse")
	for _, k := range []string{pairItem("codes", pa), pairItem("pair-failures", pa), "customer-failures/subj", "customer-failures/other"} {
		assert.NotContains(t, items, k, "a cleared part")
	}

	s.Sweep()
	items = s.Items()
	assert.NotContains(t, items, "subjects/other", "an emptied record after a sweep: got kept, want deleted")
	for _, k := range []string{"subjects/subj", pairItem("codes", pb), pairItem("pair-failures", pb)} {
		assert.Contains(t, items, k, "a live part after a sweep")
	}
	assert.Len(t, items, 3, "records after a sweep: got %v", items)

	// b's count's window ends first, then its code.
	clk.Advance(window)
	s.Sweep()
	items = s.Items()
	assert.NotContains(t, items, pairItem("pair-failures", pb), "a count after its window: got kept, want deleted")
	assert.Contains(t, items, pairItem("codes", pb))
	clk.Advance(time.Hour - window)
	s.Sweep()
	assert.Empty(t, s.Items(), "records once every part has ended")
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	s, clk := newStore(t)
	const short, long = time.Second, time.Hour
	for _, ttl := range []time.Duration{short, long} {
		k := ttl.String()
		b := budgets(10, store.Budget{Limit: 10, Window: ttl}, store.Budget{Limit: 10, Window: ttl})
		require.NoError(t, s.PutCode(ctx, pairOf(k), store.Code{ID: "c"}, ttl))
		require.NoError(t, s.CreateSession(ctx, k, store.Session{CustomerID: k, Integration: k}, ttl))
		a, err := s.AttemptCode(ctx, pairOf(k), b) // a pair and a customer count
		require.NoError(t, err)
		require.True(t, a.Found)
		locks := budgets(10, store.Budget{Limit: 0, LockFor: ttl}, store.Budget{Limit: 0, LockFor: ttl})
		_, err = s.Fail(ctx, pairOf(k+"-locked"), locks) // a pair and a customer lock
		require.NoError(t, err)
		_, _, err = s.Cooldown(ctx, k, ttl)
		require.NoError(t, err)
		_, err = s.Hit(ctx, k, 2, ttl)
		require.NoError(t, err)
	}
	// Per TTL: a code, a session and its two indexes, two counts and the
	// list of their pair, two locks and the list of theirs, a cooldown
	// and a window.
	before := s.Items()
	require.Len(t, before, 24, "records before sweep: got %d, want 24", len(before))
	s.Sweep()
	require.Len(t, s.Items(), 24, "records after a sweep with nothing expired: got %d, want 24", len(s.Items()))

	clk.Advance(short)
	s.Sweep()
	after := s.Items()
	for k := range after {
		assert.Contains(t, k, long.String(), "record %q survived its expiry", k)
	}
	assert.Len(t, after, 12, "records after sweep: got %d, want 12", len(after))
}

func TestJanitorSweeps(t *testing.T) {
	// The janitor goroutine does the sweeping: the clock decides what has
	// expired; the test waits only for the goroutine's next tick.
	ctx := context.Background()
	s, clk := newStore(t, memory.WithCleanupInterval(time.Millisecond))
	require.NoError(t, s.CreateSession(ctx, "h", store.Session{}, time.Second))
	require.Len(t, s.Items(), 3) // the session and its two indexes
	clk.Advance(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Items()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("records after the janitor had 5s to run: got %d, want 0", len(s.Items()))
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSessionIndexes(t *testing.T) {
	// CreateSession lists a session under its customer and its
	// integration; each index lives as long as its latest session, and
	// RevokeSessions drops the entries of the sessions it deleted.
	ctx := context.Background()
	s, clk := newStore(t)
	require.NoError(t, s.CreateSession(ctx, "h1", store.Session{CustomerID: "c", Integration: "i"}, time.Minute))
	require.NoError(t, s.CreateSession(ctx, "h2", store.Session{CustomerID: "c", Integration: "j"}, time.Hour))
	items := s.Items()
	for _, k := range []string{"sessions/h1", "sessions/h2", "customer-sessions/c", "integration-sessions/i", "integration-sessions/j"} {
		assert.Contains(t, items, k)
	}
	assert.Len(t, items, 5)
	assert.Equal(t, 2, s.IndexLen(store.ScopeCustomer, "c"))

	clk.Advance(time.Minute)
	s.Sweep()
	items = s.Items()
	assert.NotContains(t, items, "sessions/h1")
	assert.NotContains(t, items, "integration-sessions/i", "an index whose sessions have all expired: got kept, want deleted")
	assert.Contains(t, items, "customer-sessions/c", "an index with a live session: got deleted, want kept")

	n, err := s.RevokeSessions(ctx, store.ScopeCustomer, "c")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, -1, s.IndexLen(store.ScopeCustomer, "c"), "customer index after its sessions were revoked: want deleted")
	// The integration's index keeps its entry, which points at nothing.
	assert.Equal(t, 1, s.IndexLen(store.ScopeIntegration, "j"))
	n, err = s.CountSessions(ctx, store.ScopeIntegration, "j")
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestSessionIndexPruned(t *testing.T) {
	// An index whose sessions keep expiring while new ones are created
	// never expires itself; it is pruned so that it holds at most about
	// twice its live sessions.
	ctx := context.Background()
	s, clk := newStore(t)
	const live = 10
	for i := range 2000 {
		require.NoError(t, s.CreateSession(ctx, fmt.Sprint("h", i), store.Session{CustomerID: "c", Integration: "i"}, live*time.Second))
		clk.Advance(time.Second)
		if got := s.IndexLen(store.ScopeIntegration, "i"); got > 2*64+1 {
			t.Fatalf("index entries after %d sessions, %d of them live: got %d, want at most %d", i+1, live, got, 2*64+1)
		}
	}
	n, err := s.CountSessions(ctx, store.ScopeCustomer, "c")
	require.NoError(t, err)
	assert.Equal(t, live-1, n, "live sessions")
}

func TestUseSessionMarks(t *testing.T) {
	// The use marks are kept in the session's record: no record of their
	// own, and gone with it.
	ctx := context.Background()
	s, _ := newStore(t)
	require.NoError(t, s.CreateSession(ctx, "h", store.Session{CustomerID: "c", Integration: "i"}, time.Hour))
	first, err := s.UseSession(ctx, "h", "redeem")
	require.NoError(t, err)
	require.True(t, first)
	assert.Len(t, s.Items(), 3, "records after UseSession: the session and its two indexes")
	require.NoError(t, s.CreateSession(ctx, "h", store.Session{CustomerID: "c", Integration: "i"}, time.Hour))
	first, err = s.UseSession(ctx, "h", "redeem")
	require.NoError(t, err)
	assert.True(t, first, "UseSession on a session that replaced a used one: want first")
}

func TestUnlockRecords(t *testing.T) {
	// Unlock clears the locks and counts, and leaves the codes and the
	// subject's record that holds them; another subject's records stay.
	ctx := context.Background()
	s, _ := newStore(t)
	c := store.Pair{Integration: "c", Subject: "subj"}
	require.NoError(t, s.PutCode(ctx, c, store.Code{ID: "c"}, time.Hour))
	a, err := s.AttemptCode(ctx, c, open)
	require.NoError(t, err)
	require.True(t, a.Found)
	lockAll := budgets(10, store.Budget{Limit: 0, LockFor: time.Hour}, store.Budget{Limit: 0, LockFor: time.Hour})
	for _, p := range []store.Pair{pa, pb, pairOf("other")} {
		require.NoError(t, s.PutCode(ctx, p, store.Code{ID: "c"}, time.Hour))
		_, err := s.Fail(ctx, p, lockAll)
		require.NoError(t, err)
	}

	require.NoError(t, s.Unlock(ctx, "subj", "a"))
	items := s.Items()
	assert.NotContains(t, items, pairItem("pair-locks", pa))
	assert.Contains(t, items, pairItem("pair-locks", pb))
	assert.Contains(t, items, "customer-locks/subj")

	require.NoError(t, s.Unlock(ctx, "subj", ""))
	items = s.Items()
	for _, k := range []string{pairItem("pair-locks", pb), pairItem("pair-failures", c), "customer-locks/subj", "customer-failures/subj"} {
		assert.NotContains(t, items, k)
	}
	for _, k := range []string{"subjects/subj", pairItem("codes", pa), pairItem("codes", pb), pairItem("codes", c), pairItem("pair-locks", pairOf("other")), "customer-locks/other", "subjects/other"} {
		assert.Contains(t, items, k)
	}
}

func TestSessionShapes(t *testing.T) {
	// Whatever the session, compact or not, under a digest's hex or any
	// other key, it reads back exactly (times with their location) and is
	// found in its customer's and its integration's chains.
	ctx := context.Background()
	at := time.Date(2031, time.July, 8, 9, 10, 11, 123_456_789, time.UTC)
	mac := sha256.Sum256([]byte("mac"))
	base := store.Session{
		Integration: "integration-1",
		CustomerID:  "2awTH0000000000000000000042", // 27 bytes, a KSUID's length
		VerifiedAt:  at,
		ExpiresAt:   at.Add(30 * time.Minute),
		MAC:         mac[:],
	}
	// The kinds of record (memory.RecordKind).
	const (
		compact  = memory.KindCompact
		full     = memory.KindFull
		otherKey = memory.KindOtherKey
		both     = memory.KindOtherKeyFull
	)
	shapes := []struct {
		name string
		key  string
		edit func(*store.Session)
		kind memory.Kind
	}{
		{"compact UTC", "", func(*store.Session) {}, compact},
		{"compact Local", "", func(s *store.Session) { s.VerifiedAt, s.ExpiresAt = s.VerifiedAt.Local(), s.ExpiresAt.Local() }, compact},
		{"UTC and Local", "", func(s *store.Session) { s.ExpiresAt = s.ExpiresAt.Local() }, compact},
		{"customer of 30 bytes", "", func(s *store.Session) { s.CustomerID = strings.Repeat("c", 30) }, compact},
		{"customer of 31 bytes", "", func(s *store.Session) { s.CustomerID = strings.Repeat("c", 31) }, full},
		{"no customer", "", func(s *store.Session) { s.CustomerID = "" }, compact},
		{"no integration", "", func(s *store.Session) { s.Integration = "" }, compact},
		{"span not in milliseconds", "", func(s *store.Session) { s.ExpiresAt = s.ExpiresAt.Add(time.Nanosecond) }, full},
		{"span of no time", "", func(s *store.Session) { s.ExpiresAt = s.VerifiedAt }, compact},
		{"span of 49 days", "", func(s *store.Session) { s.ExpiresAt = s.VerifiedAt.Add(49 * 24 * time.Hour) }, compact},
		{"span of 60 days", "", func(s *store.Session) { s.ExpiresAt = s.VerifiedAt.Add(60 * 24 * time.Hour) }, full},
		{"verified after expiry", "", func(s *store.Session) { s.VerifiedAt = s.ExpiresAt.Add(time.Second) }, full},
		{"zero times", "", func(s *store.Session) { s.VerifiedAt, s.ExpiresAt = time.Time{}, time.Time{} }, full},
		{"other location", "", func(s *store.Session) { s.ExpiresAt = s.ExpiresAt.In(time.FixedZone("BRT", -3*3600)) }, full},
		{"short MAC", "", func(s *store.Session) { s.MAC = s.MAC[:31] }, full},
		{"no MAC", "", func(s *store.Session) { s.MAC = nil }, full},
		{"scopes", "", func(s *store.Session) { s.Scopes = []string{"rewards:redeem"} }, full},
		{"key not a digest", "some-key", func(*store.Session) {}, otherKey},
		{"key in uppercase hex", strings.ToUpper(store.HashToken("upper")), func(*store.Session) {}, otherKey},
		{"key not a digest, scopes", "other-key", func(s *store.Session) { s.Scopes = []string{"a"} }, both},
	}
	for _, c := range shapes {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newStore(t)
			want := base
			c.edit(&want)
			key := c.key
			if key == "" {
				key = store.HashToken(c.name)
			}
			in := want
			in.MAC = slices.Clone(want.MAC)
			require.NoError(t, s.CreateSession(ctx, key, in, time.Hour))
			clear(in.MAC) // the store keeps its own copy
			assert.Equal(t, c.kind, s.RecordKind(key), "kind of record")
			got, found, err := s.GetSession(ctx, key)
			require.NoError(t, err)
			require.True(t, found)
			requireSameSession(t, got, want)
			// What GetSession returns is the caller's: writing to it
			// changes nothing stored.
			clear(got.MAC)
			for i := range got.Scopes {
				got.Scopes[i] = "written"
			}
			got, found, err = s.GetSession(ctx, key)
			require.NoError(t, err)
			require.True(t, found)
			requireSameSession(t, got, want)
			if d, err := hex.DecodeString(key); err == nil && len(d) == sha256.Size && key == strings.ToLower(key) {
				rec, found, err := s.LookupSession(ctx, [sha256.Size]byte(d), clockStart)
				require.NoError(t, err)
				require.True(t, found)
				requireSameSession(t, rec.Session(), want)
			}
			for _, scope := range []struct {
				scope store.LockScope
				id    string
			}{{store.ScopeCustomer, want.CustomerID}, {store.ScopeIntegration, want.Integration}} {
				n, err := s.CountSessions(ctx, scope.scope, scope.id)
				require.NoError(t, err)
				assert.Equal(t, 1, n, "sessions of %v %q", scope.scope, scope.id)
			}
			n, err := s.RevokeSessions(ctx, store.ScopeCustomer, want.CustomerID)
			require.NoError(t, err)
			assert.Equal(t, 1, n, "sessions revoked")
			_, found, err = s.GetSession(ctx, key)
			require.NoError(t, err)
			assert.False(t, found, "session after its customer's revocation")
		})
	}
}

// requireSameSession fails the test unless got equals want in every field,
// the times' locations included.
func requireSameSession(t *testing.T, got, want store.Session) {
	t.Helper()
	assert.Equal(t, want.Integration, got.Integration, "Integration")
	assert.Equal(t, want.CustomerID, got.CustomerID, "CustomerID")
	assert.Equal(t, want.Scopes, got.Scopes, "Scopes")
	assert.Equal(t, want.MAC, got.MAC, "MAC")
	for _, tt := range []struct {
		name      string
		got, want time.Time
	}{{"VerifiedAt", got.VerifiedAt, want.VerifiedAt}, {"ExpiresAt", got.ExpiresAt, want.ExpiresAt}} {
		assert.True(t, tt.got.Equal(tt.want), "%s: got %v, want %v", tt.name, tt.got, tt.want)
		assert.Equal(t, tt.want.Location(), tt.got.Location(), "%s's location", tt.name)
	}
}

func TestSessionRecordSize(t *testing.T) {
	// 144 bytes is a size class of Go's allocator, and what a session
	// costs besides go-cache's map entry and its customer chain's bucket
	// (BenchmarkMemoryPerEntry in bench/): a field more takes 160. On a
	// 32-bit platform pointers are half as wide, and the record smaller.
	want := uintptr(144)
	if strconv.IntSize == 32 {
		want = 132
	}
	assert.Equal(t, want, memory.RecordSize, "size of a session record")
}

func TestGetSessionAllocs(t *testing.T) {
	// A hit allocates the copy of the session's MAC, and nothing else for
	// a session shaped as otpcode creates them (a compact record): the
	// session GetSession returns is the caller's to write to, so it must
	// not share the stored record's MAC. LookupSession, whose record is
	// read-only, shares it and allocates nothing.
	ctx := context.Background()
	s, _ := newStore(t)
	hash := store.HashToken("token")
	mac := sha256.Sum256([]byte("mac"))
	now := clockStart
	sess := store.Session{CustomerID: "c", Integration: "i", VerifiedAt: now, ExpiresAt: now.Add(time.Hour), MAC: mac[:]}
	require.NoError(t, s.CreateSession(ctx, hash, sess, time.Hour))
	require.Equal(t, memory.KindCompact, s.RecordKind(hash), "the session measured is compact")
	allocs := testing.AllocsPerRun(1000, func() {
		if _, found, _ := s.GetSession(ctx, hash); !found {
			panic("session not found")
		}
	})
	assert.Equal(t, 1.0, allocs, "allocations per GetSession hit: got %v, want 1 (the MAC's copy)", allocs)
	lookup := testing.AllocsPerRun(1000, func() {
		if _, found, _ := s.LookupSession(ctx, store.TokenDigest("token"), now); !found {
			panic("session not found")
		}
	})
	assert.Zero(t, lookup, "allocations per LookupSession hit: got %v, want 0", lookup)

	// A session with scopes (an extended record) allocates the copy of its
	// Scopes too.
	scoped := store.HashToken("scoped")
	sess.Scopes = []string{"rewards:redeem"}
	require.NoError(t, s.CreateSession(ctx, scoped, sess, time.Hour))
	allocs = testing.AllocsPerRun(1000, func() {
		if _, found, _ := s.GetSession(ctx, scoped); !found {
			panic("session not found")
		}
	})
	assert.Equal(t, 2.0, allocs, "allocations per GetSession hit with scopes: got %v, want 2 (the MAC's and the Scopes' copies)", allocs)

	miss := testing.AllocsPerRun(1000, func() { _, _, _ = s.GetSession(ctx, "missing") })
	assert.Zero(t, miss, "allocations per GetSession miss: got %v, want 0", miss)
}

// dump renders everything the store holds — keys and values, with every
// field of every record — as one string.
func dump(t *testing.T, s *memory.Store) string {
	t.Helper()
	var b strings.Builder
	for k, v := range s.Items() {
		fmt.Fprintf(&b, "%s %#v %+v\n", k, v, v)
		if j, err := json.Marshal(v); err == nil {
			b.Write(j)
		}
	}
	return b.String()
}

func TestDumpHoldsNoSecrets(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)

	// A realistic flow: a six-digit code kept as its HMAC, a session kept
	// under the hash of a random token.
	const code = "482916"
	const subject = "phone:+5511987654321"
	pepper := []byte("server-side pepper")
	mac := hmac.New(sha256.New, pepper)
	mac.Write([]byte("integration-1\x00" + subject + "\x00redeem\x00" + code))
	sum := mac.Sum(nil)
	p := store.Pair{Integration: "integration-1", Subject: subject}
	require.NoError(t, s.PutCode(ctx, p, store.Code{
		ID: "code-id-1", MAC: sum, Integration: "integration-1", Purpose: "redeem",
		Channel: "sms", ExpiresAt: time.Now().Add(5 * time.Minute),
	}, 5*time.Minute))

	raw := make([]byte, 32)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	token := base64.RawURLEncoding.EncodeToString(raw)
	hash := store.HashToken(token)
	require.NoError(t, s.CreateSession(ctx, hash, store.Session{
		Integration: "integration-1", CustomerID: "cust-1",
		Scopes: []string{"rewards:redeem"}, ExpiresAt: time.Now().Add(30 * time.Minute),
	}, 30*time.Minute))
	_, err = s.AttemptCode(ctx, p, open)
	require.NoError(t, err)
	_, err = s.Fail(ctx, p, budgets(5, store.Budget{Limit: 1, Window: time.Hour, LockFor: 15 * time.Minute}, store.Budget{Limit: 1, Window: time.Hour, LockFor: time.Hour}))
	require.NoError(t, err)
	_, err = s.Hit(ctx, "sends:"+subject, 5, time.Hour)
	require.NoError(t, err)
	_, _, err = s.Cooldown(ctx, "cooldown:"+subject, time.Minute)
	require.NoError(t, err)

	d := dump(t, s)
	// The dump really shows the records...
	require.Contains(t, d, hash, "dump does not show the session key; the test would prove nothing")
	require.Contains(t, d, "cust-1", "dump does not show session fields; the test would prove nothing")
	require.Contains(t, d, "code-id-1", "dump does not show code fields; the test would prove nothing")
	// ...and neither secret, in any encoding we can think of.
	for _, secret := range []string{code, token, hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw)} {
		assert.NotContains(t, d, secret, "dump holds a secret")
	}
}

func TestOptions(t *testing.T) {
	ctx := context.Background()
	// A nil clock keeps time.Now.
	s := memory.New(memory.WithClock(nil))
	defer s.Close()
	require.NoError(t, s.CreateSession(ctx, "h", store.Session{ExpiresAt: time.Now()}, time.Hour))
	_, found, err := s.GetSession(ctx, "h")
	require.NoError(t, err)
	assert.True(t, found, "GetSession with the default clock: got found=false, want true")
}

func ExampleNew() {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()

	token := "token-from-crypto-rand" // the client keeps the token...
	hash := store.HashToken(token)    // ...the store keeps only its hash.
	err := s.CreateSession(ctx, hash, store.Session{
		Integration: "repediu",
		CustomerID:  "cust-42",
		Scopes:      []string{"redeem_reward"},
		ExpiresAt:   time.Now().Add(30 * time.Minute),
	}, 30*time.Minute)
	if err != nil {
		fmt.Println(err)
		return
	}

	sess, found, err := s.GetSession(ctx, store.HashToken(token))
	fmt.Println(sess.CustomerID, sess.Scopes, found, err)
	// Output: cust-42 [redeem_reward] true <nil>
}

func ExampleWithClock() {
	ctx := context.Background()
	now := time.Date(2030, time.January, 1, 12, 0, 0, 0, time.UTC)
	// No janitor: only the calls below read the clock, so the plain
	// variable needs no lock.
	s := memory.New(memory.WithClock(func() time.Time { return now }), memory.WithCleanupInterval(0))
	defer s.Close()

	allowed, _, _ := s.Cooldown(ctx, "phone:+5511987654321", time.Minute)
	fmt.Println(allowed)
	now = now.Add(20 * time.Second)
	allowed, retry, _ := s.Cooldown(ctx, "phone:+5511987654321", time.Minute)
	fmt.Println(allowed, retry)
	// Output:
	// true
	// false 40s
}
