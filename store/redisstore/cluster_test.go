package redisstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/storetest"
)

// The tests of this file run on the test Redis Cluster
// (OTPGUARD_REDIS_CLUSTER_ADDRS; bash .ci/run cluster starts one), and are
// skipped without it unless OTPGUARD_REDIS_CLUSTER_REQUIRED=1. On a cluster
// a script whose keys lie in different slots fails with CROSSSLOT, and a
// key is on one master only, which a single Redis cannot show.

// newClusterStore returns a store on the test cluster under a fresh prefix,
// whose keys are deleted from every master when tb ends, and its client.
func newClusterStore(tb testing.TB, opts ...Option) (*Store, *redis.ClusterClient, string) {
	tb.Helper()
	client := redistest.ClusterClient(tb)
	prefix := redistest.Prefix(tb, client)
	s, err := New(client, append([]Option{WithPrefix(prefix)}, opts...)...)
	require.NoError(tb, err)
	return s, client, prefix
}

// clusterHarness is harness on the test cluster.
var clusterHarness = storetest.Harness{
	New: func(tb testing.TB) store.Store {
		s, _, _ := newClusterStore(tb, WithTimeout(2*time.Second))
		return s
	},
	Advance: func(_ testing.TB, d time.Duration) { time.Sleep(d) },
}

func TestClusterConformance(t *testing.T) {
	redistest.RequireCluster(t)
	storetest.Run(t, clusterHarness)
}

// storeKeys returns every key s can write for the awkward names, by the
// record it holds.
func storeKeys(t *testing.T, s *Store) map[string]string {
	t.Helper()
	keys := map[string]string{}
	for _, subject := range awkward {
		k := s.keysOf(store.Pair{Subject: subject})
		keys[k.cfails], keys[k.clock], keys[k.pairs] = "cfails", "clock", "pairs"
		for _, in := range awkward {
			k := s.keysOf(store.Pair{Integration: in, Subject: subject})
			keys[k.code], keys[k.fails], keys[k.lock] = "code", "fails", "lock"
		}
	}
	for _, key := range awkward {
		keys[s.taggedKey(key, kindCool)], keys[s.taggedKey(key, kindHits)] = "cool", "hits"
		keys[s.sessionKey(key)], keys[s.usedKey(key)] = "session", "used"
		keys[s.bucketKey(key)], keys[s.bucketKey(key)+":fixed"] = "bucket", "fixed bucket"
		for _, scope := range []store.LockScope{store.ScopeCustomer, store.ScopeIntegration} {
			idx, err := s.sessionIndexKey(scope, key)
			require.NoError(t, err)
			keys[idx] = "session index"
		}
	}
	return keys
}

// TestClusterKeySlots checks keySlot, on which TestClusterSlots relies,
// against CLUSTER KEYSLOT of the real cluster for every key the store can
// write for the awkward names, and that the cluster puts the keys of one
// subject (all its pairs' included) in one slot, and a session with its use
// marks.
func TestClusterKeySlots(t *testing.T) {
	_, client, prefix := newClusterStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node, err := client.MasterForKey(ctx, "any")
	require.NoError(t, err)

	for _, p := range []string{DefaultPrefix, prefix} {
		s, err := New(client, WithPrefix(p))
		require.NoError(t, err)
		keys := storeKeys(t, s)
		slots := make(map[string]*redis.IntCmd, len(keys))
		_, err = node.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for k := range keys {
				slots[k] = pipe.ClusterKeySlot(ctx, k)
			}
			return nil
		})
		require.NoError(t, err)
		slot := func(key string) int64 {
			if c, ok := slots[key]; ok {
				return c.Val()
			}
			n, err := node.ClusterKeySlot(ctx, key).Result()
			require.NoError(t, err)
			return n
		}
		for k, what := range keys {
			if got, want := int64(keySlot(k)), slot(k); got != want {
				t.Errorf("keySlot(%q) (%s): got %d, want %d (CLUSTER KEYSLOT)", k, what, got, want)
			}
		}
		for _, subject := range awkward {
			want := slot(s.keysOf(store.Pair{Subject: subject}).code)
			for _, in := range awkward {
				k := s.keysOf(store.Pair{Integration: in, Subject: subject})
				for _, key := range []string{k.code, k.fails, k.lock, k.cfails, k.clock, k.pairs} {
					if got := slot(key); got != want {
						t.Errorf("CLUSTER KEYSLOT %q: got %d, want %d (the subject's)", key, got, want)
					}
				}
			}
		}
		for _, key := range awkward {
			if got, want := slot(s.usedKey(key)), slot(s.sessionKey(key)); got != want {
				t.Errorf("CLUSTER KEYSLOT %q: got %d, want %d (its session's)", s.usedKey(key), got, want)
			}
		}
	}
}

// masterTTLs returns, by master address, the PTTL of every key under prefix
// that master holds, read from that master.
func masterTTLs(t *testing.T, ctx context.Context, c *redis.ClusterClient, prefix string) map[string]map[string]time.Duration {
	t.Helper()
	var mu sync.Mutex
	byNode := map[string]map[string]time.Duration{}
	err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		ttls := map[string]time.Duration{}
		iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			ttl, err := node.PTTL(ctx, iter.Val()).Result()
			if err != nil {
				return err
			}
			ttls[iter.Val()] = ttl
		}
		mu.Lock()
		byNode[node.Options().Addr] = ttls
		mu.Unlock()
		return iter.Err()
	})
	require.NoError(t, err)
	return byNode
}

// TestClusterEveryKeyHasTTL runs every store operation on the cluster, for
// several customers so that the keys spread over the masters, and checks on
// each master that every key it holds under the prefix expires.
func TestClusterEveryKeyHasTTL(t *testing.T) {
	s, client, prefix := newClusterStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lockAll := store.Budgets{
		MaxAttempts: 5,
		Pair:        store.Budget{Limit: 1, Window: time.Minute, LockFor: time.Minute},
		Customer:    store.Budget{Limit: 1, Window: time.Minute, LockFor: time.Minute},
	}
	subjects := []string{"phone:+5511987654321", "phone:+5511912345678", "email:maria@example.com", "email:joao@example.com", "phone:+5521999990000", "a", "b", "c"}
	for i, subject := range subjects {
		for _, in := range []string{"goomer", "saipos"} {
			p := store.Pair{Integration: in, Subject: subject}
			require.NoError(t, s.PutCode(ctx, p, store.Code{ID: "a", MAC: []byte("m")}, time.Minute))
			a, err := s.AttemptCode(ctx, p, wide())
			require.NoError(t, err)
			require.True(t, a.Found)
		}
		gone := store.Pair{Integration: "goomer", Subject: subject}
		_, err := s.ConsumeCode(ctx, gone, "a")
		require.NoError(t, err)
		locked := store.Pair{Integration: "saipos", Subject: subject}
		lock, err := s.Fail(ctx, locked, lockAll)
		require.NoError(t, err)
		require.True(t, lock.Locked(), "Fail at the limits")
		_, err = s.Locked(ctx, locked)
		require.NoError(t, err)
		_, err = s.AttemptCode(ctx, store.Pair{Integration: "goomer", Subject: subject + ":zero"}, pairBudgets(5, 0, time.Minute, time.Minute))
		require.NoError(t, err)
		_, err = s.Status(ctx, subject)
		require.NoError(t, err)
		require.NoError(t, s.Unlock(ctx, subject+":unlocked", "goomer"))
		require.NoError(t, s.Unlock(ctx, subject+":unlocked", ""))

		_, _, err = s.Cooldown(ctx, subject, time.Minute)
		require.NoError(t, err)
		_, err = s.Hit(ctx, subject, 5, time.Minute)
		require.NoError(t, err)
		_, err = s.Peek(ctx, subject, 5)
		require.NoError(t, err)
		require.NoError(t, s.Refund(ctx, subject))
		_, err = s.Hit(ctx, subject+":nothing", 0, time.Minute)
		require.NoError(t, err)
		_, _, err = s.Take(ctx, subject, 1, 5)
		require.NoError(t, err)
		_, _, err = s.Take(ctx, subject+":fixed", 0, 1)
		require.NoError(t, err)

		customer := "c-" + subject
		keep, revoked := store.HashToken("keep"+subject), store.HashToken("revoked"+subject)
		require.NoError(t, s.CreateSession(ctx, keep, store.Session{CustomerID: customer, Integration: "goomer"}, time.Minute))
		require.NoError(t, s.CreateSession(ctx, revoked, store.Session{CustomerID: customer + ":r", Integration: "saipos"}, time.Minute))
		_, _, err = s.GetSession(ctx, keep)
		require.NoError(t, err)
		first, err := s.UseSession(ctx, keep, "redeem")
		require.NoError(t, err)
		require.True(t, first)
		_, err = s.UseSession(ctx, revoked, "redeem")
		require.NoError(t, err)
		if i%2 == 0 {
			_, err = s.RevokeSession(ctx, revoked)
		} else {
			_, err = s.RevokeSessions(ctx, store.ScopeCustomer, customer+":r")
		}
		require.NoError(t, err)
		_, err = s.CountSessions(ctx, store.ScopeIntegration, "goomer")
		require.NoError(t, err)
		require.NoError(t, s.Succeed(ctx, store.Pair{Integration: "goomer", Subject: subject}))
	}

	byNode := masterTTLs(t, ctx, client, prefix)
	all := map[string]bool{}
	holding := 0
	for addr, ttls := range byNode {
		if len(ttls) > 0 {
			holding++
		}
		for k, ttl := range ttls {
			all[k] = true
			switch {
			case ttl == -1: // go-redis reports "no expiry" as -1
				t.Errorf("PTTL %s on %s: the key has no expiry", k, addr)
			case ttl == -2: // expired since the scan
			case ttl <= 0:
				t.Errorf("PTTL %s on %s: got %v, want > 0", k, addr, ttl)
			}
		}
	}
	assert.GreaterOrEqual(t, holding, 2, "masters holding keys: got %d of %d, want the keys spread", holding, len(byNode))
	keys, err := redistest.Keys(ctx, client, prefix)
	require.NoError(t, err)
	assert.Len(t, keys, len(all), "Keys: got %d keys, want the %d the masters hold", len(keys), len(all))
	// Every kind of record was written, so every kind's TTL was seen.
	const subject = "phone:+5511987654321"
	k := s.keysOf(store.Pair{Integration: "saipos", Subject: subject})
	customers, err := s.sessionIndexKey(store.ScopeCustomer, "c-"+subject)
	require.NoError(t, err)
	integrations, err := s.sessionIndexKey(store.ScopeIntegration, "goomer")
	require.NoError(t, err)
	for _, key := range []string{
		k.code, k.lock, k.clock, k.pairs,
		s.taggedKey(subject, kindCool),
		s.taggedKey(subject, kindHits),
		s.taggedKey(subject+":nothing", kindHits),
		s.bucketKey(subject),
		s.bucketKey(subject+":fixed") + ":fixed",
		s.sessionKey(store.HashToken("keep" + subject)),
		s.usedKey(store.HashToken("keep" + subject)),
		customers, integrations,
	} {
		assert.True(t, all[key], "key %s: not found on any master, want it written", key)
	}
}
