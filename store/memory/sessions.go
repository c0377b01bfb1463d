package memory

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/otpguard/otpguard/store"
	"github.com/patrickmn/go-cache"
)

// sessionRecord is a stored session and the actions it was used for. The
// session is never changed after it is written, which lets GetSession read
// it without the shard mutex; used changes only under the shard mutex, and
// only UseSession reads it. The marks go with the record: when it expires,
// is revoked or is replaced.
type sessionRecord struct {
	deadline
	session store.Session
	used    map[string]struct{} // actions UseSession marked
}

// sessionIndex lists the sessions of one customer or one integration: each
// token hash with the deadline its session was written with. It lives until
// the latest of them. An entry can outlive its session (revoked by
// RevokeSession, or replaced under the same hash by another customer's), so
// readers check each entry against the session record; entries whose
// deadline has passed are pruned whenever the index has doubled since the
// last prune, which keeps it within about twice its live entries at an
// amortized constant cost per session.
type sessionIndex struct {
	deadline
	hashes map[string]time.Time
	pruned int // len(hashes) after the last prune
}

// minPrune is the size below which an index is not pruned.
const minPrune = 64

// add lists hash, whose session lives until until, pruning first when the
// index has doubled. The caller holds the index's shard mutex.
func (x *sessionIndex) add(hash string, until, now time.Time) {
	if len(x.hashes) >= 2*max(x.pruned, minPrune) {
		for h, u := range x.hashes {
			if !now.Before(u) {
				delete(x.hashes, h)
			}
		}
		x.pruned = len(x.hashes)
	}
	x.hashes[hash] = until
	if until.After(x.until) {
		x.until = until
	}
}

// customerIndex and integrationIndex return the family of sh that holds
// customers' and integrations' session indexes.
func customerIndex(sh *shard) *cache.Cache    { return sh.customerSessions }
func integrationIndex(sh *shard) *cache.Cache { return sh.integrationSessions }

// indexFamily returns the family that holds the session indexes of scope,
// or an error for a scope that has none.
func indexFamily(scope store.LockScope) (func(*shard) *cache.Cache, error) {
	switch scope {
	case store.ScopeCustomer:
		return customerIndex, nil
	case store.ScopeIntegration:
		return integrationIndex, nil
	}
	return nil, fmt.Errorf("scope %v: want %v or %v", scope, store.ScopeCustomer, store.ScopeIntegration)
}

// belongs reports whether sess is a session of the customer (ScopeCustomer)
// or the integration (ScopeIntegration) id.
func belongs(sess *store.Session, scope store.LockScope, id string) bool {
	if scope == store.ScopeCustomer {
		return sess.CustomerID == id
	}
	return sess.Integration == id
}

// index adds hash, whose session lives until until, to the index of id in
// family, in one critical section under id's shard mutex.
func (s *Store) index(family func(*shard) *cache.Cache, id, hash string, until time.Time) {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	c := family(sh)
	x, ok := lookup[*sessionIndex](c, id, now)
	if !ok {
		x = &sessionIndex{hashes: make(map[string]time.Time, 1)}
		c.Set(id, x, cache.NoExpiration)
	}
	x.add(hash, until, now)
}

// indexed returns the entries of id's index in family whose session
// deadline has not passed, as the index holds them now.
func (s *Store) indexed(family func(*shard) *cache.Cache, id string) map[string]time.Time {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	x, ok := lookup[*sessionIndex](family(sh), id, now)
	if !ok {
		return nil
	}
	live := make(map[string]time.Time, len(x.hashes))
	for h, u := range x.hashes {
		if now.Before(u) {
			live[h] = u
		}
	}
	return live
}

// unindex removes from id's index in family the entries of revoked that it
// still holds unchanged and every entry whose deadline has passed, and
// deletes the index when it is left empty. Only entries of sessions that
// were deleted go: an entry whose session is not stored yet may be that of
// a CreateSession under way.
func (s *Store) unindex(family func(*shard) *cache.Cache, id string, revoked map[string]time.Time) {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	c := family(sh)
	x, ok := lookup[*sessionIndex](c, id, now)
	if !ok {
		return
	}
	for h, u := range x.hashes {
		if r, ok := revoked[h]; (ok && r.Equal(u)) || !now.Before(u) {
			delete(x.hashes, h)
		}
	}
	x.pruned = len(x.hashes)
	if len(x.hashes) == 0 {
		c.Delete(id)
	}
}

// CreateSession stores a copy of sess under tokenHash, replacing any earlier
// one and its use marks; it is gone once the clock reaches now +
// store.ClampTTL(ttl). It first lists the session in the index of
// sess.CustomerID and in that of sess.Integration, each under its own
// shard's mutex, and then stores it under the session's: a revocation that
// runs meanwhile may miss the session, but no session is ever stored
// unindexed. It never fails.
func (s *Store) CreateSession(_ context.Context, tokenHash string, sess store.Session, ttl time.Duration) error {
	if len(sess.Scopes) == 0 {
		sess.Scopes = nil
	} else {
		sess.Scopes = slices.Clone(sess.Scopes)
	}
	sess.MAC = bytes.Clone(sess.MAC)
	until := expiry(s.now(), ttl)
	s.index(customerIndex, sess.CustomerID, tokenHash, until)
	s.index(integrationIndex, sess.Integration, tokenHash, until)
	sh := s.shard(tokenHash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.sessions.Set(tokenHash, &sessionRecord{deadline: deadline{until: until}, session: sess}, cache.NoExpiration)
	return nil
}

// GetSession returns a copy of the session stored under tokenHash; found is
// false when there is none or the clock has reached its expiry. It takes no
// mutex of its own and allocates only to copy a non-empty Scopes; the MAC
// is the record's own, and callers only read it.
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

// UseSession marks the live session under tokenHash as used for action, in
// one critical section under the session's shard mutex, and reports whether
// it set the mark: false when there is no live session or it was already
// used for action. The mark is kept in the session's record, so it goes
// when the session expires, is revoked or is replaced.
func (s *Store) UseSession(_ context.Context, tokenHash, action string) (bool, error) {
	sh := s.shard(tokenHash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, ok := lookup[*sessionRecord](sh.sessions, tokenHash, s.now())
	if !ok {
		return false, nil
	}
	if _, used := r.used[action]; used {
		return false, nil
	}
	if r.used == nil {
		r.used = make(map[string]struct{}, 1)
	}
	r.used[action] = struct{}{}
	return true, nil
}

// RevokeSession deletes the session stored under tokenHash, and its use
// marks, and reports whether a live one was there. Its index entries are
// dropped lazily.
func (s *Store) RevokeSession(_ context.Context, tokenHash string) (bool, error) {
	sh := s.shard(tokenHash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, ok := lookup[*sessionRecord](sh.sessions, tokenHash, s.now())
	sh.sessions.Delete(tokenHash) // an expired record goes too
	return ok, nil
}

// RevokeSessions deletes every live session of the customer (ScopeCustomer)
// or the integration (ScopeIntegration) id, and returns how many it deleted.
// It reads id's index, then visits the sessions' shards one at a time; under
// each shard's mutex it deletes the indexed sessions that are live and whose
// CustomerID (or Integration) is id, so of concurrent revocations exactly
// one counts each session. Last it drops the sessions it deleted from the
// index. Sessions created while it runs may survive it. Another scope is an
// error.
func (s *Store) RevokeSessions(_ context.Context, scope store.LockScope, id string) (int, error) {
	family, err := indexFamily(scope)
	if err != nil {
		return 0, fmt.Errorf("memory: revoke sessions: %w", err)
	}
	entries := s.indexed(family, id)
	byShard := make(map[*shard][]string)
	for h := range entries {
		sh := s.shard(h)
		byShard[sh] = append(byShard[sh], h)
	}
	revoked := make(map[string]time.Time)
	for sh, hashes := range byShard {
		sh.mu.Lock()
		now := s.now()
		for _, h := range hashes {
			if r, ok := lookup[*sessionRecord](sh.sessions, h, now); ok && belongs(&r.session, scope, id) {
				sh.sessions.Delete(h)
				revoked[h] = entries[h]
			}
		}
		sh.mu.Unlock()
	}
	if len(revoked) > 0 {
		s.unindex(family, id, revoked)
	}
	return len(revoked), nil
}

// CountSessions returns the number of live sessions of the customer
// (ScopeCustomer) or the integration (ScopeIntegration) id: the entries of
// id's index whose session is live and still belongs to id. It changes
// nothing. Another scope is an error.
func (s *Store) CountSessions(_ context.Context, scope store.LockScope, id string) (int, error) {
	family, err := indexFamily(scope)
	if err != nil {
		return 0, fmt.Errorf("memory: count sessions: %w", err)
	}
	n := 0
	entries := s.indexed(family, id)
	now := s.now()
	for h := range entries {
		v, ok := s.shard(h).sessions.Get(h)
		if !ok {
			continue
		}
		if r, ok := v.(*sessionRecord); ok && r.aliveAt(now) && belongs(&r.session, scope, id) {
			n++
		}
	}
	return n, nil
}
