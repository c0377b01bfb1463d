package memory

import (
	"context"
	"math"
	"time"

	"github.com/patrickmn/go-cache"
	"golang.org/x/time/rate"
)

// counter is a count within a fixed window that ends at its deadline. Its
// fields change only under the shard mutex.
type counter struct {
	deadline
	n int
}

// bucket is a token bucket. It expires once it has been idle long enough to
// be full again, when dropping it changes nothing.
type bucket struct {
	deadline
	lim *rate.Limiter
}

// bucketIdle is how long a full bucket is kept after it refilled, so that a
// key used now and then does not build a new limiter every time.
const bucketIdle = time.Minute

// neverRefills is how long a bucket that never refills (r <= 0) is kept
// after its last use.
const neverRefills = 24 * time.Hour

// Fail is called after a wrong code that AttemptCode counted; it counts
// nothing itself. While subject is locked it returns the remaining lock.
// Otherwise, when the failure count of the current window has reached limit
// (limit < 1 is always reached), it locks subject until
// store.ClampTTL(lockFor) from now or the end of the window, whichever is
// later, deletes the count, and returns the lock's duration. Otherwise it
// changes nothing and returns 0. It is one critical section under the
// subject's shard mutex.
func (s *Store) Fail(_ context.Context, subject string, limit int, lockFor time.Duration) (time.Duration, error) {
	sh := s.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	if l, ok := lookup[*deadline](sh.locks, subject, now); ok {
		return l.remaining(now), nil
	}
	var n int
	until := expiry(now, lockFor)
	if c, ok := lookup[*counter](sh.failures, subject, now); ok {
		n = c.n
		if c.until.After(until) {
			until = c.until
		}
	}
	if n < limit {
		return 0, nil
	}
	sh.failures.Delete(subject)
	lock := &deadline{until: until}
	sh.locks.Set(subject, lock, cache.NoExpiration)
	return lock.remaining(now), nil
}

// Locked returns the remaining lock of subject; locked is false when there
// is none.
func (s *Store) Locked(_ context.Context, subject string) (time.Duration, bool, error) {
	sh := s.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	l, ok := lookup[*deadline](sh.locks, subject, now)
	if !ok {
		return 0, false, nil
	}
	return l.remaining(now), true, nil
}

// ResetFailures forgets subject's failure count. It does not lift a lock.
func (s *Store) ResetFailures(_ context.Context, subject string) error {
	sh := s.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.failures.Delete(subject)
	return nil
}

// Cooldown starts a cooldown of store.ClampTTL(d) for subject unless one is
// running, and then returns (true, 0); otherwise it returns false and the
// remaining time of the running one, which a refused call does not extend.
// d <= 0 disables the cooldown: the call is allowed and changes nothing.
func (s *Store) Cooldown(_ context.Context, subject string, d time.Duration) (bool, time.Duration, error) {
	if d <= 0 {
		return true, 0, nil
	}
	sh := s.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	if c, ok := lookup[*deadline](sh.cooldowns, subject, now); ok {
		return false, c.remaining(now), nil
	}
	sh.cooldowns.Set(subject, &deadline{until: expiry(now, d)}, cache.NoExpiration)
	return true, 0, nil
}

// Hit counts one event for subject in a fixed window of
// store.ClampTTL(window) that starts with the window's first event. When
// limit events were already counted in the window (limit < 1 refuses every
// event), the event is not counted and Hit returns false and the time until
// the window ends.
func (s *Store) Hit(_ context.Context, subject string, limit int, window time.Duration) (bool, time.Duration, error) {
	sh := s.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	c, ok := lookup[*counter](sh.hits, subject, now)
	if !ok {
		c = &counter{deadline: deadline{until: expiry(now, window)}}
		sh.hits.Set(subject, c, cache.NoExpiration)
	}
	if c.n >= limit {
		return false, c.remaining(now), nil
	}
	c.n++
	return true, 0, nil
}

// Take takes one token from key's token bucket, a rate.Limiter that refills
// at r tokens per second up to burst and starts full. When r or burst differ
// from the bucket's, the bucket takes the new values and keeps its tokens.
// When the bucket is empty, Take returns false and the time until a token is
// available, rounded up to the nanosecond; that is rate.InfDuration when no
// token ever will be (r <= 0, or burst < 1). A bucket that never refills is
// forgotten after 24 hours without use.
func (s *Store) Take(_ context.Context, key string, r rate.Limit, burst int) (bool, time.Duration, error) {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	b, ok := lookup[*bucket](sh.buckets, key, now)
	switch {
	case !ok:
		b = &bucket{lim: rate.NewLimiter(r, burst)}
		sh.buckets.Set(key, b, cache.NoExpiration)
	case b.lim.Limit() != r || b.lim.Burst() != burst:
		b.lim.SetLimitAt(now, r)
		b.lim.SetBurstAt(now, burst)
	}
	allowed := b.lim.AllowN(now, 1)
	tokens := b.lim.TokensAt(now)
	b.until = now.Add(addSat(untilFull(tokens, r, burst), bucketIdle))
	if allowed {
		return true, 0, nil
	}
	if r <= 0 || burst < 1 {
		return false, rate.InfDuration, nil
	}
	return false, max(ceilSeconds((1-tokens)/float64(r)), 1), nil
}

// untilFull returns how long a bucket holding tokens takes to refill to
// burst at r; neverRefills when it never does.
func untilFull(tokens float64, r rate.Limit, burst int) time.Duration {
	switch {
	case r == rate.Inf:
		return 0
	case r <= 0:
		return neverRefills
	}
	return ceilSeconds((float64(burst) - tokens) / float64(r))
}

// addSat returns a+b for non-negative a and b, saturating at
// rate.InfDuration.
func addSat(a, b time.Duration) time.Duration {
	if a > rate.InfDuration-b {
		return rate.InfDuration
	}
	return a + b
}

// ceilSeconds converts seconds to a Duration, rounding up to the nanosecond
// and saturating at rate.InfDuration.
func ceilSeconds(sec float64) time.Duration {
	if sec <= 0 {
		return 0
	}
	ns := math.Ceil(sec * float64(time.Second))
	if ns >= float64(math.MaxInt64) {
		return rate.InfDuration
	}
	return time.Duration(ns)
}
