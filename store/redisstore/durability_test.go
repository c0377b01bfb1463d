package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/redistest"
)

// storeOn returns a store with the default options on c.
func storeOn(tb testing.TB, c redis.UniversalClient) *Store {
	tb.Helper()
	s, err := New(c)
	require.NoError(tb, err)
	return s
}

func TestCheckDurability(t *testing.T) {
	ctx := context.Background()

	t.Run("noeviction", func(t *testing.T) {
		srv := redistest.StartServer(t, "--maxmemory-policy", "noeviction")
		assert.NoError(t, storeOn(t, redistest.NewClient(t, srv.Addr())).CheckDurability(ctx))
	})

	t.Run("eviction policies", func(t *testing.T) {
		srv := redistest.StartServer(t, "--maxmemory-policy", "allkeys-lru")
		c := redistest.NewClient(t, srv.Addr())
		s := storeOn(t, c)
		for _, policy := range []string{"allkeys-lru", "volatile-lru", "volatile-ttl", "allkeys-random", "volatile-lfu"} {
			require.NoError(t, c.ConfigSet(ctx, "maxmemory-policy", policy).Err())
			err := s.CheckDurability(ctx)
			require.ErrorIs(t, err, ErrEviction, "%s: got %v, want ErrEviction", policy, err)
			assert.NotErrorIs(t, err, ErrConfigUnavailable)
			msg := err.Error()
			for _, want := range []string{
				"redisstore: check durability: ",
				srv.Addr(),
				"maxmemory-policy " + policy,
				"set maxmemory-policy noeviction: with any eviction policy Redis may drop locks, counters and sessions, handing out fresh guess budgets",
			} {
				assert.Contains(t, msg, want, "%s", policy)
			}
		}
	})

	t.Run("CONFIG renamed away", func(t *testing.T) {
		srv := redistest.StartServer(t, "--rename-command", "CONFIG", "")
		err := storeOn(t, redistest.NewClient(t, srv.Addr())).CheckDurability(ctx)
		require.ErrorIs(t, err, ErrConfigUnavailable, "got %v", err)
		assert.NotErrorIs(t, err, ErrEviction)
		assert.Contains(t, err.Error(), "unknown command")
		assert.Contains(t, err.Error(), srv.Addr())
	})

	t.Run("CONFIG denied by ACL", func(t *testing.T) {
		srv := redistest.StartServer(t)
		admin := redistest.NewClient(t, srv.Addr())
		require.NoError(t, admin.Do(ctx, "ACL", "SETUSER", "app", "on", ">app-password", "~*", "&*", "+@all", "-config").Err())
		c := redis.NewClient(&redis.Options{Addr: srv.Addr(), Username: "app", Password: "app-password", ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = c.Close() })
		err := storeOn(t, c).CheckDurability(ctx)
		require.ErrorIs(t, err, ErrConfigUnavailable, "got %v", err)
		assert.Contains(t, err.Error(), "NOPERM")
	})

	t.Run("unreachable is not a refusal", func(t *testing.T) {
		srv := redistest.StartServer(t)
		c := redistest.NewClient(t, srv.Addr())
		s, err := New(c, WithTimeout(200*time.Millisecond))
		require.NoError(t, err)
		srv.Pause()
		defer srv.Resume()
		start := time.Now()
		err = s.CheckDurability(ctx)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, ErrConfigUnavailable)
		assert.NotErrorIs(t, err, ErrEviction)
		assert.Less(t, time.Since(start), time.Second, "the operation timeout bounds the check")
	})

	t.Run("cluster", func(t *testing.T) {
		cc, rs := startCluster(t)
		s := storeOn(t, cc)
		require.NoError(t, s.CheckDurability(ctx))
		require.NoError(t, rs.client.ConfigSet(ctx, "maxmemory-policy", "volatile-lru").Err())
		err := s.CheckDurability(ctx)
		require.ErrorIs(t, err, ErrEviction, "got %v", err)
		assert.Contains(t, err.Error(), rs.master.Addr()+" has maxmemory-policy volatile-lru")
	})
}

// replyError is an error reply as go-redis returns it.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

func TestConfigRefused(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{replyError("ERR unknown command 'config', with args beginning with: 'get' 'maxmemory-policy'"), true},
		{replyError("NOPERM User app has no permissions to run the 'config|get' command"), true},
		{replyError("ERR CONFIG is disabled on this service"), true},
		{fmt.Errorf("wrapped: %w", replyError("ERR unsupported command")), true},
		{replyError("LOADING Redis is loading the dataset in memory"), false},
		{replyError("MASTERDOWN Link with MASTER is down"), false},
		{replyError("BUSY Redis is busy running a script"), false},
		{replyError("TRYAGAIN Multiple keys request during rehashing of slot"), false},
		{replyError("CLUSTERDOWN The cluster is down"), false},
		{context.DeadlineExceeded, false},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), false},
		{redis.ErrClosed, false},
	}
	for _, tt := range tests {
		name, _, _ := strings.Cut(tt.err.Error(), " ")
		t.Run(name, func(t *testing.T) {
			got := configRefused(tt.err)
			assert.Equal(t, tt.want, got, "configRefused(%q): got %v, want %v", tt.err, got, tt.want)
		})
	}
}
