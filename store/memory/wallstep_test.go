package memory_test

import (
	"context"
	"math"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
)

// wallStepped returns t with its wall clock moved by shift and its
// monotonic reading left alone: what time.Now returns after an NTP or
// operator step of the system clock. The time package offers no way to
// build one, so this writes the seconds field of a Time that carries a
// monotonic reading (wall: 1 flag bit, 33 bits of seconds since 1885, 30
// bits of nanoseconds); the require checks at the top of each case of
// TestWallClockStep (and TestWallClockStepSessions) check that it did what
// it says.
func wallStepped(t time.Time, shift time.Duration) time.Time {
	type timeLayout struct {
		wall uint64
		ext  int64
		loc  *time.Location
	}
	x := (*timeLayout)(unsafe.Pointer(&t))
	x.wall += uint64(int64(shift/time.Second)) << 30
	return t
}

// TestWallClockStep: the deadlines of locks and cooldowns are kept on the
// monotonic clock when the store's readings carry it, as time.Now's do: a
// step of the wall clock neither lifts a lock early nor extends it.
func TestWallClockStep(t *testing.T) {
	t0 := time.Now()
	require.NotEqual(t, t0, t0.Round(0), "time.Now carries no monotonic reading here")
	for _, shift := range []time.Duration{-time.Hour, time.Hour} {
		later := wallStepped(t0.Add(time.Second), shift)
		require.Equal(t, time.Second, later.Sub(t0), "the monotonic clock: one second later")
		require.Equal(t, time.Second+shift, later.Round(0).Sub(t0.Round(0)), "the wall clock stepped by %v", shift)

		now := t0
		s := memory.New(memory.WithClock(func() time.Time { return now }), memory.WithCleanupInterval(0))
		ctx := context.Background()
		p := store.Pair{Integration: "goomer", Subject: "subj"}
		lock, err := s.Fail(ctx, p, store.Budgets{MaxAttempts: 5, Pair: store.Budget{Limit: 0, LockFor: time.Minute}, Customer: store.Budget{Limit: 100, LockFor: time.Hour, Window: time.Hour}})
		require.NoError(t, err)
		require.True(t, lock.Set)
		allowed, _, err := s.Cooldown(ctx, "cool", time.Minute)
		require.NoError(t, err)
		require.True(t, allowed)

		now = later
		lock, err = s.Locked(ctx, p)
		require.NoError(t, err)
		assert.Equal(t, store.Lock{Scope: store.ScopePair, Remaining: 59 * time.Second}, lock, "the lock a second later, wall clock stepped by %v", shift)
		allowed, retry, err := s.Cooldown(ctx, "cool", time.Minute)
		require.NoError(t, err)
		assert.False(t, allowed, "the cooldown a second later, wall clock stepped by %v", shift)
		assert.Equal(t, 59*time.Second, retry)
		s.Close()
	}
}

// TestWallClockStepSessions: sessions, unlike codes and limits, expire on
// the wall clock, as the package doc says: a session's ExpiresAt is a wall
// time, which its MAC covers, the guard checks and Redis keeps alike, and
// the store keeps the session's deadline alike. A step of the wall clock
// forward ends a session early, a step back keeps it past its TTL on the
// monotonic clock; GetSession and LookupSession agree.
func TestWallClockStepSessions(t *testing.T) {
	t0 := time.Now()
	require.NotEqual(t, t0, t0.Round(0), "time.Now carries no monotonic reading here")
	const ttl = time.Minute
	for _, c := range []struct {
		shift   time.Duration // of the wall clock
		elapsed time.Duration // on the monotonic clock
		found   bool
	}{
		{0, ttl - time.Second, true},            // no step: alive before its TTL...
		{0, ttl, false},                         // ...and gone at it
		{time.Hour, time.Second, false},         // a step forward: gone a second after creation
		{-time.Hour, ttl + time.Second, true},   // a step back: alive past its TTL...
		{-time.Hour, time.Hour + ttl, false},    // ...until the wall clock reaches ExpiresAt
		{-time.Hour, time.Hour + ttl - 1, true}, // ...exactly
	} {
		later := wallStepped(t0.Add(c.elapsed), c.shift)
		require.Equal(t, c.elapsed, later.Sub(t0), "the monotonic clock")
		require.Equal(t, c.elapsed+c.shift, later.Round(0).Sub(t0.Round(0)), "the wall clock stepped by %v", c.shift)

		now := t0
		s := memory.New(memory.WithClock(func() time.Time { return now }), memory.WithCleanupInterval(0))
		ctx := context.Background()
		token := "token"
		mac := store.TokenDigest("mac")
		sess := store.Session{Integration: "goomer", CustomerID: "c", VerifiedAt: t0, ExpiresAt: t0.Add(ttl), MAC: mac[:]}
		require.NoError(t, s.CreateSession(ctx, store.HashToken(token), sess, ttl))

		now = later
		got, found, err := s.GetSession(ctx, store.HashToken(token))
		require.NoError(t, err)
		assert.Equal(t, c.found, found, "GetSession %v later on the monotonic clock, wall clock stepped by %v", c.elapsed, c.shift)
		if found {
			assert.True(t, got.ExpiresAt.Equal(sess.ExpiresAt), "ExpiresAt: got %v, want %v", got.ExpiresAt, sess.ExpiresAt)
		}
		_, found, err = s.LookupSession(ctx, store.TokenDigest(token), later)
		require.NoError(t, err)
		assert.Equal(t, c.found, found, "LookupSession %v later on the monotonic clock, wall clock stepped by %v", c.elapsed, c.shift)
		s.Close()
	}
}

// TestAttemptsSaturate: a code stored with the largest attempt count stays
// burned on its next attempt; the count does not wrap to a negative one
// that would read as unburned and charge the budgets again.
func TestAttemptsSaturate(t *testing.T) {
	s := memory.New(memory.WithCleanupInterval(0))
	defer s.Close()
	ctx := context.Background()
	p := store.Pair{Integration: "goomer", Subject: "subj"}
	require.NoError(t, s.PutCode(ctx, p, store.Code{ID: "c", Attempts: math.MaxInt, ExpiresAt: time.Now().Add(time.Hour)}, time.Hour))
	a, err := s.AttemptCode(ctx, p, store.Budgets{MaxAttempts: 5, Pair: store.Budget{Limit: 10, Window: time.Hour, LockFor: time.Hour}, Customer: store.Budget{Limit: 100, Window: time.Hour, LockFor: time.Hour}})
	require.NoError(t, err)
	require.True(t, a.Found)
	assert.Equal(t, math.MaxInt, a.Code.Attempts, "the attempt count saturates")
	st, err := s.Status(ctx, "subj")
	require.NoError(t, err)
	assert.Equal(t, store.Status{}, st, "a burned code's attempt charges no budget")
}
