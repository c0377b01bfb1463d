package memory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/otpguard/otpguard/store"
	"github.com/patrickmn/go-cache"
)

// Sessions are the store's bulk: one per customer who verified a code in
// the last half hour. They are kept flat, so that a million of them fit in
// about a quarter of a GiB and a lookup touches as little memory as it can:
//
//   - a session is one sessionRecord of 144 bytes (a size class of Go's
//     allocator), whose session fields never change once it is stored
//     (only its state and chain links do). It holds the token's raw
//     SHA-256 (the key go-cache maps it under points into the record, so
//     the key costs no memory of its own), the MAC and the customer ID
//     inline (so the ID costs no allocation of its own either), and its
//     times as Unix nanoseconds, VerifiedAt as whole milliseconds before
//     ExpiresAt;
//   - its customer's and its integration's indexes (for RevokeSessions and
//     CountSessions) are chains through the records themselves: half a
//     pointer to two per session in a per-shard table of customer chains
//     (while the number of sessions does not fall; see linkCustomer), a
//     pointer per integration for the integration chains, and none per
//     session otherwise;
//   - a session the compact fields cannot hold (scopes, a MAC of another
//     length, a customer ID of more than 30 bytes, times that do not read
//     back exactly, a key that is not a digest's hex) is kept in an
//     extendedRecord, a sessionRecord followed by what it needs, so that
//     the sessions otpcode creates pay nothing for it.
//
// Besides the record, go-cache's map costs a 40-byte slot per session,
// which Go's swiss tables hold at 44% to 88% full: 63 to 100 bytes per
// session as they grow (100 at a million sessions over 64 shards, where
// they have just split), and the customer table 4 to 16 (4 at a million).
// A million sessions take 249 bytes each, the most of any number of them
// from half a million to two million (217 at 750,000); they took 285 (254
// to 285) with a 144-byte record that held the customer ID's header, the
// full VerifiedAt and a pointer to extras, a 32-byte allocation for the
// ID, and a customer table twice as sparse.
//
// A lookup of a session that is not in the CPU caches misses them twice
// at least, each time on a page the TLB does not map either: on go-cache's
// map group (whose slot is a line or two further), and on the record,
// which go-cache's key comparison reads. The record's deadline comes first,
// in the cache line of the key's first bytes, and reading the session then
// reads only the rest of the record and the integration's index, one of a
// few, which stays cached.
//
// Bench: BenchmarkMemoryPerEntry, BenchmarkGetSession and
// BenchmarkLookupSession in bench/ (see BENCHMARKS.md).

// Record states. A record is linked into its indexes (pending), then
// stored under its key (stored), and at last deleted, replaced or expired
// (removed). The state moves only forward, under the mutex of the shard
// that holds the record; index walkers read it without that mutex.
const (
	statePending uint32 = iota
	stateStored
	stateRemoved
)

// Flags of a record: whether it is an extendedRecord, whether its key is
// not a digest's hex (then the extendedRecord holds it, and it may be any
// string, "" included), and the location its times are read back in.
const (
	flagExtended uint8 = 1 << iota
	flagOtherKey
	flagVerifiedUTC
	flagExpiresUTC
)

// sessionRecord is a stored session. Every field but state and the two
// chain links is written before the record is stored and never after, which
// lets GetSession and LookupSession read it without the shard mutex, and
// Session hand out strings that point into it. The links change only under
// the mutex of the shard of the index they belong to (the customer's, the
// integration's).
//
// The fields are in the order a lookup reads them: until, read with the key
// that go-cache has just compared, so from the same cache line; then what
// Session reads; then what only the indexes read. 144 bytes, a size class
// of Go's allocator.
type sessionRecord struct {
	// until is the end of the record's life on the store's clock,
	// saturated (nanos).
	until int64
	// key is the SHA-256 the session is stored under; zero in an
	// extendedRecord whose key is not the hex of one (tests may use any
	// string).
	key [sha256.Size]byte
	// integ is the index of the session's integration, which also holds
	// the integration's ID.
	integ *integrationIndex
	// expires is ExpiresAt in Unix nanoseconds, and span the milliseconds
	// from VerifiedAt to it; each is read back in UTC or Local as flags
	// say.
	expires int64
	span    uint32
	flags   uint8
	// customer holds the CustomerID's custLen bytes.
	custLen  uint8
	customer [30]byte
	// mac is the session's MAC.
	mac   [sha256.Size]byte
	state atomic.Uint32
	// nextCust and nextInteg link the record into its customer's and its
	// integration's chains.
	nextCust, nextInteg *sessionRecord
}

// extendedRecord is a record whose session or key its compact fields
// cannot hold (flagExtended). It is stored and linked as the sessionRecord
// it starts with; ext gets back to it from there.
type extendedRecord struct {
	sessionRecord
	// session is the session as given, when the compact fields do not
	// hold it; they hold only until, key, integ, flags and the links then.
	session *store.Session
	// key is the key, when it is not the hex of a digest.
	key string
}

// ext returns the extendedRecord r starts, or nil when r is compact. A
// record with flagExtended was allocated as the first field of an
// extendedRecord, so a pointer to it is a pointer to that.
func (r *sessionRecord) ext() *extendedRecord {
	if r.flags&flagExtended == 0 {
		return nil
	}
	return (*extendedRecord)(unsafe.Pointer(r))
}

// integrationIndex is the chain of one integration's sessions, kept in the
// go-cache of integrations' indexes of the integration's shard. It lives
// while its chain is not empty; an integration's sessions refer to it for
// their Integration field.
type integrationIndex struct {
	name   string
	head   *sessionRecord
	n      int // records in the chain
	pruned int // n after the last prune
}

// minPrune is the size below which a chain is not pruned on insert.
const minPrune = 64

// nanos returns t in Unix nanoseconds, saturated at the ends of int64 (the
// years 1678 and 2262), so that deadlines keep their order whatever the
// clock says.
func nanos(t time.Time) int64 {
	const limit = math.MaxInt64/int64(time.Second) - 1
	switch sec := t.Unix(); {
	case sec > limit:
		return math.MaxInt64
	case sec < -limit:
		return math.MinInt64
	default:
		return sec*int64(time.Second) + int64(t.Nanosecond())
	}
}

// compactTime returns t in Unix nanoseconds and whether it reads back
// exactly, location included, as fromNanos(n, utc).
func compactTime(t time.Time) (n int64, utc, ok bool) {
	switch t.Location() {
	case time.UTC:
		utc = true
	case time.Local:
	default:
		return 0, false, false
	}
	n = nanos(t)
	return n, utc, fromNanos(n, utc).Equal(t)
}

// compactSpan returns the whole milliseconds from verified to expires
// (nanos), and whether there is such a number that fits a span: a session
// lasts a whole TTL, so that sessions made as otpcode makes them have one.
func compactSpan(verified, expires int64) (uint32, bool) {
	const ms = int64(time.Millisecond)
	d := expires - verified // < 0 when it overflows
	if verified > expires || d < 0 || d%ms != 0 || d/ms > math.MaxUint32 {
		return 0, false
	}
	return uint32(d / ms), true
}

// fromNanos is the time of n Unix nanoseconds, in UTC or Local.
func fromNanos(n int64, utc bool) time.Time {
	t := time.Unix(0, n)
	if utc {
		return t.UTC()
	}
	return t
}

// newSessionRecord returns the record of sess under key, living until
// until (nanos), not yet linked nor stored. sess's scopes and MAC are
// copied.
func newSessionRecord(key string, sess *store.Session, until int64) *sessionRecord {
	digest, isDigest := parseKey(key)
	verified, vUTC, vOK := compactTime(sess.VerifiedAt)
	expires, eUTC, eOK := compactTime(sess.ExpiresAt)
	span, sOK := compactSpan(verified, expires)
	compact := vOK && eOK && sOK && len(sess.Scopes) == 0 && len(sess.MAC) == sha256.Size &&
		len(sess.CustomerID) <= len(sessionRecord{}.customer)
	var r *sessionRecord
	if isDigest && compact {
		r = &sessionRecord{}
	} else {
		x := &extendedRecord{}
		if !isDigest {
			x.key = key
		}
		if !compact {
			full := *sess
			if len(full.Scopes) == 0 {
				full.Scopes = nil
			} else {
				full.Scopes = slices.Clip(slices.Clone(full.Scopes))
			}
			// Clipped: readers share these slices, and an append by one
			// must not write into spare capacity another can see.
			full.MAC = slices.Clip(bytes.Clone(full.MAC))
			x.session = &full
		}
		r = &x.sessionRecord
		r.flags = flagExtended
		if !isDigest {
			r.flags |= flagOtherKey
		}
	}
	r.until = until
	r.key = digest // zero when key is not a digest's hex
	if compact {
		r.expires, r.span = expires, span
		if vUTC {
			r.flags |= flagVerifiedUTC
		}
		if eUTC {
			r.flags |= flagExpiresUTC
		}
		r.custLen = uint8(copy(r.customer[:], sess.CustomerID))
		copy(r.mac[:], sess.MAC)
	}
	return r
}

// full returns the session as given, when the compact fields do not hold
// it, or nil.
func (r *sessionRecord) full() *store.Session {
	if x := r.ext(); x != nil {
		return x.session
	}
	return nil
}

// Session returns the session r holds (store.SessionRecord). The MAC, the
// customer ID and the scopes are r's own: callers only read them.
func (r *sessionRecord) Session() store.Session {
	if s := r.full(); s != nil {
		return *s
	}
	return store.Session{
		Integration: r.integ.name,
		CustomerID:  unsafe.String(&r.customer[0], r.custLen),
		VerifiedAt:  fromNanos(r.expires-int64(r.span)*int64(time.Millisecond), r.flags&flagVerifiedUTC != 0),
		ExpiresAt:   fromNanos(r.expires, r.flags&flagExpiresUTC != 0),
		MAC:         r.mac[:],
	}
}

// customerID returns the session's CustomerID. A compact record's is a
// string over r.customer, which never changes once the record is stored.
func (r *sessionRecord) customerID() string {
	if s := r.full(); s != nil {
		return s.CustomerID
	}
	return unsafe.String(&r.customer[0], r.custLen)
}

// integration returns the session's Integration.
func (r *sessionRecord) integration() string { return r.integ.name }

// String describes r, for dumps of the store: its key as the caller gave
// it, its deadline and state, and every field of its session (the customer
// ID is held inline, where %v would show it as numbers).
func (r *sessionRecord) String() string {
	s := r.Session()
	return fmt.Sprintf("session{key:%s until:%d integration:%q customer:%q scopes:%q verified:%v expires:%v mac:%x state:%d}",
		r.hexKey(), r.until, s.Integration, s.CustomerID, s.Scopes, s.VerifiedAt, s.ExpiresAt, s.MAC, r.state.Load())
}

// GoString is String, for %#v.
func (r *sessionRecord) GoString() string { return r.String() }

// cacheKey returns the key r is stored under in its shard's go-cache. For a
// digest it is a string over r.key, which never changes once the record
// exists, so the string stays valid and immutable for as long as go-cache
// keeps it (and keeps r alive with it).
func (r *sessionRecord) cacheKey() string {
	if r.flags&flagOtherKey != 0 {
		return r.ext().key
	}
	return unsafe.String(&r.key[0], len(r.key))
}

// hexKey returns the key r was created under, as the caller gave it.
func (r *sessionRecord) hexKey() string {
	if r.flags&flagOtherKey != 0 {
		return r.ext().key
	}
	return hex.EncodeToString(r.key[:])
}

// liveAt reports whether r is stored and alive at now (nanos).
func (r *sessionRecord) liveAt(now int64) bool {
	return r.state.Load() == stateStored && now < r.until
}

// deadAt reports whether r can leave its indexes at now (nanos): removed,
// or past its life.
func (r *sessionRecord) deadAt(now int64) bool {
	return r.state.Load() == stateRemoved || now >= r.until
}

// belongs reports whether r is a session of the customer (ScopeCustomer)
// or the integration (ScopeIntegration) id.
func (r *sessionRecord) belongs(scope store.LockScope, id string) bool {
	if scope == store.ScopeCustomer {
		return r.customerID() == id
	}
	return r.integration() == id
}

// hexVal maps a lowercase hex digit to its value, and anything else to
// 0xff: keys are canonical, so "AB" and "ab" name different sessions.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	return t
}()

// parseKey returns the digest key is the lowercase hex of (as
// store.HashToken makes them), or false.
func parseKey(key string) (d [sha256.Size]byte, ok bool) {
	if len(key) != 2*sha256.Size {
		return d, false
	}
	for i := range d {
		hi, lo := hexVal[key[2*i]], hexVal[key[2*i+1]]
		if hi|lo == 0xff {
			return d, false
		}
		d[i] = hi<<4 | lo
	}
	return d, true
}

// digestShard returns the shard of a digest key: its first byte, the
// digest being uniform already.
func (s *Store) digestShard(d *[sha256.Size]byte) *shard {
	return &s.shards[d[0]&(shardCount-1)]
}

// keyShard returns the shard a session key is stored in.
func (s *Store) keyShard(key string) *shard {
	if d, ok := parseKey(key); ok {
		return s.digestShard(&d)
	}
	return s.shard(key)
}

// recordShard returns the shard r is stored in, and its go-cache there.
func (s *Store) recordShard(r *sessionRecord) (*shard, *cache.Cache) {
	if r.flags&flagOtherKey != 0 {
		sh := s.shard(r.ext().key)
		return sh, sh.otherSessions
	}
	sh := s.digestShard(&r.key)
	return sh, sh.sessions
}

// find returns the record stored under key, whatever its deadline.
func (s *Store) find(key string) (*shard, *cache.Cache, *sessionRecord) {
	var sh *shard
	var c *cache.Cache
	var v any
	var ok bool
	if d, isDigest := parseKey(key); isDigest {
		sh = s.digestShard(&d)
		c = sh.sessions
		v, ok = c.Get(string(d[:]))
	} else {
		sh = s.shard(key)
		c = sh.otherSessions
		v, ok = c.Get(key)
	}
	if !ok {
		return sh, c, nil
	}
	r, _ := v.(*sessionRecord)
	return sh, c, r
}

// remove deletes r from c and marks it removed, with its use marks. The
// caller holds r's shard mutex and has checked that c holds r.
func (sh *shard) remove(c *cache.Cache, r *sessionRecord) {
	c.Delete(r.cacheKey())
	r.state.Store(stateRemoved)
	delete(sh.used, r)
}

// customerBucket returns the bucket of a customer's chain in the table of
// n buckets of its shard (n a power of two): the bits of the hash above
// those that chose the shard.
func customerBucket(h uint64, n int) int {
	return int(h>>shardBits) & (n - 1)
}

// linkCustomer adds r to its customer's chain, in one critical section
// under the customer's shard mutex. When the shard's table holds two
// records per bucket (custN, which counts dead records too until a prune
// unlinks them) it first drops the dead records of every chain, then
// doubles the table if it still holds one per bucket, at an amortized
// constant cost per insert. The table never shrinks, so it holds half a
// bucket to two buckets per live session (4 to 16 bytes) while the shard's
// number of live sessions does not fall; once it falls, the table keeps
// the buckets of its peak. A bucket's chain then has a few records of
// other customers, which RevokeSessions and CountSessions skip: a denser
// table would save little more, a sparser one costs every session 8 bytes
// per bucket.
func (s *Store) linkCustomer(r *sessionRecord, now int64) {
	h := maphash.String(s.seed, r.customerID())
	sh := &s.shards[h&(shardCount-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.custN >= 2*len(sh.cust) {
		sh.pruneCustomers(now)
		if sh.custN >= len(sh.cust) {
			s.growCustomers(sh, max(2*len(sh.cust), 8))
		}
	}
	b := customerBucket(h, len(sh.cust))
	r.nextCust = sh.cust[b]
	sh.cust[b] = r
	sh.custN++
}

// growCustomers rehashes the shard's customer chains into a table of n
// buckets. The caller holds the shard mutex.
func (s *Store) growCustomers(sh *shard, n int) {
	t := make([]*sessionRecord, n)
	for _, r := range sh.cust {
		for r != nil {
			next := r.nextCust
			b := customerBucket(maphash.String(s.seed, r.customerID()), n)
			r.nextCust = t[b]
			t[b] = r
			r = next
		}
	}
	sh.cust = t
}

// pruneCustomers unlinks the dead records of every customer chain of the
// shard. The caller holds the shard mutex.
func (sh *shard) pruneCustomers(now int64) {
	for b := range sh.cust {
		sh.custN -= pruneChain(&sh.cust[b], now, custLink)
	}
}

// custLink and integLink return the link of a record in the customer's
// and the integration's chain.
func custLink(r *sessionRecord) **sessionRecord  { return &r.nextCust }
func integLink(r *sessionRecord) **sessionRecord { return &r.nextInteg }

// pruneChain unlinks the records of the chain at head that are dead at now,
// and returns how many it unlinked. The caller holds the chain's mutex.
func pruneChain(head **sessionRecord, now int64, link func(*sessionRecord) **sessionRecord) int {
	n := 0
	for p := head; *p != nil; {
		r := *p
		if r.deadAt(now) {
			*p = *link(r)
			*link(r) = nil
			n++
			continue
		}
		p = link(r)
	}
	return n
}

// linkIntegration adds r to its integration's chain, creating the
// integration's index if need be, in one critical section under the
// integration's shard mutex, and sets r.integ. A chain that has doubled
// since it was last pruned is pruned first.
func (s *Store) linkIntegration(r *sessionRecord, integration string, now int64) {
	sh := s.shard(integration)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	x := sh.integrationIndex(integration)
	if x == nil {
		x = &integrationIndex{name: integration}
		sh.integrationSessions.Set(integration, x, cache.NoExpiration)
	}
	if x.n >= 2*max(x.pruned, minPrune) {
		x.n -= pruneChain(&x.head, now, integLink)
		x.pruned = x.n
	}
	r.integ = x
	r.nextInteg = x.head
	x.head = r
	x.n++
}

// integrationIndex returns the index of integration in sh, or nil. The
// caller holds the shard mutex.
func (sh *shard) integrationIndex(integration string) *integrationIndex {
	v, ok := sh.integrationSessions.Get(integration)
	if !ok {
		return nil
	}
	x, _ := v.(*integrationIndex)
	return x
}

// CreateSession stores a copy of sess under tokenHash, replacing any earlier
// one and its use marks; it is gone once the clock reaches now +
// store.ClampTTL(ttl). It first links the session into the chain of
// sess.CustomerID and into that of sess.Integration, each under its own
// shard's mutex, and then stores it under the session's: a revocation that
// runs meanwhile may miss the session, but no session is ever stored
// unindexed. It never fails.
func (s *Store) CreateSession(ctx context.Context, tokenHash string, sess store.Session, ttl time.Duration) error {
	now := s.clock(ctx)
	r := newSessionRecord(tokenHash, &sess, nanos(expiry(now, ttl)))
	n := nanos(now)
	s.linkCustomer(r, n)
	s.linkIntegration(r, sess.Integration, n)
	sh, c := s.recordShard(r)
	key := r.cacheKey()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if v, ok := c.Get(key); ok {
		if old, ok := v.(*sessionRecord); ok {
			sh.remove(c, old)
		}
	}
	c.Set(key, r, cache.NoExpiration)
	r.state.Store(stateStored)
	return nil
}

// GetSession returns a copy of the session stored under tokenHash, its MAC
// and Scopes copied too, so that a caller who writes to what it returns
// changes nothing stored; found is false when there is none or the clock
// has reached its expiry. It takes no mutex of its own and allocates only
// those copies: one, of the MAC, for a session otpcode creates.
// LookupSession, whose record callers only read, copies nothing.
func (s *Store) GetSession(ctx context.Context, tokenHash string) (store.Session, bool, error) {
	_, _, r := s.find(tokenHash)
	if r == nil || nanos(s.clock(ctx)) >= r.until {
		return store.Session{}, false, nil
	}
	sess := r.Session()
	sess.MAC = bytes.Clone(sess.MAC) // nil stays nil
	if sess.Scopes != nil {
		sess.Scopes = slices.Clone(sess.Scopes)
	}
	return sess, true, nil
}

var _ store.SessionLookup = (*Store)(nil)

// LookupSession is GetSession under the hex of digest with the clock
// reading now (see store.SessionLookup), for the guard: it reads no clock,
// takes no mutex of its own, converts no key, copies nothing and allocates
// nothing. The record it returns is the stored one, whose session never
// changes.
func (s *Store) LookupSession(ctx context.Context, digest [sha256.Size]byte, now time.Time) (store.SessionRecord, bool, error) {
	v, ok := s.digestShard(&digest).sessions.Get(string(digest[:]))
	if !ok {
		return nil, false, nil
	}
	r, ok := v.(*sessionRecord)
	if !ok || nanos(now) >= r.until {
		return nil, false, nil
	}
	return r, true, nil
}

// UseSession marks the live session under tokenHash as used for action, in
// one critical section under the session's shard mutex, and reports whether
// it set the mark: false when there is no live session or it was already
// used for action. The marks are kept beside the record, by the shard, and
// go when it expires, is revoked or is replaced.
func (s *Store) UseSession(ctx context.Context, tokenHash, action string) (bool, error) {
	sh := s.keyShard(tokenHash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, _, r := s.find(tokenHash)
	if r == nil || !r.liveAt(nanos(s.clock(ctx))) {
		return false, nil
	}
	marks := sh.used[r]
	if _, used := marks[action]; used {
		return false, nil
	}
	if marks == nil {
		if sh.used == nil {
			sh.used = make(map[*sessionRecord]map[string]struct{})
		}
		marks = make(map[string]struct{}, 1)
		sh.used[r] = marks
	}
	marks[action] = struct{}{}
	return true, nil
}

// RevokeSession deletes the session stored under tokenHash, and its use
// marks, and reports whether a live one was there. It leaves its chains
// lazily.
func (s *Store) RevokeSession(ctx context.Context, tokenHash string) (bool, error) {
	sh := s.keyShard(tokenHash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, c, r := s.find(tokenHash)
	if r == nil {
		return false, nil
	}
	live := r.liveAt(nanos(s.clock(ctx)))
	sh.remove(c, r) // an expired record goes too
	return live, nil
}

// chain calls f, under the mutex of the shard that holds the chain, with
// the head of id's chain in scope and a function that unlinks the dead
// records of that chain (in a customer's table bucket, the chains of other
// customers that share it too). f is not called when the chain is empty.
// Another scope is an error.
func (s *Store) chain(scope store.LockScope, id string, f func(head *sessionRecord, prune func(now int64))) error {
	switch scope {
	case store.ScopeCustomer:
		h := maphash.String(s.seed, id)
		sh := &s.shards[h&(shardCount-1)]
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if len(sh.cust) == 0 {
			return nil
		}
		b := customerBucket(h, len(sh.cust))
		if sh.cust[b] != nil {
			f(sh.cust[b], func(now int64) { sh.custN -= pruneChain(&sh.cust[b], now, custLink) })
		}
		return nil
	case store.ScopeIntegration:
		sh := s.shard(id)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		x := sh.integrationIndex(id)
		if x == nil {
			return nil
		}
		f(x.head, func(now int64) {
			x.n -= pruneChain(&x.head, now, integLink)
			x.pruned = x.n
			if x.n == 0 {
				sh.integrationSessions.Delete(id)
			}
		})
		return nil
	}
	return fmt.Errorf("scope %v: want %v or %v", scope, store.ScopeCustomer, store.ScopeIntegration)
}

// next returns the record after r in the chain of scope.
func next(scope store.LockScope, r *sessionRecord) *sessionRecord {
	if scope == store.ScopeCustomer {
		return r.nextCust
	}
	return r.nextInteg
}

// RevokeSessions deletes every live session of the customer (ScopeCustomer)
// or the integration (ScopeIntegration) id, and returns how many it deleted.
// It collects the chain's live sessions of id, then visits their shards one
// at a time; under each shard's mutex it deletes the sessions that are
// still stored and live, so of concurrent revocations exactly one counts
// each session. Last it unlinks the dead records from the chain. Sessions
// created while it runs may survive it. Another scope is an error.
func (s *Store) RevokeSessions(ctx context.Context, scope store.LockScope, id string) (int, error) {
	var found []*sessionRecord
	err := s.chain(scope, id, func(head *sessionRecord, _ func(int64)) {
		now := nanos(s.clock(ctx))
		for r := head; r != nil; r = next(scope, r) {
			if r.belongs(scope, id) && r.liveAt(now) {
				found = append(found, r)
			}
		}
	})
	if err != nil {
		return 0, fmt.Errorf("memory: revoke sessions: %w", err)
	}
	revoked := 0
	for _, r := range found {
		sh, c := s.recordShard(r)
		sh.mu.Lock()
		if r.liveAt(nanos(s.clock(ctx))) {
			sh.remove(c, r)
			revoked++
		}
		sh.mu.Unlock()
	}
	if revoked > 0 {
		_ = s.chain(scope, id, func(_ *sessionRecord, prune func(int64)) { prune(nanos(s.clock(ctx))) })
	}
	return revoked, nil
}

// CountSessions returns the number of live sessions of the customer
// (ScopeCustomer) or the integration (ScopeIntegration) id: the records of
// id's chain that are stored and live. It changes nothing. Another scope is
// an error.
func (s *Store) CountSessions(ctx context.Context, scope store.LockScope, id string) (int, error) {
	n := 0
	err := s.chain(scope, id, func(head *sessionRecord, _ func(int64)) {
		now := nanos(s.clock(ctx))
		for r := head; r != nil; r = next(scope, r) {
			if r.belongs(scope, id) && r.liveAt(now) {
				n++
			}
		}
	})
	if err != nil {
		return 0, fmt.Errorf("memory: count sessions: %w", err)
	}
	return n, nil
}

// sweepSessions deletes the shard's sessions whose time has passed, then
// unlinks the dead records from the shard's customer chains and from the
// chains of the integrations whose index the shard holds, and deletes the
// indexes left empty. The caller holds the shard mutex.
func (sh *shard) sweepSessions(now time.Time) {
	n := nanos(now)
	for _, c := range []*cache.Cache{sh.sessions, sh.otherSessions} {
		for _, item := range c.Items() {
			if r, ok := item.Object.(*sessionRecord); ok && n >= r.until {
				sh.remove(c, r)
			}
		}
	}
	sh.pruneCustomers(n)
	for id, item := range sh.integrationSessions.Items() {
		x, ok := item.Object.(*integrationIndex)
		if ok {
			x.n -= pruneChain(&x.head, n, integLink)
			x.pruned = x.n
		}
		if !ok || x.n == 0 {
			sh.integrationSessions.Delete(id)
		}
	}
	for r := range sh.used {
		if r.deadAt(n) {
			delete(sh.used, r)
		}
	}
}
