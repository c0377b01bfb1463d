package memory

import (
	"bytes"
	"context"
	"slices"
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

// PutCode stores a copy of c as subject's code, replacing any earlier one;
// it is gone once the clock reaches now + store.ClampTTL(ttl). Attempts is
// stored as given.
func (s *Store) PutCode(_ context.Context, subject string, c store.Code, ttl time.Duration) error {
	c.MAC = bytes.Clone(c.MAC)
	sh := s.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.codes.Set(subject, &codeRecord{deadline: deadline{until: expiry(s.now(), ttl)}, code: c}, cache.NoExpiration)
	return nil
}

// AttemptCode counts one verification attempt on subject's code and charges
// subject's failure budget, in one critical section under the subject's
// shard mutex, which guards the code, the failure counter and the lock of
// subject alike (they share the shard chosen by subject). In order:
//
//  1. while subject is locked it counts nothing and returns Locked, the
//     lock's remaining time;
//  2. when the failure count of the current window has reached budget
//     (budget < 1 refuses every attempt), it counts nothing and returns
//     Locked, the time until the window ends; a refusal with no window
//     running starts an empty one of store.ClampTTL(window), as Hit does;
//  3. when subject has no live code it returns Found false;
//  4. it adds one to the code's Attempts; a code whose Attempts now exceed
//     maxAttempts is burned and returned without charging the budget;
//  5. otherwise it adds one to the failure count, whose fixed window of
//     store.ClampTTL(window) starts with its first count, and returns a copy
//     of the record.
//
// It never changes the code's expiry.
func (s *Store) AttemptCode(_ context.Context, subject string, maxAttempts, budget int, window time.Duration) (store.Attempt, error) {
	sh := s.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	if l, ok := lookup[*deadline](sh.locks, subject, now); ok {
		return store.Attempt{Locked: l.remaining(now)}, nil
	}
	fails, counting := lookup[*counter](sh.failures, subject, now)
	if counting && fails.n >= budget {
		return store.Attempt{Locked: fails.remaining(now)}, nil
	}
	if !counting && budget < 1 {
		fails = &counter{deadline: deadline{until: expiry(now, window)}}
		sh.failures.Set(subject, fails, cache.NoExpiration)
		return store.Attempt{Locked: fails.remaining(now)}, nil
	}
	r, ok := lookup[*codeRecord](sh.codes, subject, now)
	if !ok {
		return store.Attempt{}, nil
	}
	r.code.Attempts++
	c := r.code
	c.MAC = bytes.Clone(c.MAC)
	if c.Attempts > maxAttempts {
		return store.Attempt{Code: c, Found: true}, nil
	}
	if !counting {
		fails = &counter{deadline: deadline{until: expiry(now, window)}}
		sh.failures.Set(subject, fails, cache.NoExpiration)
	}
	fails.n++
	return store.Attempt{Code: c, Found: true}, nil
}

// ConsumeCode deletes subject's code if it is live and its ID equals id, and
// reports whether it did. A code with another ID is left untouched.
func (s *Store) ConsumeCode(_ context.Context, subject, id string) (bool, error) {
	sh := s.shard(subject)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, ok := lookup[*codeRecord](sh.codes, subject, s.now())
	if !ok || r.code.ID != id {
		return false, nil
	}
	sh.codes.Delete(subject)
	return true, nil
}

// sessionRecord is a stored session. It is never changed after it is
// written, which lets GetSession read it without the shard mutex.
type sessionRecord struct {
	deadline
	session store.Session
}

// CreateSession stores a copy of sess under tokenHash, replacing any earlier
// one; it is gone once the clock reaches now + store.ClampTTL(ttl).
func (s *Store) CreateSession(_ context.Context, tokenHash string, sess store.Session, ttl time.Duration) error {
	if len(sess.Scopes) == 0 {
		sess.Scopes = nil
	} else {
		sess.Scopes = slices.Clone(sess.Scopes)
	}
	sh := s.shard(tokenHash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.sessions.Set(tokenHash, &sessionRecord{deadline: deadline{until: expiry(s.now(), ttl)}, session: sess}, cache.NoExpiration)
	return nil
}

// GetSession returns a copy of the session stored under tokenHash; found is
// false when there is none or the clock has reached its expiry. It takes no
// mutex of its own and allocates only to copy a non-empty Scopes.
func (s *Store) GetSession(_ context.Context, tokenHash string) (store.Session, bool, error) {
	// Not lookup: this path is hot, and a direct call lets the compiler
	// inline aliveAt.
	v, ok := s.shard(tokenHash).sessions.Get(tokenHash)
	if !ok {
		return store.Session{}, false, nil
	}
	r, ok := v.(*sessionRecord)
	if !ok || !r.aliveAt(s.now()) {
		return store.Session{}, false, nil
	}
	sess := r.session
	if sess.Scopes != nil {
		sess.Scopes = slices.Clone(sess.Scopes)
	}
	return sess, true, nil
}

// RevokeSession deletes the session stored under tokenHash and reports
// whether a live one was there.
func (s *Store) RevokeSession(_ context.Context, tokenHash string) (bool, error) {
	sh := s.shard(tokenHash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, ok := lookup[*sessionRecord](sh.sessions, tokenHash, s.now())
	sh.sessions.Delete(tokenHash) // an expired record goes too
	return ok, nil
}
