// Package memory is otpguard's default store: every record in this process's
// memory, on github.com/patrickmn/go-cache and golang.org/x/time/rate.
//
// It suits a single instance; deployments that run more than one instance
// share state through store/redisstore instead. It passes the
// store/storetest conformance suite.
//
// # Time
//
// Every expiry is decided by the store's clock (WithClock, time.Now by
// default): a record written with TTL ttl is gone once the clock reaches the
// write time plus store.ClampTTL(ttl). go-cache holds every record, but its
// own expiry is not used: it reads the wall clock inside every Get and
// takes no other clock, so it would read the clock a second time on every
// guarded request (which reads it once, store.WithTime) and lose records
// early under a test clock that runs behind real time; and its janitor is
// one goroutine per cache, where the store has one for all its shards. A
// janitor goroutine deletes records whose time has passed every
// cleanup interval (WithCleanupInterval); Close stops it. A call whose
// context carries the caller's reading of the clock (store.WithTime) is
// judged at that reading instead, and LookupSession at the time it is
// given: an operation of several calls (a verification, a guarded request)
// then reads the clock once.
//
// The store's clock and every reading given to it (store.WithTime,
// LookupSession's now) must come from one source: all from time.Now, whose
// readings carry the monotonic clock, or all from one injected clock. Nor
// may a reading be stripped of its monotonic reading (by .UTC(), .Round(0)
// or .Truncate(), say) on its way to the store: Time.Sub, from which the
// deadlines of codes and limits are counted (see tick), compares two
// readings on the monotonic clock only when both carry it, and a reading
// that carries it with one that does not on the wall clock, so that mixed
// readings would be judged on two clocks at once, apart by every step the
// wall clock took since the store's first reading.
//
// Sessions, unlike codes and limits, expire on the wall clock: a session's
// ExpiresAt is a wall time, which its MAC covers and the guard checks, and
// which store/redisstore keeps alike, so the store holds a session's
// deadline as a wall time too (Unix nanoseconds, see nanos). A step of the
// wall clock moves the expiry of every session with it: a step forward
// ends sessions early, a step back makes them last longer than their TTL.
//
// # Concurrency
//
// A Store is safe for concurrent use. Records are kept in shards chosen by a
// hash of a key: the subject for the subject's record, which holds its
// customer's failure count and lock and the code, failure count and lock
// of each of its pairs (see subjectRecord), the token's digest for
// sessions, the customer or integration ID for the chain of its sessions,
// the caller's key for cooldowns, windows and buckets. Every method that
// changes or judges records of one key is one critical section under that
// key's shard mutex; AttemptCode and Fail read and change a pair's parts
// and its customer's in that one section, and so do Status and Unlock with
// every pair of a subject. GetSession and LookupSession take no shard
// mutex, only go-cache's read lock, because a session record's session
// fields never change after it is stored (its state and chain links change
// under a shard mutex, and its use marks, which UseSession changes under
// the mutex, are kept beside it).
//
// The methods on codes, failure counts and locks find a subject's record
// under the subject the caller gives, so they build no key, and clear what
// they clear in place (the janitor reclaims what is left empty), so that
// the next use of the record allocates nothing: a verification's success
// path (AttemptCode, ConsumeCode, Succeed and CreateSession, and Take, Hit
// and Refund on keys in use) allocates only the copy of the code's MAC that
// AttemptCode returns and the session's record.
//
// Sessions are indexed by customer and by integration through chains that
// run through the session records themselves (see sessions.go): a
// customer's chain hangs from a table of its shard, an integration's from
// its index in its shard. CreateSession touches three shards, the
// session's and those of its two chains; RevokeSessions and CountSessions
// touch a chain's shard and those of the sessions it lists. They take one
// shard mutex at a time, never two; CreateSession links the session into
// its chains first and stores it last, so that a session is never stored
// unindexed. RevokeSessions reads the chain, then deletes the sessions
// shard by shard, each after checking under that shard's mutex that the
// session is still stored and live; sessions created meanwhile may survive
// it, and of concurrent revocations exactly one counts each session it
// deletes. Records of sessions that expired, were revoked one by one or
// were replaced under the same key leave their chains lazily: when a chain
// is pruned (on insert, amortized, or by the janitor); readers check every
// record's state.
//
// Durations returned are exact (nanosecond precision) and positive whenever
// something is refused; codes and limits hold no deadline more than about
// 292 years after the store's creation, sessions none past the year 2262
// (see tick and nanos). The ctx argument of every method is read only for
// the caller's time (store.WithTime): no method blocks or does I/O. The
// only error a method returns is for a RevokeSessions or CountSessions
// scope other than store.ScopeCustomer and store.ScopeIntegration.
package memory

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"github.com/otpguard/otpguard/store"
	"github.com/patrickmn/go-cache"
)

// DefaultCleanupInterval is how often the janitor deletes expired records
// unless WithCleanupInterval says otherwise.
const DefaultCleanupInterval = time.Minute

// shardCount is the number of shards, 1<<shardBits.
const (
	shardBits  = 6
	shardCount = 1 << shardBits
)

// Option configures a Store; see New.
type Option func(*config)

type config struct {
	now     func() time.Time
	cleanup time.Duration
}

// WithClock makes the store read the time from now instead of time.Now. All
// expiry decisions use it. now must be safe for concurrent use. A nil now
// keeps time.Now.
//
// Every reading given to the store (store.WithTime, LookupSession's now)
// must come from now too, and neither now's readings nor those may be
// stripped of a monotonic reading (.UTC(), .Round(0), .Truncate()): Time.Sub
// compares a reading that carries one with a reading that does not on the
// wall clock, so mixed readings would judge codes and limits on two clocks
// (see the package doc, Time). Sessions expire on the wall clock whatever
// the readings carry.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithCleanupInterval sets how often the janitor goroutine deletes expired
// records (default DefaultCleanupInterval). d <= 0 runs no janitor: expired
// records are still never returned, but the memory of records nobody reads
// again is not reclaimed.
func WithCleanupInterval(d time.Duration) Option {
	return func(c *config) { c.cleanup = d }
}

// Store is the in-memory implementation of store.Store. Create it with New
// and stop its janitor with Close. Its zero value is not usable.
type Store struct {
	now func() time.Time
	// base is the store's first reading of its clock, from which ticks
	// count (see tick).
	base   time.Time
	seed   maphash.Seed
	shards [shardCount]shard

	done      chan struct{}
	janitor   sync.WaitGroup
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// shard holds the records of the keys that hash to it, one go-cache per
// record family, and the mutex that makes each method one critical section.
// Every go-cache is created without expiry or janitor of its own. A
// subject's codes, failure counts and locks, its pairs' and its customer's,
// are one record under the subject (records.go). Sessions are kept as
// sessions.go describes.
type shard struct {
	mu                  sync.Mutex
	sessions            *cache.Cache // raw token digest → *sessionRecord
	otherSessions       *cache.Cache // any other session key → *sessionRecord
	integrationSessions *cache.Cache // integration ID → *integrationIndex
	subjects            *cache.Cache // subject → *subjectRecord
	cooldowns           *cache.Cache // key → *deadline
	hits                *cache.Cache // key → *counter
	buckets             *cache.Cache // key → *bucket
	// cust is the table of the chains of sessions of the customers whose
	// ID hashes to the shard (see linkCustomer); custN counts the records
	// linked in it.
	cust  []*sessionRecord
	custN int
	// used holds the use marks of the shard's sessions (UseSession).
	used map[*sessionRecord]map[string]struct{}
	// Pad to a cache line so neighbouring shards' mutexes do not share one.
	_ [64]byte
}

// families returns pointers to the shard's go-caches, for New, the janitor
// and tests (whose names for them follow this order). The janitor sweeps
// the first ownSweep families with sweepSessions and sweepSubjects, and
// the rest by their records' deadlines.
func (sh *shard) families() []**cache.Cache {
	return []**cache.Cache{
		&sh.sessions, &sh.otherSessions, &sh.integrationSessions, &sh.subjects,
		&sh.cooldowns, &sh.hits, &sh.buckets,
	}
}

// ownSweep is the number of families at the head of families that the
// janitor sweeps with a function of their own.
const ownSweep = 4

// expiring is implemented by the records that lookup reads and the janitor
// sweeps by their deadline (all but sessions' and subjects'): it reports
// whether the record is still alive at now.
type expiring interface {
	aliveAt(now tick) bool
}

// tick is a reading of the store's clock as the deadlines of codes, locks,
// windows, cooldowns and buckets hold it: the time since the store's first
// reading (Store.base), saturated at about 292 years either way, offset by
// 2⁶³ into a uint64. The offset keeps the readings' order and makes 0 the
// earliest of them, which every reading has reached, so that the zero
// deadline has passed whatever the clock says. Between two readings in that
// range the difference is exact to the nanosecond; a later deadline is held
// as the latest tick, which leaves less time than it would.
//
// Ticks come from Time.Sub, which uses the monotonic clock when both
// readings carry it, as time.Now's do: a step of the wall clock (NTP, an
// operator) neither lifts a lock early nor extends it. An injected clock's
// readings carry none, and are compared by their wall times. So is a
// reading that carries one with a reading that does not, which is why the
// store's clock and every reading given to it must come from one source
// and keep their monotonic readings (no .UTC(), .Round(0) or .Truncate()
// on the way): a tick of time.Now().UTC() against a base read from
// time.Now is off by every step the wall clock took since the base. Session
// deadlines are not ticks; they are wall times (see nanos).
type tick uint64

// tickOf returns t as a tick.
func (s *Store) tickOf(t time.Time) tick { return tick(t.Sub(s.base)) ^ 1<<63 }

// add returns t + d for d >= 0, saturated at the latest tick.
func (t tick) add(d time.Duration) tick {
	if t > math.MaxUint64-tick(d) {
		return math.MaxUint64
	}
	return t + tick(d)
}

// deadline is the end of a record's life on the store's clock, 8 bytes. It
// is the whole record for cooldowns, and a subject's record holds one per
// code and lock. The zero deadline has passed.
type deadline struct {
	until tick
}

// after returns the deadline of a record written at now with TTL ttl.
func after(now tick, ttl time.Duration) deadline {
	return deadline{until: now.add(store.ClampTTL(ttl))}
}

// aliveAt reports whether now is before the deadline.
func (d *deadline) aliveAt(now tick) bool { return now < d.until }

// remaining returns the time left at now while the record is alive, which
// is positive, and exact unless it exceeds the longest time.Duration, at
// which it saturates.
func (d *deadline) remaining(now tick) time.Duration {
	return time.Duration(min(d.until-now, math.MaxInt64))
}

// New returns a Store and starts its janitor (see WithCleanupInterval). Call
// Close when done with it: until then the janitor goroutine keeps the store
// alive.
func New(opts ...Option) *Store {
	cfg := config{now: time.Now, cleanup: DefaultCleanupInterval}
	for _, opt := range opts {
		opt(&cfg)
	}
	s := &Store{now: cfg.now, base: cfg.now(), seed: maphash.MakeSeed(), done: make(chan struct{})}
	for i := range s.shards {
		sh := &s.shards[i]
		for _, c := range sh.families() {
			*c = cache.New(cache.NoExpiration, 0)
		}
	}
	if cfg.cleanup > 0 {
		s.janitor.Add(1)
		go s.runJanitor(cfg.cleanup)
	}
	return s
}

// Close stops the janitor goroutine and waits for it to exit. It is safe to
// call more than once and from several goroutines. The store stays usable
// after Close, without a janitor.
func (s *Store) Close() {
	s.closeOnce.Do(func() { close(s.done) })
	s.janitor.Wait()
}

// runJanitor sweeps every interval until Close.
func (s *Store) runJanitor(interval time.Duration) {
	defer s.janitor.Done()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			s.sweep()
		case <-s.done:
			return
		}
	}
}

// sweep deletes every record whose deadline the store's clock has reached.
// It holds one shard's mutex at a time, so writers wait for at most one
// shard's sweep.
func (s *Store) sweep() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		now := s.now()
		sh.sweepSessions(now)
		t := s.tickOf(now)
		sh.sweepSubjects(t)
		for _, c := range sh.families()[ownSweep:] {
			for k, item := range (*c).Items() {
				if r, ok := item.Object.(expiring); !ok || !r.aliveAt(t) {
					(*c).Delete(k)
				}
			}
		}
		sh.mu.Unlock()
	}
}

// shard returns the shard that holds key's records.
func (s *Store) shard(key string) *shard {
	return &s.shards[maphash.String(s.seed, key)&(shardCount-1)]
}

// expiry returns the deadline of a record written at now with TTL ttl.
func expiry(now time.Time, ttl time.Duration) time.Time {
	return now.Add(store.ClampTTL(ttl))
}

// clock returns the time the call made with ctx is judged at: the caller's
// reading when ctx carries one (store.WithTime), else the store's clock.
func (s *Store) clock(ctx context.Context) time.Time {
	if t, ok := store.TimeFrom(ctx); ok {
		return t
	}
	return s.now()
}

// clockTick returns the time the call made with ctx is judged at (clock),
// as a tick.
func (s *Store) clockTick(ctx context.Context) tick { return s.tickOf(s.clock(ctx)) }
