package redistest

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quickClient returns a client of addr that gives up after timeout and
// never retries, closed when tb ends.
func quickClient(tb testing.TB, addr string, timeout time.Duration) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1, ReadTimeout: timeout, DialTimeout: timeout})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func TestStartServer(t *testing.T) {
	s := StartServer(t, "--maxmemory-policy", "allkeys-lru")
	host, port, err := net.SplitHostPort(s.Addr())
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
	assert.NotEqual(t, "6379", port, "a started server must not take the shared Redis's port")

	ctx := context.Background()
	c := quickClient(t, s.Addr(), time.Second)
	for param, want := range map[string]string{
		"maxmemory-policy": "allkeys-lru", // from args
		"save":             "",            // the defaults
		"appendonly":       "no",
		"bind":             "127.0.0.1",
	} {
		got, err := c.ConfigGet(ctx, param).Result()
		require.NoError(t, err)
		assert.Equal(t, want, got[param], "%s: got %q, want %q", param, got[param], want)
	}

	other := StartServer(t)
	assert.NotEqual(t, s.Addr(), other.Addr(), "two servers: got the same address twice")
}

func TestServerPauseResumeKill(t *testing.T) {
	s := StartServer(t)
	ctx := context.Background()
	c := quickClient(t, s.Addr(), 200*time.Millisecond)
	require.NoError(t, c.Ping(ctx).Err())

	s.Pause()
	start := time.Now()
	err := c.Ping(ctx).Err()
	assert.Error(t, err, "PING of a paused server: got no error")
	assert.Less(t, time.Since(start), time.Second, "PING of a paused server must time out, not hang")

	s.Resume()
	require.NoError(t, c.Ping(ctx).Err(), "PING after Resume")

	s.Kill()
	assert.Error(t, c.Ping(ctx).Err(), "PING of a killed server: got no error")
	s.Kill() // a second Kill does nothing
}

func TestStartReplica(t *testing.T) {
	m := StartServer(t)
	r := StartReplica(t, m)
	ctx := context.Background()
	mc := quickClient(t, m.Addr(), 2*time.Second)
	rc := quickClient(t, r.Addr(), 2*time.Second)

	require.NoError(t, mc.Set(ctx, "k", "v", time.Minute).Err())
	n, err := mc.Wait(ctx, 1, time.Second).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "WAIT 1: got %d replicas, want 1", n)
	got, err := rc.Get(ctx, "k").Result()
	require.NoError(t, err)
	assert.Equal(t, "v", got)

	// A paused replica acknowledges nothing.
	r.Pause()
	require.NoError(t, mc.Set(ctx, "k", "w", time.Minute).Err())
	n, err = mc.Wait(ctx, 1, 100*time.Millisecond).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(0), n, "WAIT 1 with the replica paused: got %d replicas, want 0", n)
	r.Resume()
	n, err = mc.Wait(ctx, 1, 2*time.Second).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "WAIT 1 after Resume: got %d replicas, want 1", n)
}

func TestStartSentinel(t *testing.T) {
	m := StartServer(t)
	s := StartSentinel(t, "otpguard", m)
	c := quickClient(t, s.Addr(), time.Second)
	addr, err := c.Do(context.Background(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "otpguard").StringSlice()
	require.NoError(t, err)
	assert.Equal(t, m.Addr(), net.JoinHostPort(addr[0], addr[1]))

	// A failover client finds the master through it.
	fc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "otpguard", SentinelAddrs: []string{s.Addr()}, ContextTimeoutEnabled: true})
	defer fc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(t, fc.Set(ctx, "k", "v", time.Minute).Err())
	got, err := quickClient(t, m.Addr(), time.Second).Get(ctx, "k").Result()
	require.NoError(t, err)
	assert.Equal(t, "v", got)
}

func TestStartServerNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no redis-server there
	tests := []struct {
		name, required string
		wantFail       bool
	}{
		{"skips by default", "", false},
		{"fails when required", "1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(RequiredEnv, tt.required)
			r := &recorder{}
			r.run(func(tb testing.TB) { StartServer(tb) })
			assert.Equal(t, tt.wantFail, r.failed, "failed: got %v, want %v", r.failed, tt.wantFail)
			assert.Equal(t, !tt.wantFail, r.skipped, "skipped: got %v, want %v", r.skipped, !tt.wantFail)
			assert.Contains(t, r.msg, "redis-server is not installed")
		})
	}
}

// fatalRecorder is the test it wraps, except that Fatalf records the
// message and ends the goroutine.
type fatalRecorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *fatalRecorder) Failed() bool { return r.failed }

func TestStartServerBadArgs(t *testing.T) {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		StartServer(r, "--no-such-option", "1")
	}()
	<-done
	assert.True(t, r.failed, "a server that cannot start: got failed=%v, want true", r.failed)
	assert.Contains(t, r.msg, "no-such-option", "the failure should show the server's complaint")
}
