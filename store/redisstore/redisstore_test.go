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

// Test pairs: two partners of one customer.
var (
	goomer = store.Pair{Integration: "goomer", Subject: "phone:+5511987654321"}
	saipos = store.Pair{Integration: "saipos", Subject: "phone:+5511987654321"}
)

// noLimit is a limit no test reaches.
const noLimit = 1 << 30

// wide returns budgets no test reaches.
func wide() store.Budgets {
	return store.Budgets{
		MaxAttempts: noLimit,
		Pair:        store.Budget{Limit: noLimit, Window: time.Hour, LockFor: time.Hour},
		Customer:    store.Budget{Limit: noLimit, Window: time.Hour, LockFor: time.Hour},
	}
}

// pairBudgets returns budgets whose customer budget no test reaches.
func pairBudgets(maxAttempts, limit int, window, lockFor time.Duration) store.Budgets {
	b := wide()
	b.MaxAttempts = maxAttempts
	b.Pair = store.Budget{Limit: limit, Window: window, LockFor: lockFor}
	return b
}

// customerBudgets returns budgets whose pair budget no test reaches.
func customerBudgets(limit int, window, lockFor time.Duration) store.Budgets {
	b := wide()
	b.Customer = store.Budget{Limit: limit, Window: window, LockFor: lockFor}
	return b
}

func TestKeys(t *testing.T) {
	s, err := New(redis.NewClient(&redis.Options{ContextTimeoutEnabled: true}))
	require.NoError(t, err)
	k := s.keysOf(goomer)
	odd := s.keysOf(store.Pair{Integration: "a}b{c%:d", Subject: "email:a}b{c%@x"})
	empty := s.keysOf(store.Pair{})
	tests := []struct{ got, want string }{
		{k.code, "otpguard:{phone:+5511987654321}:code:goomer"},
		{k.fails, "otpguard:{phone:+5511987654321}:fails:goomer"},
		{k.lock, "otpguard:{phone:+5511987654321}:lock:goomer"},
		{k.cfails, "otpguard:{phone:+5511987654321}:cfails"},
		{k.clock, "otpguard:{phone:+5511987654321}:clock"},
		{k.pairs, "otpguard:{phone:+5511987654321}:pairs"},
		{s.subjectKeysOf(goomer.Subject).lockBase + tag(goomer.Integration), k.lock},
		{s.subjectKeysOf(goomer.Subject).failsBase + tag(goomer.Integration), k.fails},
		{s.subjectKeysOf(goomer.Subject).pairs, k.pairs},
		{s.subjectKeysOf(goomer.Subject).clock, k.clock},
		{s.subjectKeysOf(goomer.Subject).cfails, k.cfails},
		{s.usedKey("ab12"), "otpguard:session:{ab12}:used"},
		{mustIndexKey(t, s, store.ScopeCustomer, "c-42"), "otpguard:{c:c-42}:sessions"},
		{mustIndexKey(t, s, store.ScopeIntegration, "goomer"), "otpguard:{i:goomer}:sessions"},
		{mustIndexKey(t, s, store.ScopeCustomer, "a}b{"), "otpguard:{c:a%7Db%7B}:sessions"},
		{mustIndexKey(t, s, store.ScopeIntegration, ""), "otpguard:{i:%}:sessions"},
		{s.taggedKey("sends:pair:goomer:customer:42", kindCool), "otpguard:{sends:pair:goomer:customer:42}:cool"},
		{s.taggedKey("fails:integration:goomer", kindHits), "otpguard:{fails:integration:goomer}:hits"},
		{s.sessionKey("ab12"), "otpguard:session:{ab12}"},
		{s.bucketKey("integration-1"), "otpguard:{bucket:integration-1}"},
		{empty.code, "otpguard:{%}:code:%"},
		{empty.cfails, "otpguard:{%}:cfails"},
		{s.taggedKey("", kindHits), "otpguard:{%}:hits"},
		{odd.code, "otpguard:{email:a%7Db%7Bc%25@x}:code:a%7Db%7Bc%25:d"},
		{odd.lock, "otpguard:{email:a%7Db%7Bc%25@x}:lock:a%7Db%7Bc%25:d"},
		{s.taggedKey("a{b}", kindCool), "otpguard:{a%7Bb%7D}:cool"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// mustIndexKey returns the session index key of scope and id.
func mustIndexKey(tb testing.TB, s *Store, scope store.LockScope, id string) string {
	tb.Helper()
	key, err := s.sessionIndexKey(scope, id)
	require.NoError(tb, err)
	return key
}

func TestSessionIndexKeyScope(t *testing.T) {
	s, err := New(redis.NewClient(&redis.Options{ContextTimeoutEnabled: true}))
	require.NoError(t, err)
	for _, scope := range []store.LockScope{store.ScopeNone, store.ScopePair, 99} {
		_, err := s.sessionIndexKey(scope, "x")
		assert.Error(t, err, "scope %v", scope)
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

// awkward are names that try to break out of their place in a key.
var awkward = []string{
	"", "%", "{", "}", "{}", ":", "::", "a", "a:b", "a:", ":b", "a}b", "}{x", "%7D", "a%7Bb%7D", "a{b}",
	"code", "code:a", "fails:a", "lock", "cfails", "clock", "cool", "hits", "bucket:a", "session:a",
	"phone:+5511987654321", "email:\"{weird}\"@x",
}

// TestKeysDistinct checks that no two records share a key, however the
// subject, the integration and the caller's keys are chosen: every key the
// store can write for the awkward names is written once.
func TestKeysDistinct(t *testing.T) {
	s, err := New(redis.NewClient(&redis.Options{ContextTimeoutEnabled: true}))
	require.NoError(t, err)
	owner := map[string]string{}
	add := func(key, what string) {
		if prev, ok := owner[key]; ok {
			t.Errorf("key %q: both %s and %s, want distinct keys", key, prev, what)
		}
		owner[key] = what
	}
	for _, subject := range awkward {
		add(s.keysOf(store.Pair{Subject: subject}).cfails, fmt.Sprintf("cfails(%q)", subject))
		add(s.keysOf(store.Pair{Subject: subject}).clock, fmt.Sprintf("clock(%q)", subject))
		add(s.keysOf(store.Pair{Subject: subject}).pairs, fmt.Sprintf("pairs(%q)", subject))
		for _, in := range awkward {
			k := s.keysOf(store.Pair{Integration: in, Subject: subject})
			add(k.code, fmt.Sprintf("code(%q, %q)", in, subject))
			add(k.fails, fmt.Sprintf("fails(%q, %q)", in, subject))
			add(k.lock, fmt.Sprintf("lock(%q, %q)", in, subject))
		}
	}
	for _, key := range awkward {
		add(s.taggedKey(key, kindCool), fmt.Sprintf("cool(%q)", key))
		add(s.taggedKey(key, kindHits), fmt.Sprintf("hits(%q)", key))
		add(s.sessionKey(key), fmt.Sprintf("session(%q)", key))
		add(s.usedKey(key), fmt.Sprintf("used(%q)", key))
		add(mustIndexKey(t, s, store.ScopeCustomer, key), fmt.Sprintf("customer sessions(%q)", key))
		add(mustIndexKey(t, s, store.ScopeIntegration, key), fmt.Sprintf("integration sessions(%q)", key))
		add(s.bucketKey(key), fmt.Sprintf("bucket(%q)", key))
		add(s.bucketKey(key)+":fixed", fmt.Sprintf("fixed bucket(%q)", key))
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
// keys of one subject and of all its pairs, share a hash slot, whatever the
// subject and the integrations hold.
func TestClusterSlots(t *testing.T) {
	for _, prefix := range []string{DefaultPrefix, "", "app:otp:"} {
		s, err := New(redis.NewClient(&redis.Options{ContextTimeoutEnabled: true}), WithPrefix(prefix))
		require.NoError(t, err)
		for _, subject := range awkward {
			t.Run(fmt.Sprintf("%q/%q", prefix, subject), func(t *testing.T) {
				want := keySlot(s.keysOf(store.Pair{Integration: "goomer", Subject: subject}).code)
				for _, in := range awkward {
					k := s.keysOf(store.Pair{Integration: in, Subject: subject})
					// AttemptCode's script uses all six; Fail's the counts,
					// locks and pairs; Locked's the locks; Succeed's DEL the
					// counts; Status and Unlock the customer's keys, pairs,
					// and the pairs' locks and counts. One slot for all, and
					// for every pair of the subject.
					for _, key := range []string{k.code, k.fails, k.lock, k.cfails, k.clock, k.pairs} {
						if got := keySlot(key); got != want {
							t.Errorf("slot of %q: got %d, want %d (the subject's)", key, got, want)
						}
					}
				}
			})
		}
	}
	// A caller's key is hashed whole, whatever it holds; a session and its
	// use marks share a slot.
	s, err := New(redis.NewClient(&redis.Options{ContextTimeoutEnabled: true}))
	require.NoError(t, err)
	for _, key := range awkward {
		if got, want := keySlot(s.usedKey(key)), keySlot(s.sessionKey(key)); got != want {
			t.Errorf("slot of %q: got %d, want %d (its session's)", s.usedKey(key), got, want)
		}
		want := keySlot(tag(key))
		for _, k := range []string{s.taggedKey(key, kindCool), s.taggedKey(key, kindHits)} {
			if got := keySlot(k); got != want {
				t.Errorf("slot of %q: got %d, want %d (the slot of its tag)", k, got, want)
			}
		}
	}
}

func TestCodes(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	exp := time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.FixedZone("BRT", -3*3600))
	want := store.Code{ID: "id-1", MAC: []byte{0, 1, 2, 0xff}, Integration: "goomer", Purpose: "redeem", Channel: "whatsapp", Attempts: 2, ExpiresAt: exp}
	require.NoError(t, s.PutCode(ctx, goomer, want, time.Minute))

	key := prefix + "{phone:+5511987654321}:code:goomer"
	assert.Equal(t, "hash", client.Type(ctx, key).Val(), "type of %s", key)
	ttl := client.PTTL(ctx, key).Val()
	assert.True(t, ttl > 59*time.Second && ttl <= time.Minute, "PTTL: got %v, want about 1m", ttl)

	a, err := s.AttemptCode(ctx, goomer, wide())
	require.NoError(t, err)
	require.True(t, a.Found)
	assert.Zero(t, a.Lock)
	got := a.Code
	want.Attempts = 3
	assert.True(t, got.ExpiresAt.Equal(exp), "ExpiresAt: got %v, want %v", got.ExpiresAt, exp)
	_, offset := got.ExpiresAt.Zone()
	assert.Equal(t, -3*3600, offset, "zone offset")
	got.ExpiresAt = exp
	assert.Equal(t, want, got)
	ttl2 := client.PTTL(ctx, key).Val()
	assert.LessOrEqual(t, ttl2, ttl, "AttemptCode must not extend the TTL")

	deleted, err := s.ConsumeCode(ctx, goomer, "id-2")
	require.NoError(t, err)
	assert.False(t, deleted, "ConsumeCode with a wrong id")
	deleted, err = s.ConsumeCode(ctx, goomer, "id-1")
	require.NoError(t, err)
	assert.True(t, deleted, "ConsumeCode with the right id")
	assert.Zero(t, client.Exists(ctx, key).Val(), "code key after ConsumeCode")

	// A nil MAC and empty fields come back as such.
	p := store.Pair{Subject: "s"}
	require.NoError(t, s.PutCode(ctx, p, store.Code{ID: "x"}, time.Minute))
	a, err = s.AttemptCode(ctx, p, wide())
	require.NoError(t, err)
	require.True(t, a.Found)
	got = a.Code
	assert.Nil(t, got.MAC)
	assert.True(t, got.ExpiresAt.IsZero(), "ExpiresAt: got %v, want zero", got.ExpiresAt)
	assert.Equal(t, 1, got.Attempts)
}

// TestPairCodes checks that each pair has its own code: a partner can
// neither replace, burn nor consume another partner's code for the same
// customer, whatever the integrations' IDs hold.
func TestPairCodes(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	const subject = "phone:+5511987654321"
	integrations := []string{"goomer", "saipos", "", "%", "a:b", "a", "b", "a{b}", "a%7Bb%7D", "code", "lock:x"}
	for _, in := range integrations {
		require.NoError(t, s.PutCode(ctx, store.Pair{Integration: in, Subject: subject}, store.Code{ID: "id-" + in, Integration: in}, time.Minute))
	}
	keys, err := redistest.Keys(ctx, client, prefix)
	require.NoError(t, err)
	assert.Len(t, keys, len(integrations), "code keys: got %q", keys)
	for _, in := range integrations {
		a, err := s.AttemptCode(ctx, store.Pair{Integration: in, Subject: subject}, wide())
		require.NoError(t, err)
		require.True(t, a.Found, "integration %q", in)
		assert.Equal(t, "id-"+in, a.Code.ID, "integration %q", in)
		assert.Equal(t, 1, a.Code.Attempts, "integration %q", in)
	}

	// Burning goomer's code leaves saipos's alone.
	for range 3 {
		_, err := s.AttemptCode(ctx, goomer, pairBudgets(1, noLimit, time.Hour, time.Hour))
		require.NoError(t, err)
	}
	a, err := s.AttemptCode(ctx, saipos, pairBudgets(1, noLimit, time.Hour, time.Hour))
	require.NoError(t, err)
	require.True(t, a.Found)
	assert.Equal(t, 2, a.Code.Attempts, "saipos's attempts after goomer burned its code")

	// A new code replaces only its pair's; consuming takes only its pair's.
	require.NoError(t, s.PutCode(ctx, goomer, store.Code{ID: "new"}, time.Minute))
	deleted, err := s.ConsumeCode(ctx, goomer, "id-saipos")
	require.NoError(t, err)
	assert.False(t, deleted, "ConsumeCode of another pair's id")
	deleted, err = s.ConsumeCode(ctx, saipos, "id-saipos")
	require.NoError(t, err)
	assert.True(t, deleted)
	a, err = s.AttemptCode(ctx, goomer, wide())
	require.NoError(t, err)
	require.True(t, a.Found)
	assert.Equal(t, "new", a.Code.ID)
	a, err = s.AttemptCode(ctx, saipos, wide())
	require.NoError(t, err)
	assert.False(t, a.Found, "saipos's code after it was consumed")
}

func TestPutCodeBadExpiry(t *testing.T) {
	s, err := New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true}))
	require.NoError(t, err)
	err = s.PutCode(context.Background(), goomer, store.Code{ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, time.Minute)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "redisstore: put code: expiry")
}

func TestSessions(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	h := store.HashToken("token")
	want := store.Session{
		Integration: "goomer", CustomerID: "c-1", Scopes: []string{"redeem"},
		VerifiedAt: time.Date(2029, 12, 31, 23, 30, 0, 7, time.UTC), ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 5_000_000, time.UTC),
		MAC: []byte{0, 0xff, 1},
	}
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
			key := prefix + "{" + tt.name + "}:code:goomer"
			require.NoError(t, client.HSet(ctx, key, tt.fields...).Err())
			require.NoError(t, client.PExpire(ctx, key, time.Minute).Err())
			a, err := s.AttemptCode(ctx, store.Pair{Integration: "goomer", Subject: tt.name}, wide())
			require.Error(t, err)
			assert.Equal(t, store.Attempt{}, a)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}

	// A wrong type is a system error, wrapped.
	require.NoError(t, client.Set(ctx, prefix+"{wrongtype}:code:goomer", "x", time.Minute).Err())
	_, err = s.AttemptCode(ctx, store.Pair{Integration: "goomer", Subject: "wrongtype"}, wide())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WRONGTYPE")
	assert.Contains(t, err.Error(), "redisstore: attempt code: ")

	// A count that is not a number is a system error in every method that
	// reads it, never a free pass.
	bad := store.Pair{Integration: "goomer", Subject: "badcount"}
	require.NoError(t, s.PutCode(ctx, bad, store.Code{ID: "c"}, time.Minute))
	require.NoError(t, client.Set(ctx, prefix+"{badcount}:cfails", "x", time.Minute).Err())
	_, err = s.AttemptCode(ctx, bad, wide())
	assert.ErrorContains(t, err, "redisstore: attempt code: ")
	_, err = s.Fail(ctx, bad, wide())
	assert.ErrorContains(t, err, "redisstore: fail: ")
	require.NoError(t, client.Set(ctx, prefix+"{badhits}:hits", "x", time.Minute).Err())
	_, err = s.Hit(ctx, "badhits", 5, time.Minute)
	assert.ErrorContains(t, err, "redisstore: hit: ")
	_, err = s.Peek(ctx, "badhits", 5)
	assert.ErrorContains(t, err, "redisstore: peek: ")
	assert.ErrorContains(t, s.Refund(ctx, "badhits"), "redisstore: refund: ")
}

// keyChecker reads keys of the test Redis.
type keyChecker struct {
	t      *testing.T
	ctx    context.Context
	client *redis.Client
}

// has fails the test unless key holds val with a PTTL in (lo, hi].
func (c keyChecker) has(key, val string, lo, hi time.Duration) {
	c.t.Helper()
	got, err := c.client.Get(c.ctx, key).Result()
	require.NoError(c.t, err, "GET %s", key)
	assert.Equal(c.t, val, got, "GET %s: got %q, want %q", key, got, val)
	ttl := c.client.PTTL(c.ctx, key).Val()
	assert.True(c.t, ttl > lo && ttl <= hi, "PTTL %s: got %v, want in (%v, %v]", key, ttl, lo, hi)
}

// absent fails the test unless key does not exist.
func (c keyChecker) absent(key, why string) {
	c.t.Helper()
	assert.Zero(c.t, c.client.Exists(c.ctx, key).Val(), "%s: %s exists, want it absent", why, key)
}

// lockWithin fails the test unless l is a lock of scope whose remaining
// time is in (lo, hi], and that the call that returned it did not set (Set
// false): what Locked and AttemptCode return, and Fail when it finds the
// lock in force.
func lockWithin(t *testing.T, what string, l store.Lock, scope store.LockScope, lo, hi time.Duration) {
	t.Helper()
	lockIs(t, what, l, scope, false, lo, hi)
}

// setLockWithin fails the test unless l is a lock of scope whose remaining
// time is in (lo, hi], set by the Fail that returned it (Set true).
func setLockWithin(t *testing.T, what string, l store.Lock, scope store.LockScope, lo, hi time.Duration) {
	t.Helper()
	lockIs(t, what, l, scope, true, lo, hi)
}

// lockIs fails the test unless l is a lock of scope whose remaining time
// is in (lo, hi] and whose Set is set.
func lockIs(t *testing.T, what string, l store.Lock, scope store.LockScope, set bool, lo, hi time.Duration) {
	t.Helper()
	assert.Equal(t, scope, l.Scope, "%s scope: got %v, want %v", what, l.Scope, scope)
	assert.True(t, l.Remaining > lo && l.Remaining <= hi, "%s remaining: got %v, want in (%v, %v]", what, l.Remaining, lo, hi)
	assert.Equal(t, set, l.Set, "%s Set: got %v, want %v", what, l.Set, set)
}

// TestAttemptAndFailKeys checks what AttemptCode, Fail and Succeed leave in
// Redis for one pair's budget.
func TestAttemptAndFailKeys(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	p := goomer
	base := prefix + "{" + p.Subject + "}:"
	codeKey, failsKey, lockKey, cfailsKey := base+"code:goomer", base+"fails:goomer", base+"lock:goomer", base+"cfails"
	keys := keyChecker{t, ctx, client}
	attempt := func(p store.Pair, b store.Budgets) store.Attempt {
		t.Helper()
		a, err := s.AttemptCode(ctx, p, b)
		require.NoError(t, err)
		return a
	}
	fail := func(p store.Pair, b store.Budgets) store.Lock {
		t.Helper()
		l, err := s.Fail(ctx, p, b)
		require.NoError(t, err)
		return l
	}

	require.NoError(t, s.PutCode(ctx, p, store.Code{ID: "c"}, time.Hour))
	// The first count starts the pair's window; the next ones keep it.
	// Each count sets the customer's count to expire after its window.
	for n := 1; n <= 2; n++ {
		a := attempt(p, pairBudgets(2, 3, time.Minute, time.Hour))
		require.True(t, a.Found, "attempt %d", n)
		assert.Equal(t, n, a.Code.Attempts)
	}
	keys.has(failsKey, "2", 59*time.Second, time.Minute)
	keys.has(cfailsKey, "2", 59*time.Minute, time.Hour)
	// A burned code counts on the code, not on either budget.
	a := attempt(p, pairBudgets(2, 3, time.Hour, time.Hour))
	require.True(t, a.Found)
	assert.Equal(t, 3, a.Code.Attempts)
	keys.has(failsKey, "2", 59*time.Second, time.Minute)
	keys.has(cfailsKey, "2", 59*time.Minute, time.Hour)
	// Fail below the limits changes nothing.
	assert.Zero(t, fail(p, pairBudgets(2, 3, time.Hour, time.Hour)), "Fail below the limit")
	keys.has(failsKey, "2", 59*time.Second, time.Minute)
	keys.absent(lockKey, "below the limit")

	// The pair's budget spent: refused, nothing counted anywhere.
	a = attempt(p, pairBudgets(10, 3, time.Hour, time.Hour))
	require.True(t, a.Found)
	a = attempt(p, pairBudgets(10, 3, time.Hour, time.Hour))
	assert.False(t, a.Found, "attempt with the budget spent")
	lockWithin(t, "AttemptCode with the budget spent", a.Lock, store.ScopePair, 59*time.Second, time.Minute)
	keys.has(failsKey, "3", 59*time.Second, time.Minute)
	keys.has(cfailsKey, "3", 59*time.Minute, time.Hour)
	assert.Equal(t, "4", client.HGet(ctx, codeKey, "at").Val(), "attempts on the code after a refusal")
	l, err := s.Locked(ctx, p)
	require.NoError(t, err)
	assert.Zero(t, l, "a spent budget is not a lock")

	// At the limit: locked for the rest of the window (longer than
	// lockFor), the pair's count deleted, the customer's kept.
	lock := fail(p, pairBudgets(10, 3, time.Hour, 40*time.Second))
	setLockWithin(t, "Fail at the limit", lock, store.ScopePair, 59*time.Second, time.Minute)
	keys.has(lockKey, "1", 59*time.Second, time.Minute)
	keys.absent(failsKey, "after locking")
	keys.has(cfailsKey, "3", 59*time.Minute, time.Hour)

	// While locked: Fail and AttemptCode report the lock and change
	// nothing (Fail without Set); Locked reports it.
	lock2 := fail(p, pairBudgets(10, 3, time.Hour, time.Hour))
	lockWithin(t, "Fail while locked", lock2, store.ScopePair, 0, lock.Remaining)
	// Even a limit below 1, always reached, neither extends nor shortens
	// a lock in force.
	lock2 = fail(p, pairBudgets(10, 0, time.Hour, 2*time.Hour))
	lockWithin(t, "Fail with limit 0 while locked", lock2, store.ScopePair, 0, lock.Remaining)
	a = attempt(p, wide())
	assert.False(t, a.Found)
	lockWithin(t, "AttemptCode while locked", a.Lock, store.ScopePair, 0, lock.Remaining)
	l, err = s.Locked(ctx, p)
	require.NoError(t, err)
	lockWithin(t, "Locked", l, store.ScopePair, 0, lock.Remaining)
	keys.has(lockKey, "1", 59*time.Second, time.Minute)
	keys.absent(failsKey, "while locked")
	keys.has(cfailsKey, "3", 59*time.Minute, time.Hour)
	assert.Equal(t, "4", client.HGet(ctx, codeKey, "at").Val(), "attempts on the code while locked")

	// Succeed forgets both counts, not the lock.
	other := store.Pair{Integration: "goomer", Subject: "other"}
	require.NoError(t, s.PutCode(ctx, other, store.Code{ID: "o"}, time.Minute))
	a = attempt(other, wide())
	require.True(t, a.Found)
	require.NoError(t, s.Succeed(ctx, other))
	keys.absent(prefix+"{other}:fails:goomer", "after Succeed")
	keys.absent(prefix+"{other}:cfails", "after Succeed")
	require.NoError(t, s.Succeed(ctx, p))
	keys.absent(cfailsKey, "after Succeed")
	l, err = s.Locked(ctx, p)
	require.NoError(t, err)
	assert.True(t, l.Locked(), "Succeed must not lift a lock")

	// lockFor longer than the rest of the window: the lock is lockFor,
	// rounded up to the millisecond. Fail reports the lock's PTTL, read in
	// the script after it set the lock, which may be a millisecond or so
	// later.
	lp := store.Pair{Integration: "goomer", Subject: "l"}
	require.NoError(t, s.PutCode(ctx, lp, store.Code{ID: "l"}, time.Minute))
	attempt(lp, pairBudgets(5, 5, time.Second, time.Hour))
	lock = fail(lp, pairBudgets(5, 1, time.Second, 40*time.Second+1500*time.Microsecond))
	setLockWithin(t, "Fail with a lockFor of 40.0015s", lock, store.ScopePair, 39*time.Second, 40*time.Second+2*time.Millisecond)
	assert.Zero(t, lock.Remaining%time.Millisecond, "Fail lock: got %v, want whole milliseconds", lock.Remaining)
	// A refusal at a spent customer budget reports LockFor itself, rounded
	// up to the millisecond the same way, with no time read.
	lc := store.Pair{Integration: "goomer", Subject: "lc"}
	a = attempt(lc, customerBudgets(0, time.Minute, 40*time.Second+1500*time.Microsecond))
	assert.Equal(t, store.Attempt{Lock: store.Lock{Scope: store.ScopeCustomer, Remaining: 40*time.Second + 2*time.Millisecond}}, a)

	// A tiny lock is clamped, never zero or forever.
	lock = fail(store.Pair{Subject: "tiny"}, pairBudgets(5, 0, 0, 0))
	assert.Equal(t, store.Lock{Scope: store.ScopePair, Remaining: store.MinTTL, Set: true}, lock)
	lock = fail(store.Pair{Subject: "tiny-customer"}, customerBudgets(0, 0, 0))
	assert.Equal(t, store.Lock{Scope: store.ScopeCustomer, Remaining: store.MinTTL, Set: true}, lock)

	// A pair budget of 0 refuses and starts an empty window.
	zero := store.Pair{Integration: "goomer", Subject: "zero"}
	a = attempt(zero, pairBudgets(5, 0, time.Minute, time.Hour))
	assert.Equal(t, store.Attempt{Lock: store.Lock{Scope: store.ScopePair, Remaining: time.Minute}}, a)
	keys.has(prefix+"{zero}:fails:goomer", "0", 59*time.Second, time.Minute)

	// A count that somehow lost its expiry gets one again.
	forever := store.Pair{Integration: "goomer", Subject: "forever"}
	require.NoError(t, client.Set(ctx, prefix+"{forever}:fails:goomer", "1", 0).Err())
	require.NoError(t, s.PutCode(ctx, forever, store.Code{ID: "f"}, time.Minute))
	a = attempt(forever, pairBudgets(5, 5, time.Minute, time.Hour))
	require.True(t, a.Found)
	keys.has(prefix+"{forever}:fails:goomer", "2", 59*time.Second, time.Minute)
	forever2 := store.Pair{Integration: "goomer", Subject: "forever2"}
	require.NoError(t, client.Set(ctx, prefix+"{forever2}:fails:goomer", "5", 0).Err())
	a = attempt(forever2, pairBudgets(5, 5, time.Minute, time.Hour))
	assert.Equal(t, store.Attempt{Lock: store.Lock{Scope: store.ScopePair, Remaining: time.Minute}}, a, "a spent budget without expiry")
	keys.has(prefix+"{forever2}:fails:goomer", "5", 59*time.Second, time.Minute)
}

// TestPairIsolation checks that one partner's spent budget and lock leave
// the customer's other partners alone.
func TestPairIsolation(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	keys := keyChecker{t, ctx, client}
	b := pairBudgets(noLimit, 2, time.Minute, time.Hour)
	for _, p := range []store.Pair{goomer, saipos} {
		require.NoError(t, s.PutCode(ctx, p, store.Code{ID: p.Integration}, time.Hour))
	}
	for range 2 {
		a, err := s.AttemptCode(ctx, goomer, b)
		require.NoError(t, err)
		require.True(t, a.Found)
	}
	// goomer's budget spent: goomer refused, saipos counted.
	a, err := s.AttemptCode(ctx, goomer, b)
	require.NoError(t, err)
	lockWithin(t, "goomer's attempt", a.Lock, store.ScopePair, 59*time.Second, time.Minute)
	a, err = s.AttemptCode(ctx, saipos, b)
	require.NoError(t, err)
	require.True(t, a.Found, "saipos's attempt while goomer's budget is spent")
	assert.Zero(t, a.Lock)

	// goomer locked: saipos is not, and its Fail below its limit locks
	// nothing.
	l, err := s.Fail(ctx, goomer, b)
	require.NoError(t, err)
	setLockWithin(t, "goomer's Fail", l, store.ScopePair, 59*time.Minute, time.Hour)
	l, err = s.Locked(ctx, saipos)
	require.NoError(t, err)
	assert.Zero(t, l, "saipos's lock while goomer is locked")
	l, err = s.Fail(ctx, saipos, b)
	require.NoError(t, err)
	assert.Zero(t, l, "saipos's Fail below its limit while goomer is locked")
	a, err = s.AttemptCode(ctx, saipos, b)
	require.NoError(t, err)
	require.True(t, a.Found, "saipos's attempt while goomer is locked")
	assert.Equal(t, 2, a.Code.Attempts)
	keys.has(prefix+"{"+saipos.Subject+"}:fails:saipos", "2", 59*time.Second, time.Minute)

	// Succeed on saipos leaves goomer's lock; Succeed on goomer leaves
	// saipos's count.
	require.NoError(t, s.Succeed(ctx, saipos))
	l, err = s.Locked(ctx, goomer)
	require.NoError(t, err)
	assert.True(t, l.Locked(), "goomer's lock after saipos's Succeed")
	a, err = s.AttemptCode(ctx, saipos, b)
	require.NoError(t, err)
	require.True(t, a.Found)
	require.NoError(t, s.Succeed(ctx, goomer))
	keys.has(prefix+"{"+saipos.Subject+"}:fails:saipos", "1", 0, time.Minute)
}

// TestCustomerBudget checks the customer's consecutive-failure budget and
// lock, shared by all its pairs.
func TestCustomerBudget(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	keys := keyChecker{t, ctx, client}
	const subject = "cpf:12345678909"
	pair := func(in string) store.Pair { return store.Pair{Integration: in, Subject: subject} }
	a, b, c := pair("goomer"), pair("saipos"), pair("repediu")
	base := prefix + "{" + subject + "}:"
	budgets := customerBudgets(3, time.Minute, 24*time.Hour)
	attempt := func(p store.Pair, bs store.Budgets) store.Attempt {
		t.Helper()
		at, err := s.AttemptCode(ctx, p, bs)
		require.NoError(t, err)
		return at
	}
	for _, p := range []store.Pair{a, b} {
		require.NoError(t, s.PutCode(ctx, p, store.Code{ID: p.Integration}, time.Hour))
	}

	// Counts from every pair add up.
	for _, p := range []store.Pair{a, b, a} {
		require.True(t, attempt(p, budgets).Found, "attempt by %s", p.Integration)
	}
	keys.has(base+"cfails", "3", 59*time.Second, time.Minute)
	keys.has(base+"fails:goomer", "2", 59*time.Minute, time.Hour)
	keys.has(base+"fails:saipos", "1", 59*time.Minute, time.Hour)

	// Spent but not yet locked: every pair is refused with a customer lock
	// of LockFor, and nothing is counted.
	at := attempt(b, budgets)
	assert.Equal(t, store.Attempt{Lock: store.Lock{Scope: store.ScopeCustomer, Remaining: 24 * time.Hour}}, at)
	assert.Equal(t, "1", client.HGet(ctx, base+"code:saipos", "at").Val(), "saipos's attempts after a refusal")
	keys.has(base+"cfails", "3", 59*time.Second, time.Minute)

	// Fail locks the customer, and says so, and clears its count; the
	// pair's count, below its limit, stays.
	l, err := s.Fail(ctx, a, budgets)
	require.NoError(t, err)
	setLockWithin(t, "Fail at the customer's limit", l, store.ScopeCustomer, 24*time.Hour-time.Minute, 24*time.Hour)
	keys.has(base+"clock", "1", 24*time.Hour-time.Minute, 24*time.Hour)
	keys.absent(base+"cfails", "after the customer's lock")
	keys.has(base+"fails:goomer", "2", 59*time.Minute, time.Hour)

	// Every pair, even one that never tried, sees the lock.
	for _, p := range []store.Pair{a, b, c} {
		l, err := s.Locked(ctx, p)
		require.NoError(t, err)
		lockWithin(t, "Locked("+p.Integration+")", l, store.ScopeCustomer, 24*time.Hour-time.Minute, 24*time.Hour)
		at := attempt(p, wide())
		assert.False(t, at.Found, "attempt by %s", p.Integration)
		lockWithin(t, "AttemptCode("+p.Integration+")", at.Lock, store.ScopeCustomer, 24*time.Hour-time.Minute, 24*time.Hour)
		l, err = s.Fail(ctx, p, budgets)
		require.NoError(t, err)
		lockWithin(t, "Fail("+p.Integration+") while locked", l, store.ScopeCustomer, 24*time.Hour-time.Minute, 24*time.Hour)
	}
	keys.absent(base+"cfails", "while locked")
	// A limit below 1 neither extends nor shortens the lock in force.
	l, err = s.Fail(ctx, a, customerBudgets(0, time.Minute, 48*time.Hour))
	require.NoError(t, err)
	lockWithin(t, "Fail with limit 0 while locked", l, store.ScopeCustomer, 24*time.Hour-time.Minute, 24*time.Hour)
	keys.has(base+"clock", "1", 24*time.Hour-time.Minute, 24*time.Hour)

	// Succeed lifts no lock.
	require.NoError(t, s.Succeed(ctx, a))
	l, err = s.Locked(ctx, c)
	require.NoError(t, err)
	assert.Equal(t, store.ScopeCustomer, l.Scope, "the customer's lock after Succeed")

	// A customer limit below 1 refuses every attempt with LockFor and
	// writes nothing.
	z := store.Pair{Integration: "goomer", Subject: "zero"}
	require.NoError(t, s.PutCode(ctx, z, store.Code{ID: "z"}, time.Hour))
	for _, limit := range []int{0, -1} {
		at := attempt(z, customerBudgets(limit, time.Minute, time.Hour))
		assert.Equal(t, store.Attempt{Lock: store.Lock{Scope: store.ScopeCustomer, Remaining: time.Hour}}, at, "limit %d", limit)
	}
	keys.absent(prefix+"{zero}:cfails", "customer limit 0")
	keys.absent(prefix+"{zero}:fails:goomer", "customer limit 0")
	assert.Equal(t, "0", client.HGet(ctx, prefix+"{zero}:code:goomer", "at").Val(), "attempts after refusals")
}

// TestLockPrecedence checks which lock is reported when the pair's and the
// customer's are both spent, set or in force.
func TestLockPrecedence(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	keys := keyChecker{t, ctx, client}
	bs := store.Budgets{
		MaxAttempts: noLimit,
		Pair:        store.Budget{Limit: 1, Window: time.Minute, LockFor: 2 * time.Hour},
		Customer:    store.Budget{Limit: 2, Window: time.Minute, LockFor: time.Hour},
	}
	for _, p := range []store.Pair{goomer, saipos} {
		require.NoError(t, s.PutCode(ctx, p, store.Code{ID: p.Integration}, time.Hour))
	}
	a, err := s.AttemptCode(ctx, goomer, bs)
	require.NoError(t, err)
	require.True(t, a.Found)
	l, err := s.Fail(ctx, goomer, bs)
	require.NoError(t, err)
	setLockWithin(t, "goomer's Fail: only the pair's limit reached", l, store.ScopePair, 2*time.Hour-time.Minute, 2*time.Hour)

	// saipos spends both budgets: before any Fail, the customer's refuses
	// first, with its LockFor rather than the rest of the pair's window.
	a, err = s.AttemptCode(ctx, saipos, bs)
	require.NoError(t, err)
	require.True(t, a.Found)
	a, err = s.AttemptCode(ctx, saipos, bs)
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{Lock: store.Lock{Scope: store.ScopeCustomer, Remaining: time.Hour}}, a, "saipos's attempt with both budgets spent")

	// saipos reaches both limits: both locks are set, the customer's is
	// returned, with Set, even though the pair's is longer.
	l, err = s.Fail(ctx, saipos, bs)
	require.NoError(t, err)
	setLockWithin(t, "saipos's Fail: both limits reached", l, store.ScopeCustomer, 59*time.Minute, time.Hour)

	// Both in force: the customer's wins in Locked, AttemptCode and Fail.
	for _, p := range []store.Pair{goomer, saipos} {
		l, err := s.Locked(ctx, p)
		require.NoError(t, err)
		lockWithin(t, "Locked("+p.Integration+")", l, store.ScopeCustomer, 59*time.Minute, time.Hour)
		a, err := s.AttemptCode(ctx, p, bs)
		require.NoError(t, err)
		lockWithin(t, "AttemptCode("+p.Integration+")", a.Lock, store.ScopeCustomer, 59*time.Minute, time.Hour)
		l, err = s.Fail(ctx, p, wide())
		require.NoError(t, err)
		lockWithin(t, "Fail("+p.Integration+")", l, store.ScopeCustomer, 59*time.Minute, time.Hour)
	}

	// On another subject, saipos's attempt was charged before goomer's
	// Fail locked the customer: saipos's Fail sets saipos's pair lock but
	// returns the lock in force, the customer's, without Set.
	const other = "cpf:12345678909"
	goomer2, saipos2 := store.Pair{Integration: "goomer", Subject: other}, store.Pair{Integration: "saipos", Subject: other}
	for _, p := range []store.Pair{goomer2, saipos2} {
		require.NoError(t, s.PutCode(ctx, p, store.Code{ID: p.Integration}, time.Hour))
		a, err := s.AttemptCode(ctx, p, bs)
		require.NoError(t, err)
		require.True(t, a.Found)
	}
	l, err = s.Fail(ctx, goomer2, bs)
	require.NoError(t, err)
	setLockWithin(t, "goomer's Fail: both limits reached", l, store.ScopeCustomer, 59*time.Minute, time.Hour)
	l, err = s.Fail(ctx, saipos2, bs)
	require.NoError(t, err)
	lockWithin(t, "saipos's Fail: its pair locked under the customer's lock", l, store.ScopeCustomer, 59*time.Minute, time.Hour)
	base := prefix + "{" + other + "}:"
	keys.has(base+"lock:saipos", "1", 2*time.Hour-time.Minute, 2*time.Hour)
	keys.absent(base+"fails:saipos", "after saipos's pair lock")

	// Both budgets below 1: the customer's refuses first, and the pair's
	// starts no window.
	zero := store.Pair{Integration: "goomer", Subject: "zero"}
	zeros := store.Budgets{
		MaxAttempts: noLimit,
		Pair:        store.Budget{Limit: 0, Window: time.Minute, LockFor: time.Minute},
		Customer:    store.Budget{Limit: 0, Window: time.Minute, LockFor: time.Hour},
	}
	a, err = s.AttemptCode(ctx, zero, zeros)
	require.NoError(t, err)
	assert.Equal(t, store.Attempt{Lock: store.Lock{Scope: store.ScopeCustomer, Remaining: time.Hour}}, a, "AttemptCode with both budgets of 0")
	keys.absent(prefix+"{zero}:fails:goomer", "both budgets of 0")
}

// TestCustomerWindowSlides checks that the customer's count is forgotten
// after its window without a failure, and that each failure restarts that
// window, while the pair's window stays fixed.
func TestCustomerWindowSlides(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	keys := keyChecker{t, ctx, client}
	bs := store.Budgets{
		MaxAttempts: noLimit,
		Pair:        store.Budget{Limit: noLimit, Window: 400 * time.Millisecond, LockFor: time.Hour},
		Customer:    store.Budget{Limit: noLimit, Window: 300 * time.Millisecond, LockFor: time.Hour},
	}
	base := prefix + "{" + goomer.Subject + "}:"
	require.NoError(t, s.PutCode(ctx, goomer, store.Code{ID: "c"}, time.Hour))
	_, err := s.AttemptCode(ctx, goomer, bs)
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond)
	_, err = s.AttemptCode(ctx, goomer, bs)
	require.NoError(t, err)
	keys.has(base+"cfails", "2", 250*time.Millisecond, 300*time.Millisecond)
	keys.has(base+"fails:goomer", "2", 0, 200*time.Millisecond)
	time.Sleep(320 * time.Millisecond)
	keys.absent(base+"cfails", "a window after the last failure")
}

func TestCooldown(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	const key = "sends:pair:goomer:customer:42"

	allowed, retry, err := s.Cooldown(ctx, key, time.Minute)
	require.NoError(t, err)
	assert.True(t, allowed)
	assert.Zero(t, retry)
	allowed, retry, err = s.Cooldown(ctx, key, time.Hour)
	require.NoError(t, err)
	assert.False(t, allowed)
	assert.True(t, retry > 59*time.Second && retry <= time.Minute, "retryAfter: got %v, want about 1m", retry)
	keyChecker{t, ctx, client}.has(prefix+"{"+key+"}:cool", "1", 59*time.Second, time.Minute)

	for _, d := range []time.Duration{0, -time.Second} {
		allowed, retry, err = s.Cooldown(ctx, key, d)
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
		w, err := s.Hit(ctx, "s", 3, time.Minute)
		require.NoError(t, err)
		assert.Equal(t, store.Window{Allowed: true, Left: 3 - i}, w, "event %d", i)
	}
	w, err := s.Hit(ctx, "s", 3, time.Minute)
	require.NoError(t, err)
	assert.False(t, w.Allowed, "event over the limit")
	assert.Zero(t, w.Left)
	assert.True(t, w.RetryAfter > 59*time.Second && w.RetryAfter <= time.Minute, "RetryAfter: got %v", w.RetryAfter)
	assert.Equal(t, "3", client.Get(ctx, prefix+"{s}:hits").Val(), "a refused event must not count")

	w, err = s.Hit(ctx, "zero", 0, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, store.Window{RetryAfter: time.Minute}, w, "limit 0")
	time.Sleep(5 * time.Millisecond)
	w, err = s.Hit(ctx, "zero", 0, time.Minute)
	require.NoError(t, err)
	assert.False(t, w.Allowed, "limit 0 again")
	assert.True(t, w.RetryAfter > 50*time.Second && w.RetryAfter < time.Minute, "RetryAfter with limit 0 runs down: got %v", w.RetryAfter)

	w, err = s.Hit(ctx, "w", 1, 300*time.Millisecond)
	require.NoError(t, err)
	require.True(t, w.Allowed)
	w, err = s.Hit(ctx, "w", 1, 300*time.Millisecond)
	require.NoError(t, err)
	require.False(t, w.Allowed)
	time.Sleep(w.RetryAfter + 5*time.Millisecond)
	w, err = s.Hit(ctx, "w", 1, 300*time.Millisecond)
	require.NoError(t, err)
	assert.True(t, w.Allowed, "event in a new window")

	// A window that lost its expiry gets one again.
	require.NoError(t, client.Set(ctx, prefix+"{forever}:hits", "2", 0).Err())
	w, err = s.Hit(ctx, "forever", 2, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, store.Window{RetryAfter: time.Minute}, w)
	keyChecker{t, ctx, client}.has(prefix+"{forever}:hits", "2", 59*time.Second, time.Minute)
}

func TestPeek(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	peek := func(key string, limit int) store.Window {
		t.Helper()
		w, err := s.Peek(ctx, key, limit)
		require.NoError(t, err)
		return w
	}
	assert.Equal(t, store.Window{Allowed: true, Left: 3}, peek("s", 3), "Peek of a fresh key")
	keys, err := redistest.Keys(ctx, client, prefix)
	require.NoError(t, err)
	assert.Empty(t, keys, "keys after Peek")

	for i := 1; i <= 3; i++ {
		_, err := s.Hit(ctx, "s", 3, time.Minute)
		require.NoError(t, err)
		if i < 3 {
			assert.Equal(t, store.Window{Allowed: true, Left: 3 - i}, peek("s", 3), "Peek after %d events", i)
		}
	}
	for range 2 {
		w := peek("s", 3)
		assert.False(t, w.Allowed, "Peek of a full window")
		assert.Zero(t, w.Left)
		assert.True(t, w.RetryAfter > 59*time.Second && w.RetryAfter <= time.Minute, "RetryAfter: got %v", w.RetryAfter)
	}
	assert.Equal(t, "3", client.Get(ctx, prefix+"{s}:hits").Val(), "Peek must not count")
	// Another limit reads the same count.
	assert.Equal(t, store.Window{Allowed: true, Left: 2}, peek("s", 5))

	// Limit 0: refused; RetryAfter is the running window's, 0 without one.
	assert.Equal(t, store.Window{}, peek("zero", 0), "limit 0 without a window")
	_, err = s.Hit(ctx, "zero", 0, time.Minute)
	require.NoError(t, err)
	w := peek("zero", 0)
	assert.False(t, w.Allowed)
	assert.True(t, w.RetryAfter > 59*time.Second && w.RetryAfter <= time.Minute, "RetryAfter: got %v", w.RetryAfter)
}

func TestRefund(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	keys := keyChecker{t, ctx, client}

	// Nothing to take back: nothing written.
	require.NoError(t, s.Refund(ctx, "none"))
	keys.absent(prefix+"{none}:hits", "Refund without a window")

	for range 3 {
		w, err := s.Hit(ctx, "s", 3, time.Minute)
		require.NoError(t, err)
		require.True(t, w.Allowed)
	}
	ttl := client.PTTL(ctx, prefix+"{s}:hits").Val()
	require.NoError(t, s.Refund(ctx, "s"))
	keys.has(prefix+"{s}:hits", "2", 0, ttl)
	w, err := s.Hit(ctx, "s", 3, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, store.Window{Allowed: true, Left: 0}, w, "the event after a refund")

	// Never below zero.
	for range 5 {
		require.NoError(t, s.Refund(ctx, "s"))
	}
	keys.has(prefix+"{s}:hits", "0", 0, ttl)
	assert.Equal(t, store.Window{Allowed: true, Left: 3}, func() store.Window {
		w, err := s.Peek(ctx, "s", 3)
		require.NoError(t, err)
		return w
	}())

	// A window brought back to 0 keeps its end: the next event does not
	// start a new one.
	w, err = s.Hit(ctx, "f", 1, 300*time.Millisecond)
	require.NoError(t, err)
	require.True(t, w.Allowed)
	require.NoError(t, s.Refund(ctx, "f"))
	time.Sleep(100 * time.Millisecond)
	w, err = s.Hit(ctx, "f", 1, 300*time.Millisecond)
	require.NoError(t, err)
	require.True(t, w.Allowed)
	keys.has(prefix+"{f}:hits", "1", 0, 200*time.Millisecond)
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
		{"a rate too fast for the TAT's precision", 1e9, 1e9, true, 0},
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

// TestEveryKeyHasTTL runs every method and then checks that each key under
// the prefix expires.
func TestEveryKeyHasTTL(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	const subject = "phone:+5511987654321"
	p := store.Pair{Integration: "goomer", Subject: subject}
	h := store.HashToken("tok")
	lockAll := store.Budgets{
		MaxAttempts: 5,
		Pair:        store.Budget{Limit: 1, Window: time.Minute, LockFor: time.Minute},
		Customer:    store.Budget{Limit: 1, Window: time.Minute, LockFor: time.Minute},
	}

	require.NoError(t, s.PutCode(ctx, p, store.Code{ID: "a", MAC: []byte("m")}, time.Minute))
	a, err := s.AttemptCode(ctx, p, wide())
	require.NoError(t, err)
	require.True(t, a.Found)
	gone := store.Pair{Integration: "goomer", Subject: "gone"}
	require.NoError(t, s.PutCode(ctx, gone, store.Code{ID: "b"}, time.Minute))
	_, err = s.ConsumeCode(ctx, gone, "b")
	require.NoError(t, err)
	require.NoError(t, s.CreateSession(ctx, h, store.Session{CustomerID: "c-0", Integration: "goomer"}, 0))
	require.NoError(t, s.CreateSession(ctx, store.HashToken("keep"), store.Session{CustomerID: "c-1", Integration: "goomer"}, time.Minute))
	require.NoError(t, s.CreateSession(ctx, store.HashToken("revoked"), store.Session{CustomerID: "c-2", Integration: "saipos"}, time.Minute))
	_, _, err = s.GetSession(ctx, store.HashToken("keep"))
	require.NoError(t, err)
	for _, action := range []string{"redeem", "transfer"} {
		first, err := s.UseSession(ctx, store.HashToken("keep"), action)
		require.NoError(t, err)
		require.True(t, first)
	}
	_, err = s.UseSession(ctx, store.HashToken("revoked"), "redeem")
	require.NoError(t, err)
	_, err = s.UseSession(ctx, store.HashToken("never"), "redeem")
	require.NoError(t, err)
	n, err := s.RevokeSessions(ctx, store.ScopeCustomer, "c-2")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = s.CountSessions(ctx, store.ScopeIntegration, "goomer")
	require.NoError(t, err)
	lock, err := s.Fail(ctx, p, lockAll)
	require.NoError(t, err)
	require.True(t, lock.Locked(), "Fail at the limits")
	_, err = s.Fail(ctx, p, wide())
	require.NoError(t, err)
	// A counted attempt writes both failure counts; a refusal at a pair
	// budget of 0 writes an empty window.
	other := store.Pair{Integration: "saipos", Subject: "other"}
	require.NoError(t, s.PutCode(ctx, other, store.Code{ID: "o"}, time.Minute))
	a, err = s.AttemptCode(ctx, other, wide())
	require.NoError(t, err)
	require.True(t, a.Found)
	a, err = s.AttemptCode(ctx, store.Pair{Integration: "goomer", Subject: "zero-budget"}, pairBudgets(5, 0, time.Minute, time.Minute))
	require.NoError(t, err)
	require.True(t, a.Lock.Locked())
	_, err = s.Locked(ctx, p)
	require.NoError(t, err)
	for i := 0; i < 2; i++ {
		_, _, err = s.Cooldown(ctx, subject, time.Minute)
		require.NoError(t, err)
		_, err = s.Hit(ctx, subject, 5, time.Minute)
		require.NoError(t, err)
		_, err = s.Peek(ctx, subject, 5)
		require.NoError(t, err)
		require.NoError(t, s.Refund(ctx, subject))
		_, _, err = s.Take(ctx, "integration-1", 1, 5)
		require.NoError(t, err)
		_, _, err = s.Take(ctx, "integration-2", 0, 1)
		require.NoError(t, err)
	}
	_, err = s.Hit(ctx, "nothing", 0, time.Minute)
	require.NoError(t, err)
	_, err = s.Peek(ctx, "peeked", 0)
	require.NoError(t, err)
	require.NoError(t, s.Refund(ctx, "refunded"))
	require.NoError(t, s.Succeed(ctx, p))
	_, err = s.Status(ctx, subject)
	require.NoError(t, err)
	require.NoError(t, s.Unlock(ctx, "unlocked", "goomer"))
	require.NoError(t, s.Unlock(ctx, "unlocked", ""))

	keys, err := redistest.Keys(ctx, client, prefix)
	require.NoError(t, err)
	want := []string{
		prefix + "session:{" + store.HashToken("keep") + "}",
		prefix + "session:{" + store.HashToken("keep") + "}:used",
		prefix + "{c:c-1}:sessions",
		prefix + "{i:goomer}:sessions",
		prefix + "{i:saipos}:sessions",
		prefix + "{other}:pairs",
		prefix + "{zero-budget}:pairs",
		prefix + "{" + subject + "}:pairs",
		prefix + "{bucket:integration-1}",
		prefix + "{bucket:integration-2}:fixed",
		prefix + "{nothing}:hits",
		prefix + "{other}:cfails",
		prefix + "{other}:code:saipos",
		prefix + "{other}:fails:saipos",
		prefix + "{zero-budget}:fails:goomer",
		prefix + "{" + subject + "}:clock",
		prefix + "{" + subject + "}:code:goomer",
		prefix + "{" + subject + "}:cool",
		prefix + "{" + subject + "}:hits",
		prefix + "{" + subject + "}:lock:goomer",
	}
	sort.Strings(want)
	// The session written with ttl 0 lives 1 ms and may still be there,
	// and so may the index of its customer, which it alone is in.
	brief := map[string]bool{prefix + "session:{" + h + "}": true, prefix + "{c:c-0}:sessions": true}
	var kept []string
	for _, k := range keys {
		if !brief[k] {
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
		case ttl == 0 && brief[k]: // the 1 ms session or its index, in its last millisecond
		case ttl <= 0:
			t.Errorf("PTTL %s: got %v, want > 0", k, ttl)
		}
	}
}

func TestConcurrentCodes(t *testing.T) {
	s, _, _ := newTestStore(t)
	ctx := context.Background()
	require.NoError(t, s.PutCode(ctx, goomer, store.Code{ID: "c"}, time.Minute))

	const n = 200
	counts := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a, err := s.AttemptCode(ctx, goomer, wide())
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
			deleted[i], errs[i] = s.ConsumeCode(ctx, goomer, "c")
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

// TestConcurrentBudgets checks that concurrent attempts from several
// partners never get past the pair's or the customer's budget.
func TestConcurrentBudgets(t *testing.T) {
	s, _, _ := newTestStore(t)
	ctx := context.Background()
	const partners, perPartner = 4, 60
	tests := []struct {
		name                     string
		pairLimit, customerLimit int
		want                     func(counted [partners]int) string
	}{
		{"customer budget", noLimit, 50, func(c [partners]int) string {
			if sum := c[0] + c[1] + c[2] + c[3]; sum != 50 {
				return fmt.Sprintf("counted %v in all: got %d, want 50", c, sum)
			}
			return ""
		}},
		{"pair budget", 20, noLimit, func(c [partners]int) string {
			if c != [partners]int{20, 20, 20, 20} {
				return fmt.Sprintf("counted per partner: got %v, want 20 each", c)
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subject := "customer:" + tt.name
			bs := store.Budgets{
				MaxAttempts: noLimit,
				Pair:        store.Budget{Limit: tt.pairLimit, Window: time.Minute, LockFor: time.Minute},
				Customer:    store.Budget{Limit: tt.customerLimit, Window: time.Minute, LockFor: time.Minute},
			}
			for i := range partners {
				p := store.Pair{Integration: fmt.Sprint("partner-", i), Subject: subject}
				require.NoError(t, s.PutCode(ctx, p, store.Code{ID: "c"}, time.Minute))
			}
			var mu sync.Mutex
			var counted [partners]int
			errs := make([]error, partners*perPartner)
			var wg sync.WaitGroup
			for i := range partners * perPartner {
				wg.Add(1)
				go func() {
					defer wg.Done()
					partner := i % partners
					a, err := s.AttemptCode(ctx, store.Pair{Integration: fmt.Sprint("partner-", partner), Subject: subject}, bs)
					switch {
					case err != nil:
						errs[i] = err
					case a.Found:
						mu.Lock()
						counted[partner]++
						mu.Unlock()
					case !a.Lock.Locked():
						errs[i] = errors.New("neither counted nor refused")
					}
				}()
			}
			wg.Wait()
			require.NoError(t, errors.Join(errs...))
			if msg := tt.want(counted); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// TestConcurrentHits checks that concurrent Hits count exactly limit events
// and that exactly one of them sees the event that fills the window.
func TestConcurrentHits(t *testing.T) {
	s, _, _ := newTestStore(t)
	ctx := context.Background()
	const n, limit = 200, 50
	windows := make([]store.Window, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			windows[i], errs[i] = s.Hit(ctx, "fails:integration:goomer", limit, time.Minute)
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	var allowed, filled int
	lefts := map[int]bool{}
	for _, w := range windows {
		if w.Allowed {
			allowed++
			lefts[w.Left] = true
			if w.Left == 0 {
				filled++
			}
		}
	}
	assert.Equal(t, limit, allowed, "allowed events")
	assert.Equal(t, 1, filled, "events that filled the window")
	assert.Len(t, lefts, limit, "distinct Left values of allowed events")
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
	_, err = s.Fail(ctx, goomer, wide())
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.AttemptCode(ctx, goomer, wide())
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.Locked(ctx, goomer)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.Succeed(ctx, goomer), context.Canceled)
	_, err = s.Hit(ctx, "k", 1, time.Minute)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.Peek(ctx, "k", 1)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.Refund(ctx, "k"), context.Canceled)
	assert.Less(t, time.Since(start), 100*time.Millisecond)
}

func TestClosedClient(t *testing.T) {
	prefix := redistest.Prefix(t, redistest.Client(t))
	client := redis.NewClient(&redis.Options{Addr: redistest.Addr(), ContextTimeoutEnabled: true})
	s, err := New(client, WithPrefix(prefix))
	require.NoError(t, err)
	require.NoError(t, client.Close())

	ctx := context.Background()
	tests := []struct {
		op  string
		err error
	}{
		{"get session", func() error { _, _, err := s.GetSession(ctx, "h"); return err }()},
		{"attempt code", func() error { _, err := s.AttemptCode(ctx, goomer, wide()); return err }()},
		{"fail", func() error { _, err := s.Fail(ctx, goomer, wide()); return err }()},
		{"locked", func() error { _, err := s.Locked(ctx, goomer); return err }()},
		{"succeed", s.Succeed(ctx, goomer)},
		{"put code", s.PutCode(ctx, goomer, store.Code{}, time.Minute)},
		{"take", func() error { _, _, err := s.Take(ctx, "k", 1, 1); return err }()},
		{"hit", func() error { _, err := s.Hit(ctx, "k", 1, time.Minute); return err }()},
		{"peek", func() error { _, err := s.Peek(ctx, "k", 1); return err }()},
		{"refund", s.Refund(ctx, "k")},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			assert.ErrorIs(t, tt.err, redis.ErrClosed)
			assert.ErrorContains(t, tt.err, "redisstore: "+tt.op+": ")
		})
	}
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
			_, err = s.Fail(ctx, goomer, wide())
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
