// Command loadtest serves the example loyalty API on a loopback port and
// drives it with concurrent clients, then prints requests per second and
// the 50th and 99th percentile latencies of
//
//	(a) GET /api/v2/rewards/, an action no policy guards;
//	(b) POST /api/v2/coupons/MARIA10/validate/ with a valid X-OTP-Session,
//	    as Balcão Local, a strict partner (the guard looks the session up);
//	(c) the whole flow of a new customer: request-otp, verify-otp (the code
//	    is read from the development sender's output), award points (no
//	    OTP) and redeem a reward (guarded, with the new session).
//
// Usage:
//
//	go run ./cmd/loadtest [-duration 10s] [-concurrency 32] [-store memory|redis] [-redis-addr 127.0.0.1:6379]
//
// Each scenario runs for -duration. The server binds only 127.0.0.1:0 and
// is shut down at the end; every client loop is bounded in time and count.
// With -store redis the codes, sessions and counters live on Redis under a
// fresh random key prefix, deleted at the end.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpguard/otpguard/store/redisstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// defaultRedisAddr is OTPGUARD_REDIS_ADDR, or Redis's usual local address.
func defaultRedisAddr() string {
	if a := os.Getenv("OTPGUARD_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// errFailedRequests is returned by run when any request failed.
var errFailedRequests = errors.New("some requests failed")

// run parses args, runs the load test and prints its table on stdout. It
// returns an error wrapping errFailedRequests when any request failed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		duration    = fs.Duration("duration", 10*time.Second, "how long each scenario runs")
		concurrency = fs.Int("concurrency", 32, "concurrent clients per scenario")
		storeName   = fs.String("store", "memory", "where codes and sessions live: memory or redis")
		redisAddr   = fs.String("redis-addr", defaultRedisAddr(), "Redis address for -store redis (default from OTPGUARD_REDIS_ADDR)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	cfg := config{duration: *duration, concurrency: *concurrency, storeName: *storeName}
	switch *storeName {
	case "memory":
	case "redis":
		st, cleanup, err := openRedis(ctx, *redisAddr)
		if err != nil {
			return err
		}
		defer cleanup()
		cfg.store = st
		cfg.storeName = "redis (" + *redisAddr + ")"
	default:
		return fmt.Errorf("-store %q: want memory or redis", *storeName)
	}
	rep, err := runLoad(ctx, cfg)
	if err != nil {
		return err
	}
	if err := rep.print(stdout, runtime.Version()); err != nil {
		return err
	}
	if n := rep.Errors(); n > 0 {
		return fmt.Errorf("%w: %d", errFailedRequests, n)
	}
	return nil
}

// openRedis returns a Redis store under a fresh random prefix, and a
// function that deletes the prefix's keys and closes the client.
func openRedis(ctx context.Context, addr string) (*redisstore.Store, func(), error) {
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		_ = client.Close()
		return nil, nil, fmt.Errorf("redis at %s: %w", addr, err)
	}
	var raw [8]byte
	_, _ = rand.Read(raw[:])
	prefix := "otpguard-loadtest-" + hex.EncodeToString(raw[:]) + ":"
	st, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		_ = client.Close()
		return nil, nil, fmt.Errorf("redis store: %w", err)
	}
	cleanup := func() {
		defer client.Close()
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = deletePrefix(dctx, client, prefix)
	}
	return st, cleanup, nil
}

// deletePrefix deletes every key under prefix, a thousand at a time.
func deletePrefix(ctx context.Context, client *redis.Client, prefix string) error {
	iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	keys := make([]string, 0, 1000)
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		err := client.Del(ctx, keys...).Err()
		keys = keys[:0]
		if err != nil {
			return fmt.Errorf("delete keys: %w", err)
		}
		return nil
	}
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == cap(keys) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan keys: %w", err)
	}
	return flush()
}
