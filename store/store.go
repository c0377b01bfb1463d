// Package store defines the records otpguard keeps and the small interfaces
// that keep them.
//
// Every check-and-change is one method, and every implementation must make
// each method atomic: on Redis one command or one Lua script, in memory one
// critical section. Every method takes a context.Context first. Absence is
// normal and is reported as (zero, false, nil); an error is returned only for
// a system failure (a store that cannot be reached, a corrupt record), and
// callers treat such an error as "refuse" (fail closed).
//
// # Time
//
// Durations are time.Duration. A TTL below MinTTL is clamped up to MinTTL, so
// no record is ever written without an expiry and none lives forever.
// Implementations keep at least millisecond precision. Records also carry
// their own absolute expiry (ExpiresAt) set by the caller's clock; callers
// compare it against their clock, so a store's TTL is an upper bound for
// garbage collection, never the only guard.
//
// # Subjects, pairs and keys
//
// A subject is the canonical form of a customer: "customer:<id>" when the
// host's directory knows one, else the identifier ("phone:+5511987654321").
// A Pair is a subject as seen by one integration: each pair has its own
// outstanding code, failure count and lock, so that one partner can neither
// replace nor burn another partner's code, nor lock the customer out for
// another partner. The subject's own records (a customer-wide failure count
// and lock) are shared by its pairs. Implementations that shard (Redis
// Cluster) keep every record of one subject, its pairs' included, on one
// shard, so that a method touching a pair and its subject stays one atomic
// step.
//
// Cooldown, Hit, Peek, Refund and Take take a key chosen by the caller (for
// example "sends:customer:<id>"); each key names one independent record, in
// a key space of its own per method family: a Cooldown and a Hit under the
// same key do not share state.
//
// # Secrets
//
// No record holds a one-time code or a session token: a code is kept only as
// its HMAC (Code.MAC) and a session only under the hash of its token
// (HashToken). A dump of any store reveals neither.
//
// A session token carries its own MAC under the server's keys (SignToken,
// VerifyToken), so that a guard tells a token the server issued from a
// forged or mistyped one before it asks any store; the session record
// carries another (Seal, Sealed), which binds it to the token's hash, so
// that a record written or copied by anyone without the keys is refused.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/keyring"
)

// MinTTL is the smallest expiry a store writes; smaller TTLs are clamped up
// to it.
const MinTTL = time.Millisecond

// ClampTTL returns ttl, or MinTTL when ttl is smaller.
func ClampTTL(ttl time.Duration) time.Duration {
	if ttl < MinTTL {
		return MinTTL
	}
	return ttl
}

// Code is the stored record of one outstanding one-time code.
type Code struct {
	// ID identifies this issue of a code; ConsumeCode deletes a record only
	// when its ID matches, so a stale verification cannot delete a newer code.
	ID string `json:"id"`
	// MAC is the HMAC-SHA-256 of the code, bound to integration, subject and
	// purpose. The code itself is never stored.
	MAC []byte `json:"mac"`
	// Integration is the integration that requested the code.
	Integration string `json:"integration"`
	// Purpose is the purpose the code was requested for ("" for none).
	Purpose string `json:"purpose,omitempty"`
	// Channel is the channel that delivered the code.
	Channel string `json:"channel,omitempty"`
	// Attempts is the number of verification attempts counted so far.
	Attempts int `json:"attempts"`
	// ExpiresAt is when the code stops being accepted.
	ExpiresAt time.Time `json:"expires_at"`
}

// Session is the stored record of an OTP session, kept under the hash of its
// token. It holds only what the guard needs: no identifier, no code, no
// token. MAC binds the record to its token hash under the server's keys
// (see Seal), so a record written or copied by anyone without them is
// refused.
type Session struct {
	// Integration is the integration the session was issued to.
	Integration string `json:"integration"`
	// CustomerID is the customer the session was issued for.
	CustomerID string `json:"customer_id"`
	// Scopes lists the actions the session may authorize; empty means any.
	Scopes []string `json:"scopes,omitempty"`
	// VerifiedAt is when the code was verified and the session created;
	// a policy's max_age is measured from it.
	VerifiedAt time.Time `json:"verified_at"`
	// ExpiresAt is when the session stops being valid.
	ExpiresAt time.Time `json:"expires_at"`
	// MAC authenticates the record and its token hash (see Seal).
	MAC []byte `json:"mac"`
}

// Pair names a customer as seen by one integration.
type Pair struct {
	// Integration is the integration's ID.
	Integration string
	// Subject is the customer's subject (see the package documentation).
	Subject string
}

// Budget is a failure budget: Limit failures are judged per Window, and the
// failure that reaches Limit locks for LockFor.
type Budget struct {
	// Limit is the number of failures allowed; below 1 every attempt is
	// refused and Fail always locks.
	Limit int
	// Window is how long failures are counted (see Budgets for each
	// budget's kind of window).
	Window time.Duration
	// LockFor is how long reaching Limit locks (see Budgets).
	LockFor time.Duration
}

// Budgets are the failure budgets every verification attempt is charged to,
// in one atomic step with the attempt itself.
type Budgets struct {
	// MaxAttempts is the number of attempts one code allows; the attempt
	// after that burns it.
	MaxAttempts int
	// Pair is the budget of the (integration, customer) pair: Limit wrong
	// codes per fixed Window that starts with the first failure; reaching
	// it locks the pair — only the pair — for LockFor or until the window
	// ends, whichever is longer.
	Pair Budget
	// Customer is the customer's budget across integrations: Limit
	// consecutive wrong codes, forgotten after Window without one or after
	// a right code (Succeed); reaching it locks the customer, for every
	// integration, for LockFor.
	Customer Budget
}

// LockScope says what a lock or a refusal applies to.
type LockScope uint8

// Lock scopes, from the narrowest.
const (
	// ScopeNone is the zero LockScope: nothing is locked.
	ScopeNone LockScope = iota
	// ScopePair: one integration's attempts on one customer.
	ScopePair
	// ScopeCustomer: every integration's attempts on one customer.
	ScopeCustomer
	// ScopeIntegration: one integration's attempts on every customer.
	ScopeIntegration
)

// String returns the scope's name as metrics and events use it:
// "integration-customer", "customer", "integration" (or "none").
func (s LockScope) String() string {
	switch s {
	case ScopePair:
		return "integration-customer"
	case ScopeCustomer:
		return "customer"
	case ScopeIntegration:
		return "integration"
	}
	return "none"
}

// Lock is a lock's scope and remaining time; the zero Lock is no lock.
type Lock struct {
	// Scope is what is locked.
	Scope LockScope
	// Remaining is the time until the lock ends; positive when locked.
	Remaining time.Duration
	// Set, in what Fail returns, reports that this call of Fail set the
	// lock; it is false everywhere else.
	Set bool
}

// Locked reports whether l is a lock.
func (l Lock) Locked() bool { return l.Remaining > 0 }

// Status is what Limits.Status reports of one subject.
type Status struct {
	// Customer is the customer-wide lock in force (the zero Lock for none).
	Customer Lock
	// CustomerFailures is the customer's run of consecutive failures.
	CustomerFailures int
	// Pairs are the subject's pairs that have a lock or a failure count,
	// sorted by integration.
	Pairs []PairStatus
}

// PairStatus is one pair's lock and failure count.
type PairStatus struct {
	// Integration is the pair's integration.
	Integration string
	// Lock is the pair's lock in force (the zero Lock for none).
	Lock Lock
	// Failures is the pair's failure count in its window.
	Failures int
}

// Attempt is what AttemptCode did.
type Attempt struct {
	// Code is the pair's code with its new attempt count, when Found.
	Code Code
	// Found reports that the pair has a code and the attempt was counted.
	Found bool
	// Lock, when locked, says the attempt was refused, and nothing
	// counted, because the pair or the customer is locked or its budget is
	// spent; Remaining is the time until that ends.
	Lock Lock
}

// Window is what a fixed-window counter (Hit, Peek) reports.
type Window struct {
	// Allowed reports that the event was counted (Hit), or would be
	// (Peek).
	Allowed bool
	// Left is the number of events the window allows after this one
	// (Hit), or now (Peek); 0 when refused.
	Left int
	// RetryAfter, when refused, is the time until the window ends.
	RetryAfter time.Duration
}

// Codes keeps at most one outstanding code per pair.
type Codes interface {
	// PutCode stores c as the pair's code, replacing any earlier code of
	// the same pair (never another pair's), with expiry ttl.
	PutCode(ctx context.Context, p Pair, c Code, ttl time.Duration) error
	// AttemptCode counts one verification attempt on the pair's code, in
	// one atomic step that also charges the pair's and the customer's
	// failure budgets, so that concurrent guesses can never be judged
	// beyond any of them:
	//
	//  1. if the customer or the pair is locked, it counts nothing and
	//     returns the lock (the customer's when both are);
	//  2. if the customer's count has reached b.Customer.Limit, it counts
	//     nothing and returns a customer lock of b.Customer.LockFor (the
	//     lock the attempt that spent the budget is about to set); if the
	//     pair's failure count in its window has reached b.Pair.Limit, a
	//     pair lock of the time until that window ends;
	//  3. if the pair has no code, it counts nothing and returns Found false;
	//  4. it adds one to the code's Attempts; when that makes Attempts
	//     greater than b.MaxAttempts the code is burned, and it returns the
	//     record without charging either budget;
	//  5. otherwise it adds one to the pair's failure count (a window of
	//     b.Pair.Window starts with the first count) and to the customer's
	//     (kept for b.Customer.Window from this count), and returns the
	//     record.
	//
	// The caller compares the code next, unless Attempts is greater than
	// b.MaxAttempts: a burned code is refused without comparing (its
	// attempts are not charged, so comparing them would give free
	// guesses). A right code clears the counts with Succeed, a wrong one
	// calls Fail.
	AttemptCode(ctx context.Context, p Pair, b Budgets) (Attempt, error)
	// ConsumeCode deletes the pair's code only if its ID equals id, and
	// reports whether it deleted it. Of concurrent calls with the same id at
	// most one reports true.
	ConsumeCode(ctx context.Context, p Pair, id string) (deleted bool, err error)
}

// Sessions keeps OTP sessions under the hash of their token (see HashToken),
// indexed by customer and by integration so that an operator can revoke
// all of one customer's or one integration's sessions.
type Sessions interface {
	// CreateSession stores s under tokenHash with expiry ttl (replacing any
	// session there, and its use marks), and indexes it under s.CustomerID
	// and s.Integration. When it cannot index the
	// session it stores none and returns the error: a session that a
	// revocation could miss is never handed out.
	CreateSession(ctx context.Context, tokenHash string, s Session, ttl time.Duration) error
	// GetSession returns the session stored under tokenHash. found is false
	// when there is none or it has expired.
	GetSession(ctx context.Context, tokenHash string) (s Session, found bool, err error)
	// UseSession marks the live session under tokenHash as used for
	// action, and reports whether this call was the first to do so (first
	// false when the session is gone or was already used for action). Of
	// concurrent calls with the same tokenHash and action, exactly one
	// reports true. The mark lives as long as the session; other actions
	// are not affected.
	UseSession(ctx context.Context, tokenHash, action string) (first bool, err error)
	// RevokeSession deletes the session stored under tokenHash and reports
	// whether there was one.
	RevokeSession(ctx context.Context, tokenHash string) (deleted bool, err error)
	// RevokeSessions deletes every live session of a customer (by
	// Session.CustomerID) or, with ScopeIntegration, of an integration,
	// and returns how many it deleted: only sessions whose CustomerID (or
	// Integration) still equals id count. scope is ScopeCustomer or
	// ScopeIntegration (any other is an error); id is the customer ID or
	// the integration ID. Sessions created while it runs may survive it;
	// with an error, revoked counts the sessions deleted before it.
	RevokeSessions(ctx context.Context, scope LockScope, id string) (revoked int, err error)
	// CountSessions returns the number of live sessions of a customer
	// (ScopeCustomer) or an integration (ScopeIntegration).
	CountSessions(ctx context.Context, scope LockScope, id string) (int, error)
}

// SessionLookup is an optional fast path of Sessions for the guard, which
// checks a session on every guarded request: a store that judges expiry by
// a clock and keeps sessions under their raw digest, in records that never
// change (store/memory), implements it, so that a request reads the clock
// once, encodes no key and copies no session. The guard uses it when its
// store has it, and GetSession otherwise.
type SessionLookup interface {
	// LookupSession reports what GetSession(ctx, hex of digest) would
	// report with the store's clock reading now, and when found returns
	// the stored record itself, which the store never changes.
	LookupSession(ctx context.Context, digest [sha256.Size]byte, now time.Time) (rec SessionRecord, found bool, err error)
}

// SessionRecord is a stored session that a store lends out without copying
// it (see SessionLookup). It never changes, and is safe to keep and to
// read from any goroutine.
type SessionRecord interface {
	// Session returns the session. Its Scopes and MAC share the record's
	// memory: read them, never modify them.
	Session() Session
}

// WithTime returns a copy of ctx that carries t: the caller's one reading of
// the clock for a whole operation made of several store calls (a code's
// verification), so that the operation reads the clock once. A store that
// judges expiries by a clock of its own (store/memory) judges the calls
// made with ctx at t instead of reading that clock; a store whose expiries
// are judged elsewhere (Redis, by its server's clock) ignores it.
func WithTime(ctx context.Context, t time.Time) context.Context {
	return &timeCtx{Context: ctx, t: t}
}

// TimeFrom returns the time ctx carries (see WithTime), if any.
func TimeFrom(ctx context.Context) (time.Time, bool) {
	if c, ok := ctx.Value(timeKey{}).(*timeCtx); ok {
		return c.t, true
	}
	return time.Time{}, false
}

// timeKey is the context key of WithTime.
type timeKey struct{}

// timeCtx is the context of WithTime: one allocation, which answers its
// key itself and delegates everything else.
type timeCtx struct {
	context.Context
	t time.Time
}

func (c *timeCtx) Value(key any) any {
	if _, ok := key.(timeKey); ok {
		return c
	}
	return c.Context.Value(key)
}

func (c *timeCtx) String() string { return "store.WithTime" }

// Limits keeps the counters behind otpguard's limits. Each method is one
// atomic check-and-change. A returned duration is rounded up to the store's
// precision, never down.
type Limits interface {
	// Fail is called after a wrong code that AttemptCode charged; it counts
	// nothing itself. Unless the pair is locked, when the pair's failure
	// count in its window has reached b.Pair.Limit, it locks the pair for
	// b.Pair.LockFor or until the window ends, whichever is longer, and
	// clears the pair's count; unless the customer is locked, when the
	// customer's count has reached b.Customer.Limit, it locks the customer
	// for b.Customer.LockFor and clears the customer's count. A Limit below
	// 1 is always reached; a lock in force is neither extended nor
	// shortened. It returns the lock in force afterwards, as Locked would
	// report it (the zero Lock when there is none), with Set true when this
	// call set that lock.
	Fail(ctx context.Context, p Pair, b Budgets) (Lock, error)
	// Locked returns the lock in force on the pair: the customer's when
	// the customer is locked, else the pair's, else the zero Lock.
	Locked(ctx context.Context, p Pair) (Lock, error)
	// Succeed forgets the pair's and the customer's failure counts, after a
	// right code. It lifts no lock and touches no other pair's count.
	Succeed(ctx context.Context, p Pair) error
	// Status returns the locks in force and the failure counts of subject:
	// the customer's, and every pair's that has a lock or a count, sorted
	// by integration. It changes nothing.
	Status(ctx context.Context, subject string) (Status, error)
	// Unlock lifts the locks and clears the failure counts of subject's
	// pair with integration, or, when integration is "" (integration IDs
	// are never empty), of the customer and every pair of subject, in one
	// atomic step. It leaves codes,
	// cooldowns, send windows and sessions alone.
	Unlock(ctx context.Context, subject, integration string) error
	// Cooldown starts a cooldown of d under key unless one is running.
	// allowed is true when it started one; otherwise retryAfter is the
	// remaining time of the running one. d <= 0 disables the cooldown: the
	// call is allowed and nothing is stored.
	Cooldown(ctx context.Context, key string, d time.Duration) (allowed bool, retryAfter time.Duration, err error)
	// Hit counts one event under key in a fixed window of length window
	// that starts with the window's first event. The event is not counted,
	// and Window.Allowed is false, when limit events were already counted
	// (limit < 1 refuses every event); then RetryAfter is the time until
	// the window ends. Left is what the window allows after this event, so
	// exactly one of concurrent callers sees the event that fills it
	// (Allowed and Left 0).
	Hit(ctx context.Context, key string, limit int, window time.Duration) (Window, error)
	// Peek reports what Hit would do now under key, without counting;
	// RetryAfter is 0 when no window is running.
	Peek(ctx context.Context, key string, limit int) (Window, error)
	// Refund takes back one event Hit counted under key in the window
	// running now (a refund after the window ended takes from the next
	// one); without a running window or a counted event it does nothing.
	// The window's end does not move.
	Refund(ctx context.Context, key string) error
	// Take takes one token from key's token bucket, which refills at r
	// tokens per second up to burst. allowed is false when the bucket is
	// empty; then retryAfter is the time until a token is available, or
	// rate.InfDuration when none ever will be (r <= 0 or burst < 1).
	Take(ctx context.Context, key string, r rate.Limit, burst int) (allowed bool, retryAfter time.Duration, err error)
}

// Store is everything otpguard keeps. store/memory and store/redisstore
// implement it; store/storetest checks any implementation.
type Store interface {
	Codes
	Sessions
	Limits
}

// Domains of session MACs: they separate them from every other use of the
// keys and version the encoding of the signed fields. A session stored
// under a key HashToken made (64 lowercase hex digits) is signed over the
// raw digest, in sessionDomain: the message then takes three SHA-256
// blocks where the hex took four. Any other key (tests use short ones) is
// signed as it is, in sessionStringDomain, so that no key of one form can
// pass for a key of the other.
const (
	sessionDomain       = "session/2"
	sessionStringDomain = "session/2s"
)

// Seal sets s.MAC to the MAC, under k's signing key, of s's fields bound to
// tokenHash. Stores keep the MAC as they keep the other fields. It
// allocates only the MAC's 32 bytes.
func Seal(k *keyring.Keyring, tokenHash string, s *Session) {
	mac := make([]byte, sha256.Size)
	if d, ok := parseDigest(tokenHash); ok {
		k.SignFields(mac, sessionDomain, func(f keyring.Fields) { sessionFields(f, d[:], s) })
	} else {
		k.SignFields(mac, sessionStringDomain, func(f keyring.Fields) { f.String(tokenHash); sessionRest(f, s) })
	}
	s.MAC = mac
}

// Sealed reports whether s.MAC authenticates s under tokenHash with any of
// k's keys, in constant time for a given key count. Only a whole MAC
// (32 bytes) is accepted. It allocates nothing.
func Sealed(k *keyring.Keyring, tokenHash string, s *Session) bool {
	if len(s.MAC) != sha256.Size {
		return false
	}
	if d, ok := parseDigest(tokenHash); ok {
		return SealedDigest(k, &d, s)
	}
	return k.VerifyFields(s.MAC, sessionStringDomain, func(f keyring.Fields) { f.String(tokenHash); sessionRest(f, s) })
}

// SealedDigest is Sealed(k, HashToken of the token, s) for the token's
// digest (TokenDigest, CheckToken), which it needs not hex-encode. It
// allocates nothing.
func SealedDigest(k *keyring.Keyring, digest *[sha256.Size]byte, s *Session) bool {
	if len(s.MAC) != sha256.Size {
		return false
	}
	return k.VerifyFields(s.MAC, sessionDomain, func(f keyring.Fields) { sessionFields(f, digest[:], s) })
}

// sessionFields writes the signed fields of s under the raw digest of its
// token: the digest, then sessionRest. The encoding is that of
// keyring.Sign over those fields.
func sessionFields(f keyring.Fields, digest []byte, s *Session) {
	f.Bytes(digest)
	sessionRest(f, s)
}

// sessionRest writes the fields of s that follow the token's: Integration,
// CustomerID, the two times as one field of Unix seconds and nanoseconds,
// big-endian (UnixNano would wrap every 2^64 ns and sign an expiry and the
// same expiry 584 years later alike), the decimal count of scopes and each
// scope (joined, "a b" and "a", "b" would sign alike).
func sessionRest(f keyring.Fields, s *Session) {
	f.String(s.Integration)
	f.String(s.CustomerID)
	var times [24]byte
	binary.BigEndian.PutUint64(times[0:], uint64(s.VerifiedAt.Unix()))
	binary.BigEndian.PutUint32(times[8:], uint32(s.VerifiedAt.Nanosecond()))
	binary.BigEndian.PutUint64(times[12:], uint64(s.ExpiresAt.Unix()))
	binary.BigEndian.PutUint32(times[20:], uint32(s.ExpiresAt.Nanosecond()))
	f.Bytes(times[:])
	if n := len(s.Scopes); n < len(digits) {
		f.String(digits[n : n+1])
	} else {
		var count [20]byte
		f.Bytes(strconv.AppendInt(count[:0], int64(n), 10))
	}
	for _, scope := range s.Scopes {
		f.String(scope)
	}
}

// digits are the decimal counts of scopes a session usually has.
const digits = "0123456789"

// parseDigest returns the digest key is the lowercase hex of, as HashToken
// makes them, or false.
func parseDigest(key string) (d [sha256.Size]byte, ok bool) {
	if len(key) != 2*sha256.Size {
		return d, false
	}
	for i := range d {
		hi, lo := unhex(key[2*i]), unhex(key[2*i+1])
		if hi|lo > 0xf {
			return d, false
		}
		d[i] = hi<<4 | lo
	}
	return d, true
}

// unhex returns the value of a lowercase hex digit, or 0xff.
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 0xff
}

// HashToken returns the key a session is stored under: the hex-encoded
// SHA-256 of its token (TokenDigest). Session tokens carry at least 256
// bits from crypto/rand, so an unsalted hash is enough to make a store dump
// useless.
func HashToken(token string) string {
	sum := TokenDigest(token)
	var h [2 * sha256.Size]byte // encoded on the stack: one allocation, the string
	hex.Encode(h[:], sum[:])
	return string(h[:])
}

// TokenDigest returns the SHA-256 of token's bytes, the digest HashToken
// hex-encodes: for a session token (TokenLen characters of base64url) the
// 48 bytes it encodes, which fit one SHA-256 block where its 64 characters
// take two; for any other string the string's own bytes. It allocates
// nothing.
func TokenDigest(token string) [sha256.Size]byte {
	var raw [tokenRawBytes]byte
	if decodeToken(token, &raw) {
		sum := sha256.Sum256(raw[:])
		clear(raw[:])
		return sum
	}
	var buf [TokenLen]byte
	if len(token) <= len(buf) {
		return sha256.Sum256(buf[:copy(buf[:], token)])
	}
	return sha256.Sum256([]byte(token))
}

// Session tokens. A token is TokenLen characters of base64url without
// padding (RFC 4648 section 5, alphabet A-Z a-z 0-9 - _): TokenRandomBytes
// bytes from crypto/rand followed by the first 16 bytes of their
// HMAC-SHA-256 under the keyring's signing key, in the domain tokenDomain. A
// server holding the keys tells a token it issued from any other string by
// the MAC alone, without a store lookup; rotating the keys keeps the tokens
// signed by any key still in the ring valid.
const (
	// TokenRandomBytes is the entropy of a session token: 256 bits.
	TokenRandomBytes = 32
	// TokenLen is the length of a session token in characters.
	TokenLen = tokenRawBytes * 4 / 3
	// tokenTagBytes is the length of a token's MAC.
	tokenTagBytes = 16
	// tokenRawBytes is the length of a token's bytes.
	tokenRawBytes = TokenRandomBytes + tokenTagBytes
)

// tokenDomain separates token MACs from every other use of the keys. It is
// short on purpose: with it the message the MAC covers (its length and
// bytes, the random bytes' length and bytes: 8+7+8+32 bytes) fits one
// SHA-256 block inside the HMAC; "otpguard/token/v1" would take two, one
// more compression on every guarded request.
const tokenDomain = "token/1"

// SignToken returns the session token of random under k's signing key. It
// allocates only the token.
func SignToken(k *keyring.Keyring, random *[TokenRandomBytes]byte) string {
	var raw [tokenRawBytes]byte
	copy(raw[:], random[:])
	k.SignFields(raw[TokenRandomBytes:], tokenDomain, func(f keyring.Fields) { f.Bytes(raw[:TokenRandomBytes]) })
	var out [TokenLen]byte
	base64.RawURLEncoding.Encode(out[:], raw[:])
	clear(raw[:])
	return string(out[:])
}

// VerifyToken reports whether token is a session token SignToken made under
// one of k's keys (see CheckToken).
func VerifyToken(k *keyring.Keyring, token string) bool {
	_, ok := CheckToken(k, token)
	return ok
}

// CheckToken reports whether token is a session token SignToken made under
// one of k's keys and, when it is, returns its digest (TokenDigest): the
// guard's check and the key of its session, from one decoding. A string of
// another length or with a character outside base64url is refused before
// any MAC is computed; the MAC is checked under every key, in constant time
// for a given key count. It allocates nothing.
func CheckToken(k *keyring.Keyring, token string) (digest [sha256.Size]byte, ok bool) {
	var raw [tokenRawBytes]byte
	if !decodeToken(token, &raw) {
		return digest, false
	}
	ok = k.VerifyFields(raw[TokenRandomBytes:], tokenDomain, func(f keyring.Fields) { f.Bytes(raw[:TokenRandomBytes]) })
	if ok {
		digest = sha256.Sum256(raw[:])
	}
	clear(raw[:])
	return digest, ok
}

// decodeToken decodes a token of TokenLen characters of base64url into raw,
// and reports whether token was one. TokenLen characters decode to whole
// bytes, with no spare bits: every token has exactly one encoding.
func decodeToken(token string, raw *[tokenRawBytes]byte) bool {
	if len(token) != TokenLen {
		return false
	}
	var enc [TokenLen]byte
	copy(enc[:], token)
	n, err := base64.RawURLEncoding.Decode(raw[:], enc[:])
	return err == nil && n == len(raw)
}
