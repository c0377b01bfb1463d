package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/store/redisstore"
)

// The tests of this file pin what makes refusals cheap: a token that does
// not carry the session keys' MAC never reaches the store, the refusals
// allocate nothing, and a guarded request reads the clock once.

// cCountingSessions counts every call to the memory store it wraps, its
// fast lookup (store.SessionLookup) included, so that the guard takes the
// same path as over the bare store.
type cCountingSessions struct {
	*memory.Store
	calls atomic.Int64
}

func (c *cCountingSessions) CreateSession(ctx context.Context, h string, s store.Session, ttl time.Duration) error {
	c.calls.Add(1)
	return c.Store.CreateSession(ctx, h, s, ttl)
}

func (c *cCountingSessions) GetSession(ctx context.Context, h string) (store.Session, bool, error) {
	c.calls.Add(1)
	return c.Store.GetSession(ctx, h)
}

func (c *cCountingSessions) LookupSession(ctx context.Context, d [32]byte, now time.Time) (store.SessionRecord, bool, error) {
	c.calls.Add(1)
	return c.Store.LookupSession(ctx, d, now)
}

func (c *cCountingSessions) UseSession(ctx context.Context, h, action string) (bool, error) {
	c.calls.Add(1)
	return c.Store.UseSession(ctx, h, action)
}

func (c *cCountingSessions) RevokeSession(ctx context.Context, h string) (bool, error) {
	c.calls.Add(1)
	return c.Store.RevokeSession(ctx, h)
}

func (c *cCountingSessions) RevokeSessions(ctx context.Context, scope store.LockScope, id string) (int, error) {
	c.calls.Add(1)
	return c.Store.RevokeSessions(ctx, scope, id)
}

func (c *cCountingSessions) CountSessions(ctx context.Context, scope store.LockScope, id string) (int, error) {
	c.calls.Add(1)
	return c.Store.CountSessions(ctx, scope, id)
}

// cBadTokens are X-OTP-Session values that are not tokens the guard's keys
// (gKeys) signed: malformed, forged or edited. Each is refused with
// ErrSessionInvalid before the store is asked.
func cBadTokens() map[string][]string {
	valid := gTokenA
	flip := func(i int) string {
		b := []byte(valid)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	return map[string][]string{
		"too short":                {valid[:store.TokenLen-1]},
		"too long":                 {valid + "A"},
		"padded":                   {valid[:store.TokenLen-1] + "="},
		"standard base64":          {strings.Repeat("+", store.TokenLen)},
		"non-ASCII":                {valid[:store.TokenLen-2] + "é"},
		"spaces":                   {strings.Repeat(" ", store.TokenLen)},
		"old 43-character token":   {strings.Repeat("A", 43)},
		"token's shape, no MAC":    {strings.Repeat("A", store.TokenLen)},
		"random part edited":       {flip(0)},
		"MAC edited":               {flip(store.TokenLen - 1)},
		"signed with other keys":   {gSessionToken(gNewKeyring(2), 'A')},
		"valid token twice":        {valid, valid},
		"the token's hash":         {store.HashToken(valid)},
		"512 bytes of base64url":   {strings.Repeat("A", middleware.MaxSessionTokenLen)},
		"a token of other keys, 2": {gSessionToken(gNewKeyring(3), 'Z')},
	}
}

func TestGuardRefusesForgedTokensWithoutStore(t *testing.T) {
	mem := memory.New()
	t.Cleanup(mem.Close)
	st := &cCountingSessions{Store: mem}
	now := time.Now()
	s := store.Session{Integration: gIntA, CustomerID: gCustomerX, VerifiedAt: now, ExpiresAt: now.Add(time.Hour)}
	store.Seal(gKeys, store.HashToken(gTokenA), &s)
	require.NoError(t, st.CreateSession(context.Background(), store.HashToken(gTokenA), s, time.Hour))
	var reason error
	g, err := middleware.NewGuard(gWeb(t), middleware.WithPolicies(gTestPolicies(t)), middleware.WithSessions(st), middleware.WithSessionKeys(gKeys),
		middleware.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
			reason = err
			w.WriteHeader(http.StatusForbidden)
		}))
	require.NoError(t, err)
	h := g.Require(policy.RedeemReward)(&gNextHandler{})

	for name, tokens := range cBadTokens() {
		t.Run(name, func(t *testing.T) {
			reason = nil
			before := st.calls.Load()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, gNewRequest(gIntA, tokens...))
			assert.Equal(t, http.StatusForbidden, rec.Code, "got status %d, want 403", rec.Code)
			assert.ErrorIs(t, reason, middleware.ErrSessionInvalid, "got reason %v, want %v", reason, middleware.ErrSessionInvalid)
			assert.Equal(t, before, st.calls.Load(), "got %d store calls, want none", st.calls.Load()-before)
		})
	}
	// The counter counts: the genuine token is looked up, once.
	before := st.calls.Load()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, gNewRequest(gIntA, gTokenA))
	require.Equal(t, http.StatusOK, rec.Code, "the genuine token: got status %d, want 200", rec.Code)
	assert.Equal(t, before+1, st.calls.Load(), "the genuine token: got %d store calls, want 1", st.calls.Load()-before)
}

func TestGuardRefusesForgedTokensWithoutRedis(t *testing.T) {
	// A server of this test's own: no other test's GET can move its
	// counters.
	srv := redistest.StartServer(t)
	client := redistest.NewClient(t, srv.Addr())
	st, err := redisstore.New(client, redisstore.WithPrefix("cheap:"))
	require.NoError(t, err)
	ctx := context.Background()
	now := time.Now()
	s := store.Session{Integration: gIntA, CustomerID: gCustomerX, VerifiedAt: now, ExpiresAt: now.Add(time.Hour)}
	store.Seal(gKeys, store.HashToken(gTokenA), &s)
	require.NoError(t, st.CreateSession(ctx, store.HashToken(gTokenA), s, time.Hour))
	gets := func() int64 {
		t.Helper()
		info, err := client.Info(ctx, "commandstats").Result()
		require.NoError(t, err)
		for line := range strings.Lines(info) {
			rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_get:calls=")
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
			require.NoError(t, err, "cmdstat_get line %q", line)
			return n
		}
		return 0
	}
	g, err := middleware.NewGuard(gWeb(t), middleware.WithPolicies(gTestPolicies(t)), middleware.WithSessions(st), middleware.WithSessionKeys(gKeys))
	require.NoError(t, err)
	h := g.Require(policy.RedeemReward)(&gNextHandler{})

	before := gets()
	for name, tokens := range cBadTokens() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, gNewRequest(gIntA, tokens...))
		assert.Equal(t, http.StatusForbidden, rec.Code, "%s: got status %d, want 403", name, rec.Code)
	}
	assert.Equal(t, before, gets(), "cmdstat_get calls after the forged tokens: got %d more, want none", gets()-before)
	// The counter counts: the genuine token costs one GET.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, gNewRequest(gIntA, gTokenA))
	require.Equal(t, http.StatusOK, rec.Code, "the genuine token: got status %d, want 200", rec.Code)
	assert.Equal(t, before+1, gets(), "cmdstat_get calls after the genuine token: got %d more, want 1", gets()-before)
}

// cClock is a clock that counts its readings.
type cClock struct {
	now   time.Time
	reads atomic.Int64
}

func (c *cClock) Now() time.Time {
	c.reads.Add(1)
	return c.now
}

func TestGuardReadsClockOnce(t *testing.T) {
	clk := &cClock{now: time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)}
	mem := memory.New(memory.WithClock(clk.Now), memory.WithCleanupInterval(0))
	t.Cleanup(mem.Close)
	s := store.Session{Integration: gIntA, CustomerID: gCustomerX, VerifiedAt: clk.now, ExpiresAt: clk.now.Add(time.Hour)}
	store.Seal(gKeys, store.HashToken(gTokenA), &s)
	require.NoError(t, mem.CreateSession(context.Background(), store.HashToken(gTokenA), s, time.Hour))
	g, err := middleware.NewGuard(gWeb(t), middleware.WithPolicies(gTestPolicies(t)), middleware.WithSessions(mem), middleware.WithSessionKeys(gKeys), middleware.WithClock(clk.Now))
	require.NoError(t, err)
	h := g.Require(policy.RedeemReward)(&gNextHandler{})
	for _, tt := range []struct {
		name   string
		tokens []string
		status int
		reads  int64
	}{
		{"valid session", []string{gTokenA}, http.StatusOK, 1},
		{"unknown session", []string{gTokenNone}, http.StatusForbidden, 1},
		{"no header", nil, http.StatusForbidden, 0},
		{"forged token", []string{gSessionToken(gNewKeyring(2), 'A')}, http.StatusForbidden, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := clk.reads.Load()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, gNewRequest(gIntA, tt.tokens...))
			require.Equal(t, tt.status, rec.Code, "got status %d, want %d", rec.Code, tt.status)
			assert.Equal(t, tt.reads, clk.reads.Load()-before, "got %d clock readings, want %d (guard and store together)", clk.reads.Load()-before, tt.reads)
		})
	}
}

// cDiscard is a ResponseWriter that keeps nothing and allocates nothing.
type cDiscard struct {
	h      http.Header
	status int
}

func (d *cDiscard) Header() http.Header         { return d.h }
func (d *cDiscard) Write(p []byte) (int, error) { return len(p), nil }
func (d *cDiscard) WriteHeader(s int)           { d.status = s }

func TestGuardAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop objects, which then allocate")
	}
	mem := memory.New()
	t.Cleanup(mem.Close)
	now := time.Now()
	s := store.Session{Integration: gIntA, CustomerID: gCustomerX, VerifiedAt: now, ExpiresAt: now.Add(time.Hour)}
	store.Seal(gKeys, store.HashToken(gTokenA), &s)
	require.NoError(t, mem.CreateSession(context.Background(), store.HashToken(gTokenA), s, time.Hour))
	g, err := middleware.NewGuard(gWeb(t), middleware.WithPolicies(gTestPolicies(t)), middleware.WithSessions(mem), middleware.WithSessionKeys(gKeys))
	require.NoError(t, err)
	served := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := middleware.SessionFrom(r.Context()); ok {
			served++
		}
		w.WriteHeader(http.StatusOK)
	})
	for _, tt := range []struct {
		name   string
		action policy.Action
		tokens []string
		status int
		max    float64
	}{
		// Request.WithContext's copy of the request, and the guard's
		// context with the session.
		{"valid session", policy.RedeemReward, []string{gTokenA}, http.StatusOK, 2},
		{"no header", policy.RedeemReward, nil, http.StatusForbidden, 0},
		{"forged token", policy.RedeemReward, []string{gSessionToken(gNewKeyring(2), 'A')}, http.StatusForbidden, 0},
		{"malformed token", policy.RedeemReward, []string{"<script>"}, http.StatusForbidden, 0},
		{"unknown session", policy.RedeemReward, []string{gTokenNone}, http.StatusForbidden, 0},
		{"action needing no OTP", policy.SearchCustomers, nil, http.StatusOK, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := g.Require(tt.action)(next)
			r := gNewRequest(gIntA, tt.tokens...)
			w := &cDiscard{h: make(http.Header)}
			h.ServeHTTP(w, r)
			require.Equal(t, tt.status, w.status, "got status %d, want %d", w.status, tt.status)
			got := testing.AllocsPerRun(200, func() {
				clear(w.h)
				h.ServeHTTP(w, r)
			})
			assert.LessOrEqual(t, got, tt.max, "got %v allocations per request, want at most %v", got, tt.max)
		})
	}
	assert.Positive(t, served, "the handler never saw a session")
}
