package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/otpguard/otpguard/internal/telemetrytest"
	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/telemetry"
)

// Tokens of the telemetry tests' sessions, signed with the fixture's keys
// (newTelFixture).
var (
	telTokenValid   = gSessionToken(gNewKeyring(7), 'V')
	telTokenExpired = gSessionToken(gNewKeyring(7), 'E')
	telTokenForged  = gSessionToken(gNewKeyring(7), 'F')
	telTokenUnknown = gSessionToken(gNewKeyring(7), 'U')
)

// telIntegration is the integration of the telemetry tests' sessions.
const telIntegration = "goomer"

// telFixture is a guard's session store, keys and policies for the
// telemetry tests.
type telFixture struct {
	keys     *keyring.Keyring
	mem      *memory.Store
	sessions *telSessions
	policies policy.Source
}

// telSessions is a session store that fails every call with err, when set.
type telSessions struct {
	store.Sessions
	err error
}

func (s *telSessions) GetSession(ctx context.Context, h string) (store.Session, bool, error) {
	if s.err != nil {
		return store.Session{}, false, s.err
	}
	return s.Sessions.GetSession(ctx, h)
}

// telPolicySource is a policy source that fails with err, when set.
type telPolicySource struct {
	policy.Source
	err error
}

func (s *telPolicySource) Policy(ctx context.Context, integration string) (policy.Policy, error) {
	if s.err != nil {
		return policy.Policy{}, s.err
	}
	return s.Source.Policy(ctx, integration)
}

func newTelFixture(t testing.TB) *telFixture {
	t.Helper()
	keys, err := keyring.New(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	mem := memory.New()
	t.Cleanup(func() { mem.Close() })
	strict, err := policy.Preset(policy.Strict)
	require.NoError(t, err)
	strict.SingleUse = []policy.Action{policy.UseCoupon}
	src, err := policy.NewStatic(strict, nil)
	require.NoError(t, err)
	f := &telFixture{keys: keys, mem: mem, sessions: &telSessions{Sessions: mem}, policies: &telPolicySource{Source: src}}
	now := time.Now()
	f.put(t, telTokenValid, store.Session{Integration: telIntegration, CustomerID: "cust-x", VerifiedAt: now, ExpiresAt: now.Add(time.Hour)}, true)
	// Expired by its own clock, still kept by the store.
	f.put(t, telTokenExpired, store.Session{Integration: telIntegration, CustomerID: "cust-x", VerifiedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)}, true)
	f.put(t, telTokenForged, store.Session{Integration: telIntegration, CustomerID: "cust-x", VerifiedAt: now, ExpiresAt: now.Add(time.Hour)}, false)
	return f
}

// put stores s under token, sealed with the fixture's keys when sealed.
func (f *telFixture) put(t testing.TB, token string, s store.Session, sealed bool) {
	t.Helper()
	h := store.HashToken(token)
	if sealed {
		store.Seal(f.keys, h, &s)
	} else {
		s.MAC = bytes.Repeat([]byte{1}, 32)
	}
	require.NoError(t, f.mem.CreateSession(context.Background(), h, s, time.Hour))
}

func (f *telFixture) guard(t testing.TB, opts ...middleware.HTTPOption) *middleware.Guard {
	t.Helper()
	web, err := middleware.NewHTTP(opts...)
	require.NoError(t, err)
	g, err := middleware.NewGuard(web,
		middleware.WithPolicies(f.policies),
		middleware.WithSessions(f.sessions),
		middleware.WithSessionKeys(f.keys),
	)
	require.NoError(t, err)
	return g
}

// telRequest returns a request of integration ("" for none) with the
// session token ("" for none).
func telRequest(integration, token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/x", nil)
	if integration != "" {
		r = r.WithContext(middleware.WithIntegration(r.Context(), integration))
	}
	if token != "" {
		r.Header.Set(middleware.SessionHeader, token)
	}
	return r
}

func TestGuardTelemetry(t *testing.T) {
	f := newTelFixture(t)
	rec := telemetrytest.New(t)
	var logs bytes.Buffer
	g := f.guard(t, middleware.WithTelemetry(rec.Telemetry),
		middleware.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))

	// The guard's span covers the decision only: the handler runs outside
	// it, under the request's own span (none here).
	var handlerSpans []trace.SpanContext
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlerSpans = append(handlerSpans, trace.SpanContextFromContext(r.Context()))
		w.WriteHeader(http.StatusNoContent)
	})
	search := g.Require(policy.SearchCustomers)(next)
	redeem := g.Require(policy.RedeemReward)(next)
	coupon := g.Require(policy.UseCoupon)(next)

	steps := []struct {
		name        string
		h           http.Handler
		integration string
		token       string
		storeErr    error
		policyErr   error
		wantStatus  int
		wantReason  string
		wantOutcome string
	}{
		{"no OTP needed", search, telIntegration, "", nil, nil, http.StatusNoContent, "never", "allowed"},
		{"valid session", redeem, telIntegration, telTokenValid, nil, nil, http.StatusNoContent, "require_otp_for_redemption", "allowed"},
		{"no session", redeem, telIntegration, "", nil, nil, http.StatusForbidden, "no_session", "denied"},
		{"unknown session", redeem, telIntegration, telTokenUnknown, nil, nil, http.StatusForbidden, "invalid", "denied"},
		{"expired session", redeem, telIntegration, telTokenExpired, nil, nil, http.StatusForbidden, "expired", "denied"},
		{"wrong integration", redeem, "saipos", telTokenValid, nil, nil, http.StatusForbidden, "wrong_integration", "denied"},
		{"forged session", redeem, telIntegration, telTokenForged, nil, nil, http.StatusForbidden, "forged", "denied"},
		{"single use, first", coupon, telIntegration, telTokenValid, nil, nil, http.StatusNoContent, "require_otp_for_coupon_usage", "allowed"},
		{"single use, again", coupon, telIntegration, telTokenValid, nil, nil, http.StatusForbidden, "used", "denied"},
		{"no integration", redeem, "", telTokenValid, nil, nil, http.StatusUnauthorized, "no_integration", "denied"},
		{"store down", redeem, telIntegration, telTokenValid, context.DeadlineExceeded, nil, http.StatusServiceUnavailable, "store_error", "error"},
		{"policy source down", redeem, telIntegration, telTokenValid, nil, context.Canceled, http.StatusServiceUnavailable, "policy_error", "error"},
	}
	want := map[string]int64{}
	for _, st := range steps {
		f.sessions.err, f.policies.(*telPolicySource).err = st.storeErr, st.policyErr
		w := httptest.NewRecorder()
		st.h.ServeHTTP(w, telRequest(st.integration, st.token))
		require.Equal(t, st.wantStatus, w.Code, "%s: got status %d, want %d", st.name, w.Code, st.wantStatus)
		action := "redeem_reward"
		switch st.h {
		case search:
			action = "search_customers"
		case coupon:
			action = "use_coupon"
		}
		want["action="+action+",outcome="+st.wantOutcome+",reason="+st.wantReason]++

		spans := rec.SpansNamed("otpguard.guard")
		require.Len(t, spans, 1, "%s: got %d guard spans, want 1", st.name, len(spans))
		span := spans[0]
		assert.Equal(t, st.wantOutcome, telemetrytest.Attr(span, "otpguard.outcome"), "%s: span outcome", st.name)
		assert.Equal(t, st.wantReason, telemetrytest.Attr(span, "otpguard.reason"), "%s: span reason", st.name)
		assert.Equal(t, action, telemetrytest.Attr(span, "otpguard.action"), "%s: span action", st.name)
		assert.Equal(t, st.integration, telemetrytest.Attr(span, "otpguard.integration"), "%s: span integration", st.name)
		if st.wantOutcome == "error" {
			assert.Equal(t, codes.Error, span.Status().Code, "%s: got span status %v, want Error", st.name, span.Status())
			assert.NotContains(t, span.Status().Description, "context", "%s: the cause's text stays out of the span", st.name)
		} else {
			assert.Equal(t, codes.Unset, span.Status().Code, "%s: a refusal is no error", st.name)
		}
		// Every store call is a child of the decision's span.
		for _, s := range rec.Spans() {
			if s.Name() == "otpguard.guard" {
				continue
			}
			assert.Equal(t, span.SpanContext().SpanID(), s.Parent().SpanID(), "%s: span %s: got parent %v, want the guard's span", st.name, s.Name(), s.Parent().SpanID())
		}
		rec.Reset()
	}
	f.sessions.err, f.policies.(*telPolicySource).err = nil, nil

	assert.Equal(t, want, rec.Counts("otpguard_guard_decisions"))
	assert.Equal(t, map[string]int64{"operation=GetSession": 1}, rec.Counts("otpguard_store_errors"))
	for i, sc := range handlerSpans {
		assert.False(t, sc.IsValid(), "handler call %d: got span %v in the handler's context, want the guard's span ended before it", i, sc.SpanID())
	}

	// The audit log gives a failure's class, never its text.
	var classes []string
	for _, line := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
		var e struct {
			Outcome    string `json:"outcome"`
			ErrorClass string `json:"error_class"`
		}
		require.NoError(t, json.Unmarshal(line, &e))
		if e.Outcome == "error" {
			classes = append(classes, e.ErrorClass)
		}
	}
	assert.Equal(t, []string{"timeout", "canceled"}, classes)
	assert.NotContains(t, logs.String(), "deadline exceeded")
}

func TestGuardTelemetryStoreSpans(t *testing.T) {
	f := newTelFixture(t)
	rec := telemetrytest.New(t)
	g := f.guard(t, middleware.WithTelemetry(rec.Telemetry))
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })

	coupon := g.Require(policy.UseCoupon)(ok)
	coupon.ServeHTTP(httptest.NewRecorder(), telRequest(telIntegration, telTokenValid))
	var names []string
	for _, s := range rec.Spans() {
		names = append(names, s.Name())
	}
	assert.Equal(t, []string{"otpguard.store.GetSession", "otpguard.store.UseSession", "otpguard.guard"}, names)
	get := rec.SpansNamed("otpguard.store.GetSession")[0]
	assert.Equal(t, "GetSession", telemetrytest.Attr(get, "otpguard.operation"))
	assert.Equal(t, trace.SpanKindClient, get.SpanKind())

	rec.Reset()
	f.sessions.err = context.DeadlineExceeded
	g.Require(policy.RedeemReward)(ok).ServeHTTP(httptest.NewRecorder(), telRequest(telIntegration, telTokenValid))
	get = rec.SpansNamed("otpguard.store.GetSession")[0]
	assert.Equal(t, codes.Error, get.Status().Code)
	assert.Equal(t, "timeout", telemetrytest.Attr(get, "error.type"))
	require.Len(t, get.Events(), 1, "got %d span events, want the recorded error", len(get.Events()))
	assert.Equal(t, "exception", get.Events()[0].Name)
}

func TestGuardTelemetryIntegrityEvent(t *testing.T) {
	f := newTelFixture(t)
	rec := telemetrytest.New(t)
	g := f.guard(t, middleware.WithTelemetry(rec.Telemetry))
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	g.Require(policy.RedeemReward)(ok).ServeHTTP(httptest.NewRecorder(), telRequest(telIntegration, telTokenForged))
	assert.Equal(t, []telemetry.Event{{Kind: telemetry.EventIntegrityFailure, Integration: telIntegration, Action: "redeem_reward"}}, rec.Events())

	// An event hook alone, without providers, still gets the event.
	var got []telemetry.Event
	tel, err := telemetry.New(telemetry.WithEvents(func(_ context.Context, e telemetry.Event) { got = append(got, e) }))
	require.NoError(t, err)
	g = f.guard(t, middleware.WithTelemetry(tel))
	g.Require(policy.RedeemReward)(ok).ServeHTTP(httptest.NewRecorder(), telRequest(telIntegration, telTokenForged))
	require.Len(t, got, 1)
	assert.Equal(t, telemetry.EventIntegrityFailure, got[0].Kind)
	assert.Equal(t, "otp.integrity_failure", got[0].Kind.String())
}

func TestWithTelemetryNil(t *testing.T) {
	_, err := middleware.NewHTTP(middleware.WithTelemetry(nil))
	assert.ErrorIs(t, err, middleware.ErrInvalidConfig)
}

// telConfigs are the telemetry set-ups the allocation test and the
// benchmark compare: none at all, telemetry without providers, explicit
// no-op providers, and the global providers before the host sets any.
func telConfigs(t testing.TB) []struct {
	name string
	opts []middleware.HTTPOption
} {
	unset, err := telemetry.New()
	require.NoError(t, err)
	noop, err := telemetry.New(telemetry.WithMeterProvider(metricnoop.NewMeterProvider()), telemetry.WithTracerProvider(tracenoop.NewTracerProvider()))
	require.NoError(t, err)
	global, err := telemetry.New(telemetry.WithMeterProvider(otel.GetMeterProvider()), telemetry.WithTracerProvider(otel.GetTracerProvider()))
	require.NoError(t, err)
	return []struct {
		name string
		opts []middleware.HTTPOption
	}{
		{"none", nil},
		{"unconfigured", []middleware.HTTPOption{middleware.WithTelemetry(unset)}},
		{"noop", []middleware.HTTPOption{middleware.WithTelemetry(noop)}},
		{"global-unset", []middleware.HTTPOption{middleware.WithTelemetry(global)}},
	}
}

// telDiscard is a ResponseWriter that keeps nothing and allocates nothing.
type telDiscard struct{ h http.Header }

func (d *telDiscard) Header() http.Header         { return d.h }
func (d *telDiscard) Write(p []byte) (int, error) { return len(p), nil }
func (d *telDiscard) WriteHeader(int)             {}

var telOK = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

// TestGuardTelemetryAllocs pins the cost of telemetry that is not
// configured: the guard's no-OTP and valid-session paths allocate exactly
// what they do without telemetry.
func TestGuardTelemetryAllocs(t *testing.T) {
	f := newTelFixture(t)
	paths := []struct {
		name   string
		action policy.Action
		token  string
	}{
		{"no OTP", policy.SearchCustomers, ""},
		{"valid session", policy.RedeemReward, telTokenValid},
	}
	for _, p := range paths {
		base := -1.0
		for _, c := range telConfigs(t) {
			if c.name == "global-unset" {
				continue // its delegate allocates a span context; see the benchmark
			}
			h := f.guard(t, c.opts...).Require(p.action)(telOK)
			r := telRequest(telIntegration, p.token)
			w := &telDiscard{h: http.Header{}}
			allocs := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, r) })
			if base < 0 {
				base = allocs
				continue
			}
			assert.Equal(t, base, allocs, "%s, telemetry %s: got %v allocations per request, want %v as without telemetry", p.name, c.name, allocs, base)
		}
	}
}

// BenchmarkGuardTelemetry compares the guard's no-OTP and valid-session
// paths without telemetry and with telemetry that has no provider, with
// explicit no-op providers, with the global providers before the host sets
// them, and with SDK providers (metrics aggregated by a manual reader,
// spans sampled, recorded and dropped at their end):
//
//	go test -run x -bench GuardTelemetry -benchmem ./middleware/
func BenchmarkGuardTelemetry(b *testing.B) {
	f := newTelFixture(b)
	configs := telConfigs(b)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider()
	b.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = tp.Shutdown(context.Background())
	})
	sdk, err := telemetry.New(telemetry.WithMeterProvider(mp), telemetry.WithTracerProvider(tp))
	require.NoError(b, err)
	configs = append(configs, struct {
		name string
		opts []middleware.HTTPOption
	}{"sdk", []middleware.HTTPOption{middleware.WithTelemetry(sdk)}})
	paths := []struct {
		name   string
		action policy.Action
		token  string
	}{
		{"NoOTP", policy.SearchCustomers, ""},
		{"ValidSession", policy.RedeemReward, telTokenValid},
	}
	for _, p := range paths {
		b.Run(p.name+"/baseline", func(b *testing.B) {
			telServe(b, telOK, telRequest(telIntegration, p.token))
		})
		for _, c := range configs {
			h := f.guard(b, c.opts...).Require(p.action)(telOK)
			b.Run(p.name+"/"+c.name, func(b *testing.B) {
				telServe(b, h, telRequest(telIntegration, p.token))
			})
		}
	}
}

func telServe(b *testing.B, h http.Handler, r *http.Request) {
	w := &telDiscard{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.ServeHTTP(w, r)
	}
	b.StopTimer()
	if rec, ok := w.h["Content-Type"]; ok && len(rec) > 0 && rec[0] == "application/problem+json" {
		b.Fatal("the guard refused the benchmark's request")
	}
}
