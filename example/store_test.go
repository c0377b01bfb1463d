package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flagsSet returns an isSet that reports the names given as set.
func flagsSet(names ...string) func(string) bool {
	return func(name string) bool {
		for _, n := range names {
			if n == name {
				return true
			}
		}
		return false
	}
}

// TestNewRedisClient checks the client each topology gets, without
// contacting Redis: go-redis parses the URL and picks the kind of client,
// and every client bounds its calls by context deadlines.
func TestNewRedisClient(t *testing.T) {
	t.Run("one address", func(t *testing.T) {
		c, where, err := newRedisClient(storeFlags{addr: "127.0.0.1:6380"}, "pw")
		require.NoError(t, err)
		defer c.Close()
		rc, ok := c.(*redis.Client)
		require.True(t, ok, "got %T, want *redis.Client", c)
		assert.Equal(t, "127.0.0.1:6380", rc.Options().Addr)
		assert.Equal(t, "pw", rc.Options().Password, "the password from REDIS_PASSWORD")
		assert.True(t, rc.Options().ContextTimeoutEnabled)
		assert.Equal(t, "redis at 127.0.0.1:6380", where)
	})
	t.Run("comma list is a cluster", func(t *testing.T) {
		c, where, err := newRedisClient(storeFlags{addr: "127.0.0.1:7101, 127.0.0.1:7102,127.0.0.1:7103"}, "pw")
		require.NoError(t, err)
		defer c.Close()
		cc, ok := c.(*redis.ClusterClient)
		require.True(t, ok, "got %T, want *redis.ClusterClient", c)
		assert.Equal(t, []string{"127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"}, cc.Options().Addrs)
		assert.Equal(t, "pw", cc.Options().Password)
		assert.True(t, cc.Options().ContextTimeoutEnabled)
		assert.Equal(t, "redis cluster at 127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103", where)
	})
	t.Run("master behind sentinels", func(t *testing.T) {
		c, where, err := newRedisClient(storeFlags{addr: "127.0.0.1:26379,127.0.0.1:26380", master: "mymaster"}, "pw")
		require.NoError(t, err)
		defer c.Close()
		rc, ok := c.(*redis.Client)
		require.True(t, ok, "got %T, want the *redis.Client of NewFailoverClient", c)
		assert.Equal(t, "pw", rc.Options().Password, "the master's password from REDIS_PASSWORD")
		assert.True(t, rc.Options().ContextTimeoutEnabled)
		assert.Equal(t, `redis master "mymaster" via the sentinels at 127.0.0.1:26379,127.0.0.1:26380`, where)
	})
	t.Run("URL", func(t *testing.T) {
		c, where, err := newRedisClient(storeFlags{addr: "ignored:1", url: "redis://app:s3cret@redis.internal:6390/2?dial_timeout=2s"}, "")
		require.NoError(t, err)
		defer c.Close()
		rc, ok := c.(*redis.Client)
		require.True(t, ok, "got %T, want *redis.Client", c)
		o := rc.Options()
		assert.Equal(t, "redis.internal:6390", o.Addr)
		assert.Equal(t, "app", o.Username)
		assert.Equal(t, "s3cret", o.Password)
		assert.Equal(t, 2, o.DB)
		assert.Equal(t, 2*time.Second, o.DialTimeout)
		assert.Nil(t, o.TLSConfig)
		assert.True(t, o.ContextTimeoutEnabled)
		assert.Equal(t, "redis at redis.internal:6390", where)
	})
	t.Run("TLS URL with REDIS_PASSWORD", func(t *testing.T) {
		c, where, err := newRedisClient(storeFlags{url: "rediss://app@redis.example.com:6380"}, "from-env")
		require.NoError(t, err)
		defer c.Close()
		o := c.(*redis.Client).Options()
		require.NotNil(t, o.TLSConfig, "rediss:// must use TLS")
		assert.Equal(t, "redis.example.com", o.TLSConfig.ServerName)
		assert.Equal(t, "app", o.Username)
		assert.Equal(t, "from-env", o.Password)
		assert.True(t, o.ContextTimeoutEnabled)
		assert.Equal(t, "redis at redis.example.com:6380 (TLS)", where)
	})
	t.Run("cluster URL", func(t *testing.T) {
		c, where, err := newRedisClient(storeFlags{url: "rediss://:s3cret@10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000&read_timeout=2s"}, "")
		require.NoError(t, err)
		defer c.Close()
		cc, ok := c.(*redis.ClusterClient)
		require.True(t, ok, "got %T, want *redis.ClusterClient", c)
		o := cc.Options()
		assert.Equal(t, []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}, o.Addrs)
		assert.Equal(t, "s3cret", o.Password)
		assert.Equal(t, 2*time.Second, o.ReadTimeout)
		assert.NotNil(t, o.TLSConfig)
		assert.True(t, o.ContextTimeoutEnabled)
		assert.Equal(t, "redis cluster at 10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000 (TLS)", where)
	})

	errs := []struct {
		name     string
		f        storeFlags
		password string
		want     string
	}{
		{"empty address", storeFlags{addr: " , "}, "", "-redis-addr is empty"},
		{"URL and master", storeFlags{url: "redis://h:1", master: "mymaster"}, "", "-redis-master takes the Sentinels from -redis-addr"},
		{"URL and address", storeFlags{url: "redis://h:1", addr: "h:2", isSet: flagsSet("redis-addr")}, "", "-redis-url and -redis-addr"},
		{"two passwords", storeFlags{url: "redis://:s3cret@h:1"}, "pw", "-redis-url has a password and so does REDIS_PASSWORD"},
		{"two passwords, cluster", storeFlags{url: "redis://:s3cret@h:1?addr=h:2"}, "pw", "-redis-url has a password and so does REDIS_PASSWORD"},
		{"bad URL", storeFlags{url: "redis://app:s3cret@host:port"}, "", "-redis-url: invalid port"},
		{"bad scheme", storeFlags{url: "http://app:s3cret@host:1"}, "", "-redis-url: redis: invalid URL scheme: http"},
		{"unknown parameter", storeFlags{url: "redis://app:s3cret@host:1?colour=blue"}, "", "-redis-url: redis: unexpected option: colour"},
		{"bad database", storeFlags{url: "redis://app:s3cret@host:1/x"}, "", "-redis-url: redis: invalid database number"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := newRedisClient(tt.f, tt.password)
			require.Error(t, err, "got a %T, want an error containing %q", c, tt.want)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "s3cret", "the error shows the password")
		})
	}
}

// TestOpenStoreErrors checks the errors of openStore before and at the
// ping, with nothing listening.
func TestOpenStoreErrors(t *testing.T) {
	tests := []struct {
		name string
		f    storeFlags
		want string
	}{
		{"unknown store", storeFlags{kind: "etcd"}, `-store "etcd"`},
		{"zero timeout", storeFlags{kind: "redis", addr: "127.0.0.1:1"}, "-redis-timeout 0s"},
		{"negative replicas", storeFlags{kind: "redis", addr: "127.0.0.1:1", timeout: time.Second, minReplicas: -1}, "-redis-min-replicas -1"},
		{"bad URL", storeFlags{kind: "redis", url: "redis://h:1/x", timeout: time.Second}, "-redis-url"},
		{"unreachable cluster", storeFlags{kind: "redis", addr: "127.0.0.1:1,127.0.0.1:2", prefix: "x:", timeout: 100 * time.Millisecond}, "redis cluster at 127.0.0.1:1,127.0.0.1:2 is unreachable"},
		{"unreachable URL", storeFlags{kind: "redis", url: "redis://u:s3cret@127.0.0.1:1", prefix: "x:", timeout: 100 * time.Millisecond}, "redis at 127.0.0.1:1 is unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := openStore(ctx, tt.f, noEnv)
			require.Error(t, err, "got no error, want one containing %q", tt.want)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}

// TestStoreFlagsHelp checks that -h gives the default of every store flag,
// those whose default the flag package leaves out (zero values) included.
func TestStoreFlagsHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-h"}, noEnv, &stdout, &stderr))
	help := stderr.String()
	for flag, def := range map[string]string{
		"-store":              `(default "memory")`,
		"-redis-addr":         `(default "127.0.0.1:6379")`,
		"-redis-url":          "Default none: -redis-addr is used",
		"-redis-master":       "Default none: no Sentinels",
		"-redis-prefix":       `(default "otpguard:")`,
		"-redis-timeout":      "(default 500ms)",
		"-redis-min-replicas": "Default 0: no waiting",
	} {
		m := regexp.MustCompile(`(?ms)^  ` + flag + `( [a-z]+)?\n(.*?)(^  -|\z)`).FindStringSubmatch(help)
		if assert.NotNil(t, m, "-h does not list %s", flag) {
			assert.Contains(t, strings.Join(strings.Fields(m[2]), " "), def, "-h on %s", flag)
		}
	}
	assert.Contains(t, help, "REDIS_PASSWORD")
}
