// Package redisstore keeps every otpguard record on Redis, so that several
// instances of a service share codes, sessions and limits.
//
// # Construction
//
// New takes a redis.UniversalClient (a *redis.Client, *redis.ClusterClient
// or *redis.Ring; a Sentinel failover client from redis.NewFailoverClient is
// a *redis.Client) that the caller builds and owns: the Store never closes
// it, and several stores may share one client.
//
//	client := redis.NewClient(&redis.Options{
//		Addr:                  "127.0.0.1:6379",
//		ContextTimeoutEnabled: true, // required: see Timeouts
//	})
//	st, err := redisstore.New(client, redisstore.WithPrefix("myapp:otp:"))
//	...
//	err = st.CheckDurability(ctx) // at start-up: see Durability
//
// # Atomicity
//
// Every check-and-change is one Redis command or one Lua script run through
// redis.Script (EVALSHA, falling back to EVAL), so it is atomic however many
// instances call it at once; nothing is read and then written from Go. Every
// method is one such step, except those that must touch keys of several
// hash slots (see Redis Cluster), which take their steps in an order that
// keeps the contract: CreateSession indexes a session before it stores it,
// and RevokeSessions deletes each session in one script that checks it
// still holds what was read. Every key is written with a millisecond expiry
// (PX or PEXPIRE); a TTL below store.MinTTL is clamped up to it, and a TTL
// that is not a whole number of milliseconds is rounded up, so no key lives
// forever. Durations read back from Redis (PTTL) are whole milliseconds, and
// a key in its last millisecond reports 1 ms, never 0. Token buckets and
// session indexes take the time from Redis (TIME inside the script), so the
// instances' clocks do not matter. Redis 5.0 or newer is required (scripts
// are replicated by their effects).
//
// # Keys
//
// With the default prefix "otpguard:", S the subject (for example
// "phone:+5511987654321"), I the integration's ID and K a caller's key (for
// example "sends:customer:42"):
//
//	key                          type    TTL                                 written by
//	otpguard:{S}:code:I          hash    the code's ttl                      PutCode (AttemptCode increments; ConsumeCode deletes)
//	otpguard:{S}:fails:I         string  Pair.Window, from its 1st count     AttemptCode (Fail's pair lock, Succeed and Unlock delete it)
//	otpguard:{S}:lock:I          string  max(Pair.LockFor, window rest)      Fail, when the pair's count has reached Pair.Limit (Unlock deletes it)
//	otpguard:{S}:cfails          string  Customer.Window, from each count    AttemptCode (Fail's customer lock, Succeed and Unlock delete it)
//	otpguard:{S}:clock           string  Customer.LockFor                    Fail, when the customer's count has reached Customer.Limit (Unlock deletes it)
//	otpguard:{S}:pairs           set     the latest of its pairs' records    AttemptCode and Fail, when they write those (Unlock removes)
//	otpguard:{K}:cool            string  d                                   Cooldown
//	otpguard:{K}:hits            string  window, from its 1st event          Hit (Refund decrements; Peek reads)
//	otpguard:session:{H}         string  the session's ttl                   CreateSession (RevokeSession, RevokeSessions delete)
//	otpguard:session:{H}:used    hash    the session's remaining time        UseSession (CreateSession, RevokeSession, RevokeSessions delete)
//	otpguard:{c:C}:sessions      zset    its latest session's ttl + timeout  CreateSession (RevokeSessions removes)
//	otpguard:{i:I}:sessions      zset    its latest session's ttl + timeout  CreateSession (RevokeSessions removes)
//	otpguard:{bucket:K}          string  until the bucket is full            Take
//	otpguard:{bucket:K}:fixed    string  1 day after its last use            Take, for a bucket that never refills
//
// The :code:I, :fails:I and :lock:I keys are the pair's (store.Pair{I, S});
// :cfails and :clock are the customer's, shared by all of S's pairs; :pairs
// lists (raw) the integrations whose :fails or :lock keys may exist, so
// that Status and Unlock find them in one script. H is the session token's
// hash (store.HashToken), C a customer ID (Session.CustomerID). The code
// hash has the fields id, mac (raw bytes), in (integration), pu (purpose),
// ch (channel), at (attempts) and ex (ExpiresAt, RFC 3339 with
// nanoseconds). A failure count or a Hit window holds its count as a decimal
// integer; a lock holds "1" and is its PTTL. A session is a compact binary
// encoding of store.Session: format byte 3, then Integration, CustomerID,
// the number of scopes (a uvarint) and each scope, VerifiedAt and ExpiresAt
// (time.MarshalBinary) and MAC, each as a uvarint length and its bytes, so
// that GetSession is one GET and decodes without reflection. Decoding is
// strict: a record of another format (1 and 2, written by earlier
// versions, included), cut short or with bytes left over is refused as
// corrupt. The MAC is kept as given and read back as stored; the store does
// not check it, its callers do (store.Sealed). A
// session's :used hash has one field per action UseSession marked. A
// session index holds the token hashes (raw) of a customer's or an
// integration's sessions, scored by their expiry in milliseconds of Redis
// time plus the operation timeout (the session is written after its index
// entries, within that timeout, so neither the entry nor the index ends
// before the session); indexing a session drops the entries whose time has
// passed, so an
// index that never expires (an integration always has a live session) stays
// near its live size. Entries of sessions revoked one by one, or replaced
// under the same hash, stay until their time has passed: RevokeSessions and
// CountSessions check each entry's session. A bucket holds its theoretical
// arrival time in microseconds of Redis time (GCRA); a bucket that never
// refills (r <= 0) holds the number of tokens taken.
//
// S, I, C, K and H are escaped (see Redis Cluster), so that no subject,
// integration, customer or key, whatever it holds (':', '{', '}', '%', or
// nothing), can name another record: within one hash tag every kind of
// record has its own suffix, an integration is the last part of its key,
// and a customer's index and an integration's differ in their tags' "c:"
// and "i:".
//
// # Redis Cluster
//
// Every key of one subject, its pairs' keys included, carries the hash tag
// {S}, so all of them live in one slot, and the multi-key scripts behind
// AttemptCode (a pair's code, count and lock, and the customer's count,
// lock and pairs), Fail (the counts, locks and pairs), Locked (the locks),
// Status and Unlock (the customer's keys and pairs, and the keys of every
// pair listed, which the scripts name from the set, escaping as Go does),
// and the two-key DEL of Succeed, run on Redis Cluster. A session and its
// :used marks share the slot of {H}, so UseSession and RevokeSession are
// one script each. A session's indexes are in the slots of {c:C} and
// {i:I}, apart from the session: CreateSession writes the customer's index,
// then the integration's, then the session, one script each, and stores no
// session when an index write fails (an index entry whose session write
// failed points at nothing). RevokeSessions and CountSessions walk an index
// a page at a time (ZSCAN), read the page's sessions in one pipeline of
// GETs, and RevokeSessions deletes each session and its marks in one
// script per session, in its slot, pipelined. Cooldown, Hit, Peek, Refund
// and Take touch one key each, tagged with the whole caller's key, so those
// keys spread over the slots as the caller's keys do. Inside a hash tag,
// and in an integration ID, the characters '{', '}' and '%' are written as
// %7B, %7D and %25, and an empty string as a lone '%', so that any subject
// makes a valid, distinct tag. The prefix may not contain '{' or '}'.
//
// # Timeouts
//
// Every call runs under a deadline of the operation timeout (WithTimeout,
// 500 ms by default) on top of the caller's context; RevokeSessions and
// CountSessions, whose work grows with the index they walk, give each of
// their round trips its own. go-redis honours
// context deadlines only when the client is built with
// ContextTimeoutEnabled, so New refuses a *redis.Client, *redis.ClusterClient
// or *redis.Ring without it. An unreachable Redis therefore makes guarded
// actions fail closed within the operation timeout; the client reconnects on
// its own when Redis returns, and the same Store works again.
//
// # Durability
//
// The counts and locks kept here are all that stands between a guesser and
// a fresh budget, so Redis must keep them until they expire. Two settings
// decide that:
//
//   - maxmemory-policy must be noeviction. Under any other policy a Redis
//     that reaches maxmemory deletes keys before their expiry, and every key
//     of this store has an expiry, so even the volatile-* policies reach all
//     of them: an evicted count or lock hands out a fresh guess budget, an
//     evicted use mark lets a single-use session be used again. Under
//     noeviction a full Redis refuses writes instead, and callers fail
//     closed. CheckDurability checks the setting, on every master of a
//     cluster; a replica that may be promoted should have it too.
//   - Persistence. Without the append-only file (appendonly no), a Redis
//     that restarts comes back empty, or as its last RDB snapshot was: every
//     lock, failure count, send window, cooldown, bucket, code consumption
//     and session use mark written since is lost, so a restart gives every
//     customer a fresh guess budget and every code and session back its
//     unused state (sessions and codes written since are lost too, which
//     only refuses them). With appendonly yes and appendfsync everysec a
//     crash loses about the last second of writes; appendfsync always loses
//     none, at the cost of a disk sync per write. CheckDurability does not
//     check persistence: a deployment may accept the loss (or replicate, see
//     Replication), but should know it.
//
// # Replication
//
// Redis replicates asynchronously: when a master fails and a replica takes
// over (Sentinel, Cluster), writes the master acknowledged but had not yet
// sent are lost, with the same effect as a restart without AOF for those
// writes. WithMinReplicas(n) narrows that window for the writes that
// enforce a limit or a single use: each is followed, in one pipeline on the
// same connection (on a *redis.ClusterClient the master of the key's slot,
// on a *redis.Ring the key's shard), by WAIT n t, t being what is left of
// the operation timeout (bounded by the client's ReadTimeout) less a tenth
// and less 100 ms: Redis answers a WAIT that timed out at its next cron
// tick, up to 1000/hz ms late (100 ms at the default hz 10), and the
// answer must come before the client gives up. (An operation timeout of
// 500 ms leaves WAIT 350 ms; one of 110 ms or less leaves it 1 ms, and a
// refusal then ends with the deadline rather than with ErrReplicas, an
// error all the same.) When fewer than n replicas acknowledge the
// write within t, or WAIT fails, the call returns an error wrapping
// ErrReplicas and its result is discarded; the write stays on the master,
// and the caller refuses.
//
// The methods that wait are AttemptCode (the attempt and the budgets it
// charges), ConsumeCode, Fail (locks), UseSession, RevokeSession,
// RevokeSessions (after each server's page of deletions), Unlock (an
// operator's action, which should not be undone by a failover), Hit (send
// windows, the breaker), Cooldown and Take (rate limits): every call of
// them waits, a refusal included, except the calls that write nothing by
// their arguments (a Cooldown of d <= 0, a Take with rate.Inf or burst <
// 1). Writes whose loss can only make a limit stricter or a record absent
// do not wait: PutCode (a lost code is refused), Succeed (a lost reset
// leaves counts that lock sooner, never later), Refund (a lost refund
// keeps the event counted) and CreateSession (a lost session is refused).
// On a *redis.ClusterClient or *redis.Ring, CreateSession's two index
// writes do wait: they are on other servers than the session, and a
// session whose index entry was lost would escape RevokeSessions. On one
// server they need not: they precede the session in its replication
// stream, so a replica that has the session has them.
//
// WAIT is not consensus. Sentinel (after replica-priority) and Cluster
// prefer, among the replicas they can reach, the one furthest ahead, so a
// write that n replicas acknowledged usually survives the loss of the
// master; it is lost when those n replicas are lost too, or when another
// replica is promoted (one of a better replica-priority, or the only one
// reachable). There is no guarantee beyond that: set min-replicas-to-write
// on the master too if writes must stop when replicas are gone. The cost: each waiting call lasts until the
// replicas have its write, about one more round trip from master to
// replica (BenchmarkVerifyWait measures a verification's calls with and
// without), and holds its connection meanwhile. When fewer than n replicas
// are connected and keeping up, every waiting call fails after the
// operation timeout: guarded actions are refused until enough replicas
// are back, so n should be below the number of replicas when the loss of
// one must not stop verifications.
//
// # Errors
//
// Absence is normal and returns found false with a nil error. Any other
// failure is returned wrapped as "redisstore: <operation>: <cause>", so
// errors.Is sees the cause (context.DeadlineExceeded, redis.ErrClosed,
// ErrReplicas, ...).
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
	client      redis.UniversalClient
	prefix      string
	timeout     time.Duration
	minReplicas int  // WAIT for this many replicas after security writes; 0 is off
	waitIndexes bool // WAIT also after session index writes (sharded clients)
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

// WithMinReplicas makes every write that enforces a limit or a single use
// wait until at least n replicas have acknowledged it (WAIT n on the
// connection of the write, with the rest of the operation timeout), and
// fail with an error wrapping ErrReplicas when fewer do; callers then
// refuse (fail closed), and the write's result is discarded though the
// master keeps it. The default, 0, waits for none. n must not be negative.
// It needs a *redis.Client (a Sentinel failover client is one), a
// *redis.ClusterClient or a *redis.Ring. See Replication in the package
// documentation for the writes it covers, what it guarantees and its cost.
func WithMinReplicas(n int) Option {
	return func(s *Store) { s.minReplicas = n }
}

// New returns a Store on client. The client stays the caller's: the Store
// never closes it. New returns an error when client is nil, when an option is
// invalid, or when client is a *redis.Client, *redis.ClusterClient or
// *redis.Ring built without ContextTimeoutEnabled (go-redis would then ignore
// the operation timeout). New does not contact Redis; see CheckDurability
// for a check of its settings.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	if err := CheckClient(client); err != nil {
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
	if s.minReplicas < 0 {
		return nil, fmt.Errorf("redisstore: new: min replicas %d is negative", s.minReplicas)
	}
	if s.minReplicas > 0 {
		if err := needsNodes(client); err != nil {
			return nil, fmt.Errorf("redisstore: new: %w", err)
		}
		s.waitIndexes = sharded(client)
	}
	return s, nil
}

// CheckClient returns an error for a nil client and for a client known to
// ignore context deadlines (whose options lack ContextTimeoutEnabled), with
// which a call to an unreachable server would wait past the caller's
// deadline. New refuses such a client; code that keeps its own data beside
// the store's, on the same client, can check it alike.
func CheckClient(client redis.UniversalClient) error {
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

// Key kinds. A pair's kinds are followed by ":" and the escaped integration;
// the others end the key. No kind is a prefix of another followed by ':'.
const (
	kindCode          = "code"     // a pair's code (hash)
	kindFails         = "fails"    // a pair's failure count
	kindLock          = "lock"     // a pair's lock
	kindCustomerFails = "cfails"   // a customer's consecutive failure count
	kindCustomerLock  = "clock"    // a customer's lock
	kindPairs         = "pairs"    // a subject's pairs that have a count or lock
	kindCool          = "cool"     // a caller key's cooldown
	kindHits          = "hits"     // a caller key's Hit window
	kindSessions      = "sessions" // a customer's or an integration's session index
)

// tag returns s escaped for use inside a hash tag, or as the integration
// part of a key: '%', '{' and '}' become %25, %7B and %7D, and "" becomes
// "%". The mapping is injective and its result is never empty and holds no
// brace.
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

// taggedKey returns the key of one kind of record under the hash tag of
// name (a subject or a caller's key).
func (s *Store) taggedKey(name, kind string) string {
	return s.prefix + "{" + tag(name) + "}:" + kind
}

// pairKeys are the keys of one pair and of its subject.
type pairKeys struct {
	code, fails, lock    string // the pair's
	cfails, clock, pairs string // the subject's
}

// keysOf returns the keys of p and of its subject, all under the hash tag of
// p.Subject.
func (s *Store) keysOf(p store.Pair) pairKeys {
	base := s.prefix + "{" + tag(p.Subject) + "}:"
	in := ":" + tag(p.Integration)
	return pairKeys{
		code:   base + kindCode + in,
		fails:  base + kindFails + in,
		lock:   base + kindLock + in,
		cfails: base + kindCustomerFails,
		clock:  base + kindCustomerLock,
		pairs:  base + kindPairs,
	}
}

// subjectKeys are the keys Status and Unlock read or write for a subject:
// the customer's lock and count, the set of its pairs, and the beginnings
// of its pairs' lock and count keys, to which the scripts append an
// integration escaped as tag does.
type subjectKeys struct {
	clock, cfails, pairs string
	lockBase, failsBase  string
}

// subjectKeysOf returns the keys of subject, under its hash tag.
func (s *Store) subjectKeysOf(subject string) subjectKeys {
	base := s.prefix + "{" + tag(subject) + "}:"
	return subjectKeys{
		clock:     base + kindCustomerLock,
		cfails:    base + kindCustomerFails,
		pairs:     base + kindPairs,
		lockBase:  base + kindLock + ":",
		failsBase: base + kindFails + ":",
	}
}

// sessionKey returns the key of the session stored under tokenHash.
func (s *Store) sessionKey(tokenHash string) string {
	return s.prefix + "session:{" + tag(tokenHash) + "}"
}

// usedKey returns the key of the use marks of the session stored under
// tokenHash, in the session's hash slot.
func (s *Store) usedKey(tokenHash string) string {
	return s.sessionKey(tokenHash) + ":used"
}

// sessionIndexKey returns the key of the session index of the customer
// (store.ScopeCustomer) or the integration (store.ScopeIntegration) id, or an
// error for another scope.
func (s *Store) sessionIndexKey(scope store.LockScope, id string) (string, error) {
	switch scope {
	case store.ScopeCustomer:
		return s.prefix + "{c:" + tag(id) + "}:" + kindSessions, nil
	case store.ScopeIntegration:
		return s.prefix + "{i:" + tag(id) + "}:" + kindSessions, nil
	}
	return "", fmt.Errorf("scope %v: want %v or %v", scope, store.ScopeCustomer, store.ScopeIntegration)
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

// Lock scopes as the scripts reply them.
const (
	replyPair     = 1
	replyCustomer = 2
)

// decodeLock turns a script's {scope, ms} reply into a Lock; {0, 0} is the
// zero Lock.
func decodeLock(v []any) (store.Lock, error) {
	if len(v) != 2 {
		return store.Lock{}, fmt.Errorf("unexpected lock reply of %d elements", len(v))
	}
	scope, ok1 := v[0].(int64)
	n, ok2 := v[1].(int64)
	if !ok1 || !ok2 {
		return store.Lock{}, fmt.Errorf("unexpected lock reply %T, %T", v[0], v[1])
	}
	switch scope {
	case 0:
		return store.Lock{}, nil
	case replyPair:
		return store.Lock{Scope: store.ScopePair, Remaining: msDuration(n)}, nil
	case replyCustomer:
		return store.Lock{Scope: store.ScopeCustomer, Remaining: msDuration(n)}, nil
	}
	return store.Lock{}, fmt.Errorf("unexpected lock scope %d", scope)
}

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

// PutCode stores c as the pair's code, replacing any earlier code of the
// same pair (never another pair's), with expiry ttl. It is one script: DEL,
// HSET, PEXPIRE. It touches no failure count.
func (s *Store) PutCode(ctx context.Context, p store.Pair, c store.Code, ttl time.Duration) error {
	exp, err := c.ExpiresAt.MarshalText()
	if err != nil {
		return fmt.Errorf("redisstore: put code: expiry: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	keys := []string{s.keysOf(p).code}
	err = putCodeScript.Run(ctx, s.client, keys,
		ms(ttl), c.ID, c.MAC, c.Integration, c.Purpose, c.Channel, c.Attempts, exp).Err()
	if err != nil {
		return fmt.Errorf("redisstore: put code: %w", err)
	}
	return nil
}

// notePairLua lists the pair's integration, ARGV[n], in the subject's set of
// pairs, KEYS[k], and makes the set live at least ttl ms: every script that
// starts a pair's count window or sets its lock calls it, so that Status and
// Unlock find the pair.
const notePairLua = `
local function notePair(k, n, ttl)
  redis.call('SADD', KEYS[k], ARGV[n])
  if redis.call('PTTL', KEYS[k]) < ttl then redis.call('PEXPIRE', KEYS[k], ttl) end
end
`

// attemptCodeScript: KEYS code, fails, lock (the pair's), cfails, clock,
// pairs (the customer's); ARGV maxAttempts, pair limit, pair window ms,
// customer limit, customer window ms, customer lockFor ms, integration.
// Returns {scope, ms} when the attempt is refused (scope 1 pair, 2
// customer), 0 when the pair has no code, else the code's fields as HMGET
// returns them, after the attempt was counted. Whenever it starts the
// pair's window it lists the pair in pairs.
var attemptCodeScript = redis.NewScript(notePairLua + `
local p = redis.call('PTTL', KEYS[5])
if p ~= -2 then
  if p < 1 then p = 1 end
  return {2, p}
end
p = redis.call('PTTL', KEYS[3])
if p ~= -2 then
  if p < 1 then p = 1 end
  return {1, p}
end
if tonumber(redis.call('GET', KEYS[4]) or '0') >= tonumber(ARGV[4]) then
  return {2, tonumber(ARGV[6])}
end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[2]) then
  local w = redis.call('PTTL', KEYS[2])
  if w == -2 then
    redis.call('SET', KEYS[2], '0', 'PX', ARGV[3])
    w = tonumber(ARGV[3])
    notePair(6, 7, w)
  elseif w == -1 then
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
    w = tonumber(ARGV[3])
    notePair(6, 7, w)
  elseif w < 1 then
    w = 1
  end
  return {1, w}
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[1], 'at', 1) <= tonumber(ARGV[1]) then
  redis.call('INCR', KEYS[2])
  if redis.call('PTTL', KEYS[2]) == -1 then
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
    notePair(6, 7, tonumber(ARGV[3]))
  end
  redis.call('INCR', KEYS[4])
  redis.call('PEXPIRE', KEYS[4], ARGV[5])
end
return redis.call('HMGET', KEYS[1], 'id', 'mac', 'in', 'pu', 'ch', 'at', 'ex')
`)

// AttemptCode counts one verification attempt on the pair's code and
// charges the pair's and the customer's failure budgets, in one script, so
// that no number of concurrent calls on any number of instances gets past
// any limit. The script follows the steps of store.Codes:
//
//  1. the PTTL of the customer's lock, then of the pair's: locked, it
//     returns that lock;
//  2. the customer's count: at b.Customer.Limit it returns a customer lock
//     of b.Customer.LockFor; then the pair's count: at b.Pair.Limit it
//     returns a pair lock of the count's PTTL (with no window running, as
//     when the limit is below 1, it starts an empty one of b.Pair.Window);
//  3. EXISTS on the code: without one it returns Found false;
//  4. HINCRBY of the code's attempts: past b.MaxAttempts (burned) it
//     returns the record and charges nothing;
//  5. INCR of the pair's count, which gets the expiry b.Pair.Window when it
//     has none (a fixed window from the first count), and INCR of the
//     customer's, whose expiry is set to b.Customer.Window on every count;
//     then it returns the record.
//
// Whenever it starts a pair's window (steps 2 and 5) it adds the
// integration to the subject's set of pairs, for Status and Unlock. It
// never changes the code's expiry.
// With WithMinReplicas it waits for the replicas (see Replication).
func (s *Store) AttemptCode(ctx context.Context, p store.Pair, b store.Budgets) (store.Attempt, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	k := s.keysOf(p)
	keys := []string{k.code, k.fails, k.lock, k.cfails, k.clock, k.pairs}
	res, err := s.write(ctx, attemptCodeScript, keys,
		b.MaxAttempts, b.Pair.Limit, ms(b.Pair.Window), b.Customer.Limit, ms(b.Customer.Window), ms(b.Customer.LockFor), p.Integration).Result()
	if err != nil {
		return store.Attempt{}, fmt.Errorf("redisstore: attempt code: %w", err)
	}
	switch v := res.(type) {
	case int64:
		if v == 0 {
			return store.Attempt{}, nil
		}
	case []any:
		if len(v) == 2 {
			l, err := decodeLock(v)
			if err != nil {
				return store.Attempt{}, fmt.Errorf("redisstore: attempt code: %w", err)
			}
			return store.Attempt{Lock: l}, nil
		}
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

// ConsumeCode deletes the pair's code only if its ID equals id, in one
// script (HGET, compare, DEL), and reports whether it deleted it.
// With WithMinReplicas it waits for the replicas (see Replication).
func (s *Store) ConsumeCode(ctx context.Context, p store.Pair, id string) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := s.write(ctx, consumeCodeScript, []string{s.keysOf(p).code}, id).Int64()
	if err != nil {
		return false, fmt.Errorf("redisstore: consume code: %w", err)
	}
	return n == 1, nil
}

// failScript: KEYS fails, lock (the pair's), cfails, clock, pairs (the
// customer's); ARGV pair limit, pair lockFor ms, customer limit, customer
// lockFor ms, integration. Returns {scope, ms, set} of the lock in force
// afterwards (the customer's first), with set 1 when the script set it (and
// ms the duration it set), else {0, 0, 0}. A lock in force is left as it
// is, and so is its count. A pair it locks is listed in pairs.
var failScript = redis.NewScript(notePairLua + `
local pairSet, customerSet = 0, 0
if redis.call('EXISTS', KEYS[2]) == 0 and tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then
  local t = tonumber(ARGV[2])
  local w = redis.call('PTTL', KEYS[1])
  if w > t then t = w end
  redis.call('SET', KEYS[2], '1', 'PX', t)
  redis.call('DEL', KEYS[1])
  notePair(5, 5, t)
  pairSet = t
end
if redis.call('EXISTS', KEYS[4]) == 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[3]) then
  customerSet = tonumber(ARGV[4])
  redis.call('SET', KEYS[4], '1', 'PX', customerSet)
  redis.call('DEL', KEYS[3])
end
if customerSet > 0 then return {2, customerSet, 1} end
local p = redis.call('PTTL', KEYS[4])
if p ~= -2 then
  if p < 1 then p = 1 end
  return {2, p, 0}
end
if pairSet > 0 then return {1, pairSet, 1} end
p = redis.call('PTTL', KEYS[2])
if p ~= -2 then
  if p < 1 then p = 1 end
  return {1, p, 0}
end
return {0, 0, 0}
`)

// Fail is called after a wrong code that AttemptCode charged; it counts
// nothing itself. In one script: unless the pair is locked, when the pair's
// count has reached b.Pair.Limit it sets the pair's lock for b.Pair.LockFor
// or the count's PTTL (the rest of its window), whichever is longer, and
// deletes the count; unless the customer is locked, when the customer's
// count has reached b.Customer.Limit it sets the customer's lock for
// b.Customer.LockFor and deletes that count. A limit below 1 is always
// reached; a lock in force is never extended nor shortened. It returns the
// lock in force afterwards (the customer's first, else the pair's, else the
// zero Lock), with Set when this call set it. Lock durations are clamped to
// store.MinTTL and rounded up to the millisecond. A pair it locks is added
// to the subject's set of pairs, for Status and Unlock.
// With WithMinReplicas it waits for the replicas (see Replication).
func (s *Store) Fail(ctx context.Context, p store.Pair, b store.Budgets) (store.Lock, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	k := s.keysOf(p)
	keys := []string{k.fails, k.lock, k.cfails, k.clock, k.pairs}
	v, err := s.write(ctx, failScript, keys,
		b.Pair.Limit, ms(b.Pair.LockFor), b.Customer.Limit, ms(b.Customer.LockFor), p.Integration).Slice()
	if err != nil {
		return store.Lock{}, fmt.Errorf("redisstore: fail: %w", err)
	}
	if len(v) != 3 {
		return store.Lock{}, fmt.Errorf("redisstore: fail: unexpected reply %v", v)
	}
	l, err := decodeLock(v[:2])
	if err != nil {
		return store.Lock{}, fmt.Errorf("redisstore: fail: %w", err)
	}
	l.Set = v[2] == int64(1)
	return l, nil
}

// lockedScript: KEYS lock (the pair's), clock (the customer's). Returns
// {scope, ms} of the lock in force, the customer's first, else {0, 0}.
var lockedScript = redis.NewScript(`
local p = redis.call('PTTL', KEYS[2])
if p ~= -2 then
  if p < 1 then p = 1 end
  return {2, p}
end
p = redis.call('PTTL', KEYS[1])
if p ~= -2 then
  if p < 1 then p = 1 end
  return {1, p}
end
return {0, 0}
`)

// Locked returns the lock in force on the pair, in one script that reads
// the PTTL of the customer's lock and then of the pair's: the customer's
// lock when there is one, else the pair's, else the zero Lock. It changes
// nothing.
func (s *Store) Locked(ctx context.Context, p store.Pair) (store.Lock, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	k := s.keysOf(p)
	v, err := lockedScript.Run(ctx, s.client, []string{k.lock, k.clock}).Slice()
	if err != nil {
		return store.Lock{}, fmt.Errorf("redisstore: locked: %w", err)
	}
	l, err := decodeLock(v)
	if err != nil {
		return store.Lock{}, fmt.Errorf("redisstore: locked: %w", err)
	}
	return l, nil
}

// Succeed forgets the pair's and the customer's failure counts after a right
// code: one DEL of both keys, which share a slot. It lifts no lock and
// touches no other pair's count.
// It does not wait for replicas (see Replication): a lost reset only
// leaves counts that lock sooner.
func (s *Store) Succeed(ctx context.Context, p store.Pair) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	k := s.keysOf(p)
	if err := s.client.Del(ctx, k.fails, k.cfails).Err(); err != nil {
		return fmt.Errorf("redisstore: succeed: %w", err)
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

// Cooldown starts a cooldown of d under key unless one is running, in one
// script (SET NX PX, else PTTL). A d of zero or less always allows and
// touches nothing.
// With WithMinReplicas it waits for the replicas (see Replication).
func (s *Store) Cooldown(ctx context.Context, key string, d time.Duration) (bool, time.Duration, error) {
	if d <= 0 {
		return true, 0, nil
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := s.write(ctx, cooldownScript, []string{s.taggedKey(key, kindCool)}, ms(d)).Int64()
	if err != nil {
		return false, 0, fmt.Errorf("redisstore: cooldown: %w", err)
	}
	if n == 0 {
		return true, 0, nil
	}
	return false, msDuration(n), nil
}

// hitScript: KEYS hits; ARGV limit, window ms. Returns {1, left} when the
// event was counted, else {0, ms until the window ends}. The count's key
// gets the expiry window when it has none, so the window starts with its
// first event and a count that Refund brought back to 0 keeps its window.
// With limit < 1 nothing is ever counted, but the first refusal still starts
// a window (count 0), so that RetryAfter runs down as it does in the memory
// store.
var hitScript = redis.NewScript(`
local limit = tonumber(ARGV[1])
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < limit then
  n = redis.call('INCR', KEYS[1])
  if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return {1, limit - n}
end
local p = redis.call('PTTL', KEYS[1])
if p == -2 then
  redis.call('SET', KEYS[1], '0', 'PX', ARGV[2])
  p = tonumber(ARGV[2])
elseif p == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  p = tonumber(ARGV[2])
elseif p < 1 then
  p = 1
end
return {0, p}
`)

// Hit counts one event under key in a fixed window that starts with the
// window's first event and lasts window (clamped to store.MinTTL and rounded
// up to the millisecond), in one script. When limit events are already
// counted (limit < 1 refuses every event) it refuses, counts nothing, and
// reports the time until the window ends; otherwise Left is what the window
// allows after this event.
// With WithMinReplicas it waits for the replicas (see Replication).
func (s *Store) Hit(ctx context.Context, key string, limit int, window time.Duration) (store.Window, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	v, err := s.write(ctx, hitScript, []string{s.taggedKey(key, kindHits)}, limit, ms(window)).Slice()
	if err != nil {
		return store.Window{}, fmt.Errorf("redisstore: hit: %w", err)
	}
	w, err := decodeWindow(v)
	if err != nil {
		return store.Window{}, fmt.Errorf("redisstore: hit: %w", err)
	}
	return w, nil
}

// peekScript: KEYS hits; ARGV limit. Returns what hitScript would: {1, left
// now} when an event would be counted, else {0, ms until the window ends};
// {0, 0} when limit < 1 and no window is running. It writes nothing.
var peekScript = redis.NewScript(`
local limit = tonumber(ARGV[1])
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < limit then return {1, limit - n} end
local p = redis.call('PTTL', KEYS[1])
if p == -2 then return {0, 0} end
if p < 1 then p = 1 end
return {0, p}
`)

// Peek reports what Hit would do now under key, without counting, in one
// read-only script (GET, then PTTL when refused). When it would be allowed,
// Left is what the window allows now. When refused, RetryAfter is the time
// until the window ends; with limit < 1 and no window running (Hit would
// start one of its window, which Peek is not told) it is 0.
func (s *Store) Peek(ctx context.Context, key string, limit int) (store.Window, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	v, err := peekScript.Run(ctx, s.client, []string{s.taggedKey(key, kindHits)}, limit).Slice()
	if err != nil {
		return store.Window{}, fmt.Errorf("redisstore: peek: %w", err)
	}
	w, err := decodeWindow(v)
	if err != nil {
		return store.Window{}, fmt.Errorf("redisstore: peek: %w", err)
	}
	return w, nil
}

// decodeWindow turns a {allowed, left or ms} reply into a Window.
func decodeWindow(v []any) (store.Window, error) {
	if len(v) != 2 {
		return store.Window{}, fmt.Errorf("unexpected window reply of %d elements", len(v))
	}
	ok, ok1 := v[0].(int64)
	n, ok2 := v[1].(int64)
	if !ok1 || !ok2 {
		return store.Window{}, fmt.Errorf("unexpected window reply %T, %T", v[0], v[1])
	}
	if ok == 1 {
		return store.Window{Allowed: true, Left: int(n)}, nil
	}
	return store.Window{RetryAfter: msDuration(n)}, nil
}

// refundScript: KEYS hits. Takes one from a positive count; DECR keeps the
// window's expiry. Returns the count before.
var refundScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return n
`)

// Refund takes back one event Hit counted under key in the window running
// now, in one script (GET, then DECR when positive); without a running
// window or a counted event it does nothing. The window keeps its end.
func (s *Store) Refund(ctx context.Context, key string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := refundScript.Run(ctx, s.client, []string{s.taggedKey(key, kindHits)}).Err(); err != nil {
		return fmt.Errorf("redisstore: refund: %w", err)
	}
	return nil
}

// takeScript is GCRA, the token bucket kept as one number. KEYS bucket; ARGV
// interval (µs per token), tolerance (burst × interval, µs). The bucket key
// holds the theoretical arrival time (TAT) in µs of Redis time and lives
// until the bucket is full again, at least 1 ms (an interval below the
// precision of a double at now, a rate over a few million per second, adds
// nothing to the TAT). Returns 0 when a token was taken, else the µs until
// one is available.
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
local px = math.ceil((nt - now) / 1000)
if px < 1 then px = 1 end
redis.call('SET', KEYS[1], string.format('%.0f', nt), 'PX', string.format('%.0f', px))
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
// With WithMinReplicas it waits for the replicas (see Replication).
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
		n, err := s.write(ctx, takeFixedScript, []string{s.bucketKey(key) + ":fixed"}, burst, ms(fixedBucketIdle)).Int64()
		if err != nil {
			return false, 0, fmt.Errorf("redisstore: take: %w", err)
		}
		if n == 0 {
			return true, 0, nil
		}
		return false, rate.InfDuration, nil
	}
	n, err := s.write(ctx, takeScript, []string{s.bucketKey(key)},
		strconv.FormatFloat(interval, 'f', -1, 64), strconv.FormatFloat(tolerance, 'f', -1, 64)).Int64()
	if err != nil {
		return false, 0, fmt.Errorf("redisstore: take: %w", err)
	}
	if n == 0 {
		return true, 0, nil
	}
	return false, time.Duration(n) * time.Microsecond, nil
}
