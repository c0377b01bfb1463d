package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
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
		Scopes:      []string{"redeem_reward"},
		VerifiedAt:  time.Now(),
		ExpiresAt:   time.Now().Add(time.Hour),
		MAC:         make([]byte, 32),
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

// verifyCalls makes the store calls of one request and its successful
// verification, as otpcode.Service makes them: the request's PutCode,
// then Verify's Take (the integration's rate), Hit (its breaker),
// AttemptCode, ConsumeCode, Succeed, CreateSession and Refund (of the
// breaker's charge). tok names the code and the session.
func verifyCalls(ctx context.Context, s *Store, p store.Pair, tok string) error {
	if err := s.PutCode(ctx, p, store.Code{ID: tok, MAC: make([]byte, 32), Integration: p.Integration, ExpiresAt: time.Now().Add(time.Minute)}, time.Minute); err != nil {
		return err
	}
	if ok, _, err := s.Take(ctx, "rate:integration:"+p.Integration, 1e9, 1e9); err != nil || !ok {
		return fmt.Errorf("take: %v %w", ok, err)
	}
	if w, err := s.Hit(ctx, "fails:integration:"+p.Integration, noLimit, time.Minute); err != nil || !w.Allowed {
		return fmt.Errorf("hit: %v %w", w, err)
	}
	a, err := s.AttemptCode(ctx, p, wide())
	if err != nil || !a.Found {
		return fmt.Errorf("attempt code: %v %w", a.Found, err)
	}
	if ok, err := s.ConsumeCode(ctx, p, a.Code.ID); err != nil || !ok {
		return fmt.Errorf("consume code: %v %w", ok, err)
	}
	if err := s.Succeed(ctx, p); err != nil {
		return err
	}
	sess := store.Session{Integration: p.Integration, CustomerID: p.Subject, VerifiedAt: time.Now(), ExpiresAt: time.Now().Add(time.Second), MAC: make([]byte, 32)}
	if err := s.CreateSession(ctx, store.HashToken(tok), sess, time.Second); err != nil {
		return err
	}
	return s.Refund(ctx, "fails:integration:"+p.Integration)
}

// BenchmarkVerifyWait measures the store calls of a request and its
// successful verification (verifyCalls) on a master with one replica, both
// started by the benchmark, without WAIT (min-replicas-0) and with
// WithMinReplicas(1) (min-replicas-1: Take, Hit, AttemptCode and
// ConsumeCode wait), one verification at a time and in parallel (a
// customer per goroutine, one integration). The interleaved run
// alternates the two stores and reports the ratio of their times.
func BenchmarkVerifyWait(b *testing.B) {
	rs := startReplicated(b)
	ctx := context.Background()
	stores := make([]*Store, 2)
	for n := range stores {
		s, err := New(rs.client, WithMinReplicas(n))
		if err != nil {
			b.Fatal(err)
		}
		stores[n] = s
	}
	var seq atomic.Int64
	next := func() string { return strconv.FormatInt(seq.Add(1), 10) }
	for n, s := range stores {
		b.Run(fmt.Sprintf("min-replicas-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			p := store.Pair{Integration: "goomer", Subject: "phone:+5511987654321"}
			for b.Loop() {
				if err := verifyCalls(ctx, s, p, next()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("min-replicas-%d-parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				p := store.Pair{Integration: "goomer", Subject: "phone:" + next()}
				for pb.Next() {
					if err := verifyCalls(ctx, s, p, next()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		b.ReportAllocs()
		p := store.Pair{Integration: "goomer", Subject: "phone:+5511987654321"}
		var took [2]time.Duration
		for b.Loop() {
			for n, s := range stores {
				start := time.Now()
				if err := verifyCalls(ctx, s, p, next()); err != nil {
					b.Fatal(err)
				}
				took[n] += time.Since(start)
			}
		}
		b.ReportMetric(float64(took[1])/float64(took[0]), "wait/nowait")
		b.ReportMetric(float64(took[0].Nanoseconds())/float64(b.N), "ns/verify-nowait")
		b.ReportMetric(float64(took[1].Nanoseconds())/float64(b.N), "ns/verify-wait")
	})
}
