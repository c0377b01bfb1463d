package redistest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAddr(t *testing.T) {
	tests := []struct {
		name, env, want string
	}{
		{"unset", "", DefaultAddr},
		{"set", "10.1.2.3:7000", "10.1.2.3:7000"},
		{"unix socket", "/run/redis.sock", "/run/redis.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(AddrEnv, tt.env)
			got := Addr()
			assert.Equal(t, tt.want, got, "got %q, want %q", got, tt.want)
		})
	}
}

// recorder is a testing.TB whose Skip and Fatal record the message and end
// the goroutine, as the real ones do. Only Helper, Skip and Fatal may be
// called on it.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

// run calls f with r on a goroutine of its own, which Skip and Fatal end,
// and waits for it.
func (r *recorder) run(f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

func TestRequireUnreachable(t *testing.T) {
	const addr = "127.0.0.1:1" // nothing listens on port 1
	tests := []struct {
		name, required string
		wantFail       bool
	}{
		{"skips by default", "", false},
		{"skips unless exactly 1", "yes", false},
		{"fails when required", "1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(RequiredEnv, tt.required)
			r := &recorder{}
			start := time.Now()
			r.run(func(tb testing.TB) { requireAddr(tb, addr) })
			assert.Equal(t, tt.wantFail, r.failed, "failed: got %v, want %v", r.failed, tt.wantFail)
			assert.Equal(t, !tt.wantFail, r.skipped, "skipped: got %v, want %v", r.skipped, !tt.wantFail)
			assert.Contains(t, r.msg, "Redis at "+addr+" is unreachable (set OTPGUARD_REDIS_ADDR to use another): ")
			assert.Less(t, time.Since(start), 2*probeTimeout, "the probe must be bounded by its timeout")
		})
	}
}

func TestRequireReachable(t *testing.T) {
	Require(t) // this test needs the Redis it checks
	r := &recorder{}
	r.run(func(tb testing.TB) { requireAddr(tb, Addr()) })
	assert.False(t, r.skipped || r.failed, "got skipped=%v failed=%v (%s), want neither", r.skipped, r.failed, r.msg)
}

func TestClientClosedAtCleanup(t *testing.T) {
	Require(t)
	var c *redis.Client
	t.Run("inner", func(t *testing.T) {
		c = Client(t)
		require.NoError(t, c.Ping(context.Background()).Err())
	})
	require.NotNil(t, c, "the inner test made no client")
	err := c.Ping(context.Background()).Err()
	assert.ErrorIs(t, err, redis.ErrClosed, "ping after the test ended: got %v, want redis.ErrClosed", err)
}

// TestPrefix writes keys under two prefixes of a subtest, more than one
// SCAN batch under the first, and checks that when the subtest ends every
// one of them is gone and a key outside the prefixes is not.
func TestPrefix(t *testing.T) {
	c := Client(t)
	ctx := context.Background()
	outside := Prefix(t, c) + "survivor"
	require.NoError(t, c.Set(ctx, outside, "1", time.Minute).Err())

	const many = 2500
	var p1, p2 string
	t.Run("inner", func(t *testing.T) {
		p1, p2 = Prefix(t, c), Prefix(t, c)
		assert.NotEqual(t, p1, p2, "two prefixes: got the same %q twice", p1)
		for _, p := range []string{p1, p2} {
			assert.Regexp(t, `^otpguard-test:[0-9a-f]{16}:$`, p)
			assert.False(t, strings.HasPrefix(outside, p), "prefix %q covers the outside key %q", p, outside)
		}
		pipe := c.Pipeline()
		for i := range many {
			pipe.Set(ctx, fmt.Sprintf("%sk%04d", p1, i), i, time.Minute)
		}
		pipe.Set(ctx, p2+"session:{abc}", "s", time.Minute)
		pipe.HSet(ctx, p2+"hash", "f", "v")
		_, err := pipe.Exec(ctx)
		require.NoError(t, err)

		keys, err := Keys(ctx, c, p1)
		require.NoError(t, err)
		require.Len(t, keys, many, "Keys under %s: got %d, want %d", p1, len(keys), many)
		assert.Equal(t, p1+"k0000", keys[0], "first key: got %q, want the smallest", keys[0])
		assert.Equal(t, fmt.Sprintf("%sk%04d", p1, many-1), keys[many-1], "last key: got %q, want the largest", keys[many-1])
		keys, err = Keys(ctx, c, p2)
		require.NoError(t, err)
		assert.Equal(t, []string{p2 + "hash", p2 + "session:{abc}"}, keys)
	})
	require.NotEmpty(t, p1, "the inner test did not run")

	for _, p := range []string{p1, p2} {
		keys, err := Keys(ctx, c, p)
		require.NoError(t, err)
		assert.Empty(t, keys, "keys under %s after the test ended: got %v, want none", p, keys)
	}
	n, err := c.Exists(ctx, outside).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "the key outside the prefixes: got %d, want it kept", n)
}

func TestKeysError(t *testing.T) {
	c := Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	keys, err := Keys(ctx, c, "otpguard-test:none:")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "redistest: scan otpguard-test:none:*: ")
	assert.Nil(t, keys)
}
