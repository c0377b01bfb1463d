package bench_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
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
//   - time.Now: the guard reads the clock once to compare the session's
//     expiry, and the memory store once more in GetSession;
//
//   - sha256+hex: the token's hash, the key the session is stored under;
//
//   - store.Sealed: the check of the session record's MAC (HMAC-SHA-256
//     under the one key of the benchmarks' keyring);
//
//   - alloc/guard-context: one object with the fields of the guard's
//     context (the session, the decision, the integration, the hash);
//
//   - Request.WithContext: net/http's copy of the request that carries the
//     context to the handler.
//
//     go test -run x -bench Primitive -benchmem
func BenchmarkPrimitive(b *testing.B) {
	b.Run("time.Now", func(b *testing.B) {
		b.ReportAllocs()
		var t time.Time
		for range b.N {
			t = time.Now()
		}
		sinkTime = t
	})
	b.Run("sha256+hex/43B", func(b *testing.B) {
		token := strings.Repeat("A", 43) // the length of otpcode's tokens
		var out [2 * sha256.Size]byte
		b.ReportAllocs()
		for range b.N {
			var buf [64]byte
			sum := sha256.Sum256(buf[:copy(buf[:], token)])
			hex.Encode(out[:], sum[:])
		}
		sinkByte = out[0]
	})
	b.Run("store.Sealed", func(b *testing.B) {
		keys := newKeyring(b)
		hash := store.HashToken(strings.Repeat("A", 43))
		now := time.Now()
		s := store.Session{Integration: strictIntegration, CustomerID: "cust-0", VerifiedAt: now, ExpiresAt: now.Add(time.Hour)}
		store.Seal(keys, hash, &s)
		ok := false
		b.ReportAllocs()
		for range b.N {
			ok = store.Sealed(keys, hash, &s)
		}
		if !ok {
			b.Fatal("got the session refused, want it sealed")
		}
	})
	b.Run("alloc/guard-context", func(b *testing.B) {
		ctx := context.Background()
		s := store.Session{Integration: strictIntegration, CustomerID: "cust-0", VerifiedAt: time.Now(), ExpiresAt: time.Now(), MAC: make([]byte, sha256.Size)}
		d := policy.Decision{Action: policy.RedeemReward, Required: true}
		var hash [2 * sha256.Size]byte
		b.ReportAllocs()
		for range b.N {
			sinkAny = &guardContextShape{Context: ctx, integration: strictIntegration, ownIntegration: false, session: s, decision: d, hash: hash}
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
	integration    string
	ownIntegration bool
	session        store.Session
	decision       policy.Decision
	hash           [2 * sha256.Size]byte
}

// Sinks keep the compiler from removing the measured work.
var (
	sinkTime time.Time
	sinkByte byte
	sinkAny  any
)
