package middleware_test

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
)

// The benchmarks compare each middleware with BenchmarkBaseline, the bare
// handler served the same way; the difference is the middleware's cost.
//
//	go test -run x -bench 'Baseline|Require|APIKeys' -benchmem ./middleware/
//
// BenchmarkRequireValidSession, BenchmarkRequireDenied (no header) and
// BenchmarkRequireForgedToken are the guard's three paths whose costs
// bench/'s paired run compares (see BENCHMARKS.md).

// gDiscard is a ResponseWriter that keeps nothing and reuses its header map,
// so it adds no allocations of its own.
type gDiscard struct{ h http.Header }

func (d *gDiscard) Header() http.Header         { return d.h }
func (d *gDiscard) Write(p []byte) (int, error) { return len(p), nil }
func (d *gDiscard) WriteHeader(int)             {}

func newGDiscard() *gDiscard { return &gDiscard{h: make(http.Header)} }

// gOK is the baseline handler.
var gOK = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

// gBenchGuard returns a guard over a memory store holding n sessions of
// integration gIntA, the sessions' tokens, and the store.
func gBenchGuard(b *testing.B, n int) (*middleware.Guard, []string) {
	b.Helper()
	mem := memory.New()
	b.Cleanup(func() { mem.Close() })
	tokens := make([]string, n)
	for i := range tokens {
		var random [store.TokenRandomBytes]byte
		binary.BigEndian.PutUint64(random[:], uint64(i))
		tokens[i] = store.SignToken(gKeys, &random)
		now := time.Now()
		s := store.Session{Integration: gIntA, CustomerID: gCustomerX, VerifiedAt: now, ExpiresAt: now.Add(time.Hour)}
		hash := store.HashToken(tokens[i])
		store.Seal(gKeys, hash, &s)
		if err := mem.CreateSession(context.Background(), hash, s, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	web, err := middleware.NewHTTP()
	if err != nil {
		b.Fatal(err)
	}
	g, err := middleware.NewGuard(web, middleware.WithPolicies(gTestPolicies(b)), middleware.WithSessions(mem), middleware.WithSessionKeys(gKeys))
	if err != nil {
		b.Fatal(err)
	}
	return g, tokens
}

// gBenchRequest returns a request of integration gIntA carrying token ("" for
// none).
func gBenchRequest(token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/customers/cust-x/redeem", nil)
	r = r.WithContext(middleware.WithIntegration(r.Context(), gIntA))
	if token != "" {
		r.Header.Set(middleware.SessionHeader, token)
	}
	return r
}

func gServe(b *testing.B, h http.Handler, r *http.Request) {
	b.Helper()
	w := newGDiscard()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.ServeHTTP(w, r)
	}
}

func BenchmarkBaseline(b *testing.B) {
	gServe(b, gOK, gBenchRequest(""))
}

func BenchmarkRequireNoOTP(b *testing.B) {
	g, _ := gBenchGuard(b, 1)
	gServe(b, g.Require(policy.SearchCustomers)(gOK), gBenchRequest(""))
}

func BenchmarkRequireValidSession(b *testing.B) {
	g, tokens := gBenchGuard(b, 1)
	h := g.Require(policy.RedeemReward)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := middleware.SessionFrom(r.Context()); !ok {
			panic("no session")
		}
		w.WriteHeader(http.StatusOK)
	}))
	gServe(b, h, gBenchRequest(tokens[0]))
}

// BenchmarkRequireDenied is a request without X-OTP-Session on an action
// that needs OTP.
func BenchmarkRequireDenied(b *testing.B) {
	g, _ := gBenchGuard(b, 1)
	gServe(b, g.Require(policy.RedeemReward)(gOK), gBenchRequest(""))
}

// BenchmarkRequireForgedToken is a request with a token of the right shape
// whose MAC is not the guard's keys': it is refused without a store lookup.
func BenchmarkRequireForgedToken(b *testing.B) {
	g, _ := gBenchGuard(b, 1)
	gServe(b, g.Require(policy.RedeemReward)(gOK), gBenchRequest(gSessionToken(gNewKeyring(9), 'F')))
}

func BenchmarkRequireValidSessionParallel(b *testing.B) {
	const n = 4096
	g, tokens := gBenchGuard(b, n)
	var served atomic.Int64
	h := g.Require(policy.RedeemReward)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := middleware.SessionFrom(r.Context()); ok {
			served.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = gBenchRequest(tokens[i])
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := newGDiscard()
		i := next.Add(7919)
		for pb.Next() {
			i++
			h.ServeHTTP(w, reqs[i%n])
		}
	})
	b.StopTimer()
	if served.Load() == 0 {
		b.Fatal("no request was served")
	}
}

func BenchmarkAPIKeys(b *testing.B) {
	web, err := middleware.NewHTTP()
	if err != nil {
		b.Fatal(err)
	}
	mw, err := middleware.APIKeys(web, gTestKeys())
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/customers", nil)
	r.Header.Set("X-API-Key", gKeyGoomer)
	gServe(b, mw(gOK), r)
}
