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
// every key under it (SCAN, then UNLINK) when tb ends. A failed clean-up
// fails tb. c must still be open then: a client from Client or NewClient
// made before Prefix is called is, since cleanups run last registered,
// first.
func Prefix(tb testing.TB, c redis.UniversalClient) string {
	tb.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:]) // never returns an error
	prefix := KeyPrefix + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		keys, err := Keys(ctx, c, prefix)
		if err != nil {
			tb.Errorf("redistest: clean up: %v", err)
			return
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				tb.Errorf("redistest: clean up: unlink %d keys under %s: %v", len(keys), prefix, err)
			}
		}
	})
	return prefix
}

// Keys returns every key under prefix, sorted, found by SCAN (never KEYS,
// so a large database is not blocked).
func Keys(ctx context.Context, c redis.UniversalClient, prefix string) ([]string, error) {
	var keys []string
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("redistest: scan %s*: %w", prefix, err)
	}
	sort.Strings(keys)
	return keys, nil
}
