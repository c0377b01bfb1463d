package middleware_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/testio"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
)

// gBodyLimit is the body limit of the tests of CustomerFromJSON.
const gBodyLimit = 256

// gMapSame is a Map function that keeps the value.
func gMapSame(_ *http.Request, v string) (string, error) { return v, nil }

// Phone numbers of gPhoneLookup, a Map function from a phone number to its
// customer.
const (
	gPhoneX       = "+5511900000001" // gCustomerX's
	gPhoneY       = "+5511900000002" // gCustomerY's
	gPhoneUnknown = "+5511900000999" // nobody's
	gPhoneFails   = "+5511900000666" // the lookup fails
)

var gPhoneOf = map[string]string{gCustomerX: gPhoneX, gCustomerY: gPhoneY}

func gPhoneLookup(_ *http.Request, phone string) (string, error) {
	switch phone {
	case gPhoneX:
		return gCustomerX, nil
	case gPhoneY:
		return gCustomerY, nil
	case gPhoneFails:
		return "", errors.New("directory down")
	}
	return "", nil
}

// gHeaderCustomer is a CustomerFunc function that reads the customer from
// the header X-Customer; "fail" and "partial" make it fail, "partial" with
// a customer as well.
func gHeaderCustomer(r *http.Request) (string, error) {
	switch v := r.Header.Get("X-Customer"); v {
	case "fail":
		return "", errors.New("lookup failed")
	case "partial":
		return gCustomerX, errors.New("lookup failed half-way")
	default:
		return v, nil
	}
}

// gCustReq describes a request to a customer-bound route: integration
// gIntA, session gTokenA (issued for gCustomerX).
type gCustReq struct {
	target   string // default "/redeem"
	body     string // none when ""
	customer string // the X-Customer header, none when ""
}

func (c gCustReq) build() *http.Request {
	target := c.target
	if target == "" {
		target = "/redeem"
	}
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	r := httptest.NewRequest(http.MethodPost, target, body)
	r = r.WithContext(middleware.WithIntegration(r.Context(), gIntA))
	r.Header.Set(middleware.SessionHeader, gTokenA)
	if c.customer != "" {
		r.Header.Set("X-Customer", c.customer)
	}
	return r
}

// gBodyHandler records whether it ran and the body it read.
type gBodyHandler struct {
	called bool
	body   []byte
	err    error
}

func (h *gBodyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.called = true
	h.body, h.err = io.ReadAll(r.Body)
	w.WriteHeader(http.StatusOK)
}

// gCustomerMux serves h under the patterns the customer tests use: a path
// with the customer, a path without one, and a path whose customer may be
// empty.
func gCustomerMux(h http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("POST /customers/{id}/redeem", h)
	mux.Handle("POST /all/{id...}", h)
	mux.Handle("POST /redeem", h)
	return mux
}

// gNamedReq is a request with a name, for subtests.
type gNamedReq struct {
	name string
	req  gCustReq
}

// gSourceCase is one customer source with requests that name a customer
// and requests that name none.
type gSourceCase struct {
	name   string
	source middleware.CustomerSource
	web    []middleware.HTTPOption
	// naming returns a request naming customer.
	naming func(customer string) gCustReq
	// none are requests that name no customer.
	none []gNamedReq
}

func gSourceCases() []gSourceCase {
	overLimit := `{"customer_id":"` + gCustomerX + `","pad":"` + strings.Repeat("x", gBodyLimit) + `"}`
	return []gSourceCase{
		{
			name:   "path",
			source: middleware.CustomerFromPath("id"),
			naming: func(c string) gCustReq { return gCustReq{target: "/customers/" + c + "/redeem"} },
			none: []gNamedReq{
				{"missing path value", gCustReq{target: "/redeem"}},
				{"empty path value", gCustReq{target: "/all/"}},
				{"customer in the query instead", gCustReq{target: "/redeem?id=" + gCustomerX}},
			},
		},
		{
			name:   "query",
			source: middleware.CustomerFromQuery("customer"),
			naming: func(c string) gCustReq { return gCustReq{target: "/redeem?customer=" + url.QueryEscape(c)} },
			none: []gNamedReq{
				{"missing parameter", gCustReq{target: "/redeem"}},
				{"empty parameter", gCustReq{target: "/redeem?customer="}},
				{"repeated parameter", gCustReq{target: "/redeem?customer=" + gCustomerX + "&customer=" + gCustomerX}},
				{"other parameter", gCustReq{target: "/redeem?customer_id=" + gCustomerX}},
				{"customer in the path instead", gCustReq{target: "/customers/" + gCustomerX + "/redeem"}},
			},
		},
		{
			name:   "JSON body field",
			source: middleware.CustomerFromJSON("customer_id"),
			web:    []middleware.HTTPOption{middleware.WithBodyLimit(gBodyLimit)},
			naming: func(c string) gCustReq {
				return gCustReq{body: `{"customer_id":` + gJSONString(c) + `,"reward":"coffee"}`}
			},
			none: []gNamedReq{
				{"no body", gCustReq{}},
				{"blank body", gCustReq{body: " \n"}},
				{"missing field", gCustReq{body: `{"reward":"coffee"}`}},
				{"empty field", gCustReq{body: `{"customer_id":""}`}},
				{"null field", gCustReq{body: `{"customer_id":null}`}},
				{"field not a string: number", gCustReq{body: `{"customer_id":42}`}},
				{"field not a string: object", gCustReq{body: `{"customer_id":{"id":"` + gCustomerX + `"}}`}},
				{"field not a string: array", gCustReq{body: `{"customer_id":["` + gCustomerX + `"]}`}},
				{"field in another case", gCustReq{body: `{"Customer_ID":"` + gCustomerX + `"}`}},
				{"body an array", gCustReq{body: `["` + gCustomerX + `"]`}},
				{"body a string", gCustReq{body: `"` + gCustomerX + `"`}},
				{"body not JSON", gCustReq{body: "customer_id=" + gCustomerX}},
				{"body truncated", gCustReq{body: `{"customer_id":"` + gCustomerX + `"`}},
				{"body with trailing data", gCustReq{body: `{"customer_id":"` + gCustomerX + `"} {}`}},
				{"body over the limit", gCustReq{body: overLimit}},
				{"customer in the query instead", gCustReq{target: "/redeem?customer_id=" + gCustomerX, body: `{}`}},
			},
		},
		{
			name:   "CustomerFunc",
			source: middleware.CustomerFunc(gHeaderCustomer),
			naming: func(c string) gCustReq { return gCustReq{customer: c} },
			none: []gNamedReq{
				{"func returns empty", gCustReq{}},
				{"func returns an error", gCustReq{customer: "fail"}},
				{"func returns a customer and an error", gCustReq{customer: "partial"}},
			},
		},
		{
			name:   "Map",
			source: middleware.CustomerFromQuery("phone").Map(gPhoneLookup),
			naming: func(c string) gCustReq { return gCustReq{target: "/redeem?phone=" + url.QueryEscape(gPhoneOf[c])} },
			none: []gNamedReq{
				{"missing value", gCustReq{target: "/redeem"}},
				{"map finds none", gCustReq{target: "/redeem?phone=" + url.QueryEscape(gPhoneUnknown)}},
				{"map fails", gCustReq{target: "/redeem?phone=" + url.QueryEscape(gPhoneFails)}},
				{"customer ID instead of the value", gCustReq{target: "/redeem?phone=" + gCustomerX}},
			},
		},
	}
}

// gJSONString returns s as a JSON string.
func gJSONString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// gCustomerOutcome is what one request to a customer-bound route did.
type gCustomerOutcome struct {
	rec    *httptest.ResponseRecorder
	next   *gBodyHandler
	reason error // the deny hook's reason; nil when it did not run
	denied bool
}

// gServeCustomer sends req to a route of action RedeemReward bound by src
// (as a route option, or as the guard's default when asDefault), with a
// deny hook when hook is set and the default one otherwise.
func gServeCustomer(t *testing.T, web *middleware.HTTP, src middleware.CustomerSource, asDefault, hook bool, req gCustReq) gCustomerOutcome {
	t.Helper()
	f := gNewFixture(t)
	var out gCustomerOutcome
	var opts []middleware.Option
	if hook {
		opts = append(opts, middleware.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
			out.denied, out.reason = true, err
			w.WriteHeader(http.StatusTeapot)
		}))
	}
	var routeOpts []middleware.RouteOption
	if asDefault {
		opts = append(opts, middleware.WithCustomer(src))
	} else {
		routeOpts = append(routeOpts, src)
	}
	g := f.guardOn(t, web, opts...)
	out.next = &gBodyHandler{}
	out.rec = httptest.NewRecorder()
	gCustomerMux(g.Require(policy.RedeemReward, routeOpts...)(out.next)).ServeHTTP(out.rec, req.build())
	return out
}

func TestGuardCustomerSources(t *testing.T) {
	for _, sc := range gSourceCases() {
		t.Run(sc.name, func(t *testing.T) {
			web := gWeb(t, sc.web...)
			for _, how := range []struct {
				name      string
				asDefault bool
			}{{"route option", false}, {"guard default", true}} {
				t.Run(how.name, func(t *testing.T) {
					t.Run("session's customer", func(t *testing.T) {
						req := sc.naming(gCustomerX)
						out := gServeCustomer(t, web, sc.source, how.asDefault, true, req)
						assert.False(t, out.denied, "got refused with %v, want allowed", out.reason)
						assert.Equal(t, http.StatusOK, out.rec.Code, "got status %d, want 200; body %s", out.rec.Code, out.rec.Body)
						require.True(t, out.next.called, "next was not called")
						require.NoError(t, out.next.err)
						assert.Equal(t, req.body, string(out.next.body), "got body %q in the handler, want the request's %q", out.next.body, req.body)
					})
					t.Run("another customer", func(t *testing.T) {
						out := gServeCustomer(t, web, sc.source, how.asDefault, true, sc.naming(gCustomerY))
						assert.True(t, out.denied, "got allowed, want refused")
						assert.ErrorIs(t, out.reason, middleware.ErrWrongCustomer, "got reason %v, want %v", out.reason, middleware.ErrWrongCustomer)
						assert.NotErrorIs(t, out.reason, middleware.ErrNoCustomer, "got reason %v, want not %v", out.reason, middleware.ErrNoCustomer)
						assert.Equal(t, http.StatusTeapot, out.rec.Code, "got status %d, want the hook's 418", out.rec.Code)
						assert.False(t, out.next.called, "next ran for another customer")

						out = gServeCustomer(t, web, sc.source, how.asDefault, false, sc.naming(gCustomerY))
						gAssertOTPRequired(t, out.rec)
						assert.False(t, out.next.called, "next ran for another customer")
					})
					for _, nr := range sc.none {
						t.Run("no customer: "+nr.name, func(t *testing.T) {
							out := gServeCustomer(t, web, sc.source, how.asDefault, true, nr.req)
							assert.True(t, out.denied, "got allowed, want refused")
							assert.ErrorIs(t, out.reason, middleware.ErrNoCustomer, "got reason %v, want %v", out.reason, middleware.ErrNoCustomer)
							for _, other := range []error{middleware.ErrWrongCustomer, middleware.ErrNoSession, middleware.ErrSessionInvalid} {
								assert.NotErrorIs(t, out.reason, other, "got reason %v, want not %v", out.reason, other)
							}
							assert.Equal(t, http.StatusTeapot, out.rec.Code, "got status %d, want the hook's 418", out.rec.Code)
							assert.False(t, out.next.called, "next ran for a request naming no customer")

							// The default answer is the seed's 403.
							out = gServeCustomer(t, web, sc.source, how.asDefault, false, nr.req)
							gAssertOTPRequired(t, out.rec)
							assert.False(t, out.next.called, "next ran for a request naming no customer")
						})
					}
				})
			}
		})
	}
}

// TestGuardCustomerNoSessionFirst: a customer-bound request without a
// session is refused for the missing session, whether or not it names a
// customer.
func TestGuardCustomerNoSessionFirst(t *testing.T) {
	for _, sc := range gSourceCases() {
		t.Run(sc.name, func(t *testing.T) {
			web := gWeb(t, sc.web...)
			for _, req := range []gNamedReq{{"naming the customer", sc.naming(gCustomerX)}, sc.none[0]} {
				t.Run(req.name, func(t *testing.T) {
					f := gNewFixture(t)
					var reason error
					g := f.guardOn(t, web, middleware.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
						reason = err
						w.WriteHeader(http.StatusForbidden)
					}))
					r := req.req.build()
					r.Header.Del(middleware.SessionHeader)
					next := &gBodyHandler{}
					gCustomerMux(g.Require(policy.RedeemReward, sc.source)(next)).ServeHTTP(httptest.NewRecorder(), r)
					assert.ErrorIs(t, reason, middleware.ErrNoSession, "got reason %v, want %v", reason, middleware.ErrNoSession)
					assert.NotErrorIs(t, reason, middleware.ErrNoCustomer)
					assert.False(t, next.called)
				})
			}
		})
	}
}

// TestGuardCustomerOnlyWhenRequired: the guard consults the source only
// when the action requires OTP; otherwise the request passes untouched,
// whatever it names.
func TestGuardCustomerOnlyWhenRequired(t *testing.T) {
	f := gNewFixture(t)
	calls := 0
	src := middleware.CustomerFunc(func(*http.Request) (string, error) {
		calls++
		return "", nil
	})
	g := f.guard(t, middleware.WithCustomer(middleware.CustomerFromJSON("customer_id")))
	body := strings.Repeat("not JSON ", 2*middleware.DefaultBodyLimit)
	for _, tt := range []struct {
		name        string
		integration string
		action      policy.Action
		route       []middleware.RouteOption
	}{
		{"JSON source, trusted partner redeems", gIntTrusted, policy.RedeemReward, nil},
		{"JSON source, never-action", gIntA, policy.SearchCustomers, nil},
		{"func source, trusted partner redeems", gIntTrusted, policy.RedeemReward, []middleware.RouteOption{src}},
		{"func source, never-action", gIntA, policy.ViewBalance, []middleware.RouteOption{src}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			next := &gBodyHandler{}
			r := httptest.NewRequest(http.MethodPost, "/redeem", strings.NewReader(body))
			r = r.WithContext(middleware.WithIntegration(r.Context(), tt.integration))
			rec := httptest.NewRecorder()
			g.Require(tt.action, tt.route...)(next).ServeHTTP(rec, r)
			assert.Equal(t, http.StatusOK, rec.Code, "got status %d, want 200; body %s", rec.Code, rec.Body)
			require.True(t, next.called, "next was not called")
			assert.Equal(t, body, string(next.body), "the handler got another body")
		})
	}
	assert.Zero(t, calls, "got %d calls of the customer func, want 0", calls)
}

// TestGuardCustomerMapNotCalledWithoutValue: Map's function runs only on a
// value the source found.
func TestGuardCustomerMapNotCalledWithoutValue(t *testing.T) {
	f := gNewFixture(t)
	var got []string
	src := middleware.CustomerFromQuery("phone").Map(func(r *http.Request, v string) (string, error) {
		got = append(got, v)
		return gPhoneLookup(r, v)
	})
	var reasons []error
	g := f.guard(t, middleware.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
		reasons = append(reasons, err)
		w.WriteHeader(http.StatusForbidden)
	}))
	h := g.Require(policy.RedeemReward, src)(&gBodyHandler{})
	for _, target := range []string{"/redeem", "/redeem?phone=", "/redeem?phone=" + url.QueryEscape(gPhoneX)} {
		h.ServeHTTP(httptest.NewRecorder(), gCustReq{target: target}.build())
	}
	assert.Equal(t, []string{gPhoneX}, got, "got Map calls with %q, want one with %q", got, gPhoneX)
	require.Len(t, reasons, 2)
	for _, r := range reasons {
		assert.ErrorIs(t, r, middleware.ErrNoCustomer)
	}
}

// gTrackedBody is a request body that records whether it was closed.
type gTrackedBody struct {
	io.Reader
	closed bool
}

func (b *gTrackedBody) Close() error {
	b.closed = true
	return nil
}

// gJSONBody returns a JSON object naming customer, padded to exactly n
// bytes.
func gJSONBody(t *testing.T, customer string, n int) string {
	t.Helper()
	head, tail := `{"customer_id":"`+customer+`","pad":"`, `"}`
	pad := n - len(head) - len(tail)
	require.GreaterOrEqual(t, pad, 0, "a body of %d bytes cannot name %q", n, customer)
	s := head + strings.Repeat("p", pad) + tail
	require.Len(t, s, n)
	return s
}

// TestGuardCustomerFromJSONGivesBodyBack: whatever the guard decides, the
// next handler (or the deny hook, when it refuses) reads the exact bytes the
// client sent, also past the body limit, and closing the body closes the
// client's.
func TestGuardCustomerFromJSONGivesBodyBack(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		half    bool  // read the body through iotest.HalfReader
		wantErr error // nil: allowed
	}{
		{"small body", `{"reward":"coffee","customer_id":"` + gCustomerX + `"}`, false, nil},
		{"body at the limit", gJSONBody(t, gCustomerX, gBodyLimit), false, nil},
		{"body at the limit, short reads", gJSONBody(t, gCustomerX, gBodyLimit), true, nil},
		{"another customer", `{"customer_id":"` + gCustomerY + `"}`, false, middleware.ErrWrongCustomer},
		{"body one byte over the limit", gJSONBody(t, gCustomerX, gBodyLimit+1), false, middleware.ErrNoCustomer},
		{"body ten times the limit", gJSONBody(t, gCustomerX, 10*gBodyLimit), false, middleware.ErrNoCustomer},
		{"body ten times the limit, short reads", gJSONBody(t, gCustomerX, 10*gBodyLimit), true, middleware.ErrNoCustomer},
		{"body not JSON", "\x00\x01 not JSON", false, middleware.ErrNoCustomer},
	}
	web := gWeb(t, middleware.WithBodyLimit(gBodyLimit))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gNewFixture(t)
			var (
				reason     error
				deniedBody []byte
				denyErr    error
			)
			g := f.guardOn(t, web, middleware.WithDenyHandler(func(w http.ResponseWriter, r *http.Request, err error) {
				reason = err
				deniedBody, denyErr = io.ReadAll(r.Body)
				_ = r.Body.Close()
				w.WriteHeader(http.StatusForbidden)
			}))
			var src io.Reader = strings.NewReader(tt.body)
			if tt.half {
				src = iotest.HalfReader(src)
			}
			client := &gTrackedBody{Reader: src}
			next := &gBodyHandler{}
			h := g.Require(policy.RedeemReward, middleware.CustomerFromJSON("customer_id"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(w, r)
				_ = r.Body.Close()
			}))
			r := gCustReq{}.build()
			r.Body = client
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)

			if tt.wantErr == nil {
				assert.NoError(t, reason)
				assert.Equal(t, http.StatusOK, rec.Code, "got status %d, want 200", rec.Code)
				require.True(t, next.called, "next was not called")
				require.NoError(t, next.err)
				assert.Equal(t, tt.body, string(next.body), "got %d bytes in the handler, want the %d sent", len(next.body), len(tt.body))
			} else {
				assert.ErrorIs(t, reason, tt.wantErr, "got reason %v, want %v", reason, tt.wantErr)
				assert.False(t, next.called, "next ran on a refused request")
				require.NoError(t, denyErr)
				assert.Equal(t, tt.body, string(deniedBody), "got %d bytes in the deny hook, want the %d sent", len(deniedBody), len(tt.body))
			}
			assert.True(t, client.closed, "closing the request body did not close the client's")
		})
	}
}

// TestGuardCustomerFromJSONDefaultLimit: without WithBodyLimit the JSON
// source reads up to DefaultBodyLimit.
func TestGuardCustomerFromJSONDefaultLimit(t *testing.T) {
	for _, tt := range []struct {
		name    string
		size    int
		wantErr error
	}{
		{"at the default limit", middleware.DefaultBodyLimit, nil},
		{"over the default limit", middleware.DefaultBodyLimit + 1, middleware.ErrNoCustomer},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := gJSONBody(t, gCustomerX, tt.size)
			out := gServeCustomer(t, gWeb(t), middleware.CustomerFromJSON("customer_id"), false, true, gCustReq{body: body})
			if tt.wantErr == nil {
				assert.NoError(t, out.reason)
				require.True(t, out.next.called, "next was not called")
				assert.Equal(t, body, string(out.next.body))
				return
			}
			assert.ErrorIs(t, out.reason, tt.wantErr, "got reason %v, want %v", out.reason, tt.wantErr)
			assert.False(t, out.next.called)
		})
	}
}

// TestGuardCustomerRouteOverridesDefault: a route's source replaces the
// guard's default for that route only.
func TestGuardCustomerRouteOverridesDefault(t *testing.T) {
	f := gNewFixture(t)
	var reason error
	g := f.guard(t,
		middleware.WithCustomer(middleware.CustomerFromPath("id")),
		middleware.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
			reason = err
			w.WriteHeader(http.StatusForbidden)
		}))
	next := &gNextHandler{}
	mux := http.NewServeMux()
	mux.Handle("POST /customers/{id}/redeem", g.Require(policy.RedeemReward)(next))
	mux.Handle("POST /customers/{id}/coupon", g.Require(policy.UseCoupon, middleware.AnyCustomer)(next))
	mux.Handle("POST /customers/{id}/enroll", g.Require(policy.EnrollCustomer, middleware.CustomerFromQuery("customer"))(next))
	mux.Handle("POST /redeem", g.Require(policy.RedeemReward, middleware.AnyCustomer)(next))

	tests := []struct {
		name    string
		target  string
		token   string
		wantErr error // nil: allowed
	}{
		{"default: session's customer", "/customers/" + gCustomerX + "/redeem", gTokenA, nil},
		{"default: another customer", "/customers/" + gCustomerY + "/redeem", gTokenA, middleware.ErrWrongCustomer},
		{"AnyCustomer: session's customer", "/customers/" + gCustomerX + "/coupon", gTokenA, nil},
		{"AnyCustomer: another customer", "/customers/" + gCustomerY + "/coupon", gTokenA, nil},
		{"AnyCustomer: session without customer", "/customers/" + gCustomerY + "/coupon", gTokenNoCust, nil},
		{"AnyCustomer: no customer in the path", "/redeem", gTokenA, nil},
		{"query: session's customer", "/customers/" + gCustomerY + "/enroll?customer=" + gCustomerX, gTokenA, nil},
		{"query: another customer", "/customers/" + gCustomerX + "/enroll?customer=" + gCustomerY, gTokenA, middleware.ErrWrongCustomer},
		{"query: none, path ignored", "/customers/" + gCustomerX + "/enroll", gTokenA, middleware.ErrNoCustomer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason = nil
			*next = gNextHandler{}
			r := httptest.NewRequest(http.MethodPost, tt.target, nil)
			r = r.WithContext(middleware.WithIntegration(r.Context(), gIntA))
			r.Header.Set(middleware.SessionHeader, tt.token)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, r)
			if tt.wantErr == nil {
				assert.NoError(t, reason)
				assert.Equal(t, http.StatusOK, rec.Code, "got status %d, want 200", rec.Code)
				assert.True(t, next.called, "next was not called")
				return
			}
			assert.ErrorIs(t, reason, tt.wantErr, "got reason %v, want %v", reason, tt.wantErr)
			assert.Equal(t, http.StatusForbidden, rec.Code, "got status %d, want 403", rec.Code)
			assert.False(t, next.called, "next ran on a refused request")
		})
	}
}

func TestGuardInvalidCustomerSource(t *testing.T) {
	f := gNewFixture(t)
	g := f.guard(t)
	tests := []struct {
		name    string
		src     middleware.CustomerSource
		wantErr string
	}{
		{"CustomerFromPath empty", middleware.CustomerFromPath(""), "empty name"},
		{"CustomerFromQuery empty", middleware.CustomerFromQuery(""), "empty name"},
		{"CustomerFromJSON empty", middleware.CustomerFromJSON(""), "empty name"},
		{"CustomerFunc nil", middleware.CustomerFunc(nil), "nil customer func"},
		{"AnyCustomer mapped", middleware.AnyCustomer.Map(gMapSame), "AnyCustomer cannot be mapped"},
		{"zero source mapped", middleware.CustomerSource{}.Map(gMapSame), "AnyCustomer cannot be mapped"},
		{"mapped empty path", middleware.CustomerFromPath("").Map(gMapSame), "empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := g.Middleware(policy.RedeemReward, tt.src)
			require.Error(t, err)
			assert.Nil(t, mw)
			assert.ErrorIs(t, err, middleware.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.wantErr, "got error %q, want it to mention %q", err, tt.wantErr)
			assert.Contains(t, err.Error(), string(policy.RedeemReward), "got error %q, want it to name the action", err)

			assert.PanicsWithError(t, err.Error(), func() { g.Require(policy.RedeemReward, tt.src) })

			_, err = middleware.NewGuard(gWeb(t), middleware.WithPolicies(gTestPolicies(t)), middleware.WithSessions(f.sessions), middleware.WithSessionKeys(gKeys), middleware.WithCustomer(tt.src))
			require.Error(t, err)
			assert.ErrorIs(t, err, middleware.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.wantErr, "got error %q, want it to mention %q", err, tt.wantErr)
		})
	}

	// Valid sources build.
	for _, src := range []middleware.CustomerSource{
		middleware.AnyCustomer,
		middleware.CustomerFromPath("id"),
		middleware.CustomerFromQuery("customer"),
		middleware.CustomerFromJSON("customer_id"),
		middleware.CustomerFunc(gHeaderCustomer),
		middleware.CustomerFromJSON("phone").Map(gPhoneLookup),
		middleware.CustomerFunc(gHeaderCustomer).Map(gMapSame),
	} {
		mw, err := g.Middleware(policy.RedeemReward, src)
		assert.NoError(t, err)
		assert.NotNil(t, mw)
	}
}

func TestErrNoCustomerIsDistinct(t *testing.T) {
	reasons := []error{
		middleware.ErrNoIntegration, middleware.ErrNoSession, middleware.ErrSessionInvalid,
		middleware.ErrSessionExpired, middleware.ErrWrongIntegration, middleware.ErrWrongCustomer, middleware.ErrScope,
	}
	for _, other := range reasons {
		assert.False(t, errors.Is(fmt.Errorf("deny: %w", middleware.ErrNoCustomer), other), "got ErrNoCustomer matching %v", other)
		assert.False(t, errors.Is(other, middleware.ErrNoCustomer), "got %v matching ErrNoCustomer", other)
		assert.NotEqual(t, middleware.ErrNoCustomer.Error(), other.Error())
	}
}

// TestGuardAuditCustomer: the audit log tells a request naming no customer
// from one presenting another customer's session and from session
// problems, with the same reason whatever the source, and never carries
// the text of the error that found no customer.
func TestGuardAuditCustomer(t *testing.T) {
	f := gNewFixture(t)
	var buf testio.Buffer
	web := gWeb(t, middleware.WithLogger(slog.New(slog.NewJSONHandler(&buf, nil))), middleware.WithBodyLimit(gBodyLimit))
	g := f.guardOn(t, web, middleware.WithCustomer(middleware.CustomerFromPath("id")))
	mux := gCustomerMux(g.Require(policy.RedeemReward)(&gBodyHandler{}))
	byJSON := g.Require(policy.RedeemReward, middleware.CustomerFromJSON("customer_id"))(&gBodyHandler{})
	const phone = "+5511987654321"
	byPhone := g.Require(policy.RedeemReward, middleware.CustomerFromQuery("phone").Map(func(_ *http.Request, v string) (string, error) {
		return "", errors.New("directory: no customer with phone " + v)
	}))(&gBodyHandler{})

	noSession := gCustReq{target: "/customers/" + gCustomerX + "/redeem"}.build()
	noSession.Header.Del(middleware.SessionHeader)
	badSession := gCustReq{target: "/customers/" + gCustomerX + "/redeem"}.build()
	badSession.Header.Set(middleware.SessionHeader, gTokenNone)
	for _, r := range []*http.Request{
		gCustReq{target: "/customers/" + gCustomerX + "/redeem"}.build(),
		gCustReq{target: "/customers/" + gCustomerY + "/redeem"}.build(),
		gCustReq{target: "/redeem"}.build(),
		noSession,
		badSession,
	} {
		mux.ServeHTTP(httptest.NewRecorder(), r)
	}
	byJSON.ServeHTTP(httptest.NewRecorder(), gCustReq{body: `{"customer_id":42}`}.build())
	byPhone.ServeHTTP(httptest.NewRecorder(), gCustReq{target: "/redeem?phone=" + url.QueryEscape(phone)}.build())

	var got []gAuditEvent
	dec := json.NewDecoder(strings.NewReader(buf.String()))
	for dec.More() {
		var e gAuditEvent
		require.NoError(t, dec.Decode(&e))
		got = append(got, e)
	}
	noCustomer := gAuditEvent{"INFO", "otp.decision", gIntA, "redeem_reward", true, "denied", middleware.ErrNoCustomer.Error()}
	want := []gAuditEvent{
		{"INFO", "otp.decision", gIntA, "redeem_reward", true, "allowed", "require_otp_for_redemption"},
		{"INFO", "otp.decision", gIntA, "redeem_reward", true, "denied", middleware.ErrWrongCustomer.Error()},
		noCustomer,
		{"INFO", "otp.decision", gIntA, "redeem_reward", true, "denied", middleware.ErrNoSession.Error()},
		{"INFO", "otp.decision", gIntA, "redeem_reward", true, "denied", middleware.ErrSessionInvalid.Error()},
		noCustomer, // the JSON field is not a string
		noCustomer, // the Map function failed
	}
	assert.Equal(t, want, got, "got audit log\n%s", buf.String())

	seen := map[string]bool{}
	for _, e := range got[1:5] {
		assert.False(t, seen[e.Reason], "got reason %q for two kinds of refusal", e.Reason)
		seen[e.Reason] = true
	}
	log := buf.String()
	for _, secret := range []string{phone, "directory", "not a string", gTokenA, store.HashToken(gTokenA)} {
		assert.NotContains(t, log, secret, "the audit log carries %q", secret)
	}
}

// TestOneHTTPConfiguration: one set of HTTP settings gives the guard's 401,
// 403 and 503, APIKeys' 401 and AuthFunc's 401 the same problem base.
func TestOneHTTPConfiguration(t *testing.T) {
	const base = "https://api.example.com/errors/"
	web, err := middleware.NewHTTP(middleware.WithProblemBase(base))
	require.NoError(t, err)

	f := gNewFixture(t)
	guard := f.guardOn(t, web)
	down, err := middleware.NewGuard(web, middleware.WithPolicies(gTestPolicies(t)),
		middleware.WithSessions(&gCountingSessions{err: errors.New("store down")}), middleware.WithSessionKeys(gKeys))
	require.NoError(t, err)
	keys, err := middleware.APIKeys(web, map[string]string{gKeyGoomer: gIntA})
	require.NoError(t, err)
	bearer, err := middleware.AuthFunc(web, func(r *http.Request) (string, bool) {
		return gIntA, r.Header.Get("Authorization") == "Bearer partner-token"
	})
	require.NoError(t, err)

	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux := http.NewServeMux()
	mux.Handle("POST /keys/redeem", keys(guard.Require(policy.RedeemReward)(ok)))
	mux.Handle("POST /bearer/redeem", bearer(guard.Require(policy.RedeemReward)(ok)))
	mux.Handle("POST /bare/redeem", guard.Require(policy.RedeemReward)(ok))
	mux.Handle("POST /down/redeem", keys(down.Require(policy.RedeemReward)(ok)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name       string
		path       string
		header     map[string]string
		wantStatus int
		wantType   string
	}{
		{"APIKeys 401", "/keys/redeem", nil, http.StatusUnauthorized, middleware.TypeAuthenticationNeeded},
		{"AuthFunc 401", "/bearer/redeem", map[string]string{"Authorization": "Bearer wrong"}, http.StatusUnauthorized, middleware.TypeAuthenticationNeeded},
		{"guard 401", "/bare/redeem", nil, http.StatusUnauthorized, middleware.TypeAuthenticationNeeded},
		{"guard 403 behind APIKeys", "/keys/redeem", map[string]string{"X-API-Key": gKeyGoomer}, http.StatusForbidden, middleware.TypeOTPRequired},
		{"guard 403 behind AuthFunc", "/bearer/redeem", map[string]string{"Authorization": "Bearer partner-token"}, http.StatusForbidden, middleware.TypeOTPRequired},
		{"guard 503", "/down/redeem", map[string]string{"X-API-Key": gKeyGoomer, middleware.SessionHeader: gTokenA}, http.StatusServiceUnavailable, middleware.TypeServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL+tt.path, nil)
			require.NoError(t, err)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var p middleware.Problem
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
			assert.Equal(t, tt.wantStatus, resp.StatusCode, "got status %d, want %d", resp.StatusCode, tt.wantStatus)
			assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
			assert.True(t, strings.HasPrefix(p.Type, base), "got type %q, want it under %q", p.Type, base)
			assert.Equal(t, base+tt.wantType, p.Type, "got type %q, want %q", p.Type, base+tt.wantType)
			assert.Equal(t, tt.wantStatus, p.Status, "got status member %d, want %d", p.Status, tt.wantStatus)
		})
	}
}

// TestGuardOTPRequiredBody pins the guard's 403 to the seed's bytes: the
// request without a session header, and every other session refusal,
// get exactly this body, under any problem base, every time.
func TestGuardOTPRequiredBody(t *testing.T) {
	seed := func(base string) string {
		return `{"type":"` + base + `otp-required","title":"OTP Required","status":403,"detail":"Customer OTP verification required for this action"}` + "\n"
	}
	for _, base := range []string{middleware.DefaultProblemBase, gTestBase, "https://api.example.com/errors/", "urn:example:problems#"} {
		t.Run(base, func(t *testing.T) {
			f := gNewFixture(t)
			web, err := middleware.NewHTTP(middleware.WithProblemBase(base))
			require.NoError(t, err)
			g := f.guardOn(t, web)
			h := gCustomerMux(g.Require(policy.RedeemReward, middleware.CustomerFromPath("id"))(&gBodyHandler{}))
			want := seed(base)

			noHeader := gCustReq{target: "/customers/" + gCustomerX + "/redeem"}.build()
			noHeader.Header.Del(middleware.SessionHeader)
			unknown := gCustReq{target: "/customers/" + gCustomerX + "/redeem"}.build()
			unknown.Header.Set(middleware.SessionHeader, gTokenNone)
			for _, tt := range []struct {
				name string
				req  *http.Request
			}{
				{"no header", noHeader},
				{"no header again", noHeader},
				{"unknown session", unknown},
				{"another customer", gCustReq{target: "/customers/" + gCustomerY + "/redeem"}.build()},
				{"no customer", gCustReq{target: "/redeem"}.build()},
			} {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, tt.req)
				assert.Equal(t, http.StatusForbidden, rec.Code, "%s: got status %d, want 403", tt.name, rec.Code)
				assert.Equal(t, want, rec.Body.String(), "%s: got body %q, want %q", tt.name, rec.Body.String(), want)
				assert.Equal(t, http.Header{
					"Content-Type":           {"application/problem+json"},
					"X-Content-Type-Options": {"nosniff"},
					"Cache-Control":          {"no-store"},
				}, rec.Result().Header, "%s: got headers %v", tt.name, rec.Result().Header)
			}
			// The same bytes as WriteProblem of the same problem.
			rec := httptest.NewRecorder()
			middleware.WriteProblem(rec, middleware.Problem{
				Type: base + middleware.TypeOTPRequired, Title: "OTP Required", Status: http.StatusForbidden,
				Detail: "Customer OTP verification required for this action",
			})
			assert.Equal(t, want, rec.Body.String())
			assert.True(t, bytes.Equal([]byte(want), rec.Body.Bytes()))
		})
	}
}

// TestCustomerFromJSONRefusesLookalikes: a body that names the customer
// field twice, or also in another case (which encoding/json would match to
// the handler's struct field), names no customer, so the handler can never
// act on another customer than the guard checked.
func TestCustomerFromJSONRefusesLookalikes(t *testing.T) {
	web, err := middleware.NewHTTP()
	require.NoError(t, err)
	for _, body := range []string{
		`{"customer_id":"` + gCustomerX + `","CUSTOMER_ID":"` + gCustomerY + `"}`,
		`{"Customer_Id":"` + gCustomerY + `","customer_id":"` + gCustomerX + `"}`,
		`{"customer_id":"` + gCustomerX + `","customer_id":"` + gCustomerY + `"}`,
		`{"customer_id":"` + gCustomerX + `"} trailing`,
	} {
		t.Run(body, func(t *testing.T) {
			out := gServeCustomer(t, web, middleware.CustomerFromJSON("customer_id"), false, true, gCustReq{body: body})
			assert.False(t, out.next.called, "the handler ran for body %s", body)
			assert.ErrorIs(t, out.reason, middleware.ErrNoCustomer)
		})
	}
	// The plain body still passes.
	out := gServeCustomer(t, web, middleware.CustomerFromJSON("customer_id"), false, true, gCustReq{body: `{"customer_id":"` + gCustomerX + `"}`})
	assert.True(t, out.next.called)
}
