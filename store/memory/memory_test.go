package memory_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
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

func TestExpiryFollowsClock(t *testing.T) {
	ctx := context.Background()
	s, clk := newStore(t)
	const ttl = 10 * time.Minute
	require.NoError(t, s.PutCode(ctx, "subj", store.Code{ID: "c"}, ttl))
	require.NoError(t, s.CreateSession(ctx, "hash", store.Session{CustomerID: "c"}, ttl))
	// A budget of 1 spent on "spent" and a lock on "locked", both for ttl.
	require.NoError(t, s.PutCode(ctx, "spent", store.Code{ID: "c"}, 2*ttl))
	a, err := s.AttemptCode(ctx, "spent", 10, 1, ttl)
	require.NoError(t, err)
	require.True(t, a.Found, "AttemptCode: got found=false, want true")
	lock, err := s.Fail(ctx, "locked", 0, ttl)
	require.NoError(t, err)
	require.Equal(t, ttl, lock, "Fail lock: got %v, want %v", lock, ttl)

	// One nanosecond before the deadline everything is alive, at the
	// deadline everything is gone: the decision is the clock's, to the
	// nanosecond, however much real time passes.
	clk.Advance(ttl - time.Nanosecond)
	_, found, err := s.GetSession(ctx, "hash")
	require.NoError(t, err)
	assert.True(t, found, "GetSession 1ns before expiry: got found=false, want true")
	remaining, locked, err := s.Locked(ctx, "locked")
	require.NoError(t, err)
	assert.True(t, locked, "Locked 1ns before expiry: got false, want true")
	assert.Equal(t, time.Nanosecond, remaining, "Locked remaining: got %v, want 1ns", remaining)
	a, err = s.AttemptCode(ctx, "locked", 10, 10, ttl)
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{Locked: time.Nanosecond}, a, "AttemptCode 1ns before the lock ends")
	a, err = s.AttemptCode(ctx, "spent", 10, 1, ttl)
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{Locked: time.Nanosecond}, a, "AttemptCode 1ns before the window ends")
	a, err = s.AttemptCode(ctx, "subj", 10, 10, ttl)
	require.NoError(t, err)
	require.True(t, a.Found, "AttemptCode 1ns before expiry: got found=false, want true")
	assert.Equal(t, 1, a.Code.Attempts)

	clk.Advance(time.Nanosecond)
	_, found, err = s.GetSession(ctx, "hash")
	require.NoError(t, err)
	assert.False(t, found, "GetSession at expiry: got found=true, want false")
	_, locked, err = s.Locked(ctx, "locked")
	require.NoError(t, err)
	assert.False(t, locked, "Locked at expiry: got true, want false")
	a, err = s.AttemptCode(ctx, "subj", 10, 10, ttl)
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{}, a, "AttemptCode at expiry: got %+v, want nothing found", a)
	a, err = s.AttemptCode(ctx, "spent", 10, 1, ttl)
	require.NoError(t, err)
	assert.True(t, a.Found, "AttemptCode once the window ended: got %+v, want a counted attempt", a)
	assert.Equal(t, 2, a.Code.Attempts)
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
			require.NoError(t, s.PutCode(ctx, "subj", store.Code{ID: "c"}, ttl))
			require.NoError(t, s.CreateSession(ctx, "hash", store.Session{CustomerID: "c"}, ttl))
			clk.Advance(store.MinTTL - time.Nanosecond)
			_, found, err := s.GetSession(ctx, "hash")
			require.NoError(t, err)
			assert.True(t, found, "GetSession 1ns before MinTTL: got found=false, want true")
			a, err := s.AttemptCode(ctx, "subj", 10, 10, time.Hour)
			require.NoError(t, err)
			assert.True(t, a.Found, "AttemptCode 1ns before MinTTL: got found=false, want true")
			clk.Advance(time.Nanosecond)
			_, found, err = s.GetSession(ctx, "hash")
			require.NoError(t, err)
			assert.False(t, found, "GetSession at MinTTL: got found=true, want false")
			a, err = s.AttemptCode(ctx, "subj", 10, 10, time.Hour)
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
		{"Hit", func() (bool, time.Duration, error) { return s.Hit(ctx, "a", 1, time.Minute) }, time.Minute - 250*time.Microsecond},
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
	lock, err := s.Fail(ctx, "zero-limit", 0, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, time.Minute, lock, "Fail with limit 0: got lock %v, want 1m", lock)

	// A budget of 0 refuses at once, and starts an empty window that runs
	// down.
	require.NoError(t, s.PutCode(ctx, "zero-budget", store.Code{ID: "c"}, time.Hour))
	a, err := s.AttemptCode(ctx, "zero-budget", 10, 0, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{Locked: time.Minute}, a, "AttemptCode with budget 0")

	ok, retry, err := s.Hit(ctx, "zero-limit", 0, time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "Hit with limit 0: got allowed, want refused")
	assert.Equal(t, time.Minute, retry, "Hit retryAfter: got %v, want 1m", retry)
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
			require.NoError(t, s.PutCode(ctx, "s", store.Code{ID: "c"}, time.Hour))
			for n := 1; n <= 2; n++ {
				a, err := s.AttemptCode(ctx, "s", 5, 3, window)
				require.NoError(t, err)
				require.Equal(t, store.Attempt{Code: store.Code{ID: "c", Attempts: n}, Found: true}, a, "attempt %d", n)
			}
			clk.Advance(4 * time.Minute)
			lock, err := s.Fail(ctx, "s", 3, tt.lockFor)
			require.NoError(t, err)
			assert.Zero(t, lock, "Fail below the limit: got %v, want 0", lock)
			a, err := s.AttemptCode(ctx, "s", 5, 3, window)
			require.NoError(t, err)
			require.True(t, a.Found, "third attempt: got %+v, want counted", a)
			require.Contains(t, s.Items(), "failures/s")

			lock, err = s.Fail(ctx, "s", 3, tt.lockFor)
			require.NoError(t, err)
			assert.Equal(t, tt.wantLock, lock, "Fail at the limit: got %v, want %v", lock, tt.wantLock)
			assert.NotContains(t, s.Items(), "failures/s", "failure count after the lock: got kept, want deleted")

			clk.Advance(time.Second)
			a, err = s.AttemptCode(ctx, "s", 5, 3, window)
			require.NoError(t, err)
			assert.Equal(t, store.Attempt{Locked: tt.wantLock - time.Second}, a, "AttemptCode while locked")
			lock, err = s.Fail(ctx, "s", 3, time.Hour)
			require.NoError(t, err)
			assert.Equal(t, tt.wantLock-time.Second, lock, "Fail while locked: got %v, want the remaining lock", lock)

			// Once the lock is over the whole budget is back, and the
			// refused attempts counted nothing on the code.
			clk.Advance(tt.wantLock - time.Second)
			for n := 4; n <= 5; n++ {
				a, err = s.AttemptCode(ctx, "s", 5, 3, window)
				require.NoError(t, err)
				require.Equal(t, store.Attempt{Code: store.Code{ID: "c", Attempts: n}, Found: true}, a, "attempt %d after the lock", n)
			}
			// Burned: counted on the code, not on the budget.
			for n := 6; n <= 8; n++ {
				a, err = s.AttemptCode(ctx, "s", 5, 3, window)
				require.NoError(t, err)
				require.Equal(t, store.Attempt{Code: store.Code{ID: "c", Attempts: n}, Found: true}, a, "burned attempt %d", n)
			}
			require.NoError(t, s.PutCode(ctx, "s", store.Code{ID: "d"}, time.Hour))
			a, err = s.AttemptCode(ctx, "s", 5, 3, window)
			require.NoError(t, err)
			require.True(t, a.Found, "third charge: got %+v, want counted", a)
			clk.Advance(time.Minute)
			a, err = s.AttemptCode(ctx, "s", 5, 3, window)
			require.NoError(t, err)
			assert.Equal(t, store.Attempt{Locked: window - time.Minute}, a, "AttemptCode with the budget spent")
		})
	}
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	s, clk := newStore(t)
	const short, long = time.Second, time.Hour
	for _, ttl := range []time.Duration{short, long} {
		k := ttl.String()
		require.NoError(t, s.PutCode(ctx, k, store.Code{ID: "c"}, ttl))
		require.NoError(t, s.CreateSession(ctx, k, store.Session{}, ttl))
		a, err := s.AttemptCode(ctx, k, 10, 10, ttl) // a failure counter
		require.NoError(t, err)
		require.True(t, a.Found)
		_, err = s.Fail(ctx, k+"-locked", 0, ttl) // a lock
		require.NoError(t, err)
		_, _, err = s.Cooldown(ctx, k, ttl)
		require.NoError(t, err)
		_, _, err = s.Hit(ctx, k, 2, ttl)
		require.NoError(t, err)
	}
	before := s.Items()
	require.Len(t, before, 12, "records before sweep: got %d, want 12", len(before))
	s.Sweep()
	require.Len(t, s.Items(), 12, "records after a sweep with nothing expired: got %d, want 12", len(s.Items()))

	clk.Advance(short)
	s.Sweep()
	after := s.Items()
	for k := range after {
		assert.Contains(t, k, long.String(), "record %q survived its expiry", k)
	}
	assert.Len(t, after, 6, "records after sweep: got %d, want 6", len(after))
}

func TestJanitorSweeps(t *testing.T) {
	// The janitor goroutine does the sweeping: the clock decides what has
	// expired; the test waits only for the goroutine's next tick.
	ctx := context.Background()
	s, clk := newStore(t, memory.WithCleanupInterval(time.Millisecond))
	require.NoError(t, s.CreateSession(ctx, "h", store.Session{}, time.Second))
	require.Len(t, s.Items(), 1)
	clk.Advance(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Items()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("records after the janitor had 5s to run: got %d, want 0", len(s.Items()))
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGetSessionAllocs(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	hash := store.HashToken("token")
	require.NoError(t, s.CreateSession(ctx, hash, store.Session{CustomerID: "c", Integration: "i"}, time.Hour))
	allocs := testing.AllocsPerRun(1000, func() {
		if _, found, _ := s.GetSession(ctx, hash); !found {
			panic("session not found")
		}
	})
	assert.Zero(t, allocs, "allocations per GetSession hit: got %v, want 0", allocs)

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
	require.NoError(t, s.PutCode(ctx, subject, store.Code{
		ID: "code-id-1", MAC: sum, Integration: "integration-1", Purpose: "redeem",
		Channel: "sms", ExpiresAt: time.Now().Add(5 * time.Minute),
	}, 5*time.Minute))

	raw := make([]byte, 32)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	token := base64.RawURLEncoding.EncodeToString(raw)
	hash := store.HashToken(token)
	require.NoError(t, s.CreateSession(ctx, hash, store.Session{
		Integration: "integration-1", CustomerID: "cust-1", Subject: subject,
		Purpose: "redeem", Scopes: []string{"rewards:redeem"}, ExpiresAt: time.Now().Add(30 * time.Minute),
	}, 30*time.Minute))
	_, err = s.AttemptCode(ctx, subject, 5, 10, time.Hour)
	require.NoError(t, err)
	_, err = s.Fail(ctx, subject, 1, 15*time.Minute)
	require.NoError(t, err)
	_, _, err = s.Cooldown(ctx, subject, time.Minute)
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
		Subject:     "phone:+5511987654321",
		ExpiresAt:   time.Now().Add(30 * time.Minute),
	}, 30*time.Minute)
	if err != nil {
		fmt.Println(err)
		return
	}

	sess, found, err := s.GetSession(ctx, store.HashToken(token))
	fmt.Println(sess.CustomerID, sess.Subject, found, err)
	// Output: cust-42 phone:+5511987654321 true <nil>
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
