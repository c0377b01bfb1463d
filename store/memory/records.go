package memory

import (
	"context"
	"encoding/binary"
	"math"
	"strings"
	"time"

	"github.com/otpguard/otpguard/store"
	"github.com/patrickmn/go-cache"
)

// lookup returns the record of type T under key in c if it is alive at now.
func lookup[T expiring](c *cache.Cache, key string, now tick) (T, bool) {
	var zero T
	v, ok := c.Get(key)
	if !ok {
		return zero, false
	}
	r, ok := v.(T)
	if !ok || !r.aliveAt(now) {
		return zero, false
	}
	return r, true
}

// A subject's record and its code's packed strings are what an outstanding
// code costs besides its subject, which go-cache keeps as the key, and
// go-cache's map slot (about 100 bytes, see sessions.go). A million codes
// of one subject each (BenchmarkMemoryPerEntry in bench/: a 43-byte ID, a
// 32-byte MAC and an integration other than the pair's, of 6 bytes) take
// 349 bytes each: 128 for the record, a size class of Go's allocator, 96
// for the packed strings (85 bytes), 24 for the subject and the map's 100.
// They took 509 when the record held a store.Code, deadlines as time.Time
// and its pairs in a slice: 80 bytes for the record, 224 for its one
// pair's slice, 48 for the ID and 32 for the MAC. Hence the record's
// shape: deadlines are ticks (8 bytes, not 24), a subject's first pair is
// inline and the others chained to it, and a code's strings and MAC are
// one string, which the Code that AttemptCode returns points into.

// subjectRecord holds every record of one subject but its sessions: the
// customer's failure count and lock, and the code, failure count and lock
// of each of its pairs. It is kept under the subject, a string every
// caller already has, so that a method finds all it judges with one
// lookup and builds no key.
//
// Each part lives until its own deadline. A part that is cleared (a
// consumed code, a count that Succeed forgets or that Fail clears as it
// locks, a lock Unlock lifts) is zeroed in place rather than deleted: a
// zero counter is a window that is not running, a zero deadline has
// passed, so the record reads as if the part had been deleted, and the
// next part set in it reuses its memory. A verification's counts, which
// Succeed clears, then cost no allocation the next time. A pair whose
// parts are all zero reads as no pair, and the first pair's place, inline,
// is taken by the next pair added when it is in that state. The janitor
// zeroes the parts whose deadline has passed, drops the pairs left with
// none and then the record if it has none left (sweepSubjects), so that
// idle memory is still reclaimed.
//
// Its fields change only under the shard mutex. 128 bytes.
type subjectRecord struct {
	// failures is the customer's run of consecutive failures.
	failures counter
	// lock is the customer's lock.
	lock deadline
	// pairs is the first of the subject's pairs that have had a part since
	// the last sweep, and the rest follow it through next, in no order: a
	// subject has few, and most have one, which then costs no allocation
	// of its own.
	pairs pairRecord
}

// pairRecord is one pair's part of its subject's record.
type pairRecord struct {
	integration string
	// code is the pair's outstanding code while its deadline runs.
	code codeRecord
	// failures is the pair's failure count in its window.
	failures counter
	lock     deadline
	// next is the subject's next pair.
	next *pairRecord
}

// codeRecord is a stored code, kept as what rebuilds the store.Code that
// PutCode was given (see get): the Code's strings and MAC packed in one
// string (packCode), its Attempts and its ExpiresAt as given, location and
// monotonic reading included. The zero codeRecord is no code.
type codeRecord struct {
	// deadline is the end of the code's life.
	deadline
	attempts  int
	packed    string
	expiresAt time.Time
}

// packCode returns the ID, MAC, Integration, Purpose and Channel of c, a
// code of the pair of integration, in one string: four uvarints, the
// lengths of the ID, of the MAC plus one (0 for a nil MAC), of the
// Integration plus one (0 when it is integration, which is then not
// repeated) and of the Purpose, then the ID, the MAC, the Integration and
// the Purpose, and the Channel as the rest. They cost one allocation,
// rounded up to a size class once, and the store keeps none of the
// caller's strings: the Code that AttemptCode returns points into this one.
func packCode(c *store.Code, integration string) string {
	var head [4 * binary.MaxVarintLen64]byte
	h := binary.AppendUvarint(head[:0], uint64(len(c.ID)))
	h = binary.AppendUvarint(h, orZero(len(c.MAC), c.MAC == nil))
	own, same := c.Integration, c.Integration == integration
	if same {
		own = ""
	}
	h = binary.AppendUvarint(h, orZero(len(own), same))
	h = binary.AppendUvarint(h, uint64(len(c.Purpose)))
	var b strings.Builder
	b.Grow(len(h) + len(c.ID) + len(c.MAC) + len(own) + len(c.Purpose) + len(c.Channel))
	b.Write(h)
	b.WriteString(c.ID)
	b.Write(c.MAC)
	b.WriteString(own)
	b.WriteString(c.Purpose)
	b.WriteString(c.Channel)
	return b.String()
}

// orZero returns n+1, or 0 when zero is true: the length of a field that
// may be none.
func orZero(n int, zero bool) uint64 {
	if zero {
		return 0
	}
	return uint64(n) + 1
}

// uvarint returns the uvarint that s starts with and the rest of s; s is
// one that packCode wrote.
func uvarint(s string) (int, string) {
	var x uint64
	for i, shift := 0, uint(0); i < len(s); i, shift = i+1, shift+7 {
		if s[i] < 0x80 {
			return int(x | uint64(s[i])<<shift), s[i+1:]
		}
		x |= uint64(s[i]&0x7f) << shift
	}
	panic("memory: corrupt packed code")
}

// unpack returns the Code c holds, stored for the pair of integration, but
// its MAC, with strings that point into c.packed; and the MAC as a string,
// and whether it is nil.
func (c *codeRecord) unpack(integration string) (code store.Code, mac string, nilMAC bool) {
	s := c.packed
	idLen, s := uvarint(s)
	macLen, s := uvarint(s)
	ownLen, s := uvarint(s)
	purposeLen, s := uvarint(s)
	code = store.Code{Integration: integration, Attempts: c.attempts, ExpiresAt: c.expiresAt}
	code.ID, s = s[:idLen], s[idLen:]
	if macLen > 0 {
		mac, s = s[:macLen-1], s[macLen-1:]
	}
	if ownLen > 0 {
		code.Integration, s = s[:ownLen-1], s[ownLen-1:]
	}
	code.Purpose, code.Channel = s[:purposeLen], s[purposeLen:]
	return code, mac, macLen == 0
}

// get returns the Code c holds, stored for the pair of integration, with
// a MAC of its own, the one allocation, unless it is nil.
func (c *codeRecord) get(integration string) store.Code {
	code, mac, nilMAC := c.unpack(integration)
	if !nilMAC {
		code.MAC = []byte(mac)
	}
	return code
}

// subject returns subject's record in sh, or nil. The caller holds sh.mu.
func (sh *shard) subject(subject string) *subjectRecord {
	v, ok := sh.subjects.Get(subject)
	if !ok {
		return nil
	}
	r, _ := v.(*subjectRecord)
	return r
}

// addSubject returns subject's record in sh, storing an empty one first
// if there is none. The caller holds sh.mu.
func (sh *shard) addSubject(subject string) *subjectRecord {
	if r := sh.subject(subject); r != nil {
		return r
	}
	r := &subjectRecord{}
	sh.subjects.Set(subject, r, cache.NoExpiration)
	return r
}

// pair returns the record of p's subject in sh and that of p in it; the
// subject's is nil when there is none, and then so is the pair's. The
// caller holds sh.mu.
func (sh *shard) pair(p store.Pair) (*subjectRecord, *pairRecord) {
	r := sh.subject(p.Subject)
	return r, r.pair(p.Integration)
}

// addPair is pair, adding an empty record where there is none.
func (sh *shard) addPair(p store.Pair) (*subjectRecord, *pairRecord) {
	r := sh.addSubject(p.Subject)
	return r, r.addPair(p.Integration)
}

// pair returns the record of integration's pair in r, or nil; nil when r
// is nil. A subject has few pairs: a walk of the chain finds it.
func (r *subjectRecord) pair(integration string) *pairRecord {
	if r == nil {
		return nil
	}
	for pr := &r.pairs; pr != nil; pr = pr.next {
		if pr.integration == integration {
			return pr
		}
	}
	return nil
}

// addPair returns the record of integration's pair in r, adding an empty
// one first if there is none: in the first pair's place when the pair
// there has no part set (it reads as no pair, whatever its integration),
// else after it. No other pair's record moves.
func (r *subjectRecord) addPair(integration string) *pairRecord {
	if pr := r.pair(integration); pr != nil {
		return pr
	}
	if r.pairs.empty() {
		r.pairs = pairRecord{integration: integration, next: r.pairs.next}
		return &r.pairs
	}
	pr := &pairRecord{integration: integration, next: r.pairs.next}
	r.pairs.next = pr
	return pr
}

// empty reports whether pr has no part set, not even one that has ended.
func (pr *pairRecord) empty() bool {
	return pr.code.deadline == deadline{} && pr.failures == counter{} && pr.lock == deadline{}
}

// failuresAt returns the customer's count at now: 0 when r is nil or the
// count has been forgotten.
func (r *subjectRecord) failuresAt(now tick) int {
	if r == nil {
		return 0
	}
	return r.failures.at(now)
}

// failuresAt returns the pair's count in its window at now: 0 when pr is
// nil or no window is running.
func (pr *pairRecord) failuresAt(now tick) int {
	if pr == nil {
		return 0
	}
	return pr.failures.at(now)
}

// codeAt reports whether the pair has a live code at now; false when pr is
// nil.
func (pr *pairRecord) codeAt(now tick) bool {
	return pr != nil && pr.code.aliveAt(now)
}

// lockAt returns the lock in force at now on the pair pr of the subject r
// (either may be nil): the customer's when the customer is locked, else
// the pair's, else the zero Lock.
func (r *subjectRecord) lockAt(pr *pairRecord, now tick) store.Lock {
	switch {
	case r == nil:
	case r.lock.aliveAt(now):
		return store.Lock{Scope: store.ScopeCustomer, Remaining: r.lock.remaining(now)}
	case pr != nil && pr.lock.aliveAt(now):
		return store.Lock{Scope: store.ScopePair, Remaining: pr.lock.remaining(now)}
	}
	return store.Lock{}
}

// prune zeroes the parts of r that have ended at now, drops the pairs left
// with none (the next pair takes the first's place when it is one), and
// reports whether r has a part left.
func (r *subjectRecord) prune(now tick) bool {
	for link := &r.pairs.next; *link != nil; {
		if pr := *link; pr.prune(now) {
			link = &pr.next
		} else {
			*link = pr.next
		}
	}
	left := r.pairs.prune(now)
	switch {
	case left:
	case r.pairs.next != nil:
		r.pairs, left = *r.pairs.next, true
	default:
		r.pairs = pairRecord{} // let go of its integration
	}
	if !r.failures.aliveAt(now) {
		r.failures = counter{}
	}
	if !r.lock.aliveAt(now) {
		r.lock = deadline{}
	}
	return left || r.failures.aliveAt(now) || r.lock.aliveAt(now)
}

// prune zeroes the parts of pr that have ended at now, and reports whether
// pr has a part left.
func (pr *pairRecord) prune(now tick) bool {
	left := false
	if pr.code.aliveAt(now) {
		left = true
	} else {
		pr.code = codeRecord{}
	}
	if pr.failures.aliveAt(now) {
		left = true
	} else {
		pr.failures = counter{}
	}
	if pr.lock.aliveAt(now) {
		left = true
	} else {
		pr.lock = deadline{}
	}
	return left
}

// sweepSubjects prunes the shard's subject records at now and deletes
// those left with nothing. The caller holds the shard mutex.
func (sh *shard) sweepSubjects(now tick) {
	for k, item := range sh.subjects.Items() {
		if r, ok := item.Object.(*subjectRecord); !ok || !r.prune(now) {
			sh.subjects.Delete(k)
		}
	}
}

// PutCode stores a copy of c as the pair's code, replacing any earlier code
// of the same pair and no other; it is gone once the clock reaches now +
// store.ClampTTL(ttl). Attempts is stored as given. No failure count is
// touched. The copy of c's strings and MAC (packCode) is its one
// allocation, besides a subject's record or a pair's when it adds one.
func (s *Store) PutCode(ctx context.Context, p store.Pair, c store.Code, ttl time.Duration) error {
	packed := packCode(&c, p.Integration)
	sh := s.shard(p.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, pr := sh.addPair(p)
	pr.code = codeRecord{deadline: after(s.clockTick(ctx), ttl), attempts: c.Attempts, packed: packed, expiresAt: c.ExpiresAt}
	return nil
}

// AttemptCode counts one verification attempt on the pair's code and
// charges the pair's and the customer's failure budgets, in one critical
// section under the subject's shard mutex, which guards the subject's
// record: the pair's code, count and lock and the customer's count and
// lock alike. In order:
//
//  1. while the customer or the pair is locked it counts nothing and
//     returns the lock, the customer's when both are;
//  2. when the customer's count has reached b.Customer.Limit (a Limit
//     below 1 is always reached) it counts nothing and returns a customer
//     lock of store.ClampTTL(b.Customer.LockFor), the lock that Fail sets.
//     Then, when the pair's count in its window has reached b.Pair.Limit,
//     it counts nothing and returns a pair lock of the time until the
//     window ends; a refusal with no window running starts an empty one of
//     store.ClampTTL(b.Pair.Window), as Hit does;
//  3. when the pair has no live code it returns Found false;
//  4. it adds one to the code's Attempts; a code whose Attempts now exceed
//     b.MaxAttempts is burned and returned without charging either budget;
//  5. otherwise it adds one to the pair's count, whose fixed window of
//     store.ClampTTL(b.Pair.Window) starts with its first count (the first
//     since the window ended or the count was cleared), and one to the
//     customer's, which every count keeps alive for another
//     store.ClampTTL(b.Customer.Window), and returns a copy of the code.
//
// The copy's MAC is a copy too, the one allocation of a counted attempt:
// the caller may keep or change what it gets. Its strings point into the
// record's packed copy (packCode). It never changes the code's expiry.
func (s *Store) AttemptCode(ctx context.Context, p store.Pair, b store.Budgets) (store.Attempt, error) {
	sh := s.shard(p.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.clockTick(ctx)
	r, pr := sh.pair(p)
	if l := r.lockAt(pr, now); l.Locked() {
		return store.Attempt{Lock: l}, nil
	}
	if r.failuresAt(now) >= b.Customer.Limit {
		return store.Attempt{Lock: store.Lock{Scope: store.ScopeCustomer, Remaining: store.ClampTTL(b.Customer.LockFor)}}, nil
	}
	if pr.failuresAt(now) >= b.Pair.Limit {
		if pr == nil {
			_, pr = sh.addPair(p)
		}
		pr.failures.start(now, b.Pair.Window)
		return store.Attempt{Lock: store.Lock{Scope: store.ScopePair, Remaining: pr.failures.remaining(now)}}, nil
	}
	if !pr.codeAt(now) {
		return store.Attempt{}, nil
	}
	if pr.code.attempts < math.MaxInt {
		// Saturated: a count that wrapped would read as unburned.
		pr.code.attempts++
	}
	c := pr.code.get(pr.integration)
	if c.Attempts > b.MaxAttempts {
		return store.Attempt{Code: c, Found: true}, nil
	}
	pr.failures.start(now, b.Pair.Window)
	pr.failures.n++
	r.failures.n = r.failures.at(now) + 1
	r.failures.deadline = after(now, b.Customer.Window)
	return store.Attempt{Code: c, Found: true}, nil
}

// ConsumeCode deletes the pair's code if it is live and its ID equals id,
// and reports whether it did. A code with another ID, and every other
// pair's code, is left untouched.
func (s *Store) ConsumeCode(ctx context.Context, p store.Pair, id string) (bool, error) {
	sh := s.shard(p.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, pr := sh.pair(p)
	if !pr.codeAt(s.clockTick(ctx)) {
		return false, nil
	}
	if c, _, _ := pr.code.unpack(pr.integration); c.ID != id {
		return false, nil
	}
	pr.code = codeRecord{}
	return true, nil
}
