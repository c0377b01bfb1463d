package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpguard/otpguard/store"
)

// indexSessionScript: KEYS index; ARGV token hash, ttl ms. The index is a
// sorted set of token hashes scored by the time, in ms of Redis time, after
// which their session is surely gone. It drops the entries whose time has
// passed, adds this one for ttl ms from now, and makes the index live at
// least that long.
var indexSessionScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%.0f', now))
redis.call('ZADD', KEYS[1], string.format('%.0f', now + ttl), ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`)

// createSessionScript: KEYS session, used; ARGV encoded session, ttl ms.
// Stores the session and deletes the use marks of any session it replaces.
var createSessionScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
return 1
`)

// CreateSession stores s under tokenHash with expiry ttl, indexed under its
// customer and its integration. The three keys are in three hash slots, so
// it writes them in order, each in one script: the customer's index, the
// integration's, and last the session (SET PX of its compact encoding, and
// DEL of a replaced session's use marks). Index entries are kept for ttl
// plus the operation timeout, so they outlast the session written after
// them. When an index cannot be written it stores no session and returns
// the error; an index entry left behind by a failed session write points at
// nothing and is dropped once its time has passed.
// With WithMinReplicas on a *redis.ClusterClient or *redis.Ring it waits
// for the replicas after each index write, not after the session's (see
// Replication).
func (s *Store) CreateSession(ctx context.Context, tokenHash string, sess store.Session, ttl time.Duration) error {
	b, err := encodeSession(sess)
	if err != nil {
		return fmt.Errorf("redisstore: create session: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	t := ms(ttl)
	// The session is written after its index entries, within the
	// operation timeout: the entries last that much longer, so they never
	// end before it.
	indexed := t + ms(s.timeout)
	for _, idx := range []struct {
		scope store.LockScope
		id    string
	}{{store.ScopeCustomer, sess.CustomerID}, {store.ScopeIntegration, sess.Integration}} {
		key, _ := s.sessionIndexKey(idx.scope, idx.id) // both scopes have one
		var err error
		if s.waitIndexes {
			err = s.write(ctx, indexSessionScript, []string{key}, tokenHash, indexed).Err()
		} else {
			err = indexSessionScript.Run(ctx, s.client, []string{key}, tokenHash, indexed).Err()
		}
		if err != nil {
			return fmt.Errorf("redisstore: create session: index by %v: %w", idx.scope, err)
		}
	}
	keys := []string{s.sessionKey(tokenHash), s.usedKey(tokenHash)}
	if err := createSessionScript.Run(ctx, s.client, keys, b, t).Err(); err != nil {
		return fmt.Errorf("redisstore: create session: %w", err)
	}
	return nil
}

// GetSession returns the session stored under tokenHash: one GET.
func (s *Store) GetSession(ctx context.Context, tokenHash string) (store.Session, bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	v, err := s.client.Get(ctx, s.sessionKey(tokenHash)).Result()
	if errors.Is(err, redis.Nil) {
		return store.Session{}, false, nil
	}
	if err != nil {
		return store.Session{}, false, fmt.Errorf("redisstore: get session: %w", err)
	}
	sess, err := decodeSession(v)
	if err != nil {
		return store.Session{}, false, fmt.Errorf("redisstore: get session: %w", err)
	}
	return sess, true, nil
}

// useSessionScript: KEYS session, used; ARGV action. Returns 1 when it
// marked the live session as used for action, 0 when there is no session or
// the mark was there. The marks hash expires with the session.
var useSessionScript = redis.NewScript(`
local t = redis.call('PTTL', KEYS[1])
if t == -2 then return 0 end
if t == -1 then return redis.error_reply('session without expiry') end
if redis.call('HSETNX', KEYS[2], ARGV[1], '1') == 0 then return 0 end
if t < 1 then t = 1 end
redis.call('PEXPIRE', KEYS[2], t)
return 1
`)

// UseSession marks the live session under tokenHash as used for action and
// reports whether it set the mark, in one script: PTTL of the session, then
// HSETNX of action in the session's marks hash, which gets the session's
// remaining time as its expiry. A session without expiry, which this store
// never writes, is an error.
// With WithMinReplicas it waits for the replicas (see Replication).
func (s *Store) UseSession(ctx context.Context, tokenHash, action string) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	keys := []string{s.sessionKey(tokenHash), s.usedKey(tokenHash)}
	n, err := s.write(ctx, useSessionScript, keys, action).Int64()
	if err != nil {
		return false, fmt.Errorf("redisstore: use session: %w", err)
	}
	return n == 1, nil
}

// revokeSessionScript: KEYS session, used. Deletes both and returns the
// number of sessions deleted.
var revokeSessionScript = redis.NewScript(`
local n = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
return n
`)

// RevokeSession deletes the session stored under tokenHash and its use
// marks, in one script, and reports whether there was a session. Its index
// entries are left to be dropped once their time has passed.
// With WithMinReplicas it waits for the replicas (see Replication).
func (s *Store) RevokeSession(ctx context.Context, tokenHash string) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	keys := []string{s.sessionKey(tokenHash), s.usedKey(tokenHash)}
	n, err := s.write(ctx, revokeSessionScript, keys).Int64()
	if err != nil {
		return false, fmt.Errorf("redisstore: revoke session: %w", err)
	}
	return n > 0, nil
}

// indexPage is the COUNT hint of the ZSCAN of a session index, and so
// about the number of sessions RevokeSessions and CountSessions handle per
// round trip.
const indexPage = 256

// scanIndex calls f with each page of the token hashes in the session index
// key, as ZSCAN returns them: a hash may come more than once. Each ZSCAN
// runs under its own operation timeout, and so should f's round trips.
func (s *Store) scanIndex(ctx context.Context, key string, f func(hashes []string) error) error {
	var cursor uint64
	for {
		rctx, cancel := s.ctx(ctx)
		kv, next, err := s.client.ZScan(rctx, key, cursor, "", indexPage).Result()
		cancel()
		if err != nil {
			return err
		}
		hashes := make([]string, 0, len(kv)/2)
		for i := 0; i < len(kv); i += 2 { // member, score, member, ...
			hashes = append(hashes, kv[i])
		}
		if len(hashes) > 0 {
			if err := f(hashes); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// sessionsOf reads the sessions stored under hashes in one pipeline of GETs,
// and returns, for each hash, its stored value when the session is live and
// belongs to the customer (ScopeCustomer) or integration id, else "". A
// value that does not decode is an error.
func (s *Store) sessionsOf(ctx context.Context, hashes []string, scope store.LockScope, id string) ([]string, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	cmds := make([]*redis.StringCmd, len(hashes))
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, h := range hashes {
			cmds[i] = p.Get(ctx, s.sessionKey(h))
		}
		return nil
	})
	owned := make([]string, len(hashes))
	for i, cmd := range cmds {
		v, err := cmd.Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sess, err := decodeSession(v)
		if err != nil {
			return nil, err
		}
		if (scope == store.ScopeCustomer && sess.CustomerID == id) || (scope == store.ScopeIntegration && sess.Integration == id) {
			owned[i] = v
		}
	}
	return owned, nil
}

// revokeIfScript: KEYS session, used; ARGV the session's value. Deletes the
// session and its marks only when the session still holds that value, and
// returns the number of sessions deleted.
var revokeIfScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
`)

// RevokeSessions deletes every live session of the customer (ScopeCustomer)
// or the integration (ScopeIntegration) id, and returns how many it deleted.
// It walks id's index a page at a time (ZSCAN): a pipeline of GETs reads
// the page's sessions, which are decoded to keep only those that are live
// and still belong to id; a pipeline of one script per such session, each
// in the session's own slot, deletes the session and its use marks if it
// still holds the value read, so of concurrent revocations exactly one
// counts each session; then ZREM drops the deleted sessions from the index.
// Each round trip runs under its own operation timeout. Sessions created
// while it runs may survive it. Another scope, or a session that does not
// decode, is an error; with an error, revoked counts the sessions deleted
// before it.
// With WithMinReplicas it waits for the replicas (see Replication).
func (s *Store) RevokeSessions(ctx context.Context, scope store.LockScope, id string) (int, error) {
	key, err := s.sessionIndexKey(scope, id)
	if err != nil {
		return 0, fmt.Errorf("redisstore: revoke sessions: %w", err)
	}
	revoked := 0
	err = s.scanIndex(ctx, key, func(hashes []string) error {
		owned, err := s.sessionsOf(ctx, hashes, scope, id)
		if err != nil {
			return err
		}
		deleted, err := s.revokeIf(ctx, hashes, owned)
		revoked += len(deleted)
		if err != nil || len(deleted) == 0 {
			return err
		}
		rctx, cancel := s.ctx(ctx)
		defer cancel()
		return s.client.ZRem(rctx, key, deleted).Err()
	})
	if err != nil {
		return revoked, fmt.Errorf("redisstore: revoke sessions: %w", err)
	}
	return revoked, nil
}

// revokeIf runs revokeIfScript, in one pipeline, for each hash whose owned
// value is not "", and returns the hashes whose session it deleted. A script
// the server does not have yet is run again through write, which loads it.
// When the store waits for replicas, each server's pipeline ends with WAIT
// (see waitPipeline), and a WAIT that fails discards that pipeline's
// deletions from the result: it returns the hashes of the servers before
// it, and the error.
func (s *Store) revokeIf(ctx context.Context, hashes, owned []string) ([]any, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	type call struct {
		keys  []string
		hash  string
		value string
		cmd   *redis.Cmd
	}
	var calls []*call
	for i, h := range hashes {
		if owned[i] != "" {
			calls = append(calls, &call{keys: []string{s.sessionKey(h), s.usedKey(h)}, hash: h, value: owned[i]})
		}
	}
	if len(calls) == 0 {
		return nil, nil
	}
	// The calls of each server, in the order of their first call; without
	// WAIT, one group that the client routes.
	type group struct {
		node  *redis.Client
		calls []*call
	}
	var groups []*group
	if s.minReplicas == 0 {
		groups = []*group{{calls: calls}}
	} else {
		byNode := make(map[*redis.Client]*group)
		for _, c := range calls {
			node, err := s.node(ctx, c.keys[0])
			if err != nil {
				return nil, err
			}
			g := byNode[node]
			if g == nil {
				g = &group{node: node}
				byNode[node] = g
				groups = append(groups, g)
			}
			g.calls = append(g.calls, c)
		}
	}
	var deleted []any
	for _, g := range groups {
		queue := func(p redis.Pipeliner) {
			for _, c := range g.calls {
				c.cmd = revokeIfScript.EvalSha(ctx, p, c.keys, c.value)
			}
		}
		var ackErr error
		if g.node == nil {
			_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error { queue(p); return nil })
		} else {
			ackErr = s.waitPipeline(ctx, g.node, queue)
		}
		for _, c := range g.calls {
			if err := c.cmd.Err(); err != nil && !redis.HasErrorPrefix(err, "NOSCRIPT") {
				s.noteMoved(ctx, err)
				return deleted, err
			}
		}
		if ackErr != nil {
			return deleted, ackErr
		}
		for _, c := range g.calls {
			n, err := c.cmd.Int64()
			if redis.HasErrorPrefix(err, "NOSCRIPT") {
				n, err = s.write(ctx, revokeIfScript, c.keys, c.value).Int64()
			}
			if err != nil {
				return deleted, err
			}
			if n == 1 {
				deleted = append(deleted, c.hash)
			}
		}
	}
	return deleted, nil
}

// CountSessions returns the number of live sessions of the customer
// (ScopeCustomer) or the integration (ScopeIntegration) id. It walks id's
// index a page at a time (ZSCAN, then a pipeline of GETs), each round trip
// under its own operation timeout, and counts the sessions that are live
// and belong to id. It changes nothing. Another scope, or a session that
// does not decode, is an error.
func (s *Store) CountSessions(ctx context.Context, scope store.LockScope, id string) (int, error) {
	key, err := s.sessionIndexKey(scope, id)
	if err != nil {
		return 0, fmt.Errorf("redisstore: count sessions: %w", err)
	}
	seen := make(map[string]struct{})
	err = s.scanIndex(ctx, key, func(hashes []string) error {
		owned, err := s.sessionsOf(ctx, hashes, scope, id)
		if err != nil {
			return err
		}
		for i, h := range hashes {
			if owned[i] != "" {
				seen[h] = struct{}{}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("redisstore: count sessions: %w", err)
	}
	return len(seen), nil
}

// sessionFormat is the first byte of an encoded session; a store that finds
// another value refuses the record as corrupt rather than misreading it.
// Format 1 had no VerifiedAt; format 2 added it and kept Subject and
// Purpose; format 3 dropped those two and added the MAC.
const sessionFormat = 3

// errCorruptSession reports a session value that does not decode.
var errCorruptSession = errors.New("corrupt session")

// encodeSession returns the stored form of s: the format byte, then
// Integration, CustomerID, the number of scopes, each scope, VerifiedAt and
// ExpiresAt (time.MarshalBinary), and MAC, each string, time and the MAC as
// a uvarint length followed by its bytes. Decoding it costs no reflection
// and one allocation each for the scope list and the MAC, which keeps
// GetSession close to a bare GET.
func encodeSession(s store.Session) ([]byte, error) {
	ver, err := s.VerifiedAt.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("verified at: %w", err)
	}
	exp, err := s.ExpiresAt.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("expiry: %w", err)
	}
	n := 1 + 6*binary.MaxVarintLen64 + len(s.Integration) + len(s.CustomerID) + len(ver) + len(exp) + len(s.MAC)
	for _, sc := range s.Scopes {
		n += binary.MaxVarintLen64 + len(sc)
	}
	b := make([]byte, 0, n)
	b = append(b, sessionFormat)
	b = appendString(b, s.Integration)
	b = appendString(b, s.CustomerID)
	b = binary.AppendUvarint(b, uint64(len(s.Scopes)))
	for _, sc := range s.Scopes {
		b = appendString(b, sc)
	}
	b = appendBytes(b, ver)
	b = appendBytes(b, exp)
	b = appendBytes(b, s.MAC)
	return b, nil
}

// appendString appends s's length as a uvarint, then s.
func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendBytes appends p's length as a uvarint, then p.
func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// decodeSession parses what encodeSession wrote. The strings of the result
// share v's memory; the MAC is a copy. An empty scope list or MAC reads
// back as nil. A record of another format, formats 1 and 2 included, is
// corrupt, and so is one cut short or with any byte left over.
func decodeSession(v string) (store.Session, error) {
	if len(v) == 0 {
		return store.Session{}, errCorruptSession
	}
	if v[0] != sessionFormat {
		return store.Session{}, fmt.Errorf("%w: format %d, want %d", errCorruptSession, v[0], sessionFormat)
	}
	d := decoder{rest: v[1:]}
	s := store.Session{
		Integration: d.str(),
		CustomerID:  d.str(),
	}
	// Every scope takes at least one byte, which bounds the count.
	if n := d.uvarint(); n > 0 && n <= uint64(len(d.rest)) {
		s.Scopes = make([]string, n)
		for i := range s.Scopes {
			s.Scopes[i] = d.str()
		}
	} else if n > 0 {
		d.bad = true
	}
	ver := d.str()
	exp := d.str()
	if mac := d.str(); mac != "" {
		s.MAC = []byte(mac)
	}
	if d.bad || len(d.rest) != 0 {
		return store.Session{}, errCorruptSession
	}
	if err := s.VerifiedAt.UnmarshalBinary([]byte(ver)); err != nil {
		return store.Session{}, fmt.Errorf("%w: verified at: %w", errCorruptSession, err)
	}
	if err := s.ExpiresAt.UnmarshalBinary([]byte(exp)); err != nil {
		return store.Session{}, fmt.Errorf("%w: expiry: %w", errCorruptSession, err)
	}
	return s, nil
}

// decoder reads uvarint-prefixed strings; after the first malformed one it
// returns zero values and sets bad.
type decoder struct {
	rest string
	bad  bool
}

func (d *decoder) uvarint() uint64 {
	var x uint64
	for i := 0; i < len(d.rest) && i < binary.MaxVarintLen64; i++ {
		c := d.rest[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break // overflows 64 bits
			}
			d.rest = d.rest[i+1:]
			return x | uint64(c)<<(7*i)
		}
		x |= uint64(c&0x7f) << (7 * i)
	}
	d.bad = true
	d.rest = ""
	return 0
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.rest)) {
		d.bad = true
		d.rest = ""
		return ""
	}
	s := d.rest[:n]
	d.rest = d.rest[n:]
	return s
}
