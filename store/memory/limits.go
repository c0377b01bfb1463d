package memory

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/otpguard/otpguard/store"
	"github.com/patrickmn/go-cache"
	"golang.org/x/time/rate"
)

// counter is a count within a window that ends at its deadline. Its fields
// change only under the shard mutex.
type counter struct {
	deadline
	n int
}

// count returns c's count; 0 for a nil c, a window that is not running.
func (c *counter) count() int {
	if c == nil {
		return 0
	}
	return c.n
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

// lock returns the lock in force at now on the pair keyed pk of subject:
// the customer's when the customer is locked, else the pair's, else the
// zero Lock. The caller holds sh.mu.
func (sh *shard) lock(subject, pk string, now time.Time) store.Lock {
	if l, ok := lookup[*deadline](sh.customerLocks, subject, now); ok {
		return store.Lock{Scope: store.ScopeCustomer, Remaining: l.remaining(now)}
	}
	if l, ok := lookup[*deadline](sh.pairLocks, pk, now); ok {
		return store.Lock{Scope: store.ScopePair, Remaining: l.remaining(now)}
	}
	return store.Lock{}
}

// Fail is called after a wrong code that AttemptCode charged; it counts
// nothing itself. In one critical section under the subject's shard mutex:
//
//   - unless the pair is locked, when the pair's count in its window has
//     reached b.Pair.Limit it locks the pair until store.ClampTTL of
//     b.Pair.LockFor from now or the end of the window, whichever is later,
//     and deletes the count;
//   - unless the customer is locked, when the customer's count has reached
//     b.Customer.Limit it locks the customer for
//     store.ClampTTL(b.Customer.LockFor) and deletes the count.
//
// A Limit below 1 is always reached. A lock in force is never extended nor
// shortened. Fail returns the lock in force afterwards as Locked reports it,
// with Set true when this call set it. A pair it locks is listed among its
// subject's pairs, for Status and Unlock.
func (s *Store) Fail(ctx context.Context, p store.Pair, b store.Budgets) (store.Lock, error) {
	pk := pairKey(p)
	sh := s.shard(p.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.clock(ctx)
	var set store.LockScope
	if _, locked := lookup[*deadline](sh.pairLocks, pk, now); !locked {
		c, _ := lookup[*counter](sh.pairFailures, pk, now)
		if c.count() >= b.Pair.Limit {
			until := expiry(now, b.Pair.LockFor)
			if c != nil && c.until.After(until) {
				until = c.until
			}
			sh.pairFailures.Delete(pk)
			sh.pairLocks.Set(pk, &deadline{until: until}, cache.NoExpiration)
			sh.notePair(p, until, now)
			set = store.ScopePair
		}
	}
	if _, locked := lookup[*deadline](sh.customerLocks, p.Subject, now); !locked {
		c, _ := lookup[*counter](sh.customerFailures, p.Subject, now)
		if c.count() >= b.Customer.Limit {
			until := expiry(now, b.Customer.LockFor)
			sh.customerFailures.Delete(p.Subject)
			sh.customerLocks.Set(p.Subject, &deadline{until: until}, cache.NoExpiration)
			set = store.ScopeCustomer
		}
	}
	l := sh.lock(p.Subject, pk, now)
	l.Set = set != store.ScopeNone && l.Scope == set
	return l, nil
}

// Locked returns the lock in force on the pair: the customer's when the
// customer is locked, else the pair's, else the zero Lock.
func (s *Store) Locked(ctx context.Context, p store.Pair) (store.Lock, error) {
	pk := pairKey(p)
	sh := s.shard(p.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.lock(p.Subject, pk, s.clock(ctx)), nil
}

// Succeed forgets the pair's failure count and the customer's, after a
// right code. It lifts no lock and leaves every other pair's count as it
// is.
func (s *Store) Succeed(ctx context.Context, p store.Pair) error {
	pk := pairKey(p)
	sh := s.shard(p.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.pairFailures.Delete(pk)
	sh.customerFailures.Delete(p.Subject)
	return nil
}

// pairSet lists the integrations of a subject's pairs that have had a
// failure count or a lock, so that Status and Unlock find them; it lives as
// long as the latest of those records. An integration stays listed after
// its records are gone, until the set expires: readers look the records up.
// Integrations are few, so the set is never pruned otherwise.
type pairSet struct {
	deadline
	integrations map[string]struct{}
}

// notePair lists p's integration among its subject's pairs, which are kept
// at least until until. The caller holds sh.mu and has just written a
// record of p that lives until until.
func (sh *shard) notePair(p store.Pair, until, now time.Time) {
	ps, ok := lookup[*pairSet](sh.subjectPairs, p.Subject, now)
	if !ok {
		ps = &pairSet{integrations: make(map[string]struct{}, 1)}
		sh.subjectPairs.Set(p.Subject, ps, cache.NoExpiration)
	}
	ps.integrations[p.Integration] = struct{}{}
	if until.After(ps.until) {
		ps.until = until
	}
}

// Status returns, in one critical section under the subject's shard mutex,
// the customer's lock in force and consecutive-failure count, and the lock
// and failure count of every pair of subject that has either, sorted by
// integration. It changes nothing.
func (s *Store) Status(ctx context.Context, subject string) (store.Status, error) {
	sh := s.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.clock(ctx)
	var st store.Status
	if l, ok := lookup[*deadline](sh.customerLocks, subject, now); ok {
		st.Customer = store.Lock{Scope: store.ScopeCustomer, Remaining: l.remaining(now)}
	}
	if c, ok := lookup[*counter](sh.customerFailures, subject, now); ok {
		st.CustomerFailures = c.n
	}
	ps, ok := lookup[*pairSet](sh.subjectPairs, subject, now)
	if !ok {
		return st, nil
	}
	for in := range ps.integrations {
		pk := pairKey(store.Pair{Integration: in, Subject: subject})
		pst := store.PairStatus{Integration: in}
		if l, ok := lookup[*deadline](sh.pairLocks, pk, now); ok {
			pst.Lock = store.Lock{Scope: store.ScopePair, Remaining: l.remaining(now)}
		}
		if c, ok := lookup[*counter](sh.pairFailures, pk, now); ok {
			pst.Failures = c.n
		}
		if pst.Lock.Locked() || pst.Failures > 0 {
			st.Pairs = append(st.Pairs, pst)
		}
	}
	slices.SortFunc(st.Pairs, func(a, b store.PairStatus) int { return strings.Compare(a.Integration, b.Integration) })
	return st, nil
}

// Unlock deletes, in one critical section under the subject's shard mutex,
// the lock and failure count of subject's pair with integration, or, when
// integration is "", the customer's lock and count and those of every pair
// of subject. Codes, cooldowns, windows, buckets and sessions are left
// alone.
func (s *Store) Unlock(ctx context.Context, subject, integration string) error {
	sh := s.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if integration != "" {
		pk := pairKey(store.Pair{Integration: integration, Subject: subject})
		sh.pairLocks.Delete(pk)
		sh.pairFailures.Delete(pk)
		if ps, ok := lookup[*pairSet](sh.subjectPairs, subject, s.clock(ctx)); ok {
			delete(ps.integrations, integration)
		}
		return nil
	}
	sh.customerLocks.Delete(subject)
	sh.customerFailures.Delete(subject)
	if ps, ok := lookup[*pairSet](sh.subjectPairs, subject, s.clock(ctx)); ok {
		for in := range ps.integrations {
			pk := pairKey(store.Pair{Integration: in, Subject: subject})
			sh.pairLocks.Delete(pk)
			sh.pairFailures.Delete(pk)
		}
	}
	sh.subjectPairs.Delete(subject)
	return nil
}

// Cooldown starts a cooldown of store.ClampTTL(d) under key unless one is
// running, and then returns (true, 0); otherwise it returns false and the
// remaining time of the running one, which a refused call does not extend.
// d <= 0 disables the cooldown: the call is allowed and changes nothing.
func (s *Store) Cooldown(ctx context.Context, key string, d time.Duration) (bool, time.Duration, error) {
	if d <= 0 {
		return true, 0, nil
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.clock(ctx)
	if c, ok := lookup[*deadline](sh.cooldowns, key, now); ok {
		return false, c.remaining(now), nil
	}
	sh.cooldowns.Set(key, &deadline{until: expiry(now, d)}, cache.NoExpiration)
	return true, 0, nil
}

// Hit counts one event under key in a fixed window of
// store.ClampTTL(window) that starts with the window's first event, and
// returns Allowed and Left, the events the window allows after this one.
// When limit events were already counted in the window (limit < 1 refuses
// every event, and starts an empty window when none is running), the event
// is not counted and Hit returns RetryAfter, the time until the window
// ends.
func (s *Store) Hit(ctx context.Context, key string, limit int, window time.Duration) (store.Window, error) {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.clock(ctx)
	c, ok := lookup[*counter](sh.hits, key, now)
	if !ok {
		c = &counter{deadline: deadline{until: expiry(now, window)}}
		sh.hits.Set(key, c, cache.NoExpiration)
	}
	if c.n >= limit {
		return store.Window{RetryAfter: c.remaining(now)}, nil
	}
	c.n++
	return store.Window{Allowed: true, Left: limit - c.n}, nil
}

// Peek reports what Hit would do now under key, and changes nothing: Left
// is the number of events the window allows now. When it would refuse,
// RetryAfter is the time until the running window ends; it is 0 when no
// window is running (limit < 1).
func (s *Store) Peek(ctx context.Context, key string, limit int) (store.Window, error) {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.clock(ctx)
	c, _ := lookup[*counter](sh.hits, key, now)
	if n := c.count(); n < limit {
		return store.Window{Allowed: true, Left: limit - n}, nil
	}
	if c == nil {
		return store.Window{}, nil
	}
	return store.Window{RetryAfter: c.remaining(now)}, nil
}

// Refund takes back one event Hit counted under key in the running window,
// whose end it leaves as it is. Without a running window, or with nothing
// counted in it, it does nothing.
func (s *Store) Refund(ctx context.Context, key string) error {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c, ok := lookup[*counter](sh.hits, key, s.clock(ctx)); ok && c.n > 0 {
		c.n--
	}
	return nil
}

// Take takes one token from key's token bucket, a rate.Limiter that refills
// at r tokens per second up to burst and starts full. When r or burst differ
// from the bucket's, the bucket takes the new values and keeps its tokens.
// When the bucket is empty, Take returns false and the time until a token is
// available, rounded up to the nanosecond; that is rate.InfDuration when no
// token ever will be (r <= 0, or burst < 1). A bucket that never refills is
// forgotten after 24 hours without use.
func (s *Store) Take(ctx context.Context, key string, r rate.Limit, burst int) (bool, time.Duration, error) {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.clock(ctx)
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
