package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/redisstore"
)

// pingTimeout bounds the Redis ping at start, connection included.
const pingTimeout = 3 * time.Second

// storeFlags choose where codes, sessions and counters are kept.
type storeFlags struct {
	kind    string // "memory" or "redis"
	addr    string
	prefix  string
	timeout time.Duration
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kind, "store", "memory", "where codes, sessions and counters are kept: memory or redis")
	fs.StringVar(&f.addr, "redis-addr", "127.0.0.1:6379", "Redis address (HOST:PORT), with -store redis")
	fs.StringVar(&f.prefix, "redis-prefix", redisstore.DefaultPrefix, "prefix of every Redis key, with -store redis")
	fs.DurationVar(&f.timeout, "redis-timeout", redisstore.DefaultTimeout, "bound on every Redis call, with -store redis; past it a guarded request fails closed with 503")
}

// openStore returns the store the flags name, a description for the
// banner, and a function that releases it. The memory store is left to
// loyalty.New (a nil store). A Redis store gets its own client, which is
// pinged once (within ctx and pingTimeout) so that a wrong address is an
// error at start rather than 503s later.
func openStore(ctx context.Context, f storeFlags) (store.Store, string, func(), error) {
	switch f.kind {
	case "memory":
		return nil, "memory (lost when the server stops)", func() {}, nil
	case "redis":
	default:
		return nil, "", nil, fmt.Errorf("-store %q: want memory or redis", f.kind)
	}
	if f.timeout <= 0 {
		return nil, "", nil, fmt.Errorf("-redis-timeout %v: must be positive", f.timeout)
	}
	client := redis.NewClient(&redis.Options{
		Addr: f.addr,
		// redisstore bounds every call by a context deadline, which
		// go-redis honours only with this set; redisstore.New checks it.
		ContextTimeoutEnabled: true,
	})
	st, err := redisstore.New(client, redisstore.WithPrefix(f.prefix), redisstore.WithTimeout(f.timeout))
	if err != nil {
		_ = client.Close()
		return nil, "", nil, fmt.Errorf("redis store: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		_ = client.Close()
		return nil, "", nil, fmt.Errorf("redis at %s is unreachable (check -redis-addr, or use -store memory): %w", f.addr, err)
	}
	info := fmt.Sprintf("redis at %s, key prefix %q, timeout %v", f.addr, f.prefix, f.timeout)
	return st, info, func() { _ = client.Close() }, nil
}
