package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
)

// BenchmarkPrimitive measures, on the machine at hand, the steps the guard
// takes for a request with a valid session, one at a time, so that the
// guard's cost in BenchmarkCompare can be read as their sum:
//
//   - time.Now: the guard reads the clock once per request that reaches the
//     store (the memory store judges its TTL at that reading);
//
//   - store.VerifyToken: the token's own MAC (base64url decoding and
//     HMAC-SHA-256 under the one key of the benchmarks' keyring), which
//     refuses a forged token before any store lookup;
//
//   - store.TokenDigest: the SHA-256 of the token, the key its session is
//     stored under;
//
//   - store.SealedDigest: the check of the session record's MAC;
//
//   - alloc/guard-context: one object of the shape of the guard's context
//     (the parent context, the session record, the decision);
//
//   - Request.WithContext: net/http's copy of the request that carries the
//     context to the handler.
//
//     go test -run x -bench Primitive -benchmem
func BenchmarkPrimitive(b *testing.B) {
	keys := newKeyring(b)
	token := newToken(b, keys)
	b.Run("time.Now", func(b *testing.B) {
		b.ReportAllocs()
		var t time.Time
		for range b.N {
			t = time.Now()
		}
		sinkTime = t
	})
	b.Run("store.VerifyToken", func(b *testing.B) {
		b.ReportAllocs()
		ok := false
		for range b.N {
			ok = store.VerifyToken(keys, token)
		}
		if !ok {
			b.Fatal("got the token refused")
		}
	})
	b.Run("store.TokenDigest", func(b *testing.B) {
		b.ReportAllocs()
		var d [32]byte
		for range b.N {
			d = store.TokenDigest(token)
		}
		sinkByte = d[0]
	})
	b.Run("store.SealedDigest", func(b *testing.B) {
		d := store.TokenDigest(token)
		now := time.Now()
		s := store.Session{Integration: strictIntegration, CustomerID: "2awTHloSJX7kGGprFerOOsvABcd", VerifiedAt: now, ExpiresAt: now.Add(time.Hour)}
		store.Seal(keys, store.HashToken(token), &s)
		ok := false
		b.ReportAllocs()
		for range b.N {
			ok = store.SealedDigest(keys, &d, &s)
		}
		if !ok {
			b.Fatal("got the session refused, want it sealed")
		}
	})
	b.Run("alloc/guard-context", func(b *testing.B) {
		ctx := context.Background()
		d := policy.Decision{Action: policy.RedeemReward, Required: true}
		var rec store.SessionRecord
		b.ReportAllocs()
		for range b.N {
			sinkAny = &guardContextShape{Context: ctx, session: rec, decision: d}
		}
	})
	b.Run("Request.WithContext", func(b *testing.B) {
		r := newRequest(0)
		ctx := middleware.WithIntegration(context.Background(), strictIntegration)
		b.ReportAllocs()
		for range b.N {
			sinkAny = r.WithContext(ctx)
		}
	})
}

// guardContextShape has the fields of middleware's guardContext, so that
// allocating it costs what allocating that does.
type guardContextShape struct {
	context.Context
	session  store.SessionRecord
	decision policy.Decision
}

// Sinks keep the compiler from removing the measured work.
var (
	sinkTime time.Time
	sinkByte byte
	sinkAny  any
)
