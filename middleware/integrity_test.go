package middleware_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/store/redisstore"
	"github.com/otpguard/otpguard/store/storetest"
)

// The integrity tests play someone who can write to the session store but
// does not hold the session keys: they copy, edit and forge records, and
// check that the guard refuses each with ErrSessionForged, on the memory
// store and on a real Redis.

// Session tokens of the integrity tests, signed with gKeys.
var (
	iToken     = gSessionToken(gKeys, 'I') // a genuine session
	iTokenCopy = gSessionToken(gKeys, 'J') // a copy of its record
	iTokenEdit = gSessionToken(gKeys, 'K') // an edited record
)

// iBackend is a session store the integrity tests run on.
type iBackend struct {
	name string
	// open returns an empty store that lives as long as t; a store with a
	// clock of its own runs on clk.
	open func(t *testing.T, clk *storetest.Clock) store.Sessions
}

var iBackends = []iBackend{
	{"memory", func(t *testing.T, clk *storetest.Clock) store.Sessions {
		st := memory.New(memory.WithClock(clk.Now))
		t.Cleanup(st.Close)
		return st
	}},
	{"redis", func(t *testing.T, _ *storetest.Clock) store.Sessions {
		// Redis expires keys on its own clock; the records' ExpiresAt, which
		// the guard judges, follows clk.
		c := redistest.Client(t)
		st, err := redisstore.New(c, redisstore.WithPrefix(redistest.Prefix(t, c)))
		require.NoError(t, err)
		return st
	}},
}

// iForEachBackend runs test as a subtest per backend.
func iForEachBackend(t *testing.T, test func(t *testing.T, b iBackend)) {
	for _, b := range iBackends {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

// iFixture is an empty session store and the clock of its guards.
type iFixture struct {
	clock *storetest.Clock
	st    store.Sessions
}

func iNewFixture(t *testing.T, b iBackend) *iFixture {
	t.Helper()
	clk := storetest.NewClock(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	return &iFixture{clock: clk, st: b.open(t, clk)}
}

// session returns a session of gIntA for gCustomerX, verified now,
// expiring in 30 minutes, not sealed.
func (f *iFixture) session() store.Session {
	now := f.clock.Now()
	return store.Session{Integration: gIntA, CustomerID: gCustomerX, VerifiedAt: now, ExpiresAt: now.Add(30 * time.Minute)}
}

// write stores s under token as it is, MAC included, with a store TTL of
// two hours: what anyone who can write to the store can do.
func (f *iFixture) write(t *testing.T, token string, s store.Session) {
	t.Helper()
	require.NoError(t, f.st.CreateSession(context.Background(), store.HashToken(token), s, 2*time.Hour))
}

// issue seals s under token with keys, as the OTP service does, writes it
// and returns it.
func (f *iFixture) issue(t *testing.T, token string, keys *keyring.Keyring, s store.Session) store.Session {
	t.Helper()
	store.Seal(keys, store.HashToken(token), &s)
	f.write(t, token, s)
	return s
}

// read returns the record stored under token.
func (f *iFixture) read(t *testing.T, token string) store.Session {
	t.Helper()
	s, found, err := f.st.GetSession(context.Background(), store.HashToken(token))
	require.NoError(t, err)
	require.True(t, found, "no record under the token")
	return s
}

// guard returns a guard over the fixture's store, with the test policies,
// the session keys keys and the fixture's clock, on web, configured by opts.
func (f *iFixture) guard(t *testing.T, web *middleware.HTTP, keys *keyring.Keyring, opts ...middleware.Option) *middleware.Guard {
	t.Helper()
	base := []middleware.Option{
		middleware.WithPolicies(gTestPolicies(t)),
		middleware.WithSessions(f.st),
		middleware.WithSessionKeys(keys),
		middleware.WithClock(f.clock.Now),
	}
	g, err := middleware.NewGuard(web, append(base, opts...)...)
	require.NoError(t, err)
	return g
}

// iReq describes a request to a redeem_reward route.
type iReq struct {
	integration string // default gIntA
	token       string
	customer    string // the X-Customer header (see gHeaderCustomer), none when ""
}

func (q iReq) build() *http.Request {
	integration := q.integration
	if integration == "" {
		integration = gIntA
	}
	r := gNewRequest(integration, q.token)
	if q.customer != "" {
		r.Header.Set("X-Customer", q.customer)
	}
	return r
}

// outcome serves q on a redeem_reward route, with the route options route,
// of a guard with the session keys keys and a deny hook, and returns the
// reason the guard refused it, or nil when the handler ran.
func (f *iFixture) outcome(t *testing.T, keys *keyring.Keyring, q iReq, route ...middleware.RouteOption) error {
	t.Helper()
	var reason error
	g := f.guard(t, gWeb(t), keys, middleware.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
		reason = err
		w.WriteHeader(http.StatusTeapot)
	}))
	next := &gNextHandler{}
	rec := httptest.NewRecorder()
	g.Require(policy.RedeemReward, route...)(next).ServeHTTP(rec, q.build())
	if reason == nil {
		assert.True(t, next.called, "got no refusal and no call of the handler")
		assert.Equal(t, http.StatusOK, rec.Code, "got status %d, want 200", rec.Code)
		return nil
	}
	assert.False(t, next.called, "the handler ran on a refused request (%v)", reason)
	assert.Equal(t, http.StatusTeapot, rec.Code, "got status %d, want the deny hook's", rec.Code)
	return reason
}

// assertForged checks that q is refused as forged: ErrSessionForged for
// the deny hook, and the seed's 403 otp-required from the default hook,
// without calling the handler.
func (f *iFixture) assertForged(t *testing.T, keys *keyring.Keyring, q iReq, route ...middleware.RouteOption) {
	t.Helper()
	reason := f.outcome(t, keys, q, route...)
	assert.ErrorIs(t, reason, middleware.ErrSessionForged, "got reason %v, want %v", reason, middleware.ErrSessionForged)

	next := &gNextHandler{}
	rec := httptest.NewRecorder()
	f.guard(t, gWeb(t), keys).Require(policy.RedeemReward, route...)(next).ServeHTTP(rec, q.build())
	gAssertOTPRequired(t, rec)
	assert.False(t, next.called, "the handler ran on a forged session")
}

// TestGuardRefusesCopiedSession: a genuine record copied under another
// token's hash keeps a MAC that is valid, but for the first token only.
func TestGuardRefusesCopiedSession(t *testing.T) {
	iForEachBackend(t, func(t *testing.T, b iBackend) {
		f := iNewFixture(t, b)
		orig := f.issue(t, iToken, gKeys, f.session())
		f.write(t, iTokenCopy, f.read(t, iToken))
		require.True(t, bytes.Equal(orig.MAC, f.read(t, iTokenCopy).MAC), "the store did not keep the copied MAC")

		assert.NoError(t, f.outcome(t, gKeys, iReq{token: iToken}), "the genuine session")
		f.assertForged(t, gKeys, iReq{token: iTokenCopy})
		// Refusing the copy leaves the genuine session alone.
		assert.NoError(t, f.outcome(t, gKeys, iReq{token: iToken}), "the genuine session after its copy was refused")
	})
}

// TestGuardRefusesEditedSession: a record edited in place and written back
// with its old MAC is refused, each edit chosen so that the edited record
// passes every other check of the guard: the MAC alone refuses it.
func TestGuardRefusesEditedSession(t *testing.T) {
	byHeader := middleware.CustomerFunc(gHeaderCustomer)
	tests := []struct {
		name    string
		issued  func(*store.Session) // changes the genuine session before it is sealed; nil for none
		advance time.Duration        // the time between the issue and the requests
		before  error                // the guard's answer to the genuine record: nil, or why it is refused
		edit    func(*store.Session)
		req     iReq
		route   []middleware.RouteOption
	}{
		{
			name:   "scopes widened by an action",
			issued: func(s *store.Session) { s.Scopes = []string{string(policy.UseCoupon)} },
			before: middleware.ErrScope,
			edit:   func(s *store.Session) { s.Scopes = append(s.Scopes, string(policy.RedeemReward)) },
		},
		{
			name:   "scopes widened to any action",
			issued: func(s *store.Session) { s.Scopes = []string{string(policy.UseCoupon)} },
			before: middleware.ErrScope,
			edit:   func(s *store.Session) { s.Scopes = nil },
		},
		{
			name:    "expiry extended past the clock",
			issued:  func(s *store.Session) { s.ExpiresAt = s.VerifiedAt.Add(10 * time.Minute) },
			advance: 11 * time.Minute,
			before:  middleware.ErrSessionExpired,
			edit:    func(s *store.Session) { s.ExpiresAt = s.ExpiresAt.Add(24 * time.Hour) },
		},
		{
			// UnixNano wraps every 2^64 ns: a MAC over it would sign the
			// original expiry and this one (584 years later) alike.
			name:    "expiry extended by 2^64 ns",
			issued:  func(s *store.Session) { s.ExpiresAt = s.VerifiedAt.Add(10 * time.Minute) },
			advance: 11 * time.Minute,
			before:  middleware.ErrSessionExpired,
			edit:    func(s *store.Session) { s.ExpiresAt = s.ExpiresAt.Add(1<<63 - 1).Add(1<<63 - 1).Add(2) },
		},
		{
			name: "verification time moved",
			edit: func(s *store.Session) { s.VerifiedAt = s.VerifiedAt.Add(time.Minute) },
		},
		{
			name:   "customer changed on a route bound to the request's customer",
			before: middleware.ErrWrongCustomer,
			edit:   func(s *store.Session) { s.CustomerID = gCustomerY },
			req:    iReq{customer: gCustomerY},
			route:  []middleware.RouteOption{byHeader},
		},
		{
			name: "customer changed on a route bound to no customer",
			edit: func(s *store.Session) { s.CustomerID = gCustomerY },
		},
		{
			name:   "integration changed to the request's",
			issued: func(s *store.Session) { s.Integration = gIntB },
			before: middleware.ErrWrongIntegration,
			edit:   func(s *store.Session) { s.Integration = gIntA },
		},
		{
			name: "MAC dropped",
			edit: func(s *store.Session) { s.MAC = nil },
		},
		{
			name: "MAC truncated",
			edit: func(s *store.Session) { s.MAC = s.MAC[:16] },
		},
		{
			name: "MAC flipped",
			edit: func(s *store.Session) { s.MAC = slices.Clone(s.MAC); s.MAC[0] ^= 1 },
		},
	}
	iForEachBackend(t, func(t *testing.T, b iBackend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := iNewFixture(t, b)
				s := f.session()
				if tt.issued != nil {
					tt.issued(&s)
				}
				f.issue(t, iToken, gKeys, s)
				f.clock.Advance(tt.advance)
				req := tt.req
				req.token = iToken
				if got := f.outcome(t, gKeys, req, tt.route...); tt.before == nil {
					require.NoError(t, got, "the genuine record")
				} else {
					require.ErrorIs(t, got, tt.before, "the genuine record: got reason %v, want %v", got, tt.before)
				}

				edited := f.read(t, iToken)
				mac := slices.Clone(edited.MAC)
				tt.edit(&edited)
				f.write(t, iToken, edited)
				stored := f.read(t, iToken)
				require.True(t, bytes.Equal(edited.MAC, stored.MAC), "the store did not keep the MAC as written")
				if !bytes.Equal(mac, edited.MAC) {
					// Only the MAC was changed.
					edited.MAC = mac
					require.True(t, store.Sealed(gKeys, store.HashToken(iToken), &edited), "the edit changed more than the MAC")
				}
				f.assertForged(t, gKeys, req, tt.route...)
			})
		}
	})
}

// TestGuardRefusesUnsealedSession: a record written from scratch, without a
// MAC or with one under other keys, is refused.
func TestGuardRefusesUnsealedSession(t *testing.T) {
	iForEachBackend(t, func(t *testing.T, b iBackend) {
		f := iNewFixture(t, b)
		f.write(t, iToken, f.session())
		f.assertForged(t, gKeys, iReq{token: iToken})

		f.issue(t, iTokenCopy, gNewKeyring(2), f.session())
		f.assertForged(t, gKeys, iReq{token: iTokenCopy})
		// The guard holding those other keys (and its own) accepts it.
		both, err := keyring.New(bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32))
		require.NoError(t, err)
		assert.NoError(t, f.outcome(t, both, iReq{token: iTokenCopy}))
	})
}

// TestGuardRotatedSessionKeys: with the new key first and the old one
// second, sessions sealed with either verify, and new ones are sealed with
// the new key; dropping the old key ends the old sessions.
func TestGuardRotatedSessionKeys(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{0x0a}, 32), bytes.Repeat([]byte{0x0b}, 32)
	old, err := keyring.New(oldKey)
	require.NoError(t, err)
	rotated, err := keyring.New(newKey, oldKey)
	require.NoError(t, err)
	fresh, err := keyring.New(newKey)
	require.NoError(t, err)
	var (
		tokenOld = gSessionToken(old, 'I')     // issued before the rotation
		tokenNew = gSessionToken(rotated, 'J') // issued after it
	)
	iForEachBackend(t, func(t *testing.T, b iBackend) {
		f := iNewFixture(t, b)
		f.issue(t, tokenOld, old, f.session())
		f.issue(t, tokenNew, rotated, f.session())

		assert.NoError(t, f.outcome(t, old, iReq{token: tokenOld}), "old session, before the rotation")
		assert.NoError(t, f.outcome(t, rotated, iReq{token: tokenOld}), "old session, after the rotation")
		assert.NoError(t, f.outcome(t, rotated, iReq{token: tokenNew}), "new session, after the rotation")
		assert.NoError(t, f.outcome(t, fresh, iReq{token: tokenNew}), "new session, once the old key is dropped")
		// The token itself carries the old key's MAC: it is refused before
		// its record is read.
		assert.ErrorIs(t, f.outcome(t, fresh, iReq{token: tokenOld}), middleware.ErrSessionInvalid, "old session, once the old key is dropped")
		// An instance not yet rotated refuses what the new key signed.
		assert.ErrorIs(t, f.outcome(t, old, iReq{token: tokenNew}), middleware.ErrSessionInvalid, "new session, on an instance not yet rotated")
		// A record sealed with a dropped key is refused as forged, even
		// under a token the guard's keys signed.
		tokenFresh := gSessionToken(fresh, 'K')
		f.issue(t, tokenFresh, old, f.session())
		f.assertForged(t, fresh, iReq{token: tokenFresh})
	})
}

// TestGuardLogsIntegrityFailure: every forged record is logged as
// otp.integrity_failure at level Error, with the integration and the
// action only, even when the logger drops the audit's Info events; other
// refusals are not integrity failures; nothing logged reveals a token, its
// hash or the MAC.
func TestGuardLogsIntegrityFailure(t *testing.T) {
	iForEachBackend(t, func(t *testing.T, b iBackend) {
		f := iNewFixture(t, b)
		orig := f.issue(t, iToken, gKeys, f.session())
		f.write(t, iTokenCopy, f.read(t, iToken))
		scoped := f.session()
		scoped.Scopes = []string{string(policy.UseCoupon)}
		edited := f.issue(t, iTokenEdit, gKeys, scoped)
		edited.Scopes = nil
		f.write(t, iTokenEdit, edited)

		var info, errs bytes.Buffer
		serve := func(buf *bytes.Buffer, level slog.Level, tokens ...string) {
			t.Helper()
			web := gWeb(t, middleware.WithLogger(slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level}))))
			h := f.guard(t, web, gKeys).Require(policy.RedeemReward)(&gNextHandler{})
			for _, token := range tokens {
				h.ServeHTTP(httptest.NewRecorder(), gNewRequest(gIntA, token))
			}
		}
		tokens := []string{iToken, gTokenNone, iTokenCopy, iTokenEdit}
		serve(&info, slog.LevelInfo, tokens...)
		serve(&errs, slog.LevelError, tokens...)

		forged := gAuditEvent{"INFO", "otp.decision", gIntA, "redeem_reward", true, "denied", middleware.ErrSessionForged.Error()}
		integrity := gAuditEvent{Level: "ERROR", Msg: "otp.integrity_failure", Integration: gIntA, Action: "redeem_reward"}
		assert.Equal(t, []gAuditEvent{
			{"INFO", "otp.decision", gIntA, "redeem_reward", true, "allowed", "require_otp_for_redemption"},
			{"INFO", "otp.decision", gIntA, "redeem_reward", true, "denied", middleware.ErrSessionInvalid.Error()},
			integrity, forged,
			integrity, forged,
		}, iDecode[gAuditEvent](t, &info), "got log\n%s", info.String())
		assert.Equal(t, []gAuditEvent{integrity, integrity}, iDecode[gAuditEvent](t, &errs),
			"got log at level Error\n%s", errs.String())

		// The integrity event carries nothing else.
		for _, e := range iDecode[map[string]any](t, &errs) {
			assert.ElementsMatch(t, []string{"time", "level", "msg", "integration", "action"}, slices.Collect(maps.Keys(e)),
				"got integrity event %v", e)
		}
		log := info.String() + errs.String()
		for _, secret := range []string{
			iToken, iTokenCopy, iTokenEdit,
			store.HashToken(iToken), store.HashToken(iTokenCopy), store.HashToken(iTokenEdit),
			hex.EncodeToString(orig.MAC), base64.StdEncoding.EncodeToString(orig.MAC),
			hex.EncodeToString(edited.MAC), base64.StdEncoding.EncodeToString(edited.MAC),
		} {
			assert.NotContains(t, log, secret, "the log reveals a token, a token hash or a MAC")
		}
	})
}

// iDecode decodes every JSON value in buf.
func iDecode[E any](t *testing.T, buf *bytes.Buffer) []E {
	t.Helper()
	var out []E
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	for dec.More() {
		var e E
		require.NoError(t, dec.Decode(&e))
		out = append(out, e)
	}
	return out
}
