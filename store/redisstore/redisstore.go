// Package redisstore keeps every otpguard record on Redis, so that several
// instances of a service share codes, sessions and limits.
//
// # Construction
//
// New takes a redis.UniversalClient (a *redis.Client, *redis.ClusterClient
// or *redis.Ring) that the caller builds and owns: the Store never closes it,
// and several stores may share one client.
//
//	client := redis.NewClient(&redis.Options{
//		Addr:                  "127.0.0.1:6379",
//		ContextTimeoutEnabled: true, // required: see Timeouts
//	})
//	st, err := redisstore.New(client, redisstore.WithPrefix("myapp:otp:"))
//
// # Atomicity
//
// Every method is one Redis command or one Lua script run through
// redis.Script (EVALSHA, falling back to EVAL), so each check-and-change is
// atomic however many instances call it at once; nothing is read and then
// written from Go. Every key is written with a millisecond expiry (PX or
// PEXPIRE); a TTL below store.MinTTL is clamped up to it, and a TTL that is
// not a whole number of milliseconds is rounded up, so no key lives forever.
// Token buckets take the time from Redis (TIME inside the script), so the
// instances' clocks do not matter. Redis 5.0 or newer is required (scripts
// are replicated by their effects).
//
// # Keys
//
// With the default prefix "otpguard:" and S the subject (for example
// "phone:+5511987654321"):
//
//	key                          type    TTL                        written by
//	otpguard:{S}:code            hash    the code's ttl             PutCode (AttemptCode increments; ConsumeCode deletes)
//	otpguard:{S}:fails           string  window, from 1st count     AttemptCode (ResetFailures and Fail's lock delete it)
//	otpguard:{S}:lock            string  max(lockFor, window rest)  Fail, when the count has reached the limit
//	otpguard:{S}:cool            string  d                          Cooldown
//	otpguard:{S}:sends           string  window, from 1st event     Hit
//	otpguard:session:{H}         string  the session's ttl          CreateSession (RevokeSession deletes)
//	otpguard:{bucket:K}          string  until the bucket is full   Take
//	otpguard:{bucket:K}:fixed    string  1 day after its last use   Take, for a bucket that never refills
//
// H is the session token's hash (store.HashToken) and K the bucket key. The
// code hash has the fields id, mac (raw bytes), in (integration), pu
// (purpose), ch (channel), at (attempts) and ex (ExpiresAt, RFC 3339 with
// nanoseconds). A session is a compact binary encoding of store.Session (a
// format byte, then each field as a uvarint length and its bytes; ExpiresAt
// as time.MarshalBinary), so that GetSession is one GET and decodes without
// reflection. A bucket holds its theoretical arrival time in
// microseconds of Redis time (GCRA); a bucket that never refills (r <= 0)
// holds the number of tokens taken.
//
// # Redis Cluster
//
// Every key of one subject carries the hash tag {S}, so all of them live in
// one slot and the multi-key scripts behind AttemptCode (code, fails, lock)
// and Fail (fails, lock) run on Redis Cluster. Inside a hash tag the
// characters '{', '}' and '%' are written as %7B, %7D and %25, and an empty
// subject or key as a lone '%', so that any subject makes a valid, distinct
// tag. The prefix may not contain '{' or '}'.
//
// # Timeouts
//
// Every call runs under a deadline of the operation timeout (WithTimeout,
// 500 ms by default) on top of the caller's context. go-redis honours
// context deadlines only when the client is built with
// ContextTimeoutEnabled, so New refuses a *redis.Client, *redis.ClusterClient
// or *redis.Ring without it. An unreachable Redis therefore makes guarded
// actions fail closed within the operation timeout; the client reconnects on
// its own when Redis returns, and the same Store works again.
//
// # Errors
//
// Absence is normal and returns found false with a nil error. Any other
// failure is returned wrapped as "redisstore: <operation>: <cause>", so
// errors.Is sees the cause (context.DeadlineExceeded, redis.ErrClosed, ...).
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/store"
)

// DefaultPrefix is the prefix of every key unless WithPrefix sets another.
const DefaultPrefix = "otpguard:"

// DefaultTimeout is the operation timeout unless WithTimeout sets another.
const DefaultTimeout = 500 * time.Millisecond

// Store keeps otpguard's records on Redis. It implements store.Store. It is
// safe for concurrent use; it holds no state of its own besides its
// configuration.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
}

var _ store.Store = (*Store)(nil)

// Option configures a Store; pass options to New.
type Option func(*Store)

// WithPrefix sets the prefix of every key the store writes. The default is
// DefaultPrefix ("otpguard:"). Give each application (or each test) its own
// prefix to share one Redis database. The prefix may not contain '{' or '}',
// which would change the keys' hash slot on Redis Cluster.
func WithPrefix(p string) Option {
	return func(s *Store) { s.prefix = p }
}

// WithTimeout sets the operation timeout: every call gives up, and returns an
// error, after d even when the caller's context allows longer. The default is
// DefaultTimeout (500 ms); d must be positive.
func WithTimeout(d time.Duration) Option {
	return func(s *Store) { s.timeout = d }
}

// New returns a Store on client. The client stays the caller's: the Store
// never closes it. New returns an error when client is nil, when an option is
// invalid, or when client is a *redis.Client, *redis.ClusterClient or
// *redis.Ring built without ContextTimeoutEnabled (go-redis would then ignore
// the operation timeout). New does not contact Redis.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	if err := checkClient(client); err != nil {
		return nil, fmt.Errorf("redisstore: new: %w", err)
	}
	s := &Store{client: client, prefix: DefaultPrefix, timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(s)
	}
	if strings.ContainsAny(s.prefix, "{}") {
		return nil, fmt.Errorf("redisstore: new: prefix %q contains '{' or '}'", s.prefix)
	}
	if s.timeout <= 0 {
		return nil, fmt.Errorf("redisstore: new: timeout %v is not positive", s.timeout)
	}
	return s, nil
}

// checkClient returns an error for a nil client and for a client known to
// ignore context deadlines.
func checkClient(client redis.UniversalClient) error {
	var isNil, enabled bool
	switch c := client.(type) {
	case nil:
		isNil = true
	case *redis.Client:
		isNil = c == nil
		enabled = !isNil && c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		isNil = c == nil
		enabled = !isNil && c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		isNil = c == nil
		enabled = !isNil && c.Options().ContextTimeoutEnabled
	default:
		enabled = true // cannot tell
	}
	switch {
	case isNil:
		return errors.New("nil client")
	case !enabled:
		return errors.New("the client ignores context deadlines; set ContextTimeoutEnabled in its options")
	}
	return nil
}

// Key kinds of a subject.
const (
	kindCode  = "code"
	kindFails = "fails"
	kindLock  = "lock"
	kindCool  = "cool"
	kindSends = "sends"
)

// tag returns s escaped for use inside a hash tag: '%', '{' and '}' become
// %25, %7B and %7D, and "" becomes "%". The mapping is injective and its
// result is never empty and holds no brace.
func tag(s string) string {
	if s == "" {
		return "%"
	}
	if !strings.ContainsAny(s, "%{}") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b.WriteString("%25")
		case '{':
			b.WriteString("%7B")
		case '}':
			b.WriteString("%7D")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// subjectKey returns the key of one kind of record of subject.
func (s *Store) subjectKey(subject, kind string) string {
	return s.prefix + "{" + tag(subject) + "}:" + kind
}

// sessionKey returns the key of the session stored under tokenHash.
func (s *Store) sessionKey(tokenHash string) string {
	return s.prefix + "session:{" + tag(tokenHash) + "}"
}

// bucketKey returns the key of the token bucket key.
func (s *Store) bucketKey(key string) string {
	return s.prefix + "{bucket:" + tag(key) + "}"
}

// ms returns d in whole milliseconds, rounded up, after clamping it to
// store.MinTTL.
func ms(d time.Duration) int64 {
	d = store.ClampTTL(d)
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// msDuration turns a millisecond count from Redis into a duration.
func msDuration(n int64) time.Duration {
	return time.Duration(n) * time.Millisecond
}

// ctx bounds parent by the operation timeout. When parent already ends
// sooner it is used as it is, which saves a timer.
func (s *Store) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := parent.Deadline(); ok && time.Until(dl) <= s.timeout {
		return parent, noCancel
	}
	return context.WithTimeout(parent, s.timeout)
}

func noCancel() {}

// Code fields in the code hash, in the order codeFields lists them.
const (
	fID = iota
	fMAC
	fIntegration
	fPurpose
	fChannel
	fAttempts
	fExpires
	nCodeFields
)

var putCodeScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'mac', ARGV[3], 'in', ARGV[4], 'pu', ARGV[5], 'ch', ARGV[6], 'at', ARGV[7], 'ex', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)

// PutCode stores c as subject's code, replacing any earlier one, with expiry
// ttl. It is one script: DEL, HSET, PEXPIRE.
func (s *Store) PutCode(ctx context.Context, subject string, c store.Code, ttl time.Duration) error {
	exp, err := c.ExpiresAt.MarshalText()
	if err != nil {
		return fmt.Errorf("redisstore: put code: expiry: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	keys := []string{s.subjectKey(subject, kindCode)}
	err = putCodeScript.Run(ctx, s.client, keys,
		ms(ttl), c.ID, c.MAC, c.Integration, c.Purpose, c.Channel, c.Attempts, exp).Err()
	if err != nil {
		return fmt.Errorf("redisstore: put code: %w", err)
	}
	return nil
}

// attemptCodeScript: KEYS code, fails, lock; ARGV maxAttempts, budget,
// window ms. Returns the ms until subject may try again (a positive integer)
// when it is locked or its budget is spent, 0 when it has no code, else the
// code's fields as HMGET returns them, after the attempt was counted.
var attemptCodeScript = redis.NewScript(`
local p = redis.call('PTTL', KEYS[3])
if p ~= -2 then
  if p < 1 then p = 1 end
  return p
end
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
if n >= tonumber(ARGV[2]) then
  local w = redis.call('PTTL', KEYS[2])
  if w == -2 then
    redis.call('SET', KEYS[2], '0', 'PX', ARGV[3])
    return tonumber(ARGV[3])
  end
  if w == -1 then
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
    return tonumber(ARGV[3])
  end
  if w < 1 then w = 1 end
  return w
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[1], 'at', 1) <= tonumber(ARGV[1]) then
  redis.call('INCR', KEYS[2])
  if redis.call('PTTL', KEYS[2]) == -1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
end
return redis.call('HMGET', KEYS[1], 'id', 'mac', 'in', 'pu', 'ch', 'at', 'ex')
`)

// AttemptCode counts one verification attempt on subject's code and charges
// subject's failure budget in one script, so that no number of concurrent
// calls on any number of instances gets past either limit. The script
// reads the lock's PTTL (locked: it returns the remaining lock), then the
// failure count (at budget: it returns the fails key's PTTL; with no window
// running, as when budget < 1, it starts an empty one of window), then
// checks that the code exists, HINCRBYs its attempt count and, unless that
// exceeds maxAttempts (a burned code), INCRs the failure count, whose key
// gets the expiry window when it has none (the window starts with its first
// count). It returns the record with its new count; it never changes the
// code's expiry.
func (s *Store) AttemptCode(ctx context.Context, subject string, maxAttempts, budget int, window time.Duration) (store.Attempt, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	keys := []string{s.subjectKey(subject, kindCode), s.subjectKey(subject, kindFails), s.subjectKey(subject, kindLock)}
	res, err := attemptCodeScript.Run(ctx, s.client, keys, maxAttempts, budget, ms(window)).Result()
	if err != nil {
		return store.Attempt{}, fmt.Errorf("redisstore: attempt code: %w", err)
	}
	switch v := res.(type) {
	case int64:
		return store.Attempt{Locked: msDuration(v)}, nil
	case []any:
		c, err := decodeCode(v)
		if err != nil {
			return store.Attempt{}, fmt.Errorf("redisstore: attempt code: %w", err)
		}
		return store.Attempt{Code: c, Found: true}, nil
	}
	return store.Attempt{}, fmt.Errorf("redisstore: attempt code: unexpected reply %T", res)
}

// decodeCode builds a Code from the HMGET reply of attemptCodeScript.
func decodeCode(vals []any) (store.Code, error) {
	if len(vals) != nCodeFields {
		return store.Code{}, fmt.Errorf("corrupt code: %d fields", len(vals))
	}
	var f [nCodeFields]string
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			return store.Code{}, fmt.Errorf("corrupt code: field %d is %T", i, v)
		}
		f[i] = str
	}
	attempts, err := strconv.Atoi(f[fAttempts])
	if err != nil {
		return store.Code{}, fmt.Errorf("corrupt code: attempts: %w", err)
	}
	c := store.Code{
		ID:          f[fID],
		Integration: f[fIntegration],
		Purpose:     f[fPurpose],
		Channel:     f[fChannel],
		Attempts:    attempts,
	}
	if f[fMAC] != "" {
		c.MAC = []byte(f[fMAC])
	}
	if err := c.ExpiresAt.UnmarshalText([]byte(f[fExpires])); err != nil {
		return store.Code{}, fmt.Errorf("corrupt code: expiry: %w", err)
	}
	return c, nil
}

var consumeCodeScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// ConsumeCode deletes subject's code only if its ID equals id, in one script
// (HGET, compare, DEL), and reports whether it deleted it.
func (s *Store) ConsumeCode(ctx context.Context, subject, id string) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := consumeCodeScript.Run(ctx, s.client, []string{s.subjectKey(subject, kindCode)}, id).Int64()
	if err != nil {
		return false, fmt.Errorf("redisstore: consume code: %w", err)
	}
	return n == 1, nil
}

// CreateSession stores s under tokenHash with expiry ttl: one SET PX of its
// compact encoding.
func (s *Store) CreateSession(ctx context.Context, tokenHash string, sess store.Session, ttl time.Duration) error {
	b, err := encodeSession(sess)
	if err != nil {
		return fmt.Errorf("redisstore: create session: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := s.client.Set(ctx, s.sessionKey(tokenHash), b, msDuration(ms(ttl))).Err(); err != nil {
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

// RevokeSession deletes the session stored under tokenHash (one DEL) and
// reports whether there was one.
func (s *Store) RevokeSession(ctx context.Context, tokenHash string) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := s.client.Del(ctx, s.sessionKey(tokenHash)).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: revoke session: %w", err)
	}
	return n > 0, nil
}

// failScript: KEYS fails, lock; ARGV limit, lockFor ms. Returns the
// remaining lock in ms, 0 when subject is not locked.
var failScript = redis.NewScript(`
local p = redis.call('PTTL', KEYS[2])
if p ~= -2 then
  if p < 1 then p = 1 end
  return p
end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then return 0 end
local ttl = tonumber(ARGV[2])
local w = redis.call('PTTL', KEYS[1])
if w > ttl then ttl = w end
redis.call('SET', KEYS[2], '1', 'PX', ttl)
redis.call('DEL', KEYS[1])
return ttl
`)

// Fail is called after a wrong code that AttemptCode counted; it counts
// nothing itself. In one script: while subject is locked it returns the
// remaining lock; otherwise, when the failure count has reached limit
// (limit < 1 is always reached), it locks subject for lockFor (clamped to
// store.MinTTL) or the rest of the failure window, whichever is longer,
// deletes the count, and returns the lock; otherwise it changes nothing and
// returns 0.
func (s *Store) Fail(ctx context.Context, subject string, limit int, lockFor time.Duration) (time.Duration, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	keys := []string{s.subjectKey(subject, kindFails), s.subjectKey(subject, kindLock)}
	n, err := failScript.Run(ctx, s.client, keys, limit, ms(lockFor)).Int64()
	if err != nil {
		return 0, fmt.Errorf("redisstore: fail: %w", err)
	}
	return msDuration(n), nil
}

// Locked returns the remaining lock of subject: one PTTL.
func (s *Store) Locked(ctx context.Context, subject string) (time.Duration, bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	d, err := s.client.PTTL(ctx, s.subjectKey(subject, kindLock)).Result()
	if err != nil {
		return 0, false, fmt.Errorf("redisstore: locked: %w", err)
	}
	// go-redis reports a missing key as -2ns and a key without expiry as
	// -1ns; the latter is never written, but would be a lock all the same.
	switch {
	case d == -2:
		return 0, false, nil
	case d < time.Millisecond:
		return time.Millisecond, true, nil
	}
	return d, true, nil
}

// ResetFailures deletes subject's failure count (one DEL); a lock stays.
func (s *Store) ResetFailures(ctx context.Context, subject string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := s.client.Del(ctx, s.subjectKey(subject, kindFails)).Err(); err != nil {
		return fmt.Errorf("redisstore: reset failures: %w", err)
	}
	return nil
}

// cooldownScript: KEYS cool; ARGV d ms. Returns 0 when it set the cooldown,
// else the remaining ms.
var cooldownScript = redis.NewScript(`
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
local p = redis.call('PTTL', KEYS[1])
if p < 1 then p = 1 end
return p
`)

// Cooldown starts a cooldown of d for subject unless one is running, in one
// script (SET NX PX, else PTTL). A d of zero or less always allows and
// touches nothing.
func (s *Store) Cooldown(ctx context.Context, subject string, d time.Duration) (bool, time.Duration, error) {
	if d <= 0 {
		return true, 0, nil
	}
	return s.allowOrWait(ctx, "cooldown", cooldownScript, s.subjectKey(subject, kindCool), ms(d))
}

// hitScript: KEYS sends; ARGV limit, window ms. Returns 0 when the event was
// counted, else the remaining window in ms. With limit < 1 nothing is ever
// counted, but the first refusal still starts a window (count 0), so that
// retryAfter runs down as it does in the memory store.
var hitScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then
  if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return 0
end
local p = redis.call('PTTL', KEYS[1])
if p == -2 then
  redis.call('SET', KEYS[1], '0', 'PX', ARGV[2])
  return tonumber(ARGV[2])
end
if p < 1 then p = 1 end
return p
`)

// Hit counts one event for subject in a fixed window that starts with the
// window's first event and lasts window (clamped to store.MinTTL), in one
// script. When limit events are already counted (limit < 1 refuses every
// event) it refuses, counts nothing, and returns the time until the window
// ends.
func (s *Store) Hit(ctx context.Context, subject string, limit int, window time.Duration) (bool, time.Duration, error) {
	return s.allowOrWait(ctx, "hit", hitScript, s.subjectKey(subject, kindSends), limit, ms(window))
}

// allowOrWait runs script, which replies 0 to allow and otherwise the ms to
// wait, on key with args, under the operation timeout. Its errors are
// wrapped as those of op.
func (s *Store) allowOrWait(ctx context.Context, op string, script *redis.Script, key string, args ...any) (bool, time.Duration, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := script.Run(ctx, s.client, []string{key}, args...).Int64()
	if err != nil {
		return false, 0, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if n == 0 {
		return true, 0, nil
	}
	return false, msDuration(n), nil
}

// takeScript is GCRA, the token bucket kept as one number. KEYS bucket; ARGV
// interval (µs per token), tolerance (burst × interval, µs). The bucket key
// holds the theoretical arrival time (TAT) in µs of Redis time and lives
// until the bucket is full again. Returns 0 when a token was taken, else the
// µs until one is available.
var takeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nt = tat + interval
local wait = nt - now - tolerance
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%.0f', nt), 'PX', string.format('%.0f', math.ceil((nt - now) / 1000)))
return 0
`)

// takeFixedScript is a bucket that never refills: KEYS fixed bucket; ARGV
// burst, idle ms. The key counts the tokens taken and lives idle ms after
// its last use. Returns 0 when a token was taken, else 1.
var takeFixedScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], n + 1, 'PX', ARGV[2])
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// Bounds of Take.
const (
	// maxBucketMicros is the longest time, in µs, a refilling bucket may
	// take to fill (about 158 years); a slower bucket is kept as one that
	// never refills. Below it the script's times stay under 2^53 µs until
	// the year 2090, so Lua's doubles hold them exactly.
	maxBucketMicros = 5e15
	// fixedBucketIdle is how long a bucket that never refills is kept after
	// its last use, as in the memory store.
	fixedBucketIdle = 24*time.Hour + time.Minute
)

// Take takes one token from key's token bucket, which refills at r tokens
// per second up to burst and starts full, in one script that reads the time
// from Redis (GCRA). When it refuses, retryAfter is the time until a token is
// available, rounded up to the microsecond. A bucket with r = rate.Inf
// always allows and touches nothing; one with burst < 1 never allows. A
// bucket that never refills (r <= 0, or one so slow that it would take
// over 150 years to fill) allows burst takes and then refuses with
// rate.InfDuration; it is forgotten a day after its last use. A bucket
// whose r or burst change keeps its state (the time its debt is paid)
// under the new values; one that changes between refilling and never
// refilling starts full.
func (s *Store) Take(ctx context.Context, key string, r rate.Limit, burst int) (bool, time.Duration, error) {
	if r == rate.Inf {
		return true, 0, nil
	}
	if burst < 1 {
		return false, rate.InfDuration, nil
	}
	var interval, tolerance float64
	if r > 0 {
		interval = 1e6 / float64(r)
		tolerance = interval * float64(burst)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if r <= 0 || tolerance > maxBucketMicros {
		n, err := takeFixedScript.Run(ctx, s.client, []string{s.bucketKey(key) + ":fixed"}, burst, ms(fixedBucketIdle)).Int64()
		if err != nil {
			return false, 0, fmt.Errorf("redisstore: take: %w", err)
		}
		if n == 0 {
			return true, 0, nil
		}
		return false, rate.InfDuration, nil
	}
	n, err := takeScript.Run(ctx, s.client, []string{s.bucketKey(key)},
		strconv.FormatFloat(interval, 'f', -1, 64), strconv.FormatFloat(tolerance, 'f', -1, 64)).Int64()
	if err != nil {
		return false, 0, fmt.Errorf("redisstore: take: %w", err)
	}
	if n == 0 {
		return true, 0, nil
	}
	return false, time.Duration(n) * time.Microsecond, nil
}
