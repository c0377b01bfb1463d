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
// # Subjects
//
// A subject is the canonical form of a customer identifier (for example
// "phone:+5511987654321"). Codes, failure counters, locks, cooldowns and send
// windows are kept per subject; implementations that shard (Redis Cluster)
// keep every key of one subject on one shard.
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
	"encoding/hex"
	"time"

	"golang.org/x/time/rate"
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
// token.
type Session struct {
	// Integration is the integration the session was issued to.
	Integration string `json:"integration"`
	// CustomerID is the customer the session was issued for.
	CustomerID string `json:"customer_id"`
	// Subject is the canonical identifier that was verified.
	Subject string `json:"subject"`
	// Purpose is the purpose of the code that was verified ("" for none).
	Purpose string `json:"purpose,omitempty"`
	// Scopes lists the actions the session may authorize; empty means any.
	Scopes []string `json:"scopes,omitempty"`
	// ExpiresAt is when the session stops being valid.
	ExpiresAt time.Time `json:"expires_at"`
}

// Attempt is what AttemptCode did.
type Attempt struct {
	// Code is subject's code with its new attempt count, when Found.
	Code Code
	// Found reports that subject has a code and the attempt was counted.
	Found bool
	// Locked, when positive, says the attempt was refused, and nothing
	// counted, because subject is locked or its failure budget is spent;
	// it is the time until that ends.
	Locked time.Duration
}

// Codes keeps at most one outstanding code per subject.
type Codes interface {
	// PutCode stores c as subject's code, replacing any earlier one, with
	// expiry ttl.
	PutCode(ctx context.Context, subject string, c Code, ttl time.Duration) error
	// AttemptCode counts one verification attempt on subject's code, in one
	// atomic step that also charges subject's failure budget, so that
	// concurrent guesses can never be evaluated beyond either limit:
	//
	//  1. if subject is locked, it counts nothing and returns Locked, the
	//     lock's remaining time;
	//  2. if subject's failure count in its current window has reached
	//     budget, it counts nothing and returns Locked, the time until that
	//     window ends;
	//  3. if subject has no code, it counts nothing and returns Found false;
	//  4. it adds one to the code's Attempts; when that makes Attempts
	//     greater than maxAttempts the code is burned, and it returns the
	//     record without charging the budget;
	//  5. otherwise it adds one to subject's failure count (a window of
	//     length window starts with the first count) and returns the record.
	//
	// The caller compares the code next, unless Attempts is greater than
	// maxAttempts: a burned code is refused without comparing (its
	// attempts are not charged, so comparing them would give free guesses).
	// A right code clears the failure count with ResetFailures, a wrong one
	// calls Fail. A budget below 1 refuses every attempt.
	AttemptCode(ctx context.Context, subject string, maxAttempts, budget int, window time.Duration) (Attempt, error)
	// ConsumeCode deletes subject's code only if its ID equals id, and
	// reports whether it deleted it. Of concurrent calls with the same id at
	// most one reports true.
	ConsumeCode(ctx context.Context, subject, id string) (deleted bool, err error)
}

// Sessions keeps OTP sessions under the hash of their token (see HashToken).
type Sessions interface {
	// CreateSession stores s under tokenHash with expiry ttl.
	CreateSession(ctx context.Context, tokenHash string, s Session, ttl time.Duration) error
	// GetSession returns the session stored under tokenHash. found is false
	// when there is none or it has expired.
	GetSession(ctx context.Context, tokenHash string) (s Session, found bool, err error)
	// RevokeSession deletes the session stored under tokenHash and reports
	// whether there was one.
	RevokeSession(ctx context.Context, tokenHash string) (deleted bool, err error)
}

// Limits keeps the counters behind otpguard's limits. Each method is one
// atomic check-and-change. A returned duration is rounded up to the store's
// precision, never down.
type Limits interface {
	// Fail is called after a wrong code that AttemptCode counted. When
	// subject's failure count in its window has reached limit, it locks
	// subject for lockFor or until the window ends, whichever is longer,
	// clears the count, and returns the lock's duration; so no more than
	// limit wrong codes are ever evaluated per window. Otherwise it changes
	// nothing and returns zero. While subject is locked it returns the
	// remaining lock. A limit below 1 is always reached.
	Fail(ctx context.Context, subject string, limit int, lockFor time.Duration) (lock time.Duration, err error)
	// Locked returns the remaining lock of subject; locked is false when
	// there is none.
	Locked(ctx context.Context, subject string) (remaining time.Duration, locked bool, err error)
	// ResetFailures forgets subject's failure count, after a right code. It
	// does not lift a lock.
	ResetFailures(ctx context.Context, subject string) error
	// Cooldown starts a cooldown of d for subject unless one is running.
	// allowed is true when it started one; otherwise retryAfter is the
	// remaining time of the running one. d <= 0 disables the cooldown: the
	// call is allowed and nothing is stored.
	Cooldown(ctx context.Context, subject string, d time.Duration) (allowed bool, retryAfter time.Duration, err error)
	// Hit counts one event for subject in a fixed window of length window
	// that starts with the window's first event. allowed is false, and the
	// event is not counted, when limit events were already counted; then
	// retryAfter is the time until the window ends.
	Hit(ctx context.Context, subject string, limit int, window time.Duration) (allowed bool, retryAfter time.Duration, err error)
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

// HashToken returns the key a session is stored under: the hex-encoded
// SHA-256 of its token. Session tokens carry at least 256 bits from
// crypto/rand, so an unsalted hash is enough to make a store dump useless.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
