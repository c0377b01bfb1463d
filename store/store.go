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
package store

import (
	"context"
	"crypto/sha256"
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

// sessionDomain separates session MACs from every other use of the keys,
// and versions the encoding of the signed fields.
const sessionDomain = "otpguard/session/v1"

// Seal sets s.MAC to the MAC, under k's signing key, of s's fields bound to
// tokenHash. Stores keep the MAC as they keep the other fields.
func Seal(k *keyring.Keyring, tokenHash string, s *Session) {
	s.MAC = k.Sign(sessionDomain, sessionFields(tokenHash, s)...)
}

// Sealed reports whether s.MAC authenticates s under tokenHash with any of
// k's keys, in constant time for a given key count.
func Sealed(k *keyring.Keyring, tokenHash string, s *Session) bool {
	return k.Verify(sessionDomain, s.MAC, sessionFields(tokenHash, s)...)
}

// sessionFields returns the signed fields of s under tokenHash. The two
// times are one field of Unix seconds and nanoseconds, big-endian (UnixNano
// would wrap every 2^64 ns and sign an expiry and the same expiry 584 years
// later alike). The scopes are counted and signed one field each (joined,
// "a b" and "a", "b" would sign alike).
func sessionFields(tokenHash string, s *Session) []string {
	var times [24]byte
	binary.BigEndian.PutUint64(times[0:], uint64(s.VerifiedAt.Unix()))
	binary.BigEndian.PutUint32(times[8:], uint32(s.VerifiedAt.Nanosecond()))
	binary.BigEndian.PutUint64(times[12:], uint64(s.ExpiresAt.Unix()))
	binary.BigEndian.PutUint32(times[20:], uint32(s.ExpiresAt.Nanosecond()))
	f := make([]string, 0, 5+len(s.Scopes))
	f = append(f, tokenHash, s.Integration, s.CustomerID, string(times[:]), strconv.Itoa(len(s.Scopes)))
	return append(f, s.Scopes...)
}

// HashToken returns the key a session is stored under: the hex-encoded
// SHA-256 of its token. Session tokens carry at least 256 bits from
// crypto/rand, so an unsalted hash is enough to make a store dump useless.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
