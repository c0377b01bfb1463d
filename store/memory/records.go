package memory

import (
	"bytes"
	"context"
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

// codeRecord is a stored code. Its fields change only under the shard mutex.
type codeRecord struct {
	deadline
	code store.Code
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
	sh.codes.Set(pairKey(p), &codeRecord{deadline: deadline{until: expiry(s.clock(ctx), ttl)}, code: c}, cache.NoExpiration)
	return nil
}

// AttemptCode counts one verification attempt on the pair's code and
// charges the pair's and the customer's failure budgets, in one critical
// section under the subject's shard mutex, which guards the pair's code,
// count and lock and the customer's count and lock alike. In order:
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
//     store.ClampTTL(b.Pair.Window) starts with its first count, and one to
//     the customer's, which every count keeps alive for another
//     store.ClampTTL(b.Customer.Window), and returns a copy of the record.
//
// A pair whose window it starts (steps 2 and 5) is listed among its
// subject's pairs, for Status and Unlock. It never changes the code's
// expiry.
func (s *Store) AttemptCode(ctx context.Context, p store.Pair, b store.Budgets) (store.Attempt, error) {
	pk := pairKey(p)
	sh := s.shard(p.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.clock(ctx)
	if l := sh.lock(p.Subject, pk, now); l.Locked() {
		return store.Attempt{Lock: l}, nil
	}
	customerFails, _ := lookup[*counter](sh.customerFailures, p.Subject, now)
	if customerFails.count() >= b.Customer.Limit {
		return store.Attempt{Lock: store.Lock{Scope: store.ScopeCustomer, Remaining: store.ClampTTL(b.Customer.LockFor)}}, nil
	}
	pairFails, _ := lookup[*counter](sh.pairFailures, pk, now)
	if pairFails.count() >= b.Pair.Limit {
		if pairFails == nil {
			pairFails = &counter{deadline: deadline{until: expiry(now, b.Pair.Window)}}
			sh.pairFailures.Set(pk, pairFails, cache.NoExpiration)
			sh.notePair(p, pairFails.until, now)
		}
		return store.Attempt{Lock: store.Lock{Scope: store.ScopePair, Remaining: pairFails.remaining(now)}}, nil
	}
	r, ok := lookup[*codeRecord](sh.codes, pk, now)
	if !ok {
		return store.Attempt{}, nil
	}
	r.code.Attempts++
	c := r.code
	c.MAC = bytes.Clone(c.MAC)
	if c.Attempts > b.MaxAttempts {
		return store.Attempt{Code: c, Found: true}, nil
	}
	if pairFails == nil {
		pairFails = &counter{deadline: deadline{until: expiry(now, b.Pair.Window)}}
		sh.pairFailures.Set(pk, pairFails, cache.NoExpiration)
		sh.notePair(p, pairFails.until, now)
	}
	pairFails.n++
	if customerFails == nil {
		customerFails = &counter{}
		sh.customerFailures.Set(p.Subject, customerFails, cache.NoExpiration)
	}
	customerFails.n++
	customerFails.until = expiry(now, b.Customer.Window)
	return store.Attempt{Code: c, Found: true}, nil
}

// ConsumeCode deletes the pair's code if it is live and its ID equals id,
// and reports whether it did. A code with another ID, and every other
// pair's code, is left untouched.
func (s *Store) ConsumeCode(ctx context.Context, p store.Pair, id string) (bool, error) {
	pk := pairKey(p)
	sh := s.shard(p.Subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, ok := lookup[*codeRecord](sh.codes, pk, s.clock(ctx))
	if !ok || r.code.ID != id {
		return false, nil
	}
	sh.codes.Delete(pk)
	return true, nil
}
