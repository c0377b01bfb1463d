package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/store"
)

// newTestStore returns a store on the test Redis under a fresh prefix, and
// its client.
func newTestStore(tb testing.TB, opts ...Option) (*Store, *redis.Client, string) {
	tb.Helper()
	client := redistest.Client(tb)
	prefix := redistest.Prefix(tb, client)
	s, err := New(client, append([]Option{WithPrefix(prefix)}, opts...)...)
	require.NoError(tb, err)
	return s, client, prefix
}

func TestNew(t *testing.T) {
	good := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer good.Close()
	noCtx := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer noCtx.Close()
	noCtxCluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer noCtxCluster.Close()
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true})
	defer cluster.Close()

	tests := []struct {
		name    string
		client  redis.UniversalClient
		opts    []Option
		wantErr string
	}{
		{"defaults", good, nil, ""},
		{"cluster", cluster, nil, ""},
		{"all options", good, []Option{WithPrefix("app:"), WithTimeout(time.Second)}, ""},
		{"empty prefix", good, []Option{WithPrefix("")}, ""},
		{"nil client", nil, nil, "nil client"},
		{"nil *redis.Client", (*redis.Client)(nil), nil, "nil client"},
		{"nil *redis.ClusterClient", (*redis.ClusterClient)(nil), nil, "nil client"},
		{"nil *redis.Ring", (*redis.Ring)(nil), nil, "nil client"},
		{"prefix with brace", good, []Option{WithPrefix("app{x}:")}, "prefix"},
		{"zero timeout", good, []Option{WithTimeout(0)}, "timeout"},
		{"negative timeout", good, []Option{WithTimeout(-time.Second)}, "timeout"},
		{"client ignores deadlines", noCtx, nil, "ContextTimeoutEnabled"},
		{"cluster ignores deadlines", noCtxCluster, nil, "ContextTimeoutEnabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.client, tt.opts...)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.NotNil(t, s)
				return
			}
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.True(t, strings.HasPrefix(err.Error(), "redisstore: new: "), "got %q, want prefix %q", err, "redisstore: new: ")
		})
	}
	t.Run("defaults applied", func(t *testing.T) {
		s, err := New(good)
		require.NoError(t, err)
		assert.Equal(t, DefaultPrefix, s.prefix)
		assert.Equal(t, DefaultTimeout, s.timeout)
	})
}

func TestKeys(t *testing.T) {
	s, err := New(redis.NewClient(&redis.Options{ContextTimeoutEnabled: true}))
	require.NoError(t, err)
	const subject = "phone:+5511987654321"
	tests := []struct{ got, want string }{
		{s.subjectKey(subject, kindCode), "otpguard:{phone:+5511987654321}:code"},
		{s.subjectKey(subject, kindFails), "otpguard:{phone:+5511987654321}:fails"},
		{s.subjectKey(subject, kindLock), "otpguard:{phone:+5511987654321}:lock"},
		{s.subjectKey(subject, kindCool), "otpguard:{phone:+5511987654321}:cool"},
		{s.subjectKey(subject, kindSends), "otpguard:{phone:+5511987654321}:sends"},
		{s.sessionKey("ab12"), "otpguard:session:{ab12}"},
		{s.bucketKey("integration-1"), "otpguard:{bucket:integration-1}"},
		{s.subjectKey("", kindCode), "otpguard:{%}:code"},
		{s.subjectKey("email:a}b{c%@x", kindCode), "otpguard:{email:a%7Db%7Bc%25@x}:code"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestTagInjective(t *testing.T) {
	inputs := []string{"", "%", "%25", "%%", "{", "}", "%7B", "%7D", "{}", "}{", "a", "a}", "a%7D", "x%", "%7b"}
	seen := map[string]string{}
	for _, in := range inputs {
		got := tag(in)
		if got == "" || strings.ContainsAny(got, "{}") {
			t.Errorf("tag(%q): got %q, want a non-empty string without braces", in, got)
		}
		if prev, ok := seen[got]; ok {
			t.Errorf("tag(%q) = tag(%q) = %q, want distinct tags", in, prev, got)
		}
		seen[got] = in
	}
}

// keySlot returns the Redis Cluster hash slot of key: CRC16-XMODEM of its
// hash tag (or of the whole key when it has none) modulo 16384.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

func TestKeySlot(t *testing.T) {
	// Values from CLUSTER KEYSLOT on a real cluster.
	tests := []struct {
		key  string
		want int
	}{
		{"foo", 12182},
		{"bar", 5061},
		{"hello", 866},
		{"{foo}.anything", 12182},
		{"x{foo}y{bar}", 12182},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := keySlot(tt.key); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
	// An empty tag hashes the whole key.
	assert.NotEqual(t, keySlot("{}a"), keySlot("{}b"), "empty hash tag: got one slot, want the whole key hashed")
}

// TestClusterSlots checks that the keys of every multi-key script, and all
// keys of one subject, share a hash slot, whatever the subject holds.
func TestClusterSlots(t *testing.T) {
	for _, prefix := range []string{DefaultPrefix, "", "app:otp:"} {
		s, err := New(redis.NewClient(&redis.Options{ContextTimeoutEnabled: true}), WithPrefix(prefix))
		require.NoError(t, err)
		subjects := []string{"phone:+5511987654321", "email:maria@example.com", "cpf:12345678909", "", "}", "{", "{}", "a}b", "}{x", "%7D", "email:\"{weird}\"@x"}
		for _, subject := range subjects {
			t.Run(fmt.Sprintf("%q/%q", prefix, subject), func(t *testing.T) {
				// AttemptCode's script uses code, fails and lock; Fail's
				// fails and lock.
				scripts := map[string][]string{
					"AttemptCode": {s.subjectKey(subject, kindCode), s.subjectKey(subject, kindFails), s.subjectKey(subject, kindLock)},
					"Fail":        {s.subjectKey(subject, kindFails), s.subjectKey(subject, kindLock)},
				}
				for name, keys := range scripts {
					for _, k := range keys[1:] {
						assert.Equal(t, keySlot(keys[0]), keySlot(k), "%s keys %q: got different slots, want one", name, keys)
					}
				}
				want := keySlot(s.subjectKey(subject, kindCode))
				for _, kind := range []string{kindFails, kindLock, kindCool, kindSends} {
					k := s.subjectKey(subject, kind)
					assert.Equal(t, want, keySlot(k), "slot of %q: got %d, want %d (the code's)", k, keySlot(k), want)
				}
			})
		}
	}
}

func TestCodes(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	exp := time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.FixedZone("BRT", -3*3600))
	want := store.Code{ID: "id-1", MAC: []byte{0, 1, 2, 0xff}, Integration: "goomer", Purpose: "redeem", Channel: "whatsapp", Attempts: 2, ExpiresAt: exp}
	require.NoError(t, s.PutCode(ctx, "phone:+5511987654321", want, time.Minute))

	key := prefix + "{phone:+5511987654321}:code"
	assert.Equal(t, "hash", client.Type(ctx, key).Val(), "type of %s", key)
	ttl := client.PTTL(ctx, key).Val()
	assert.True(t, ttl > 59*time.Second && ttl <= time.Minute, "PTTL: got %v, want about 1m", ttl)

	a, err := s.AttemptCode(ctx, "phone:+5511987654321", 5, 5, time.Minute)
	require.NoError(t, err)
	require.True(t, a.Found)
	assert.Zero(t, a.Locked)
	got := a.Code
	want.Attempts = 3
	assert.True(t, got.ExpiresAt.Equal(exp), "ExpiresAt: got %v, want %v", got.ExpiresAt, exp)
	_, offset := got.ExpiresAt.Zone()
	assert.Equal(t, -3*3600, offset, "zone offset")
	got.ExpiresAt = exp
	assert.Equal(t, want, got)
	ttl2 := client.PTTL(ctx, key).Val()
	assert.LessOrEqual(t, ttl2, ttl, "AttemptCode must not extend the TTL")

	deleted, err := s.ConsumeCode(ctx, "phone:+5511987654321", "id-2")
	require.NoError(t, err)
	assert.False(t, deleted, "ConsumeCode with a wrong id")
	deleted, err = s.ConsumeCode(ctx, "phone:+5511987654321", "id-1")
	require.NoError(t, err)
	assert.True(t, deleted, "ConsumeCode with the right id")
	assert.Zero(t, client.Exists(ctx, key).Val(), "code key after ConsumeCode")

	// A nil MAC and empty fields come back as such.
	require.NoError(t, s.PutCode(ctx, "s", store.Code{ID: "x"}, time.Minute))
	a, err = s.AttemptCode(ctx, "s", 5, 5, time.Minute)
	require.NoError(t, err)
	require.True(t, a.Found)
	got = a.Code
	assert.Nil(t, got.MAC)
	assert.True(t, got.ExpiresAt.IsZero(), "ExpiresAt: got %v, want zero", got.ExpiresAt)
	assert.Equal(t, 1, got.Attempts)
}

func TestPutCodeBadExpiry(t *testing.T) {
	s, err := New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true}))
	require.NoError(t, err)
	err = s.PutCode(context.Background(), "s", store.Code{ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, time.Minute)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "redisstore: put code: expiry")
}

func TestSessions(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	h := store.HashToken("token")
	want := store.Session{Integration: "goomer", CustomerID: "c-1", Subject: "phone:+5511987654321", Purpose: "redeem", Scopes: []string{"redeem"}, ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 5_000_000, time.UTC)}
	require.NoError(t, s.CreateSession(ctx, h, want, 1500*time.Microsecond+time.Minute))

	key := prefix + "session:{" + h + "}"
	assert.Equal(t, "string", client.Type(ctx, key).Val(), "type of %s", key)
	ttl := client.PTTL(ctx, key).Val()
	assert.True(t, ttl > 59*time.Second && ttl <= time.Minute+2*time.Millisecond, "PTTL: got %v, want about 1m2ms", ttl)

	got, found, err := s.GetSession(ctx, h)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, want, got)

	_, found, err = s.GetSession(ctx, store.HashToken("other"))
	require.NoError(t, err)
	assert.False(t, found, "GetSession of an unknown token")

	deleted, err := s.RevokeSession(ctx, h)
	require.NoError(t, err)
	assert.True(t, deleted)
	deleted, err = s.RevokeSession(ctx, h)
	require.NoError(t, err)
	assert.False(t, deleted, "second RevokeSession")
	_, found, err = s.GetSession(ctx, h)
	require.NoError(t, err)
	assert.False(t, found, "GetSession after RevokeSession")
}

func TestCorruptRecords(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()

	require.NoError(t, client.Set(ctx, prefix+"session:{h}", "\x01garbage", time.Minute).Err())
	_, found, err := s.GetSession(ctx, "h")
	require.Error(t, err)
	assert.False(t, found)
	assert.ErrorIs(t, err, errCorruptSession)
	assert.Contains(t, err.Error(), "redisstore: get session: corrupt session")

	tests := []struct {
		name    string
		fields  []any
		wantErr string
	}{
		{"missing fields", []any{"id", "x", "at", "0"}, "redisstore: attempt code: corrupt code: field 1"},
		{"bad expiry", []any{"id", "x", "mac", "", "in", "", "pu", "", "ch", "", "at", "0", "ex", "yesterday"}, "redisstore: attempt code: corrupt code: expiry"},
		{"bad attempts", []any{"id", "x", "mac", "", "in", "", "pu", "", "ch", "", "at", "1.5", "ex", "2030-01-01T00:00:00Z"}, "redisstore: attempt code: ERR hash value is not an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := prefix + "{" + tt.name + "}:code"
			require.NoError(t, client.HSet(ctx, key, tt.fields...).Err())
			require.NoError(t, client.PExpire(ctx, key, time.Minute).Err())
			a, err := s.AttemptCode(ctx, tt.name, 5, 5, time.Minute)
			require.Error(t, err)
			assert.Equal(t, store.Attempt{}, a)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}

	// A wrong type is a system error, wrapped.
	require.NoError(t, client.Set(ctx, prefix+"{wrongtype}:code", "x", time.Minute).Err())
	_, err = s.AttemptCode(ctx, "wrongtype", 5, 5, time.Minute)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WRONGTYPE")
	assert.Contains(t, err.Error(), "redisstore: attempt code: ")
}

// TestAttemptAndFailKeys checks what AttemptCode and Fail leave in Redis.
func TestAttemptAndFailKeys(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	const subject = "phone:+5511987654321"
	codeKey := prefix + "{" + subject + "}:code"
	failsKey := prefix + "{" + subject + "}:fails"
	lockKey := prefix + "{" + subject + "}:lock"
	attempt := func(maxAttempts, budget int, window time.Duration) store.Attempt {
		t.Helper()
		a, err := s.AttemptCode(ctx, subject, maxAttempts, budget, window)
		require.NoError(t, err)
		return a
	}
	requireKey := func(key, val string, lo, hi time.Duration) {
		t.Helper()
		got, err := client.Get(ctx, key).Result()
		require.NoError(t, err, "GET %s", key)
		assert.Equal(t, val, got, "GET %s: got %q, want %q", key, got, val)
		ttl := client.PTTL(ctx, key).Val()
		assert.True(t, ttl > lo && ttl <= hi, "PTTL %s: got %v, want in (%v, %v]", key, ttl, lo, hi)
	}

	require.NoError(t, s.PutCode(ctx, subject, store.Code{ID: "c"}, time.Hour))
	// The first count starts the window; the next ones keep it.
	for n := 1; n <= 2; n++ {
		a := attempt(2, 3, time.Minute)
		require.True(t, a.Found, "attempt %d", n)
		assert.Equal(t, n, a.Code.Attempts)
	}
	requireKey(failsKey, "2", 59*time.Second, time.Minute)
	// A burned code counts on the code, not on the budget.
	a := attempt(2, 3, time.Hour)
	require.True(t, a.Found)
	assert.Equal(t, 3, a.Code.Attempts)
	requireKey(failsKey, "2", 59*time.Second, time.Minute)
	// Fail below the limit changes nothing.
	lock, err := s.Fail(ctx, subject, 3, time.Hour)
	require.NoError(t, err)
	assert.Zero(t, lock, "Fail below the limit")
	requireKey(failsKey, "2", 59*time.Second, time.Minute)
	assert.Zero(t, client.Exists(ctx, lockKey).Val(), "lock key below the limit")

	// The budget spent: refused, nothing counted anywhere.
	a = attempt(10, 3, time.Hour)
	require.True(t, a.Found)
	a = attempt(10, 3, time.Hour)
	assert.False(t, a.Found, "attempt with the budget spent")
	assert.True(t, a.Locked > 59*time.Second && a.Locked <= time.Minute, "Locked with the budget spent: got %v, want the rest of the 1m window", a.Locked)
	requireKey(failsKey, "3", 59*time.Second, time.Minute)
	assert.Equal(t, "4", client.HGet(ctx, codeKey, "at").Val(), "attempts on the code after a refusal")

	// At the limit: locked for the rest of the window (longer than
	// lockFor), the count deleted.
	lock, err = s.Fail(ctx, subject, 3, 40*time.Second)
	require.NoError(t, err)
	assert.True(t, lock > 59*time.Second && lock <= time.Minute, "Fail at the limit: got %v, want the rest of the 1m window", lock)
	requireKey(lockKey, "1", 59*time.Second, time.Minute)
	assert.Zero(t, client.Exists(ctx, failsKey).Val(), "count after locking")

	// While locked: Fail and AttemptCode report the lock and change
	// nothing.
	lock2, err := s.Fail(ctx, subject, 3, time.Hour)
	require.NoError(t, err)
	assert.True(t, lock2 > 0 && lock2 <= lock, "Fail while locked: got %v, want at most %v", lock2, lock)
	a = attempt(10, 10, time.Hour)
	assert.False(t, a.Found)
	assert.True(t, a.Locked > 0 && a.Locked <= lock, "AttemptCode while locked: got Locked %v, want at most %v", a.Locked, lock)
	requireKey(lockKey, "1", 59*time.Second, time.Minute)
	assert.Zero(t, client.Exists(ctx, failsKey).Val(), "count while locked")
	assert.Equal(t, "4", client.HGet(ctx, codeKey, "at").Val(), "attempts on the code while locked")

	// ResetFailures forgets the count, not the lock.
	require.NoError(t, s.PutCode(ctx, "other", store.Code{ID: "o"}, time.Minute))
	a, err = s.AttemptCode(ctx, "other", 5, 5, time.Minute)
	require.NoError(t, err)
	require.True(t, a.Found)
	require.NoError(t, s.ResetFailures(ctx, "other"))
	assert.Zero(t, client.Exists(ctx, prefix+"{other}:fails").Val(), "count after ResetFailures")
	require.NoError(t, s.ResetFailures(ctx, subject))
	_, locked, err := s.Locked(ctx, subject)
	require.NoError(t, err)
	assert.True(t, locked, "ResetFailures must not lift a lock")

	// lockFor longer than the rest of the window: the lock is lockFor,
	// rounded up to the millisecond.
	require.NoError(t, s.PutCode(ctx, "l", store.Code{ID: "l"}, time.Minute))
	_, err = s.AttemptCode(ctx, "l", 5, 5, time.Second)
	require.NoError(t, err)
	lock, err = s.Fail(ctx, "l", 1, 40*time.Second+1500*time.Microsecond)
	require.NoError(t, err)
	assert.Equal(t, 40*time.Second+2*time.Millisecond, lock)

	// A tiny lock is clamped, never zero or forever.
	lock, err = s.Fail(ctx, "tiny", 0, 0)
	require.NoError(t, err)
	assert.Equal(t, store.MinTTL, lock)

	// A budget of 0 refuses and starts an empty window.
	a, err = s.AttemptCode(ctx, "zero", 5, 0, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{Locked: time.Minute}, a)
	requireKey(prefix+"{zero}:fails", "0", 59*time.Second, time.Minute)

	// A count that somehow lost its expiry gets one again.
	require.NoError(t, client.Set(ctx, prefix+"{forever}:fails", "1", 0).Err())
	require.NoError(t, s.PutCode(ctx, "forever", store.Code{ID: "f"}, time.Minute))
	a, err = s.AttemptCode(ctx, "forever", 5, 5, time.Minute)
	require.NoError(t, err)
	require.True(t, a.Found)
	requireKey(prefix+"{forever}:fails", "2", 59*time.Second, time.Minute)
	require.NoError(t, client.Set(ctx, prefix+"{forever2}:fails", "5", 0).Err())
	a, err = s.AttemptCode(ctx, "forever2", 5, 5, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{Locked: time.Minute}, a, "a spent budget without expiry")
	requireKey(prefix+"{forever2}:fails", "5", 59*time.Second, time.Minute)
}

func TestCooldown(t *testing.T) {
	s, _, _ := newTestStore(t)
	ctx := context.Background()

	allowed, retry, err := s.Cooldown(ctx, "s", time.Minute)
	require.NoError(t, err)
	assert.True(t, allowed)
	assert.Zero(t, retry)
	allowed, retry, err = s.Cooldown(ctx, "s", time.Hour)
	require.NoError(t, err)
	assert.False(t, allowed)
	assert.True(t, retry > 59*time.Second && retry <= time.Minute, "retryAfter: got %v, want about 1m", retry)

	for _, d := range []time.Duration{0, -time.Second} {
		allowed, retry, err = s.Cooldown(ctx, "s", d)
		require.NoError(t, err)
		assert.True(t, allowed, "Cooldown(%v)", d)
		assert.Zero(t, retry)
	}

	allowed, _, err = s.Cooldown(ctx, "short", 20*time.Millisecond)
	require.NoError(t, err)
	require.True(t, allowed)
	time.Sleep(35 * time.Millisecond)
	allowed, _, err = s.Cooldown(ctx, "short", 20*time.Millisecond)
	require.NoError(t, err)
	assert.True(t, allowed, "Cooldown after the last one ended")
}

func TestHit(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		allowed, retry, err := s.Hit(ctx, "s", 3, time.Minute)
		require.NoError(t, err)
		assert.True(t, allowed, "event %d", i)
		assert.Zero(t, retry)
	}
	allowed, retry, err := s.Hit(ctx, "s", 3, time.Minute)
	require.NoError(t, err)
	assert.False(t, allowed, "event over the limit")
	assert.True(t, retry > 59*time.Second && retry <= time.Minute, "retryAfter: got %v", retry)
	assert.Equal(t, "3", client.Get(ctx, prefix+"{s}:sends").Val(), "a refused event must not count")

	allowed, retry, err = s.Hit(ctx, "zero", 0, time.Minute)
	require.NoError(t, err)
	assert.False(t, allowed, "limit 0")
	assert.Equal(t, time.Minute, retry)
	time.Sleep(5 * time.Millisecond)
	allowed, retry, err = s.Hit(ctx, "zero", 0, time.Minute)
	require.NoError(t, err)
	assert.False(t, allowed, "limit 0 again")
	assert.True(t, retry > 50*time.Second && retry < time.Minute, "retryAfter with limit 0 runs down: got %v", retry)

	allowed, _, err = s.Hit(ctx, "w", 1, 300*time.Millisecond)
	require.NoError(t, err)
	require.True(t, allowed)
	allowed, retry, err = s.Hit(ctx, "w", 1, 300*time.Millisecond)
	require.NoError(t, err)
	require.False(t, allowed)
	time.Sleep(retry + 5*time.Millisecond)
	allowed, _, err = s.Hit(ctx, "w", 1, 300*time.Millisecond)
	require.NoError(t, err)
	assert.True(t, allowed, "event in a new window")
}

func TestTake(t *testing.T) {
	s, _, _ := newTestStore(t)
	ctx := context.Background()

	// 4 per second: a token every 250 ms; the bucket starts full.
	for i := 1; i <= 3; i++ {
		allowed, retry, err := s.Take(ctx, "k", 4, 3)
		require.NoError(t, err)
		assert.True(t, allowed, "take %d", i)
		assert.Zero(t, retry)
	}
	allowed, retry, err := s.Take(ctx, "k", 4, 3)
	require.NoError(t, err)
	assert.False(t, allowed, "take from an empty bucket")
	assert.True(t, retry > 0 && retry <= 250*time.Millisecond, "retryAfter: got %v, want in (0, 250ms]", retry)
	time.Sleep(retry)
	allowed, _, err = s.Take(ctx, "k", 4, 3)
	require.NoError(t, err)
	assert.True(t, allowed, "take after retryAfter")
	allowed, retry, err = s.Take(ctx, "k", 4, 3)
	require.NoError(t, err)
	assert.False(t, allowed, "only one token came back")
	assert.True(t, retry > 0 && retry <= 250*time.Millisecond, "retryAfter: got %v, want in (0, 250ms]", retry)

	// Another key has its own bucket.
	allowed, _, err = s.Take(ctx, "other", 20, 1)
	require.NoError(t, err)
	assert.True(t, allowed)

	tests := []struct {
		name    string
		r       rate.Limit
		burst   int
		allowed bool
		retry   time.Duration
	}{
		{"infinite rate", rate.Inf, 0, true, 0},
		{"zero burst", 10, 0, false, rate.InfDuration},
		{"negative burst", 10, -1, false, rate.InfDuration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allowed, retry, err := s.Take(ctx, "edge", tt.r, tt.burst)
			require.NoError(t, err)
			assert.Equal(t, tt.allowed, allowed)
			assert.Equal(t, tt.retry, retry)
		})
	}
}

func TestTakeNeverRefills(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	for _, r := range []rate.Limit{0, -1, 1e-12} {
		t.Run(fmt.Sprint(r), func(t *testing.T) {
			key := fmt.Sprintf("never-%v", r)
			for i := 1; i <= 2; i++ {
				allowed, retry, err := s.Take(ctx, key, r, 2)
				require.NoError(t, err)
				assert.True(t, allowed, "take %d of burst 2", i)
				assert.Zero(t, retry)
			}
			allowed, retry, err := s.Take(ctx, key, r, 2)
			require.NoError(t, err)
			assert.False(t, allowed, "take 3 of burst 2")
			assert.Equal(t, rate.InfDuration, retry)
			ttl := client.PTTL(ctx, prefix+"{bucket:"+key+"}:fixed").Val()
			assert.True(t, ttl > 24*time.Hour && ttl <= fixedBucketIdle, "PTTL: got %v, want about %v", ttl, fixedBucketIdle)
		})
	}
}

// TestEveryKeyHasTTL runs every method and then checks that each key under
// the prefix expires.
func TestEveryKeyHasTTL(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	const subject = "phone:+5511987654321"
	h := store.HashToken("tok")

	require.NoError(t, s.PutCode(ctx, subject, store.Code{ID: "a", MAC: []byte("m")}, time.Minute))
	a, err := s.AttemptCode(ctx, subject, 5, 10, time.Minute)
	require.NoError(t, err)
	require.True(t, a.Found)
	require.NoError(t, s.PutCode(ctx, "gone", store.Code{ID: "b"}, time.Minute))
	_, err = s.ConsumeCode(ctx, "gone", "b")
	require.NoError(t, err)
	require.NoError(t, s.CreateSession(ctx, h, store.Session{Subject: subject}, 0))
	require.NoError(t, s.CreateSession(ctx, store.HashToken("keep"), store.Session{Subject: subject}, time.Minute))
	_, _, err = s.GetSession(ctx, store.HashToken("keep"))
	require.NoError(t, err)
	lock, err := s.Fail(ctx, subject, 1, time.Minute)
	require.NoError(t, err)
	require.NotZero(t, lock, "Fail at the limit")
	_, err = s.Fail(ctx, subject, 1, time.Minute)
	require.NoError(t, err)
	// A counted attempt writes the failure count; a refusal at a budget of
	// 0 writes an empty window.
	require.NoError(t, s.PutCode(ctx, "other", store.Code{ID: "o"}, time.Minute))
	a, err = s.AttemptCode(ctx, "other", 5, 10, time.Minute)
	require.NoError(t, err)
	require.True(t, a.Found)
	a, err = s.AttemptCode(ctx, "zero-budget", 5, 0, time.Minute)
	require.NoError(t, err)
	require.NotZero(t, a.Locked)
	_, _, err = s.Locked(ctx, subject)
	require.NoError(t, err)
	for i := 0; i < 2; i++ {
		_, _, err = s.Cooldown(ctx, subject, time.Minute)
		require.NoError(t, err)
		_, _, err = s.Hit(ctx, subject, 5, time.Minute)
		require.NoError(t, err)
		_, _, err = s.Take(ctx, "integration-1", 1, 5)
		require.NoError(t, err)
		_, _, err = s.Take(ctx, "integration-2", 0, 1)
		require.NoError(t, err)
	}
	_, _, err = s.Hit(ctx, "nothing", 0, time.Minute)
	require.NoError(t, err)
	require.NoError(t, s.ResetFailures(ctx, subject))

	keys, err := redistest.Keys(ctx, client, prefix)
	require.NoError(t, err)
	want := []string{
		prefix + "session:{" + store.HashToken("keep") + "}",
		prefix + "{bucket:integration-1}",
		prefix + "{bucket:integration-2}:fixed",
		prefix + "{nothing}:sends",
		prefix + "{other}:code",
		prefix + "{other}:fails",
		prefix + "{zero-budget}:fails",
		prefix + "{" + subject + "}:code",
		prefix + "{" + subject + "}:cool",
		prefix + "{" + subject + "}:lock",
		prefix + "{" + subject + "}:sends",
	}
	sort.Strings(want)
	// The session written with ttl 0 lives 1 ms and may still be there.
	var kept []string
	for _, k := range keys {
		if k != prefix+"session:{"+h+"}" {
			kept = append(kept, k)
		}
	}
	assert.Equal(t, want, kept, "keys under the prefix")
	for _, k := range keys {
		ttl, err := client.PTTL(ctx, k).Result()
		require.NoError(t, err)
		switch {
		case ttl == -1: // go-redis reports "no expiry" as -1
			t.Errorf("PTTL %s: the key has no expiry", k)
		case ttl == -2: // expired since the scan
		case ttl == 0 && k == prefix+"session:{"+h+"}": // the 1 ms session, in its last millisecond
		case ttl <= 0:
			t.Errorf("PTTL %s: got %v, want > 0", k, ttl)
		}
	}
}

func TestConcurrentCodes(t *testing.T) {
	s, _, _ := newTestStore(t)
	ctx := context.Background()
	require.NoError(t, s.PutCode(ctx, "s", store.Code{ID: "c"}, time.Minute))

	const n = 200
	counts := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a, err := s.AttemptCode(ctx, "s", 1000, 1000, time.Minute)
			if err == nil && !a.Found {
				err = errors.New("not found")
			}
			counts[i], errs[i] = a.Code.Attempts, err
		}(i)
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	sort.Ints(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("sorted attempt counts[%d]: got %d, want %d", i, c, i+1)
		}
	}

	const m = 50
	deleted := make([]bool, m)
	for i := 0; i < m; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			deleted[i], errs[i] = s.ConsumeCode(ctx, "s", "c")
		}(i)
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	var wins int
	for _, d := range deleted {
		if d {
			wins++
		}
	}
	assert.Equal(t, 1, wins, "concurrent ConsumeCode: got %d deletions, want 1", wins)
}

func TestContextCanceled(t *testing.T) {
	s, _, _ := newTestStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	_, _, err := s.GetSession(ctx, "h")
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "redisstore: get session: ")
	_, err = s.Fail(ctx, "s", 1, time.Minute)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.AttemptCode(ctx, "s", 1, 1, time.Minute)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 100*time.Millisecond)
}

func TestClosedClient(t *testing.T) {
	prefix := redistest.Prefix(t, redistest.Client(t))
	client := redis.NewClient(&redis.Options{Addr: redistest.Addr(), ContextTimeoutEnabled: true})
	s, err := New(client, WithPrefix(prefix))
	require.NoError(t, err)
	require.NoError(t, client.Close())

	ctx := context.Background()
	_, _, err = s.GetSession(ctx, "h")
	assert.ErrorIs(t, err, redis.ErrClosed)
	_, err = s.AttemptCode(ctx, "s", 5, 5, time.Minute)
	assert.ErrorIs(t, err, redis.ErrClosed)
	_, err = s.Fail(ctx, "s", 5, time.Minute)
	assert.ErrorIs(t, err, redis.ErrClosed)
	assert.ErrorIs(t, s.PutCode(ctx, "s", store.Code{}, time.Minute), redis.ErrClosed)
	_, _, err = s.Take(ctx, "k", 1, 1)
	assert.ErrorIs(t, err, redis.ErrClosed)
}

// proxy forwards TCP connections to Redis. Cut makes it hold every
// connection open without answering (a network partition) or reset them;
// Restore makes it forward again.
type proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	mode   string // "", "blackhole" or "reset"
	client map[net.Conn]bool
	up     map[net.Conn]bool
	wg     sync.WaitGroup
}

// startProxy starts a proxy to target on a loopback port; it stops when tb
// ends.
func startProxy(tb testing.TB, target string) *proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	p := &proxy{ln: ln, target: target, client: map[net.Conn]bool{}, up: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	tb.Cleanup(func() {
		_ = ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		if mode == "reset" {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.client[c] = true
		p.mu.Unlock()
		if mode == "blackhole" {
			continue // held open, never answered
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

func (p *proxy) forward(c net.Conn) {
	defer p.wg.Done()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.up[up] = true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, c)
		_ = up.Close()
		close(done)
	}()
	_, _ = io.Copy(c, up)
	_ = up.Close()
	p.mu.Lock()
	if p.mode != "blackhole" {
		// In a blackhole the client side stays open and silent.
		delete(p.client, c)
		_ = c.Close()
	}
	delete(p.up, up)
	p.mu.Unlock()
	<-done
}

// cut cuts Redis off: in mode "blackhole" every connection stays open and
// nothing is answered; in mode "reset" every connection is closed.
func (p *proxy) cut(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	for up := range p.up {
		_ = up.Close()
	}
	if mode == "reset" {
		for c := range p.client {
			_ = c.Close()
			delete(p.client, c)
		}
	}
}

// restore forwards again; connections held during a blackhole are closed.
func (p *proxy) restore() {
	p.mu.Lock()
	p.mode = ""
	p.mu.Unlock()
	p.closeAll()
}

func (p *proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.client {
		_ = c.Close()
		delete(p.client, c)
	}
	for up := range p.up {
		_ = up.Close()
	}
}

func TestUnreachableRedis(t *testing.T) {
	redistest.Require(t)
	const timeout = 200 * time.Millisecond
	for _, mode := range []string{"blackhole", "reset"} {
		t.Run(mode, func(t *testing.T) {
			p := startProxy(t, redistest.Addr())
			client := redistest.NewClient(t, p.addr())
			prefix := redistest.Prefix(t, redistest.Client(t))
			s, err := New(client, WithPrefix(prefix), WithTimeout(timeout))
			require.NoError(t, err)
			ctx := context.Background()
			h := store.HashToken("t")
			require.NoError(t, s.CreateSession(ctx, h, store.Session{CustomerID: "c"}, time.Minute))

			p.cut(mode)
			for i := 0; i < 2; i++ {
				start := time.Now()
				_, found, err := s.GetSession(ctx, h)
				elapsed := time.Since(start)
				t.Logf("GetSession %d with Redis cut off: %v after %v", i, err, elapsed)
				require.Error(t, err, "GetSession %d with Redis cut off", i)
				assert.False(t, found)
				assert.Contains(t, err.Error(), "redisstore: get session: ")
				assert.Less(t, elapsed, timeout+250*time.Millisecond, "GetSession %d took %v, want under the timeout %v + 250ms", i, elapsed, timeout)
			}
			start := time.Now()
			_, err = s.Fail(ctx, "s", 3, time.Minute)
			require.Error(t, err, "Fail with Redis cut off")
			assert.Less(t, time.Since(start), timeout+250*time.Millisecond)

			p.restore()
			var got store.Session
			var found bool
			require.Eventually(t, func() bool {
				got, found, err = s.GetSession(ctx, h)
				return err == nil
			}, 2*time.Second, 10*time.Millisecond, "GetSession after Redis came back: %v", err)
			assert.True(t, found)
			assert.Equal(t, "c", got.CustomerID)
		})
	}
}
