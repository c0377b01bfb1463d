package redistest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClusterAddrs(t *testing.T) {
	tests := []struct {
		name, env string
		want      []string
	}{
		{"unset", "", nil},
		{"blank", " , ", nil},
		{"one", "127.0.0.1:7101", []string{"127.0.0.1:7101"}},
		{"three with blanks", "127.0.0.1:7101, 127.0.0.1:7102 ,,127.0.0.1:7103", []string{"127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(ClusterAddrsEnv, tt.env)
			got := ClusterAddrs()
			assert.Equal(t, tt.want, got, "got %q, want %q", got, tt.want)
		})
	}
}

func TestRequireClusterUnusable(t *testing.T) {
	tests := []struct {
		name     string
		addrs    []string
		required string
		wantFail bool
		wantMsg  string
	}{
		{"unset skips", nil, "", false, "no Redis Cluster: set OTPGUARD_REDIS_CLUSTER_ADDRS"},
		{"unset fails when required", nil, "1", true, "no Redis Cluster: set OTPGUARD_REDIS_CLUSTER_ADDRS"},
		{"unreachable skips", []string{"127.0.0.1:1"}, "", false, "Redis Cluster at 127.0.0.1:1 is unusable (set OTPGUARD_REDIS_CLUSTER_ADDRS to use another): "},
		{"unreachable skips unless exactly 1", []string{"127.0.0.1:1"}, "yes", false, "Redis Cluster at 127.0.0.1:1 is unusable"},
		{"unreachable fails when required", []string{"127.0.0.1:1"}, "1", true, "Redis Cluster at 127.0.0.1:1 is unusable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(ClusterRequiredEnv, tt.required)
			r := &recorder{}
			start := time.Now()
			r.run(func(tb testing.TB) { requireCluster(tb, tt.addrs) })
			assert.Equal(t, tt.wantFail, r.failed, "failed: got %v, want %v", r.failed, tt.wantFail)
			assert.Equal(t, !tt.wantFail, r.skipped, "skipped: got %v, want %v", r.skipped, !tt.wantFail)
			assert.Contains(t, r.msg, tt.wantMsg)
			assert.Less(t, time.Since(start), 2*probeTimeout, "the probe must be bounded by its timeout")
		})
	}
}

// TestRequireClusterNotACluster points the cluster probe at the single test
// Redis, which answers but is no cluster.
func TestRequireClusterNotACluster(t *testing.T) {
	Require(t)
	t.Setenv(ClusterRequiredEnv, "")
	r := &recorder{}
	r.run(func(tb testing.TB) { requireCluster(tb, []string{Addr()}) })
	assert.True(t, r.skipped, "got skipped=%v failed=%v (%s), want a skip", r.skipped, r.failed, r.msg)
	assert.Contains(t, r.msg, "Redis Cluster at "+Addr()+" is unusable")
}

func TestClusterClient(t *testing.T) {
	RequireCluster(t)
	var c *redis.ClusterClient
	t.Run("inner", func(t *testing.T) {
		c = ClusterClient(t)
		assert.True(t, c.Options().ContextTimeoutEnabled, "ContextTimeoutEnabled: got false, want true")
		assert.Equal(t, ClusterAddrs(), c.Options().Addrs)
		require.NoError(t, c.Ping(context.Background()).Err())
	})
	require.NotNil(t, c, "the inner test made no client")
	err := c.Ping(context.Background()).Err()
	assert.ErrorIs(t, err, redis.ErrClosed, "ping after the test ended: got %v, want redis.ErrClosed", err)
}

// masterKeys returns, by master address, the keys under prefix that each
// master of c holds.
func masterKeys(t *testing.T, c *redis.ClusterClient, prefix string) map[string][]string {
	t.Helper()
	var mu sync.Mutex
	byNode := map[string][]string{}
	err := c.ForEachMaster(context.Background(), func(ctx context.Context, node *redis.Client) error {
		keys, err := scan(ctx, node, prefix)
		mu.Lock()
		byNode[node.Options().Addr] = keys
		mu.Unlock()
		return err
	})
	require.NoError(t, err)
	return byNode
}

// TestClusterPrefix writes keys in many slots under two prefixes of a
// subtest and checks that Keys finds every one, although no master holds
// them all, and that when the subtest ends every one is gone from every
// master and a key outside the prefixes is not.
func TestClusterPrefix(t *testing.T) {
	c := ClusterClient(t)
	ctx := context.Background()
	outside := Prefix(t, c) + "survivor"
	require.NoError(t, c.Set(ctx, outside, "1", time.Minute).Err())

	const many = 1500
	var p1, p2 string
	t.Run("inner", func(t *testing.T) {
		p1, p2 = Prefix(t, c), Prefix(t, c)
		for _, p := range []string{p1, p2} {
			assert.False(t, strings.HasPrefix(outside, p), "prefix %q covers the outside key %q", p, outside)
		}
		pipe := c.Pipeline()
		for i := range many {
			pipe.Set(ctx, fmt.Sprintf("%sk%04d", p1, i), i, time.Minute)
		}
		pipe.Set(ctx, p2+"session:{abc}", "s", time.Minute)
		pipe.HSet(ctx, p2+"{abc}:hash", "f", "v")
		pipe.HSet(ctx, p2+"hash", "f", "v")
		_, err := pipe.Exec(ctx)
		require.NoError(t, err)

		byNode := masterKeys(t, c, p1)
		require.GreaterOrEqual(t, len(byNode), 2, "masters: got %d, want a cluster of several", len(byNode))
		for addr, keys := range byNode {
			assert.NotEmpty(t, keys, "master %s holds none of %d keys in many slots", addr, many)
			assert.Less(t, len(keys), many, "master %s holds all %d keys", addr, many)
		}
		keys, err := Keys(ctx, c, p1)
		require.NoError(t, err)
		require.Len(t, keys, many, "Keys under %s: got %d, want %d", p1, len(keys), many)
		assert.Equal(t, p1+"k0000", keys[0], "first key: got %q, want the smallest", keys[0])
		assert.Equal(t, fmt.Sprintf("%sk%04d", p1, many-1), keys[many-1], "last key: got %q, want the largest", keys[many-1])
		keys, err = Keys(ctx, c, p2)
		require.NoError(t, err)
		assert.Equal(t, []string{p2 + "hash", p2 + "session:{abc}", p2 + "{abc}:hash"}, keys)
	})
	require.NotEmpty(t, p1, "the inner test did not run")

	for _, p := range []string{p1, p2} {
		for addr, keys := range masterKeys(t, c, p) {
			assert.Empty(t, keys, "keys under %s on %s after the test ended: got %v, want none", p, addr, keys)
		}
	}
	n, err := c.Exists(ctx, outside).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "the key outside the prefixes: got %d, want it kept", n)
}

func TestClusterKeysError(t *testing.T) {
	c := ClusterClient(t)
	require.NoError(t, c.Ping(context.Background()).Err()) // loads the slots
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	keys, err := Keys(ctx, c, "otpguard-test:none:")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "redistest: scan otpguard-test:none:*: node 127.0.0.1:")
	assert.Nil(t, keys)
}
