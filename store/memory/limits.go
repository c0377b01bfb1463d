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

// counter is a count within a window that ends at its deadline, 16 bytes.
// The zero counter is a window that is not running. Its fields change only
// under the shard mutex.
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

// at returns c's count at now: 0 once its window has ended.
func (c *counter) at(now tick) int {
	if !c.aliveAt(now) {
		return 0
	}
	return c.n
}

// start starts a window of store.ClampTTL(window) at now, with no count,
// unless one is running.
func (c *counter) start(now tick, window time.Duration) {
	if !c.aliveAt(now) {
		*c = counter{deadline: after(now, window)}
	}
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

// Fail is called after a wrong code that AttemptCode charged; it counts
// nothing itself. In one critical section under the subject's shard mutex:
//
//   - unless the pair is locked, when the pair's count in its window has
//     reached b.Pair.Limit it locks the pair until store.ClampTTL of
//     b.Pair.LockFor from now or the end of the window, whichever is later,
//     and clears the count;
//   - unless the customer is locked, when the customer's count has reached
//     b.Customer.Limit it locks the customer for
//     store.ClampTTL(b.Customer.LockFor) and clears the count.
//
// A Limit below 1 is always reached. A lock in force is never extended nor
// shortened. Fail returns the lock in force afterwards as Locked reports it,
// with Set true when this call set it.
func (s *Store) Fail(ctx context.Context, p store.Pair, b store.Budgets) (store.Lock, error) {
	sh := s.shard(p.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.clockTick(ctx)
	r, pr := sh.pair(p)
	var set store.LockScope
	if (pr == nil || !pr.lock.aliveAt(now)) && pr.failuresAt(now) >= b.Pair.Limit {
		lock := after(now, b.Pair.LockFor)
		if pr != nil && pr.failures.aliveAt(now) && pr.failures.until > lock.until {
			lock = pr.failures.deadline
		}
		if pr == nil {
			r, pr = sh.addPair(p)
		}
		pr.failures, pr.lock = counter{}, lock
		set = store.ScopePair
	}
	if (r == nil || !r.lock.aliveAt(now)) && r.failuresAt(now) >= b.Customer.Limit {
		if r == nil {
			r = sh.addSubject(p.Subject)
		}
		r.failures, r.lock = counter{}, after(now, b.Customer.LockFor)
		set = store.ScopeCustomer
	}
	l := r.lockAt(pr, now)
	l.Set = set != store.ScopeNone && l.Scope == set
	return l, nil
}

// Locked returns the lock in force on the pair: the customer's when the
// customer is locked, else the pair's, else the zero Lock.
func (s *Store) Locked(ctx context.Context, p store.Pair) (store.Lock, error) {
	sh := s.shard(p.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, pr := sh.pair(p)
	return r.lockAt(pr, s.clockTick(ctx)), nil
}

// Succeed forgets the pair's failure count and the customer's, after a
// right code. It lifts no lock and leaves every other pair's count as it
// is. It zeroes the counts in place rather than deleting them: a zero
// counter is a window that is not running, so the next failure starts a
// fresh window, as it would after a deletion, in the same memory, and a
// verification's success path allocates no counter. It allocates nothing.
func (s *Store) Succeed(ctx context.Context, p store.Pair) error {
	sh := s.shard(p.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, pr := sh.pair(p)
	if pr != nil {
		pr.failures = counter{}
	}
	if r != nil {
		r.failures = counter{}
	}
	return nil
}

// Status returns, in one critical section under the subject's shard mutex,
// the customer's lock in force and consecutive-failure count, and the lock
// and failure count of every pair of subject that has either, sorted by
// integration. A count that has been cleared or forgotten is 0, and a
// pair with neither lock nor count is not listed. It changes nothing.
func (s *Store) Status(ctx context.Context, subject string) (store.Status, error) {
	sh := s.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.clockTick(ctx)
	var st store.Status
	r := sh.subject(subject)
	if r == nil {
		return st, nil
	}
	st.Customer = r.lockAt(nil, now)
	st.CustomerFailures = r.failures.at(now)
	for pr := &r.pairs; pr != nil; pr = pr.next {
		pst := store.PairStatus{Integration: pr.integration, Failures: pr.failures.at(now)}
		if pr.lock.aliveAt(now) {
			pst.Lock = store.Lock{Scope: store.ScopePair, Remaining: pr.lock.remaining(now)}
		}
		if pst.Lock.Locked() || pst.Failures > 0 {
			st.Pairs = append(st.Pairs, pst)
		}
	}
	// The subject's pairs are kept in no order.
	slices.SortFunc(st.Pairs, func(a, b store.PairStatus) int { return strings.Compare(a.Integration, b.Integration) })
	return st, nil
}

// Unlock clears, in one critical section under the subject's shard mutex,
// the lock and failure count of subject's pair with integration, or, when
// integration is "", the customer's lock and count and those of every pair
// of subject. Codes, cooldowns, windows, buckets and sessions are left
// alone. What it clears is zeroed in place, like what Succeed clears, and
// the janitor reclaims the records left empty.
func (s *Store) Unlock(ctx context.Context, subject, integration string) error {
	sh := s.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.subject(subject)
	if r == nil {
		return nil
	}
	if integration != "" {
		if pr := r.pair(integration); pr != nil {
			pr.failures, pr.lock = counter{}, deadline{}
		}
		return nil
	}
	r.failures, r.lock = counter{}, deadline{}
	for pr := &r.pairs; pr != nil; pr = pr.next {
		pr.failures, pr.lock = counter{}, deadline{}
	}
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
	now := s.clockTick(ctx)
	if c, ok := lookup[*deadline](sh.cooldowns, key, now); ok {
		return false, c.remaining(now), nil
	}
	c := after(now, d)
	sh.cooldowns.Set(key, &c, cache.NoExpiration)
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
	now := s.clockTick(ctx)
	c, ok := lookup[*counter](sh.hits, key, now)
	if !ok {
		c = &counter{deadline: after(now, window)}
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
	now := s.clockTick(ctx)
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
	if c, ok := lookup[*counter](sh.hits, key, s.clockTick(ctx)); ok && c.n > 0 {
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
	t := s.tickOf(now)
	b, ok := lookup[*bucket](sh.buckets, key, t)
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
	b.until = t.add(addSat(untilFull(tokens, r, burst), bucketIdle))
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
