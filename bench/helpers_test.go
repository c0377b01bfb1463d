package bench_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpguard/otpguard/keyring"
)

// Every HTTP benchmark serves pre-built requests through the same
// recorder, so the numbers differ only by the middleware in front of the
// handler.

// benchPath is the path of every benchmark request: a guarded action of
// the example API, POST so that gorilla/csrf checks its token.
const benchPath = "/api/v2/customers/cust-0/rewards/rwd_free_coffee/redeem/"

// benchKeys is how many distinct clients (remote addresses, sessions,
// cookies) a benchmark cycles through.
const benchKeys = 1024

// The domains otpcode signs codes and makes subject pseudonyms in, for the
// benchmarks that put records straight into a store.
const (
	codeDomain    = "otpguard/code/v1"
	subjectDomain = "otpguard/subject/v1"
)

// newKeyring returns the benchmarks' keyring: one fixed key, so that every
// keyring it returns signs and verifies alike.
func newKeyring(tb testing.TB) *keyring.Keyring {
	tb.Helper()
	k, err := keyring.New(bytes.Repeat([]byte{7}, keyring.MinKeyBytes))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// recorder is a ResponseWriter that keeps only the status code. Its header
// map is reused and cleared before each request (see reset), so it adds no
// allocation of its own and middleware that calls Header().Add does not
// make it grow.
type recorder struct {
	h      http.Header
	status int
}

func newRecorder() *recorder { return &recorder{h: make(http.Header, 8)} }

func (w *recorder) Header() http.Header { return w.h }

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

// reset forgets the previous response.
func (w *recorder) reset() {
	clear(w.h)
	w.status = 0
}

// newRequest returns the benchmark request of client i: POST benchPath
// from a remote address of its own (in 198.18.0.0/15, the range RFC 2544
// sets aside for benchmarks; no traffic is sent anywhere).
func newRequest(i int) *http.Request {
	r := httptest.NewRequest(http.MethodPost, benchPath, nil)
	r.RemoteAddr = fmt.Sprintf("198.18.%d.%d:40000", i/256%256, i%256)
	return r
}

// okHandler is the handler behind every middleware, and the baseline.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusOK)
})

// serveOnce serves r once through h and fails tb unless the answer is 200.
// Each case calls it during set-up, so a misconfigured middleware is found
// before anything is timed.
func serveOnce(tb testing.TB, h http.Handler, r *http.Request) {
	tb.Helper()
	w := newRecorder()
	h.ServeHTTP(w, r)
	if w.status != http.StatusOK {
		tb.Fatalf("set-up request: got status %d, want 200", w.status)
	}
}

// runSerial serves reqs in turn through h, b.N times in all.
func runSerial(b *testing.B, h http.Handler, reqs []*http.Request) {
	b.Helper()
	serveOnce(b, h, reqs[0])
	w := newRecorder()
	n := len(reqs)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w.reset()
		h.ServeHTTP(w, reqs[i%n])
	}
	b.StopTimer()
	if w.status != http.StatusOK {
		b.Fatalf("last request: got status %d, want 200", w.status)
	}
}

// runParallel serves reqs through h from GOMAXPROCS goroutines, each
// starting at its own offset.
func runParallel(b *testing.B, h http.Handler, reqs []*http.Request) {
	b.Helper()
	serveOnce(b, h, reqs[0])
	n := uint64(len(reqs))
	var seed, bad atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := newRecorder()
		i := seed.Add(7919)
		for pb.Next() {
			i++
			w.reset()
			h.ServeHTTP(w, reqs[i%n])
			if w.status != http.StatusOK {
				bad.Add(1)
			}
		}
	})
	b.StopTimer()
	if got := bad.Load(); got != 0 {
		b.Fatalf("got %d answers other than 200, want none", got)
	}
}

// redisAddr returns the address of the benchmarks' Redis.
func redisAddr() string {
	if a := os.Getenv("OTPGUARD_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// newRedis returns a client of the benchmarks' Redis and a fresh random key
// prefix whose keys are deleted when tb ends. It skips tb when Redis is
// unreachable, or fails it when OTPGUARD_REDIS_REQUIRED=1.
func newRedis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	client := redis.NewClient(&redis.Options{Addr: redisAddr(), ContextTimeoutEnabled: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		msg := fmt.Sprintf("Redis at %s is unreachable (set OTPGUARD_REDIS_ADDR to use another): %v", redisAddr(), err)
		if os.Getenv("OTPGUARD_REDIS_REQUIRED") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	var raw [8]byte
	_, _ = rand.Read(raw[:])
	prefix := "otpguard-bench-" + hex.EncodeToString(raw[:]) + ":"
	tb.Cleanup(func() {
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
			if len(keys) == 1000 {
				if err := client.Del(ctx, keys...).Err(); err != nil {
					tb.Errorf("delete bench keys: %v", err)
					return
				}
				keys = keys[:0]
			}
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("scan bench keys: %v", err)
			return
		}
		if len(keys) > 0 {
			if err := client.Del(ctx, keys...).Err(); err != nil {
				tb.Errorf("delete bench keys: %v", err)
			}
		}
	})
	return client, prefix
}
