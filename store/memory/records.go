package memory

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/otpguard/otpguard/store"
	"github.com/patrickmn/go-cache"
)

// lookup returns the record of type T under key in c if it is alive at now.
func lookup[T expiring](c *cache.Cache, key string, now time.Time) (T, bool) {
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
// next part set in it reuses its memory. A verification's counts, which Succeed clears, then
// cost no allocation the next time. The janitor zeroes the parts whose
// deadline has passed, drops the pairs left with none and then the record
// if it has none left (sweepSubjects), so that idle memory is still
// reclaimed.
//
// Its fields change only under the shard mutex.
type subjectRecord struct {
	// failures is the customer's run of consecutive failures.
	failures counter
	// lock is the customer's lock.
	lock deadline
	// pairs are the subject's pairs that have had a part since the last
	// sweep, sorted by integration: a subject has few, and Status lists
	// them in that order.
	pairs []pairRecord
}

// pairRecord is one pair's part of its subject's record.
type pairRecord struct {
	integration string
	// code is the pair's outstanding code while codeLife runs, with a MAC
	// of its own (PutCode's copy).
	code     store.Code
	codeLife deadline
	// failures is the pair's failure count in its window.
	failures counter
	lock     deadline
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

// search returns the index of integration's pair in r.pairs, or the index
// it would be inserted at, and whether it is there. A subject has few
// pairs, so a linear scan beats a binary search.
func (r *subjectRecord) search(integration string) (int, bool) {
	for i := range r.pairs {
		switch c := strings.Compare(r.pairs[i].integration, integration); {
		case c == 0:
			return i, true
		case c > 0:
			return i, false
		}
	}
	return len(r.pairs), false
}

// pair returns the record of integration's pair in r, or nil; nil when r
// is nil.
func (r *subjectRecord) pair(integration string) *pairRecord {
	if r == nil {
		return nil
	}
	if i, ok := r.search(integration); ok {
		return &r.pairs[i]
	}
	return nil
}

// addPair returns the record of integration's pair in r, inserting an
// empty one first if there is none. An insertion may move the other
// pairs' records: pointers to them taken before are stale.
func (r *subjectRecord) addPair(integration string) *pairRecord {
	i, ok := r.search(integration)
	if !ok {
		r.pairs = slices.Insert(r.pairs, i, pairRecord{integration: integration})
	}
	return &r.pairs[i]
}

// failuresAt returns the customer's count at now: 0 when r is nil or the
// count has been forgotten.
func (r *subjectRecord) failuresAt(now time.Time) int {
	if r == nil {
		return 0
	}
	return r.failures.at(now)
}

// failuresAt returns the pair's count in its window at now: 0 when pr is
// nil or no window is running.
func (pr *pairRecord) failuresAt(now time.Time) int {
	if pr == nil {
		return 0
	}
	return pr.failures.at(now)
}

// codeAt reports whether the pair has a live code at now; false when pr is
// nil.
func (pr *pairRecord) codeAt(now time.Time) bool {
	return pr != nil && pr.codeLife.aliveAt(now)
}

// lockAt returns the lock in force at now on the pair pr of the subject r
// (either may be nil): the customer's when the customer is locked, else
// the pair's, else the zero Lock.
func (r *subjectRecord) lockAt(pr *pairRecord, now time.Time) store.Lock {
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
// with none, and reports whether r has a part left.
func (r *subjectRecord) prune(now time.Time) bool {
	kept := r.pairs[:0]
	for i := range r.pairs {
		if r.pairs[i].prune(now) {
			kept = append(kept, r.pairs[i])
		}
	}
	clear(r.pairs[len(kept):]) // let go of the dropped pairs' strings
	if len(kept) == 0 {
		kept = nil
	}
	r.pairs = kept
	if !r.failures.aliveAt(now) {
		r.failures = counter{}
	}
	if !r.lock.aliveAt(now) {
		r.lock = deadline{}
	}
	return len(r.pairs) > 0 || r.failures.aliveAt(now) || r.lock.aliveAt(now)
}

// prune zeroes the parts of pr that have ended at now, and reports whether
// pr has a part left.
func (pr *pairRecord) prune(now time.Time) bool {
	left := false
	if pr.codeLife.aliveAt(now) {
		left = true
	} else {
		pr.code, pr.codeLife = store.Code{}, deadline{}
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
func (sh *shard) sweepSubjects(now time.Time) {
	for k, item := range sh.subjects.Items() {
		if r, ok := item.Object.(*subjectRecord); !ok || !r.prune(now) {
			sh.subjects.Delete(k)
		}
	}
}

// PutCode stores a copy of c as the pair's code, replacing any earlier code
// of the same pair and no other; it is gone once the clock reaches now +
// store.ClampTTL(ttl). Attempts is stored as given. No failure count is
// touched.
func (s *Store) PutCode(ctx context.Context, p store.Pair, c store.Code, ttl time.Duration) error {
	c.MAC = bytes.Clone(c.MAC)
	sh := s.shard(p.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, pr := sh.addPair(p)
	pr.code, pr.codeLife = c, deadline{until: expiry(s.clock(ctx), ttl)}
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
// the caller may keep or change what it gets. It never changes the code's
// expiry.
func (s *Store) AttemptCode(ctx context.Context, p store.Pair, b store.Budgets) (store.Attempt, error) {
	sh := s.shard(p.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.clock(ctx)
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
	pr.code.Attempts++
	c := pr.code
	c.MAC = bytes.Clone(c.MAC)
	if c.Attempts > b.MaxAttempts {
		return store.Attempt{Code: c, Found: true}, nil
	}
	pr.failures.start(now, b.Pair.Window)
	pr.failures.n++
	r.failures.n = r.failures.at(now) + 1
	r.failures.until = expiry(now, b.Customer.Window)
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
	if !pr.codeAt(s.clock(ctx)) || pr.code.ID != id {
		return false, nil
	}
	pr.code, pr.codeLife = store.Code{}, deadline{}
	return true, nil
}
