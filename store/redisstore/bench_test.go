package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/storetest"
)

// BenchmarkGetSessionVsGet measures GetSession against a plain go-redis GET
// of the same key, in one run, so that the cost GetSession adds (operation
// timeout, decoding) can be read as a ratio of the two.
func BenchmarkGetSessionVsGet(b *testing.B) {
	s, client, _ := newTestStore(b)
	ctx := context.Background()
	h := store.HashToken("benchmark-token")
	sess := store.Session{
		Integration: "goomer",
		CustomerID:  "customer-1",
		Subject:     "phone:+5511987654321",
		Purpose:     "redeem",
		Scopes:      []string{"redeem_reward"},
		ExpiresAt:   time.Now().Add(time.Hour),
	}
	if err := s.CreateSession(ctx, h, sess, time.Hour); err != nil {
		b.Fatal(err)
	}
	key := s.sessionKey(h)

	b.Run("redis-GET", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := client.Get(ctx, key).Bytes(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetSession", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, found, err := s.GetSession(ctx, h); err != nil || !found {
				b.Fatalf("GetSession: found %v, err %v", found, err)
			}
		}
	})
	// On a busy machine the two runs above may meet different loads; this
	// one alternates the calls and reports the ratio of their times.
	b.Run("interleaved", func(b *testing.B) {
		b.ReportAllocs()
		var get, gs time.Duration
		for b.Loop() {
			t0 := time.Now()
			if _, err := client.Get(ctx, key).Bytes(); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, found, err := s.GetSession(ctx, h); err != nil || !found {
				b.Fatalf("GetSession: found %v, err %v", found, err)
			}
			get += t1.Sub(t0)
			gs += time.Since(t1)
		}
		b.ReportMetric(float64(gs)/float64(get), "GetSession/GET")
	})
}

// BenchmarkStore runs the store benchmarks of storetest against Redis.
func BenchmarkStore(b *testing.B) {
	redistest.Require(b)
	storetest.Bench(b, harness)
}
