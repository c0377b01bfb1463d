package bench_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	scsmem "github.com/alexedwards/scs/v2/memstore"
	"github.com/go-chi/httprate"
	"github.com/gorilla/csrf"
	"github.com/throttled/throttled/v2"
	throttledmem "github.com/throttled/throttled/v2/store/memstore"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/store/redisstore"
)

// The comparison: the per-request cost of otpguard's guard and of peer
// middleware doing comparable per-request work, each in front of the same
// handler, served the same way (runSerial, runParallel). The difference to
// "baseline" is the middleware's cost.
//
//	go test -run x -bench 'Compare' -benchmem

// strictIntegration is an integration whose policy requires OTP for
// redemption (the example's Balcão Local).
const strictIntegration = "balcao"

// httpCase builds one middleware in front of okHandler (or a handler that
// checks the middleware's work) and the requests to serve through it, one
// per client.
type httpCase struct {
	name  string
	build func(tb testing.TB) (http.Handler, []*http.Request)
}

// httpCases are the cases of BenchmarkCompare and BenchmarkCompareParallel.
var httpCases = []httpCase{
	{"baseline", buildBaseline},
	{"otpguard/no-otp", buildGuardNoOTP},
	{"otpguard/session-memory", buildGuardSession(newMemorySessions)},
	{"otpguard/session-redis", buildGuardSession(newRedisSessions)},
	{"httprate/LimitByIP", buildHTTPRate},
	{"throttled/GCRA-memstore", buildThrottled},
	{"gorilla-csrf/POST", buildCSRF},
	{"scs/LoadAndSave-memstore", buildSCS},
	{"golang-jwt/HS256", buildJWT},
	{"jwtauth/HS256", buildJWTAuth},
	{"floor", buildFloor},
}

func BenchmarkCompare(b *testing.B) {
	for _, c := range httpCases {
		b.Run(c.name, func(b *testing.B) {
			h, reqs := c.build(b)
			runSerial(b, h, reqs)
		})
	}
}

func BenchmarkCompareParallel(b *testing.B) {
	for _, c := range httpCases {
		b.Run(c.name, func(b *testing.B) {
			h, reqs := c.build(b)
			runParallel(b, h, reqs)
		})
	}
}

// requests returns benchKeys requests, each made by newRequest and then
// passed to edit (which may be nil).
func requests(edit func(i int, r *http.Request) *http.Request) []*http.Request {
	reqs := make([]*http.Request, benchKeys)
	for i := range reqs {
		r := newRequest(i)
		if edit != nil {
			r = edit(i, r)
		}
		reqs[i] = r
	}
	return reqs
}

func buildBaseline(testing.TB) (http.Handler, []*http.Request) {
	return okHandler, requests(nil)
}

// benchPolicies returns the example's policies in short: strictIntegration
// strict, like every integration not listed.
func benchPolicies(tb testing.TB) *policy.Static {
	tb.Helper()
	strict, err := policy.Preset(policy.Strict)
	if err != nil {
		tb.Fatal(err)
	}
	src, err := policy.NewStatic(strict, map[string]policy.Policy{strictIntegration: strict})
	if err != nil {
		tb.Fatal(err)
	}
	return src
}

// newWeb returns the default shared HTTP settings the guards are built on.
func newWeb(tb testing.TB) *middleware.HTTP {
	tb.Helper()
	web, err := middleware.NewHTTP()
	if err != nil {
		tb.Fatal(err)
	}
	return web
}

// withIntegration puts strictIntegration in r's context, as the API-key
// middleware would have.
func withIntegration(r *http.Request) *http.Request {
	return r.WithContext(middleware.WithIntegration(r.Context(), strictIntegration))
}

// buildGuardNoOTP guards an action that never requires OTP: the guard
// decides and calls the handler without touching a store.
func buildGuardNoOTP(tb testing.TB) (http.Handler, []*http.Request) {
	g, err := middleware.NewGuard(newWeb(tb), middleware.WithPolicies(benchPolicies(tb)), middleware.WithSessions(memory.New(memory.WithCleanupInterval(0))), middleware.WithSessionKeys(newKeyring(tb)))
	if err != nil {
		tb.Fatal(err)
	}
	return g.Require(policy.SearchCustomers)(okHandler), requests(func(_ int, r *http.Request) *http.Request {
		return withIntegration(r)
	})
}

// newMemorySessions returns a memory store, closed when b ends.
func newMemorySessions(tb testing.TB) store.Store {
	m := memory.New()
	tb.Cleanup(m.Close)
	return m
}

// newRedisSessions returns a Redis store under a fresh prefix, or skips tb.
func newRedisSessions(tb testing.TB) store.Store {
	client, prefix := newRedis(tb)
	s, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// sessionHandler answers 200 only when the guard put a session in the
// request's context.
var sessionHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, ok := middleware.SessionFrom(r.Context()); !ok {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
})

// newSessions creates one session of strictIntegration per client in st,
// sealed with keys as otpcode.Service seals them, and returns their tokens,
// made by otpcode.NewSessionToken like real ones.
func newSessions(tb testing.TB, st store.Sessions, keys *keyring.Keyring, n int) []string {
	tb.Helper()
	ctx := context.Background()
	tokens := make([]string, n)
	for i := range tokens {
		tok, err := otpcode.NewSessionToken(rand.Reader, keys)
		if err != nil {
			tb.Fatal(err)
		}
		now := time.Now()
		s := store.Session{
			Integration: strictIntegration,
			CustomerID:  fmt.Sprintf("cust-%d", i),
			VerifiedAt:  now,
			ExpiresAt:   now.Add(time.Hour),
		}
		hash := store.HashToken(tok)
		store.Seal(keys, hash, &s)
		if err := st.CreateSession(ctx, hash, s, time.Hour); err != nil {
			tb.Fatal(err)
		}
		tokens[i] = tok
	}
	return tokens
}

// buildGuardSession guards redemption for a strict integration: every
// request carries a valid X-OTP-Session, looked up in the store newStore
// makes.
func buildGuardSession(newStore func(testing.TB) store.Store) func(testing.TB) (http.Handler, []*http.Request) {
	return func(tb testing.TB) (http.Handler, []*http.Request) {
		st := newStore(tb)
		keys := newKeyring(tb)
		g, err := middleware.NewGuard(newWeb(tb), middleware.WithPolicies(benchPolicies(tb)), middleware.WithSessions(st), middleware.WithSessionKeys(keys))
		if err != nil {
			tb.Fatal(err)
		}
		tokens := newSessions(tb, st, keys, benchKeys)
		return g.Require(policy.RedeemReward)(sessionHandler), requests(func(i int, r *http.Request) *http.Request {
			r.Header.Set(middleware.SessionHeader, tokens[i])
			return withIntegration(r)
		})
	}
}

// neverLimit is a request limit no benchmark reaches.
const neverLimit = 1 << 30

// buildHTTPRate limits by remote address with go-chi/httprate's in-memory
// sliding-window counter.
func buildHTTPRate(testing.TB) (http.Handler, []*http.Request) {
	//lint:ignore SA1019 LimitByIP is the peer we compare with; its replacement LimitBy(n, w, KeyByIP) does the same work.
	mw := httprate.LimitByIP(neverLimit, time.Minute)
	return mw(okHandler), requests(nil)
}

// buildThrottled limits by remote address with throttled's GCRA limiter on
// its in-memory store (bounded to 65536 keys by an LRU, as a server would
// configure it).
func buildThrottled(tb testing.TB) (http.Handler, []*http.Request) {
	st, err := throttledmem.NewCtx(65536)
	if err != nil {
		tb.Fatal(err)
	}
	rl, err := throttled.NewGCRARateLimiterCtx(st, throttled.RateQuota{MaxRate: throttled.PerSec(1_000_000_000), MaxBurst: neverLimit})
	if err != nil {
		tb.Fatal(err)
	}
	hl := &throttled.HTTPRateLimiterCtx{RateLimiter: rl, VaryBy: &throttled.VaryBy{RemoteAddr: true}}
	return hl.RateLimit(okHandler), requests(nil)
}

// csrfOrigin is the origin of the benchmark requests: httptest.NewRequest
// sets the host example.com, and the requests are marked as plain HTTP.
const csrfOrigin = "http://example.com"

// buildCSRF checks gorilla/csrf tokens on POST requests. Each client first
// gets a token and its cookie with a GET, in set-up; the benchmark serves
// POSTs that carry the cookie, the token in X-CSRF-Token and a same-origin
// Origin header.
func buildCSRF(tb testing.TB) (http.Handler, []*http.Request) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	protect := csrf.Protect(key, csrf.Secure(false), csrf.Path("/"))
	var token string
	get := protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token = csrf.Token(r)
		w.WriteHeader(http.StatusOK)
	}))
	return protect(okHandler), requests(func(_ int, r *http.Request) *http.Request {
		rec := httptest.NewRecorder()
		get.ServeHTTP(rec, csrf.PlaintextHTTPRequest(httptest.NewRequest(http.MethodGet, benchPath, nil)))
		cookies := rec.Result().Cookies()
		if rec.Code != http.StatusOK || token == "" || len(cookies) != 1 {
			tb.Fatalf("csrf GET: got status %d, token %q, %d cookies; want 200, a token, one cookie", rec.Code, token, len(cookies))
		}
		r.AddCookie(cookies[0])
		r.Header.Set("X-CSRF-Token", token)
		r.Header.Set("Origin", csrfOrigin)
		return csrf.PlaintextHTTPRequest(r)
	})
}

// buildSCS loads an existing session with alexedwards/scs's LoadAndSave
// and its in-memory store; the handler answers 200 only when the session
// holds the value set-up put there.
func buildSCS(tb testing.TB) (http.Handler, []*http.Request) {
	// No cleanup goroutine: scs's StopCleanup reads a field the goroutine
	// writes, unsynchronised (a data race under -race), and the janitor
	// has no part in the per-request cost.
	sm := scs.New()
	sm.Store = scsmem.NewWithCleanupInterval(0)
	sm.Lifetime = time.Hour
	h := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sm.GetString(r.Context(), "customer_id") == "" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	return h, requests(func(i int, r *http.Request) *http.Request {
		ctx, err := sm.Load(context.Background(), "")
		if err != nil {
			tb.Fatal(err)
		}
		sm.Put(ctx, "customer_id", fmt.Sprintf("cust-%d", i))
		tok, _, err := sm.Commit(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		r.AddCookie(&http.Cookie{Name: sm.Cookie.Name, Value: tok})
		return r
	})
}
