// Package redistest connects the module's tests to a real Redis and keeps
// them from leaving anything behind in it.
//
// The Redis is OTPGUARD_REDIS_ADDR, or 127.0.0.1:6379 when that is unset.
// A test that needs it calls Client (or Require): when the Redis cannot be
// reached the test is skipped with a message that names the address, unless
// OTPGUARD_REDIS_REQUIRED=1, which turns the skip into a failure (for CI,
// where a missing Redis must not pass silently). Each test works under its
// own random key prefix from Prefix, whose keys are deleted when the test
// ends; no test flushes the database.
//
// Tests that need a Redis Cluster call ClusterClient, which reads the
// cluster's addresses from OTPGUARD_REDIS_CLUSTER_ADDRS and skips the test
// when it is unset or the cluster unusable, unless
// OTPGUARD_REDIS_CLUSTER_REQUIRED=1. Keys and Prefix's clean-up work on
// every master of a cluster.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// AddrEnv names the variable that holds the test Redis's address.
	AddrEnv = "OTPGUARD_REDIS_ADDR"
	// RequiredEnv names the variable that, set to "1", makes an unreachable
	// test Redis fail the tests instead of skipping them.
	RequiredEnv = "OTPGUARD_REDIS_REQUIRED"
	// DefaultAddr is the test Redis's address when AddrEnv is unset or
	// empty.
	DefaultAddr = "127.0.0.1:6379"
	// KeyPrefix starts every prefix Prefix returns.
	KeyPrefix = "otpguard-test:"
)

// Timeouts of the probe and of the clean-up.
const (
	probeTimeout   = time.Second
	cleanupTimeout = 5 * time.Second
)

// Addr returns the test Redis's address: OTPGUARD_REDIS_ADDR, or
// DefaultAddr when it is unset or empty. It reads the variable on every
// call.
func Addr() string {
	if a := os.Getenv(AddrEnv); a != "" {
		return a
	}
	return DefaultAddr
}

// probes holds, by address, the result of the one ping of that address.
var probes sync.Map // string -> func() error (a sync.OnceValue)

// probe pings addr once per process, with a short timeout and no retries,
// and returns that ping's error on every call, so that an unreachable Redis
// costs one timeout rather than one per test.
func probe(addr string) error {
	f, _ := probes.LoadOrStore(addr, sync.OnceValue(func() error {
		c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		return c.Ping(ctx).Err() // Require's message names addr
	}))
	return f.(func() error)()
}

// Require skips tb when the test Redis (Addr) cannot be reached, or fails
// it when OTPGUARD_REDIS_REQUIRED=1. The address is probed once per process
// (a ping with a one-second timeout); later calls reuse the result.
func Require(tb testing.TB) {
	tb.Helper()
	requireAddr(tb, Addr())
}

// requireAddr is Require for addr.
func requireAddr(tb testing.TB, addr string) {
	tb.Helper()
	err := probe(addr)
	if err == nil {
		return
	}
	msg := fmt.Sprintf("Redis at %s is unreachable (set %s to use another): %v", addr, AddrEnv, err)
	if os.Getenv(RequiredEnv) == "1" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// Client returns a client of the test Redis, closed when tb ends. It calls
// Require first, so tb is skipped, or failed, when the Redis is
// unreachable. The client is built as the library expects its callers to
// build theirs, with ContextTimeoutEnabled, so that context deadlines bound
// every command.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	Require(tb)
	return NewClient(tb, Addr())
}

// NewClient returns a client of addr with ContextTimeoutEnabled, closed when
// tb ends. Unlike Client it does not check that addr answers: it is for a
// client of something that stands in front of the test Redis, such as a
// proxy that a test cuts off.
func NewClient(tb testing.TB, addr string) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Prefix returns a fresh random key prefix, KeyPrefix followed by 16 hex
// digits and a colon, and registers with tb the deletion, through c, of
// every key under it (SCAN, then UNLINK, on every master of a cluster) when
// tb ends. A failed clean-up fails tb. c must still be open then: a client
// from Client, NewClient or ClusterClient made before Prefix is called is,
// since cleanups run last registered, first.
func Prefix(tb testing.TB, c redis.UniversalClient) string {
	tb.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:]) // never returns an error
	prefix := KeyPrefix + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := deleteUnder(ctx, c, prefix); err != nil {
			tb.Errorf("redistest: clean up: %v", err)
		}
	})
	return prefix
}

// Keys returns every key under prefix, sorted, found by SCAN (never KEYS,
// so a large database is not blocked). On a *redis.ClusterClient it scans
// every master, and on a *redis.Ring every shard, since one node's SCAN
// sees only that node's keys.
func Keys(ctx context.Context, c redis.UniversalClient, prefix string) ([]string, error) {
	var (
		mu   sync.Mutex
		keys []string
	)
	err := forEachNode(ctx, c, func(ctx context.Context, node redis.Cmdable) error {
		found, err := scan(ctx, node, prefix)
		mu.Lock()
		keys = append(keys, found...)
		mu.Unlock()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("redistest: scan %s*: %w", prefix, err)
	}
	sort.Strings(keys)
	return keys, nil
}

// scan returns the keys under prefix on node.
func scan(ctx context.Context, node redis.Cmdable, prefix string) ([]string, error) {
	var keys []string
	iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	return keys, iter.Err()
}

// deleteUnder unlinks every key under prefix, node by node. Each key is
// unlinked by a command of its own, pipelined, since a cluster node refuses
// a command whose keys lie in different slots.
func deleteUnder(ctx context.Context, c redis.UniversalClient, prefix string) error {
	return forEachNode(ctx, c, func(ctx context.Context, node redis.Cmdable) error {
		keys, err := scan(ctx, node, prefix)
		if err != nil {
			return fmt.Errorf("scan %s*: %w", prefix, err)
		}
		if len(keys) == 0 {
			return nil
		}
		_, err = node.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Unlink(ctx, k)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("unlink %d keys under %s: %w", len(keys), prefix, err)
		}
		return nil
	})
}

// forEachNode calls f with every node that holds keys of c: each master of a
// *redis.ClusterClient and each shard of a *redis.Ring, concurrently, or
// else c itself. It returns an error of f, naming the node's address on a
// cluster or ring.
func forEachNode(ctx context.Context, c redis.UniversalClient, f func(ctx context.Context, node redis.Cmdable) error) error {
	onNode := func(ctx context.Context, node *redis.Client) error {
		if err := f(ctx, node); err != nil {
			return fmt.Errorf("node %s: %w", node.Options().Addr, err)
		}
		return nil
	}
	switch c := c.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, onNode)
	case *redis.Ring:
		return c.ForEachShard(ctx, onNode)
	default:
		return f(ctx, c)
	}
}
