package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/middleware/guardtest"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/store/storetest"
)

const gTestBase = "https://api.zupy.com/errors/"

// Integrations of the test policy source.
const (
	gIntA       = "goomer"  // strict
	gIntB       = "saipos"  // strict
	gIntTrusted = "repediu" // trusted
)

// Session tokens the tests issue, signed with gKeys as otpcode signs them.
var (
	gTokenA      = gSessionToken(gKeys, 'A')
	gTokenScoped = gSessionToken(gKeys, 'S')
	gTokenOther  = gSessionToken(gKeys, 'B')
	gTokenShort  = gSessionToken(gKeys, 'C')
	gTokenNone   = gSessionToken(gKeys, 'Z')
	gTokenNoCust = gSessionToken(gKeys, 'N')
)

// Customers of the tests' sessions.
const (
	gCustomerX = "cust-x"
	gCustomerY = "cust-y"
)

// gKeys are the session keys of the tests' guards; the tests seal the
// sessions they create with them.
var gKeys = gNewKeyring(1)

// gNewKeyring returns a keyring of one 32-byte key, every byte b.
func gNewKeyring(b byte) *keyring.Keyring {
	k, err := keyring.New(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		panic(err)
	}
	return k
}

// gCountingSessions counts GetSession calls and can fail them all.
type gCountingSessions struct {
	store.Sessions
	gets atomic.Int64
	err  error
}

func (c *gCountingSessions) GetSession(ctx context.Context, tokenHash string) (store.Session, bool, error) {
	c.gets.Add(1)
	if c.err != nil {
		return store.Session{}, false, c.err
	}
	return c.Sessions.GetSession(ctx, tokenHash)
}

// gFailingSource is a policy source that always fails.
type gFailingSource struct{ err error }

func (f gFailingSource) Policy(context.Context, string) (policy.Policy, error) {
	return policy.Policy{}, f.err
}

func gTestPolicies(t testing.TB) *policy.Static {
	t.Helper()
	strict, err := policy.Preset(policy.Strict)
	require.NoError(t, err)
	trusted, err := policy.Preset(policy.Trusted)
	require.NoError(t, err)
	src, err := policy.NewStatic(strict, map[string]policy.Policy{gIntA: strict, gIntB: strict, gIntTrusted: trusted})
	require.NoError(t, err)
	return src
}

// gFixture is a memory store holding the tests' sessions, behind a counter.
type gFixture struct {
	clock    *storetest.Clock
	mem      *memory.Store
	sessions *gCountingSessions
}

func gNewFixture(t testing.TB) *gFixture {
	t.Helper()
	clk := storetest.NewClock(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	mem := memory.New(memory.WithClock(clk.Now))
	t.Cleanup(func() { mem.Close() })
	f := &gFixture{clock: clk, mem: mem, sessions: &gCountingSessions{Sessions: mem}}
	f.put(t, gTokenA, store.Session{Integration: gIntA, CustomerID: gCustomerX}, 30*time.Minute, 30*time.Minute)
	f.put(t, gTokenScoped, store.Session{Integration: gIntA, CustomerID: gCustomerX, Scopes: []string{string(policy.UseCoupon)}}, 30*time.Minute, 30*time.Minute)
	f.put(t, gTokenOther, store.Session{Integration: gIntB, CustomerID: gCustomerX}, 30*time.Minute, 30*time.Minute)
	f.put(t, gTokenNoCust, store.Session{Integration: gIntA}, 30*time.Minute, 30*time.Minute)
	// gTokenShort's record outlives its own expiry, so the guard's clock,
	// not the store's TTL, decides.
	f.put(t, gTokenShort, store.Session{Integration: gIntA, CustomerID: gCustomerX}, 10*time.Minute, time.Hour)
	return f
}

// put stores s under token, sealed with gKeys, expiring life from now, with
// the store TTL ttl.
func (f *gFixture) put(t testing.TB, token string, s store.Session, life, ttl time.Duration) {
	t.Helper()
	s.ExpiresAt = f.clock.Now().Add(life)
	hash := store.HashToken(token)
	store.Seal(gKeys, hash, &s)
	require.NoError(t, f.mem.CreateSession(context.Background(), hash, s, ttl))
}

// gWeb returns the shared HTTP settings of the tests: problem base
// gTestBase, then opts.
func gWeb(t testing.TB, opts ...middleware.HTTPOption) *middleware.HTTP {
	t.Helper()
	web, err := middleware.NewHTTP(append([]middleware.HTTPOption{middleware.WithProblemBase(gTestBase)}, opts...)...)
	require.NoError(t, err)
	return web
}

// guard builds a guard over the gFixture with the test policies, on the
// settings gWeb(t).
func (f *gFixture) guard(t testing.TB, opts ...middleware.Option) *middleware.Guard {
	t.Helper()
	return f.guardOn(t, gWeb(t), opts...)
}

// guardOn builds a guard over the gFixture with the test policies, on web.
func (f *gFixture) guardOn(t testing.TB, web *middleware.HTTP, opts ...middleware.Option) *middleware.Guard {
	t.Helper()
	base := []middleware.Option{
		middleware.WithPolicies(gTestPolicies(t)),
		middleware.WithSessions(f.sessions),
		middleware.WithSessionKeys(gKeys),
		middleware.WithClock(f.clock.Now),
	}
	g, err := middleware.NewGuard(web, append(base, opts...)...)
	require.NoError(t, err)
	return g
}

// gNextHandler records whether it ran and what the guard put in the context.
type gNextHandler struct {
	called      bool
	session     store.Session
	hasSession  bool
	decision    policy.Decision
	hasDecision bool
	integration string
}

func (h *gNextHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.called = true
	h.session, h.hasSession = middleware.SessionFrom(r.Context())
	h.decision, h.hasDecision = middleware.DecisionFrom(r.Context())
	h.integration, _ = middleware.IntegrationFrom(r.Context())
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "served")
}

// gNewRequest returns a POST request of integration (none when "") with the
// given X-OTP-Session values.
func gNewRequest(integration string, sessions ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/redeem", nil)
	if integration != "" {
		r = r.WithContext(middleware.WithIntegration(r.Context(), integration))
	}
	for _, s := range sessions {
		r.Header.Add(middleware.SessionHeader, s)
	}
	return r
}

// gAssertProblem checks that rec holds exactly the problem with the given
// members.
func gAssertProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, typ, title, detail string) {
	t.Helper()
	assert.Equal(t, status, rec.Code, "got status %d, want %d", rec.Code, status)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	var got map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got), "body %q", rec.Body.String())
	want := map[string]any{"type": gTestBase + typ, "title": title, "status": float64(status), "detail": detail}
	assert.Equal(t, want, got, "got body %s", rec.Body.String())
}

// gAssertOTPRequired checks the seed's exact 403 body.
func gAssertOTPRequired(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	gAssertProblem(t, rec, http.StatusForbidden, "otp-required", "OTP Required", "Customer OTP verification required for this action")
	want := `{"type":"https://api.zupy.com/errors/otp-required","title":"OTP Required","status":403,"detail":"Customer OTP verification required for this action"}`
	assert.JSONEq(t, want, rec.Body.String())
}

func TestNewHTTPConfig(t *testing.T) {
	tests := []struct {
		name    string
		opts    []middleware.HTTPOption
		wantErr string // "" for success
	}{
		{"no options", nil, ""},
		{"every option", []middleware.HTTPOption{
			middleware.WithProblemBase("about:blank#"),
			middleware.WithIntegrationFunc(func(*http.Request) (string, bool) { return "x", true }),
			middleware.WithLogger(slog.New(slog.DiscardHandler)),
			middleware.WithBodyLimit(1),
		}, ""},
		{"base ending in slash", []middleware.HTTPOption{middleware.WithProblemBase(gTestBase)}, ""},
		{"nil option", []middleware.HTTPOption{nil}, "nil option"},
		{"nil integration func", []middleware.HTTPOption{middleware.WithIntegrationFunc(nil)}, "nil integration func"},
		{"nil logger", []middleware.HTTPOption{middleware.WithLogger(nil)}, "nil logger"},
		{"zero body limit", []middleware.HTTPOption{middleware.WithBodyLimit(0)}, "must be positive"},
		{"negative body limit", []middleware.HTTPOption{middleware.WithBodyLimit(-1)}, "must be positive"},
		{"relative base", []middleware.HTTPOption{middleware.WithProblemBase("/errors/")}, "not an absolute URI"},
		{"empty base", []middleware.HTTPOption{middleware.WithProblemBase("")}, "not an absolute URI"},
		{"base without separator", []middleware.HTTPOption{middleware.WithProblemBase("https://api.zupy.com/errors")}, `does not end in "/" or "#"`},
		{"unparsable base", []middleware.HTTPOption{middleware.WithProblemBase("https://a b/%zz/")}, "problem base"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			web, err := middleware.NewHTTP(tt.opts...)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.NotNil(t, web)
				return
			}
			require.Error(t, err)
			assert.Nil(t, web)
			assert.ErrorIs(t, err, middleware.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.wantErr, "got error %q, want it to mention %q", err, tt.wantErr)
		})
	}
}

func TestNewHTTPDefaults(t *testing.T) {
	web, err := middleware.NewHTTP()
	require.NoError(t, err)
	assert.Equal(t, middleware.DefaultProblemBase, web.ProblemBase(), "got base %q, want %q", web.ProblemBase(), middleware.DefaultProblemBase)
	assert.Equal(t, int64(middleware.DefaultBodyLimit), web.BodyLimit(), "got body limit %d, want %d", web.BodyLimit(), middleware.DefaultBodyLimit)
	assert.Nil(t, web.Logger(), "got a logger, want none by default")

	// Without WithIntegrationFunc the integration comes from the context.
	req := gNewRequest(gIntA)
	id, ok := web.Integration(req)
	assert.True(t, ok)
	assert.Equal(t, gIntA, id, "got integration %q, want %q", id, gIntA)
	_, ok = web.Integration(gNewRequest(""))
	assert.False(t, ok, "got an integration from a request without one")

	logger := slog.New(slog.DiscardHandler)
	web, err = middleware.NewHTTP(middleware.WithProblemBase(gTestBase), middleware.WithBodyLimit(10), middleware.WithLogger(logger),
		middleware.WithIntegrationFunc(func(*http.Request) (string, bool) { return gIntB, true }))
	require.NoError(t, err)
	assert.Equal(t, gTestBase, web.ProblemBase())
	assert.Equal(t, int64(10), web.BodyLimit())
	assert.Same(t, logger, web.Logger())
	id, ok = web.Integration(req)
	assert.True(t, ok)
	assert.Equal(t, gIntB, id, "got integration %q, want the host function's %q", id, gIntB)
}

func TestNewHTTPReportsEveryProblem(t *testing.T) {
	_, err := middleware.NewHTTP(middleware.WithProblemBase("x"), middleware.WithLogger(nil), middleware.WithBodyLimit(0))
	require.Error(t, err)
	assert.ErrorIs(t, err, middleware.ErrInvalidConfig)
	for _, want := range []string{"problem base", "nil logger", "body limit"} {
		assert.Contains(t, err.Error(), want, "got error %q, want it to mention %q", err, want)
	}
}

func TestNewGuardConfig(t *testing.T) {
	src := gTestPolicies(t)
	mem := memory.New()
	t.Cleanup(func() { mem.Close() })
	web := gWeb(t)
	ok := []middleware.Option{middleware.WithPolicies(src), middleware.WithSessions(mem), middleware.WithSessionKeys(gKeys)}
	tests := []struct {
		name    string
		web     *middleware.HTTP
		opts    []middleware.Option
		wantErr string // "" for success
	}{
		{"minimal", web, ok, ""},
		{"every option", web, append(ok,
			middleware.WithCatalog(policy.NewCatalog()),
			middleware.WithCustomer(middleware.CustomerFromPath("id")),
			middleware.WithClock(time.Now),
			middleware.WithDenyHandler(func(http.ResponseWriter, *http.Request, error) {}),
			middleware.WithErrorHandler(func(http.ResponseWriter, *http.Request, error) {}),
		), ""},
		{"every customer source", web, append(ok,
			middleware.WithCustomer(middleware.AnyCustomer),
			middleware.WithCustomer(middleware.CustomerFromQuery("customer")),
			middleware.WithCustomer(middleware.CustomerFromJSON("customer_id")),
			middleware.WithCustomer(middleware.CustomerFunc(func(*http.Request) (string, error) { return "", nil })),
			middleware.WithCustomer(middleware.CustomerFromPath("id").Map(func(_ *http.Request, v string) (string, error) { return v, nil })),
		), ""},
		{"nil web", nil, ok, "nil HTTP settings"},
		{"no options", web, nil, "no policy source"},
		{"no sessions", web, []middleware.Option{middleware.WithPolicies(src), middleware.WithSessionKeys(gKeys)}, "no session store"},
		{"no policies", web, []middleware.Option{middleware.WithSessions(mem), middleware.WithSessionKeys(gKeys)}, "no policy source"},
		{"no session keys", web, []middleware.Option{middleware.WithPolicies(src), middleware.WithSessions(mem)}, "no session keys (use WithSessionKeys)"},
		{"nil option", web, append(ok, nil), "nil option"},
		{"nil source", web, append(ok, middleware.WithPolicies(nil)), "nil policy source"},
		{"nil sessions", web, append(ok, middleware.WithSessions(nil)), "nil session store"},
		{"nil session keys", web, append(ok, middleware.WithSessionKeys(nil)), "nil or empty session keyring"},
		{"empty session keys", web, append(ok, middleware.WithSessionKeys(&keyring.Keyring{})), "nil or empty session keyring"},
		{"nil catalog", web, append(ok, middleware.WithCatalog(nil)), "nil catalog"},
		{"nil customer func", web, append(ok, middleware.WithCustomer(middleware.CustomerFunc(nil))), "nil customer func"},
		{"empty path name", web, append(ok, middleware.WithCustomer(middleware.CustomerFromPath(""))), "empty name"},
		{"empty query name", web, append(ok, middleware.WithCustomer(middleware.CustomerFromQuery(""))), "empty name"},
		{"empty JSON field", web, append(ok, middleware.WithCustomer(middleware.CustomerFromJSON(""))), "empty name"},
		{"mapped AnyCustomer", web, append(ok, middleware.WithCustomer(middleware.AnyCustomer.Map(gMapSame))), "AnyCustomer cannot be mapped"},
		{"nil clock", web, append(ok, middleware.WithClock(nil)), "nil clock"},
		{"nil deny handler", web, append(ok, middleware.WithDenyHandler(nil)), "nil deny handler"},
		{"nil error handler", web, append(ok, middleware.WithErrorHandler(nil)), "nil error handler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := middleware.NewGuard(tt.web, tt.opts...)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.NotNil(t, g)
				return
			}
			require.Error(t, err)
			assert.Nil(t, g)
			assert.ErrorIs(t, err, middleware.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.wantErr, "got error %q, want it to mention %q", err, tt.wantErr)
		})
	}
}

func TestNewGuardReportsEveryProblem(t *testing.T) {
	_, err := middleware.NewGuard(nil, middleware.WithClock(nil), middleware.WithCustomer(middleware.CustomerFunc(nil)))
	require.Error(t, err)
	assert.ErrorIs(t, err, middleware.ErrInvalidConfig)
	for _, want := range []string{"nil HTTP settings", "nil clock", "nil customer func", "no policy source", "no session store", "no session keys"} {
		assert.Contains(t, err.Error(), want, "got error %q, want it to mention %q", err, want)
	}
}

func TestGuardUnknownAction(t *testing.T) {
	f := gNewFixture(t)
	g := f.guard(t)

	mw, err := g.Middleware("teleport_customer")
	require.Error(t, err)
	assert.Nil(t, mw)
	assert.ErrorIs(t, err, policy.ErrUnknownAction)
	assert.ErrorIs(t, err, middleware.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "teleport_customer")

	assert.PanicsWithError(t, err.Error(), func() { g.Require("teleport_customer") })
	assert.NotPanics(t, func() { g.Require(policy.RedeemReward) })
}

func TestGuardCustomCatalog(t *testing.T) {
	f := gNewFixture(t)
	cat := policy.NewCatalog()
	const transfer policy.Action = "transfer_points"
	require.NoError(t, cat.Register(transfer, policy.RequireRedemption))
	g := f.guard(t, middleware.WithCatalog(cat))

	// The default catalogue does not know the host's action.
	_, err := f.guard(t).Middleware(transfer)
	require.ErrorIs(t, err, policy.ErrUnknownAction)

	next := &gNextHandler{}
	rec := httptest.NewRecorder()
	g.Require(transfer)(next).ServeHTTP(rec, gNewRequest(gIntA))
	gAssertOTPRequired(t, rec)
	assert.False(t, next.called, "next ran for a required action without a session")

	next = &gNextHandler{}
	rec = httptest.NewRecorder()
	g.Require(transfer)(next).ServeHTTP(rec, gNewRequest(gIntA, gTokenA))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, next.called)
}

func TestGuardRequirePanicsOnNilHandler(t *testing.T) {
	g := gNewFixture(t).guard(t)
	assert.Panics(t, func() { g.Require(policy.RedeemReward)(nil) })
}

func TestGuardNoIntegration(t *testing.T) {
	for _, tt := range []struct {
		name string
		web  []middleware.HTTPOption
		req  *http.Request
	}{
		{"no integration in context", nil, gNewRequest("", gTokenA)},
		{"empty integration in context", nil, gNewRequest("", gTokenA).WithContext(middleware.WithIntegration(context.Background(), ""))},
		{"host func reports none", []middleware.HTTPOption{middleware.WithIntegrationFunc(func(*http.Request) (string, bool) { return "", false })}, gNewRequest(gIntA, gTokenA)},
		{"host func reports empty", []middleware.HTTPOption{middleware.WithIntegrationFunc(func(*http.Request) (string, bool) { return "", true })}, gNewRequest(gIntA, gTokenA)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := gNewFixture(t)
			web := gWeb(t, tt.web...)
			next := &gNextHandler{}
			rec := httptest.NewRecorder()
			f.guardOn(t, web).Require(policy.RedeemReward)(next).ServeHTTP(rec, tt.req)
			gAssertProblem(t, rec, http.StatusUnauthorized, "authentication-required", "Authentication Required", "authentication is required")
			assert.False(t, next.called, "next ran without an integration")
			assert.Zero(t, f.sessions.gets.Load(), "got %d store lookups, want 0", f.sessions.gets.Load())

			var got error
			g := f.guardOn(t, web, middleware.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
				got = err
				w.WriteHeader(http.StatusTeapot)
			}))
			rec = httptest.NewRecorder()
			g.Require(policy.RedeemReward)(next).ServeHTTP(rec, tt.req)
			assert.ErrorIs(t, got, middleware.ErrNoIntegration)
			assert.Equal(t, http.StatusTeapot, rec.Code)
			assert.False(t, next.called)
		})
	}
}

func TestGuardNotRequiredSkipsStore(t *testing.T) {
	tests := []struct {
		name        string
		integration string
		action      policy.Action
		session     string
	}{
		{"never-action under strict", gIntA, policy.SearchCustomers, ""},
		{"never-action with a garbage session", gIntA, policy.ViewBalance, "%%%"},
		{"trusted partner redeems", gIntTrusted, policy.RedeemReward, ""},
		{"trusted partner uses coupon", gIntTrusted, policy.UseCoupon, gTokenA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failing := &gCountingSessions{err: errors.New("store down")}
			g, err := middleware.NewGuard(gWeb(t), middleware.WithPolicies(gTestPolicies(t)), middleware.WithSessions(failing), middleware.WithSessionKeys(gKeys))
			require.NoError(t, err)
			next := &gNextHandler{}
			rec := httptest.NewRecorder()
			var sessions []string
			if tt.session != "" {
				sessions = append(sessions, tt.session)
			}
			g.Require(tt.action)(next).ServeHTTP(rec, gNewRequest(tt.integration, sessions...))
			assert.Equal(t, http.StatusOK, rec.Code, "got status %d, want 200; body %s", rec.Code, rec.Body)
			assert.True(t, next.called, "next was not called")
			assert.Zero(t, failing.gets.Load(), "got %d store lookups, want 0", failing.gets.Load())
			assert.False(t, next.hasSession, "got a session on an action that needs none")
			assert.False(t, next.hasDecision, "got a decision on an action that needed no OTP")
			assert.Equal(t, tt.integration, next.integration)
		})
	}
}

func TestGuardSessions(t *testing.T) {
	tests := []struct {
		name        string
		integration string
		action      policy.Action
		sessions    []string
		wantErr     error // nil: allowed
		wantLookups int64
	}{
		{"valid session", gIntA, policy.RedeemReward, []string{gTokenA}, nil, 1},
		{"valid session, coupon", gIntA, policy.UseCoupon, []string{gTokenA}, nil, 1},
		{"scoped session in scope", gIntA, policy.UseCoupon, []string{gTokenScoped}, nil, 1},
		{"scoped session out of scope", gIntA, policy.RedeemReward, []string{gTokenScoped}, middleware.ErrScope, 1},
		{"no header", gIntA, policy.RedeemReward, nil, middleware.ErrNoSession, 0},
		{"empty header", gIntA, policy.RedeemReward, []string{""}, middleware.ErrNoSession, 0},
		{"unknown token", gIntA, policy.RedeemReward, []string{gTokenNone}, middleware.ErrSessionInvalid, 1},
		{"garbage", gIntA, policy.RedeemReward, []string{"<script>alert(1)</script>xxxxxxx"}, middleware.ErrSessionInvalid, 0},
		{"spaces", gIntA, policy.RedeemReward, []string{"AAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAA"}, middleware.ErrSessionInvalid, 0},
		{"non-ASCII", gIntA, policy.RedeemReward, []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAé"}, middleware.ErrSessionInvalid, 0},
		{"too short", gIntA, policy.RedeemReward, []string{"abc"}, middleware.ErrSessionInvalid, 0},
		{"10 KB", gIntA, policy.RedeemReward, []string{strings.Repeat("A", 10<<10)}, middleware.ErrSessionInvalid, 0},
		{"just over the limit", gIntA, policy.RedeemReward, []string{strings.Repeat("A", middleware.MaxSessionTokenLen+1)}, middleware.ErrSessionInvalid, 0},
		{"at the limit", gIntA, policy.RedeemReward, []string{strings.Repeat("A", middleware.MaxSessionTokenLen)}, middleware.ErrSessionInvalid, 0},
		{"token's length, no MAC", gIntA, policy.RedeemReward, []string{strings.Repeat("A", store.TokenLen)}, middleware.ErrSessionInvalid, 0},
		{"token signed with other keys", gIntA, policy.RedeemReward, []string{gSessionToken(gNewKeyring(2), 'A')}, middleware.ErrSessionInvalid, 0},
		{"repeated header", gIntA, policy.RedeemReward, []string{gTokenA, gTokenA}, middleware.ErrSessionInvalid, 0},
		{"session of another integration", gIntB, policy.RedeemReward, []string{gTokenA}, middleware.ErrWrongIntegration, 1},
		{"other integration's session", gIntA, policy.RedeemReward, []string{gTokenOther}, middleware.ErrWrongIntegration, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gNewFixture(t)

			// Default hooks: the HTTP answer.
			next := &gNextHandler{}
			rec := httptest.NewRecorder()
			f.guard(t).Require(tt.action)(next).ServeHTTP(rec, gNewRequest(tt.integration, tt.sessions...))
			assert.Equal(t, tt.wantLookups, f.sessions.gets.Load(), "got %d store lookups, want %d", f.sessions.gets.Load(), tt.wantLookups)
			if tt.wantErr == nil {
				assert.Equal(t, http.StatusOK, rec.Code, "got status %d, want 200; body %s", rec.Code, rec.Body)
				assert.Equal(t, "served", rec.Body.String())
				require.True(t, next.called, "next was not called")
				require.True(t, next.hasSession, "no session in the context")
				assert.Equal(t, gIntA, next.session.Integration)
				assert.Equal(t, gCustomerX, next.session.CustomerID)
				require.True(t, next.hasDecision, "no decision in the context")
				assert.Equal(t, tt.action, next.decision.Action)
				assert.True(t, next.decision.Required)
				assert.Equal(t, tt.integration, next.integration)
			} else {
				gAssertOTPRequired(t, rec)
				assert.False(t, next.called, "next ran on a refused request")
			}

			// A deny hook: the reason.
			var got error
			g := f.guard(t, middleware.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
				got = err
				w.WriteHeader(http.StatusTeapot)
			}))
			rec = httptest.NewRecorder()
			g.Require(tt.action)(&gNextHandler{}).ServeHTTP(rec, gNewRequest(tt.integration, tt.sessions...))
			if tt.wantErr == nil {
				assert.NoError(t, got)
			} else {
				assert.ErrorIs(t, got, tt.wantErr, "got reason %v, want %v", got, tt.wantErr)
				assert.Equal(t, http.StatusTeapot, rec.Code)
			}
		})
	}
}

func TestGuardDecisionReason(t *testing.T) {
	f := gNewFixture(t)
	next := &gNextHandler{}
	f.guard(t).Require(policy.EnrollCustomer)(next).ServeHTTP(httptest.NewRecorder(), gNewRequest(gIntA, gTokenA))
	require.True(t, next.hasDecision)
	want := policy.Decision{Action: policy.EnrollCustomer, Required: true, Reason: policy.ReasonEnrollment}
	assert.Equal(t, want, next.decision)
}

func TestGuardExpiry(t *testing.T) {
	f := gNewFixture(t)
	var reason error
	g := f.guard(t, middleware.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
		reason = err
		w.WriteHeader(http.StatusForbidden)
	}))
	h := g.Require(policy.RedeemReward)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	serve := func() int {
		reason = nil
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, gNewRequest(gIntA, gTokenShort))
		return rec.Code
	}

	require.Equal(t, http.StatusOK, serve(), "fresh session refused")
	f.clock.Advance(10*time.Minute - time.Nanosecond)
	require.Equal(t, http.StatusOK, serve(), "session refused before its expiry")
	f.clock.Advance(time.Nanosecond)
	assert.Equal(t, http.StatusForbidden, serve(), "session accepted at its expiry")
	assert.ErrorIs(t, reason, middleware.ErrSessionExpired)

	// Through the default hook, the same 403 as every other refusal.
	rec := httptest.NewRecorder()
	f.guard(t).Require(policy.RedeemReward)(&gNextHandler{}).ServeHTTP(rec, gNewRequest(gIntA, gTokenShort))
	gAssertOTPRequired(t, rec)
}

func TestGuardZeroExpiryIsExpired(t *testing.T) {
	f := gNewFixture(t)
	token := gSessionToken(gKeys, 'E')
	s := store.Session{Integration: gIntA}
	store.Seal(gKeys, store.HashToken(token), &s)
	require.NoError(t, f.mem.CreateSession(context.Background(), store.HashToken(token), s, time.Hour))
	var reason error
	g := f.guard(t, middleware.WithDenyHandler(func(_ http.ResponseWriter, _ *http.Request, err error) { reason = err }))
	next := &gNextHandler{}
	g.Require(policy.RedeemReward)(next).ServeHTTP(httptest.NewRecorder(), gNewRequest(gIntA, token))
	assert.ErrorIs(t, reason, middleware.ErrSessionExpired)
	assert.False(t, next.called)
}

func TestGuardCustomer(t *testing.T) {
	path := middleware.CustomerFromPath("id")
	noCustomer := middleware.CustomerFunc(func(*http.Request) (string, error) { return "", nil })
	tests := []struct {
		name     string
		path     string
		token    string
		customer middleware.CustomerSource
		wantErr  error
	}{
		{"session's customer", "/customers/" + gCustomerX + "/redeem", gTokenA, path, nil},
		{"another customer", "/customers/" + gCustomerY + "/redeem", gTokenA, path, middleware.ErrWrongCustomer},
		{"customer func finds none", "/customers/" + gCustomerX + "/redeem", gTokenA, noCustomer, middleware.ErrNoCustomer},
		{"neither names a customer", "/customers/" + gCustomerX + "/redeem", gTokenNoCust, noCustomer, middleware.ErrNoCustomer},
		{"session without customer", "/customers/" + gCustomerX + "/redeem", gTokenNoCust, path, middleware.ErrWrongCustomer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gNewFixture(t)
			var reason error
			g := f.guard(t,
				middleware.WithCustomer(tt.customer),
				middleware.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
					reason = err
					w.WriteHeader(http.StatusForbidden)
				}))
			next := &gNextHandler{}
			mux := http.NewServeMux()
			mux.Handle("POST /customers/{id}/redeem", g.Require(policy.RedeemReward)(next))

			req := httptest.NewRequest(http.MethodPost, tt.path, nil)
			req = req.WithContext(middleware.WithIntegration(req.Context(), gIntA))
			req.Header.Set(middleware.SessionHeader, tt.token)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)

			if tt.wantErr == nil {
				assert.Equal(t, http.StatusOK, rec.Code, "got status %d, want 200", rec.Code)
				assert.True(t, next.called)
				assert.NoError(t, reason)
				return
			}
			assert.Equal(t, http.StatusForbidden, rec.Code, "got status %d, want 403", rec.Code)
			assert.False(t, next.called, "next ran for another customer")
			assert.ErrorIs(t, reason, tt.wantErr, "got reason %v, want %v", reason, tt.wantErr)
		})
	}
}

func TestGuardFailsClosed(t *testing.T) {
	const secret = "dial tcp 10.0.0.7:6379: secret-internal-detail"
	storeErr := errors.New(secret)
	tests := []struct {
		name     string
		policies policy.Source
		sessions *gCountingSessions
	}{
		{"session store fails", gTestPolicies(t), &gCountingSessions{err: storeErr}},
		{"policy source fails", gFailingSource{err: storeErr}, &gCountingSessions{err: storeErr}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			web := gWeb(t)
			opts := []middleware.Option{
				middleware.WithPolicies(tt.policies),
				middleware.WithSessions(tt.sessions),
				middleware.WithSessionKeys(gKeys),
			}
			g, err := middleware.NewGuard(web, opts...)
			require.NoError(t, err)
			next := &gNextHandler{}
			rec := httptest.NewRecorder()
			g.Require(policy.RedeemReward)(next).ServeHTTP(rec, gNewRequest(gIntA, gTokenA))
			gAssertProblem(t, rec, http.StatusServiceUnavailable, "service-unavailable", "Service Unavailable",
				"the service is temporarily unavailable; try again later")
			assert.NotContains(t, rec.Body.String(), "secret")
			assert.NotContains(t, rec.Body.String(), "10.0.0.7")
			assert.False(t, next.called, "next ran although the guard could not decide")

			var got error
			g, err = middleware.NewGuard(web, append(opts, middleware.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
				got = err
				w.WriteHeader(http.StatusBadGateway)
			}))...)
			require.NoError(t, err)
			rec = httptest.NewRecorder()
			g.Require(policy.RedeemReward)(next).ServeHTTP(rec, gNewRequest(gIntA, gTokenA))
			assert.Equal(t, http.StatusBadGateway, rec.Code)
			assert.ErrorIs(t, got, middleware.ErrUnavailable)
			assert.ErrorIs(t, got, storeErr)
			assert.False(t, next.called)
		})
	}
}

func TestGuardIntegrationFunc(t *testing.T) {
	f := gNewFixture(t)
	g := f.guardOn(t, gWeb(t, middleware.WithIntegrationFunc(func(r *http.Request) (string, bool) {
		return r.Header.Get("X-Test-Integration"), true
	})))
	next := &gNextHandler{}
	req := gNewRequest("", gTokenA)
	req.Header.Set("X-Test-Integration", gIntA)
	rec := httptest.NewRecorder()
	g.Require(policy.RedeemReward)(next).ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, gIntA, next.integration, "got integration %q from the context, want %q", next.integration, gIntA)

	// The host function decides, not the context.
	next = &gNextHandler{}
	req = gNewRequest(gIntA, gTokenA)
	req.Header.Set("X-Test-Integration", gIntB)
	rec = httptest.NewRecorder()
	g.Require(policy.RedeemReward)(next).ServeHTTP(rec, req)
	gAssertOTPRequired(t, rec)
	assert.False(t, next.called)
}

type gOtherKey struct{}

func TestGuardContextDelegates(t *testing.T) {
	f := gNewFixture(t)
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), gOtherKey{}, "kept"))
	req := gNewRequest("", gTokenA).WithContext(middleware.WithIntegration(parent, gIntA))

	var inner context.Context
	h := f.guard(t).Require(policy.RedeemReward)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Wrapping the guard's context keeps its values reachable.
		inner = context.WithValue(r.Context(), gOtherKey{}, "shadow")
		w.WriteHeader(http.StatusOK)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.NotNil(t, inner)

	s, ok := middleware.SessionFrom(inner)
	require.True(t, ok, "session lost behind a wrapping context")
	assert.Equal(t, gCustomerX, s.CustomerID)
	id, ok := middleware.IntegrationFrom(inner)
	assert.True(t, ok)
	assert.Equal(t, gIntA, id)
	assert.Equal(t, "shadow", inner.Value(gOtherKey{}))

	select {
	case <-inner.Done():
		t.Fatal("context done before cancel")
	default:
	}
	cancel()
	<-inner.Done()
	assert.ErrorIs(t, inner.Err(), context.Canceled)
}

func TestFromEmptyContext(t *testing.T) {
	_, ok := middleware.SessionFrom(context.Background())
	assert.False(t, ok)
	_, ok = middleware.DecisionFrom(context.Background())
	assert.False(t, ok)
	_, ok = middleware.IntegrationFrom(context.Background())
	assert.False(t, ok)
}

// gAuditEvent is one decoded audit log line.
type gAuditEvent struct {
	Level       string `json:"level"`
	Msg         string `json:"msg"`
	Integration string `json:"integration"`
	Action      string `json:"action"`
	Required    bool   `json:"required"`
	Outcome     string `json:"outcome"`
	Reason      string `json:"reason"`
}

func TestGuardAudit(t *testing.T) {
	f := gNewFixture(t)
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	g := f.guardOn(t, gWeb(t, middleware.WithLogger(logger)))
	redeem := g.Require(policy.RedeemReward)(&gNextHandler{})
	search := g.Require(policy.SearchCustomers)(&gNextHandler{})

	search.ServeHTTP(httptest.NewRecorder(), gNewRequest(gIntA))
	redeem.ServeHTTP(httptest.NewRecorder(), gNewRequest(gIntA, gTokenA))
	redeem.ServeHTTP(httptest.NewRecorder(), gNewRequest(gIntB, gTokenA))
	redeem.ServeHTTP(httptest.NewRecorder(), gNewRequest(gIntA))
	redeem.ServeHTTP(httptest.NewRecorder(), gNewRequest(""))
	f.sessions.err = errors.New("store down")
	redeem.ServeHTTP(httptest.NewRecorder(), gNewRequest(gIntA, gTokenA))

	want := []gAuditEvent{
		{"INFO", "otp.decision", gIntA, "search_customers", false, "allowed", "never"},
		{"INFO", "otp.decision", gIntA, "redeem_reward", true, "allowed", "require_otp_for_redemption"},
		{"INFO", "otp.decision", gIntB, "redeem_reward", true, "denied", middleware.ErrWrongIntegration.Error()},
		{"INFO", "otp.decision", gIntA, "redeem_reward", true, "denied", middleware.ErrNoSession.Error()},
		{"INFO", "otp.decision", "", "redeem_reward", false, "denied", middleware.ErrNoIntegration.Error()},
		{"INFO", "otp.decision", gIntA, "redeem_reward", true, "error", "session store failed"},
	}
	var got []gAuditEvent
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	for dec.More() {
		var e gAuditEvent
		require.NoError(t, dec.Decode(&e))
		got = append(got, e)
	}
	assert.Equal(t, want, got, "got audit log\n%s", buf.String())

	log := buf.String()
	for _, secret := range []string{gTokenA, store.HashToken(gTokenA)} {
		assert.NotContains(t, log, secret, "the audit log reveals a token or its hash")
	}
	assert.NotContains(t, log, "store down", "the audit log carries store error text")
}

func TestGuardAuditRespectsLevel(t *testing.T) {
	f := gNewFixture(t)
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f.guardOn(t, gWeb(t, middleware.WithLogger(logger))).Require(policy.RedeemReward)(&gNextHandler{}).
		ServeHTTP(httptest.NewRecorder(), gNewRequest(gIntA, gTokenA))
	assert.Empty(t, buf.String(), "got audit output above the logger's level")
}

// TestGuardOverHTTP runs the whole chain, API keys then guard, through a real
// server and client.
func TestGuardOverHTTP(t *testing.T) {
	f := gNewFixture(t)
	web := gWeb(t)
	g := f.guardOn(t, web, middleware.WithCustomer(middleware.CustomerFromPath("id")))
	auth, err := middleware.APIKeys(web, map[string]string{"zupy_pk_goomer_0123456789": gIntA})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("POST /customers/{id}/redeem", g.Require(policy.RedeemReward)(&gNextHandler{}))
	srv := httptest.NewServer(auth(mux))
	t.Cleanup(srv.Close)

	do := func(path, key, session string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, nil)
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		if session != "" {
			req.Header.Set("X-OTP-Session", session)
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(body)
	}

	resp, body := do("/customers/"+gCustomerX+"/redeem", "zupy_pk_goomer_0123456789", gTokenA)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "served", body)

	resp, body = do("/customers/"+gCustomerX+"/redeem", "zupy_pk_goomer_0123456789", "")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	assert.Equal(t, `{"type":"https://api.zupy.com/errors/otp-required","title":"OTP Required","status":403,"detail":"Customer OTP verification required for this action"}`+"\n", body)

	resp, _ = do("/customers/"+gCustomerY+"/redeem", "zupy_pk_goomer_0123456789", gTokenA)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	resp, _ = do("/customers/"+gCustomerX+"/redeem", "", gTokenA)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestGuardConcurrent(t *testing.T) {
	f := gNewFixture(t)
	var allowed, denied atomic.Int64
	h := f.guard(t).Require(policy.RedeemReward)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := middleware.SessionFrom(r.Context()); ok && s.Integration == gIntA {
			allowed.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				token := gTokenA
				if i%2 == 1 {
					token = gTokenNone
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, gNewRequest(gIntA, token))
				if rec.Code == http.StatusForbidden {
					denied.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(8*50), allowed.Load(), "got %d allowed, want %d", allowed.Load(), 8*50)
	assert.Equal(t, int64(8*50), denied.Load(), "got %d denied, want %d", denied.Load(), 8*50)
}

// TestGuardSingleUseAndMaxAge: the policy's single_use consumes a session
// for one action, once, even under parallel requests; max_age refuses a
// session verified too long ago; each with its own reason.
func TestGuardSingleUseAndMaxAge(t *testing.T) {
	pol, err := policy.Load(strings.NewReader(`{"default": "strict", "integrations": {"goomer": {"level": "relaxed",
		"single_use": ["redeem_reward"], "max_age": {"use_coupon": "2m"}}}}`), "p.json")
	require.NoError(t, err)
	clock := storetest.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	st := memory.New(memory.WithClock(clock.Now))
	defer st.Close()
	var (
		mu      sync.Mutex
		reasons []error
	)
	web, err := middleware.NewHTTP(middleware.WithIntegrationFunc(func(*http.Request) (string, bool) { return "goomer", true }))
	require.NoError(t, err)
	g, err := middleware.NewGuard(web, middleware.WithPolicies(pol), middleware.WithSessions(st), middleware.WithSessionKeys(gKeys), middleware.WithClock(clock.Now),
		middleware.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
			mu.Lock()
			reasons = append(reasons, err)
			mu.Unlock()
			w.WriteHeader(http.StatusForbidden)
		}))
	require.NoError(t, err)
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	redeem, coupon := g.Require(policy.RedeemReward)(ok), g.Require(policy.UseCoupon)(ok)
	token := guardtest.MustIssue(t, st, guardtest.Session{Integration: "goomer", CustomerID: "c1", Keys: gKeys, Now: clock.Now})
	serve := func(h http.Handler) int {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set(middleware.SessionHeader, token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}

	codes := together(20, func(int) int { return serve(redeem) })
	assert.Equal(t, 1, count(codes, http.StatusOK), "of 20 parallel single-use redeems, one passes: %v", codes)
	assert.Equal(t, 19, count(codes, http.StatusForbidden))
	assert.Equal(t, http.StatusOK, serve(coupon), "another action keeps the session")
	clock.Advance(2*time.Minute + time.Second)
	assert.Equal(t, http.StatusForbidden, serve(coupon), "verified more than max_age ago")

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, reasons, 20)
	for _, r := range reasons[:19] {
		assert.ErrorIs(t, r, middleware.ErrSessionUsed)
	}
	assert.ErrorIs(t, reasons[19], middleware.ErrSessionStale)
}

// together runs f on n goroutines at once and returns the results.
func together(n int, f func(int) int) []int {
	out := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func count(xs []int, x int) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}
