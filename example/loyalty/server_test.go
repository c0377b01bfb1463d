package loyalty

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/redistest"
	"github.com/otpguard/otpguard/internal/testio"
	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/redisstore"
	"github.com/otpguard/otpguard/store/storetest"
)

const (
	mariaID    = MariaID
	mariaPhone = MariaPhone
	joaoID     = "2awTHmQ4kLx9GGprJoaoPe7XYzw"
	joaoPhone  = "+5521998765432"
	problems   = "https://api.zupy.com/errors/"
)

// Partner keys by integration ID.
var key = func() map[string]string {
	m := map[string]string{}
	for _, p := range Partners {
		m[p.ID] = p.Key
	}
	return m
}()

// env is one example server with its clock, its stdout and its audit log.
type env struct {
	h     http.Handler
	clock *storetest.Clock
	out   *testio.Buffer
	logs  *testio.Buffer
}

func testPolicies(t testing.TB) *policy.Static {
	t.Helper()
	pol, err := DefaultPolicies()
	require.NoError(t, err)
	return pol
}

func newEnv(t *testing.T, mods ...func(*Config)) *env {
	t.Helper()
	e := &env{
		clock: storetest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)),
		out:   &testio.Buffer{},
		logs:  &testio.Buffer{},
	}
	cfg := Config{
		Policies:    testPolicies(t),
		ProblemBase: problems,
		Limits:      otpcode.DefaultLimits(),
		Audit:       slog.New(slog.NewJSONHandler(e.logs, nil)),
		Now:         e.clock.Now,
	}
	for _, m := range mods {
		m(&cfg)
	}
	srv, err := New(cfg, e.out)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	e.h = srv
	return e
}

// setHeaders sets on r what a partner's request carries: its API key, the
// customer's session and, with a body, the JSON content type. apiKey and
// session are left out when "".
func setHeaders(r *http.Request, apiKey, session, body string) {
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if apiKey != "" {
		r.Header.Set("X-API-Key", apiKey)
	}
	if session != "" {
		r.Header.Set("X-OTP-Session", session)
	}
}

// wrongCode returns a well-formed code that is not code.
func wrongCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

// call sends one request; apiKey and session are left out when "".
func (e *env) call(method, path, apiKey, session, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	setHeaders(r, apiKey, session, body)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// lastCode returns the code of the last delivery to to on stdout.
func (e *env) lastCode(t *testing.T, to string) string {
	t.Helper()
	return devCode(t, e.out, to)
}

// devCode returns the code of the last delivery to to that the development
// sender wrote to out.
func devCode(t *testing.T, out *testio.Buffer, to string) string {
	t.Helper()
	code := ""
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var d struct{ Channel, To, Code string }
		require.NoError(t, json.Unmarshal(sc.Bytes(), &d), "stdout line %q is not JSON", sc.Text())
		if d.To == to {
			code = d.Code
		}
	}
	require.NotEmpty(t, code, "no delivery to %s on stdout %q", to, out.String())
	return code
}

// login runs steps 1 and 2 of the flow for a partner and returns the
// verify-otp data.
func (e *env) login(t *testing.T, partner, identifier, to string) verified {
	t.Helper()
	w := e.call("POST", "/api/v2/auth/request-otp/", key[partner], "", fmt.Sprintf(`{"identifier": %q}`, identifier))
	require.Equal(t, http.StatusOK, w.Code, "request-otp: got %d, want 200; body %s", w.Code, w.Body.String())
	body := fmt.Sprintf(`{"identifier": %q, "otp_code": %q}`, identifier, e.lastCode(t, to))
	w = e.call("POST", "/api/v2/auth/verify-otp/", key[partner], "", body)
	require.Equal(t, http.StatusOK, w.Code, "verify-otp: got %d, want 200; body %s", w.Code, w.Body.String())
	var v struct{ Data verified }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v))
	require.NotEmpty(t, v.Data.Session)
	return v.Data
}

type verified struct {
	CustomerID string `json:"customer_id"`
	IsNew      bool   `json:"is_new"`
	Session    string `json:"otp_session"`
	ExpiresIn  int    `json:"expires_in"`
	FullName   string `json:"full_name"`
	Points     int    `json:"points_balance"`
	Tier       string `json:"tier"`
}

// assertOTPRequired checks the seed's exact 403 body.
func assertOTPRequired(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	assert.Equal(t, http.StatusForbidden, w.Code, "got %d, want 403; body %s", w.Code, w.Body.String())
	assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"type":"https://api.zupy.com/errors/otp-required","title":"OTP Required","status":403,"detail":"Customer OTP verification required for this action"}`, w.Body.String())
}

func assertProblemType(t *testing.T, w *httptest.ResponseRecorder, status int, typ string) {
	t.Helper()
	assert.Equal(t, status, w.Code, "got %d, want %d; body %s", w.Code, status, w.Body.String())
	assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	var p struct{ Type string }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
	assert.Equal(t, problems+typ, p.Type)
}

func balanceOf(t *testing.T, e *env, id string) int {
	t.Helper()
	w := e.call("GET", "/api/v2/customers/"+id+"/balance", key["repediu"], "", "")
	require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
	var b struct {
		Data struct {
			Points int `json:"points_balance"`
		}
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &b))
	return b.Data.Points
}

// TestSeedFlow runs the Zupy documentation's full OTP example: request a
// code, read it, verify it, redeem a reward with the session.
func TestSeedFlow(t *testing.T) {
	e := newEnv(t)
	w := e.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "", `{"identifier": "+5511987654321"}`)
	require.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"data": {"status": "sent", "channel": "whatsapp", "expires_in": 300}, "meta": {}}`, w.Body.String())

	code := e.lastCode(t, mariaPhone)
	w = e.call("POST", "/api/v2/auth/verify-otp/", key["goomer"], "", `{"identifier": "+5511987654321", "otp_code": "`+code+`"}`)
	require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
	var v struct{ Data verified }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v))
	assert.Equal(t, verified{CustomerID: mariaID, Session: v.Data.Session, ExpiresIn: 1800, FullName: "Maria Santos", Points: 150, Tier: "silver"}, v.Data)

	w = e.call("POST", "/api/v2/customers/"+v.Data.CustomerID+"/rewards/rwd_free_coffee/redeem/", key["goomer"], v.Data.Session, `{"use_z_tokens": false}`)
	require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
	var coupon struct {
		Data struct {
			CouponCode string `json:"coupon_code"`
			Points     int    `json:"points_balance"`
		}
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &coupon))
	assert.Regexp(t, `^ZP-[2-9A-Z]{6}$`, coupon.Data.CouponCode)
	assert.Equal(t, 50, coupon.Data.Points, "got balance %d after redeeming 100 of 150, want 50", coupon.Data.Points)
	assert.Equal(t, 50, balanceOf(t, e, mariaID))

	// The reward's coupon belongs to Maria and her session can use it once.
	w = e.call("POST", "/api/v2/coupons/"+coupon.Data.CouponCode+"/use/", key["goomer"], v.Data.Session, "")
	assert.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
	w = e.call("POST", "/api/v2/coupons/"+coupon.Data.CouponCode+"/use/", key["goomer"], v.Data.Session, "")
	assertProblemType(t, w, http.StatusConflict, "coupon-already-used")

	// 50 points are not enough for a second coffee.
	w = e.call("POST", "/api/v2/customers/"+mariaID+"/rewards/rwd_free_coffee/redeem/", key["goomer"], v.Data.Session, `{"use_z_tokens": false}`)
	assertProblemType(t, w, http.StatusUnprocessableEntity, "insufficient-points")
	assert.Equal(t, 50, balanceOf(t, e, mariaID))

	// Nothing secret reached the audit log.
	logs := e.logs.String()
	assert.Contains(t, logs, "otp.decision")
	assert.NotContains(t, logs, code, "the code is in the logs")
	assert.NotContains(t, logs, v.Data.Session, "the session token is in the logs")
	assert.NotContains(t, logs, store.HashToken(v.Data.Session), "the token's hash is in the logs")
}

// endpoint is one call of the action table, acting on Maria.
type endpoint struct {
	action       policy.Action
	method, path string
	body         string
}

var endpoints = []endpoint{
	{policy.SearchCustomers, "GET", "/api/v2/customers/search?q=maria", ""},
	{policy.ViewBalance, "GET", "/api/v2/customers/" + mariaID + "/balance", ""},
	{policy.ViewHistory, "GET", "/api/v2/customers/" + mariaID + "/history", ""},
	{policy.AwardPoints, "POST", "/api/v2/customers/" + mariaID + "/points/", `{"points": 25, "description": "Order 1234"}`},
	{policy.ListRewards, "GET", "/api/v2/rewards/", ""},
	{policy.ListCoupons, "GET", "/api/v2/coupons/", ""},
	{policy.ViewPrograms, "GET", "/api/v2/programs/", ""},
	{policy.SendWebhook, "POST", "/api/v2/webhooks/", `{"url": "https://partner.example/hooks", "events": ["points.awarded"]}`},
	{policy.RedeemReward, "POST", "/api/v2/customers/" + mariaID + "/rewards/rwd_free_coffee/redeem/", `{"use_z_tokens": false}`},
	{policy.ValidateCoupon, "POST", "/api/v2/coupons/MARIA10/validate/", ""},
	{policy.UseCoupon, "POST", "/api/v2/coupons/MARIA10/use/", ""},
	{policy.EnrollCustomer, "POST", "/api/v2/customers/enroll/", `{"identifier": "+5511987654321", "full_name": "Maria Santos"}`},
}

// TestPolicyMatrix calls every endpoint with every partner's key, without a
// session and with a valid one, and checks the seed's tables: strict needs
// OTP for enrollment, redemption and coupons; relaxed for redemption and
// coupons; trusted for nothing; read operations never.
func TestPolicyMatrix(t *testing.T) {
	needsOTP := map[string]map[policy.Action]bool{
		"repediu": {},
		"goomer":  {policy.RedeemReward: true, policy.ValidateCoupon: true, policy.UseCoupon: true},
		"saipos":  {policy.RedeemReward: true, policy.ValidateCoupon: true, policy.UseCoupon: true},
		"balcao":  {policy.RedeemReward: true, policy.ValidateCoupon: true, policy.UseCoupon: true, policy.EnrollCustomer: true},
	}
	require.Len(t, endpoints, len(policy.NewCatalog().Actions()), "every action of the catalogue has an endpoint")
	for _, p := range Partners {
		for _, ep := range endpoints {
			t.Run(p.ID+"/"+string(ep.action)+"/no session", func(t *testing.T) {
				e := newEnv(t)
				w := e.call(ep.method, ep.path, p.Key, "", ep.body)
				if needsOTP[p.ID][ep.action] {
					assertOTPRequired(t, w)
					return
				}
				assert.True(t, w.Code >= 200 && w.Code < 300, "got %d, want 2xx; body %s", w.Code, w.Body.String())
				assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			})
			t.Run(p.ID+"/"+string(ep.action)+"/session", func(t *testing.T) {
				e := newEnv(t)
				s := e.login(t, p.ID, mariaPhone, mariaPhone)
				w := e.call(ep.method, ep.path, p.Key, s.Session, ep.body)
				assert.True(t, w.Code >= 200 && w.Code < 300, "got %d, want 2xx; body %s", w.Code, w.Body.String())
			})
		}
	}
}

func TestUnauthenticated(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"", "zupy_pk_unknown_0000000000"} {
		for _, path := range []string{"/api/v2/auth/request-otp/", "/api/v2/customers/" + mariaID + "/balance"} {
			method := "POST"
			if strings.HasSuffix(path, "balance") {
				method = "GET"
			}
			w := e.call(method, path, k, "", "")
			assertProblemType(t, w, http.StatusUnauthorized, "authentication-required")
		}
	}
}

func TestSessionBinding(t *testing.T) {
	redeem := func(customer string) string {
		return "/api/v2/customers/" + customer + "/rewards/rwd_free_coffee/redeem/"
	}
	t.Run("another integration's session", func(t *testing.T) {
		e := newEnv(t)
		s := e.login(t, "goomer", mariaPhone, mariaPhone)
		assertOTPRequired(t, e.call("POST", redeem(mariaID), key["saipos"], s.Session, `{"use_z_tokens": false}`))
		assert.Equal(t, 150, balanceOf(t, e, mariaID))
	})
	t.Run("another customer's redemption", func(t *testing.T) {
		e := newEnv(t)
		s := e.login(t, "goomer", mariaPhone, mariaPhone)
		assertOTPRequired(t, e.call("POST", redeem(joaoID), key["goomer"], s.Session, `{"use_z_tokens": false}`))
		assert.Equal(t, 420, balanceOf(t, e, joaoID))
	})
	t.Run("another customer's coupon", func(t *testing.T) {
		e := newEnv(t)
		s := e.login(t, "saipos", mariaPhone, mariaPhone)
		assertOTPRequired(t, e.call("POST", "/api/v2/coupons/JOAO-FRETE/use/", key["saipos"], s.Session, ""))
		assertOTPRequired(t, e.call("POST", "/api/v2/coupons/JOAO-FRETE/validate/", key["saipos"], s.Session, ""))
		// João's coupon is still unused.
		w := e.call("POST", "/api/v2/coupons/JOAO-FRETE/validate/", key["repediu"], "", "")
		require.Equal(t, http.StatusOK, w.Code)
		assert.Contains(t, w.Body.String(), `"valid":true`)
	})
	t.Run("enrolling another identifier", func(t *testing.T) {
		e := newEnv(t)
		s := e.login(t, "balcao", mariaPhone, mariaPhone)
		assertOTPRequired(t, e.call("POST", "/api/v2/customers/enroll/", key["balcao"], s.Session, `{"identifier": "+5521998765432"}`))
	})
	t.Run("scoped session", func(t *testing.T) {
		e := newEnv(t)
		require.Equal(t, http.StatusOK, e.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "", `{"identifier": "+5511987654321"}`).Code)
		w := e.call("POST", "/api/v2/auth/verify-otp/", key["goomer"], "",
			`{"identifier": "+5511987654321", "otp_code": "`+e.lastCode(t, mariaPhone)+`", "scope": "use_coupon"}`)
		require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
		var v struct {
			Data struct {
				Session string `json:"otp_session"`
				Scope   string `json:"scope"`
			}
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v))
		assert.Equal(t, "use_coupon", v.Data.Scope)
		assertOTPRequired(t, e.call("POST", redeem(mariaID), key["goomer"], v.Data.Session, `{"use_z_tokens": false}`))
		w = e.call("POST", "/api/v2/coupons/MARIA10/use/", key["goomer"], v.Data.Session, "")
		assert.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
	})
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	s := e.login(t, "goomer", mariaPhone, mariaPhone)
	e.clock.Advance(29 * time.Minute)
	w := e.call("POST", "/api/v2/coupons/MARIA10/validate/", key["goomer"], s.Session, "")
	require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
	e.clock.Advance(time.Minute + time.Second)
	assertOTPRequired(t, e.call("POST", "/api/v2/coupons/MARIA10/validate/", key["goomer"], s.Session, ""))
}

func TestMalformedSessionHeader(t *testing.T) {
	e := newEnv(t)
	for name, session := range map[string]string{
		"garbage":        "garbage!",
		"unknown token":  strings.Repeat("A", 43),
		"10 KB":          strings.Repeat("x", 10<<10),
		"control bytes":  "abc\x01def\x7fghijklmnopqrstuv",
		"non-ASCII":      strings.Repeat("ç", 20),
		"JSON injection": `{"customer_id":"` + mariaID + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			assertOTPRequired(t, e.call("POST", "/api/v2/coupons/MARIA10/use/", key["goomer"], session, ""))
		})
	}
	t.Run("empty", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/api/v2/coupons/MARIA10/use/", nil)
		r.Header.Set("X-API-Key", key["goomer"])
		r.Header["X-Otp-Session"] = []string{""}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		assertOTPRequired(t, w)
	})
	t.Run("repeated", func(t *testing.T) {
		s := e.login(t, "goomer", mariaPhone, mariaPhone)
		r := httptest.NewRequest("POST", "/api/v2/coupons/MARIA10/use/", nil)
		r.Header.Set("X-API-Key", key["goomer"])
		r.Header["X-Otp-Session"] = []string{s.Session, s.Session}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		assertOTPRequired(t, w)
	})
}

func TestRequestOTPErrors(t *testing.T) {
	e := newEnv(t)
	t.Run("unknown CPF", func(t *testing.T) {
		w := e.call("POST", "/api/v2/auth/request-otp/", key["balcao"], "", `{"identifier": "111.444.777-35"}`)
		assertProblemType(t, w, http.StatusNotFound, "not-found")
	})
	t.Run("known CPF goes to the customer's phone", func(t *testing.T) {
		w := e.call("POST", "/api/v2/auth/request-otp/", key["balcao"], "", `{"identifier": "123.456.789-09"}`)
		require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
		assert.Len(t, e.lastCode(t, joaoPhone), 6)
	})
	t.Run("email-only customer", func(t *testing.T) {
		w := e.call("POST", "/api/v2/auth/request-otp/", key["balcao"], "", `{"identifier": "390.533.447-05"}`)
		require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
		assert.Contains(t, w.Body.String(), `"channel":"email"`)
		assert.Len(t, e.lastCode(t, "ana@example.com"), 6)
	})
	t.Run("missing identifier", func(t *testing.T) {
		w := e.call("POST", "/api/v2/auth/request-otp/", key["balcao"], "", `{}`)
		assertProblemType(t, w, http.StatusBadRequest, "validation-error")
	})
	t.Run("verify without request", func(t *testing.T) {
		w := e.call("POST", "/api/v2/auth/verify-otp/", key["balcao"], "", `{"identifier": "+5531911112222", "otp_code": "123456"}`)
		assertProblemType(t, w, http.StatusNotFound, "not-found")
	})
	t.Run("GET", func(t *testing.T) {
		w := e.call("GET", "/api/v2/auth/verify-otp/", key["balcao"], "", "")
		assertProblemType(t, w, http.StatusMethodNotAllowed, "method-not-allowed")
		assert.Equal(t, "POST", w.Header().Get("Allow"))
	})
}

// TestNewCustomerEnrollment: a phone nobody has becomes a customer on
// verify-otp, and a strict partner enrolls it with that session.
func TestNewCustomerEnrollment(t *testing.T) {
	e := newEnv(t)
	const phone = "+5531987650000"
	assertOTPRequired(t, e.call("POST", "/api/v2/customers/enroll/", key["balcao"], "", `{"identifier": "`+phone+`", "full_name": "Bia Lima"}`))
	s := e.login(t, "balcao", phone, phone)
	assert.True(t, s.IsNew, "got is_new false for a new phone, want true")
	assert.Equal(t, 0, s.Points)
	w := e.call("POST", "/api/v2/customers/enroll/", key["balcao"], s.Session, `{"identifier": "`+phone+`", "full_name": "Bia Lima"}`)
	require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
	assert.Contains(t, w.Body.String(), `"customer_id":"`+s.CustomerID+`"`)
	assert.Contains(t, w.Body.String(), `"full_name":"Bia Lima"`)

	// Points awarded to the new customer show in balance and history.
	w = e.call("POST", "/api/v2/customers/"+s.CustomerID+"/points/", key["balcao"], "", `{"points": 40, "description": "First order"}`)
	require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
	assert.Equal(t, 40, balanceOf(t, e, s.CustomerID))
	w = e.call("GET", "/api/v2/customers/"+s.CustomerID+"/history", key["balcao"], "", "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), `"description":"First order"`)

	// A second login finds the customer: no longer new.
	e.clock.Advance(2 * time.Minute)
	assert.False(t, e.login(t, "balcao", phone, phone).IsNew)
}

func TestEndpointErrors(t *testing.T) {
	e := newEnv(t)
	k := key["repediu"] // trusted: no OTP in the way
	tests := []struct {
		name, method, path, body string
		status                   int
		typ                      string
	}{
		{"unknown customer", "GET", "/api/v2/customers/nobody/balance", "", 404, "not-found"},
		{"unknown reward", "POST", "/api/v2/customers/" + mariaID + "/rewards/nope/redeem/", "", 404, "not-found"},
		{"unknown coupon", "POST", "/api/v2/coupons/NOPE/use/", "", 404, "not-found"},
		{"z tokens", "POST", "/api/v2/customers/" + mariaID + "/rewards/rwd_free_coffee/redeem/", `{"use_z_tokens": true}`, 400, "validation-error"},
		{"unknown field", "POST", "/api/v2/customers/" + mariaID + "/rewards/rwd_free_coffee/redeem/", `{"use_tokens": false}`, 400, "validation-error"},
		{"trailing data", "POST", "/api/v2/customers/" + mariaID + "/points/", `{"points": 1} {}`, 400, "validation-error"},
		{"negative points", "POST", "/api/v2/customers/" + mariaID + "/points/", `{"points": -5}`, 400, "validation-error"},
		{"http webhook", "POST", "/api/v2/webhooks/", `{"url": "http://x.example/", "events": ["a"]}`, 400, "validation-error"},
		{"bad enroll identifier", "POST", "/api/v2/customers/enroll/", `{"identifier": "x"}`, 400, "validation-error"},
		{"big body", "POST", "/api/v2/webhooks/", `{"url": "` + strings.Repeat("a", 5<<10) + `"}`, 413, "payload-too-large"},
		{"expensive reward", "POST", "/api/v2/customers/" + mariaID + "/rewards/rwd_10_off/redeem/", "", 422, "insufficient-points"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertProblemType(t, e.call(tt.method, tt.path, k, "", tt.body), tt.status, tt.typ)
		})
	}
	assert.Equal(t, 150, balanceOf(t, e, mariaID))
}

// downStore returns a Redis store whose server is down: its client dials a
// loopback port nobody listens on, so every call fails with "connection
// refused" within the operation timeout. It needs no Redis.
func downStore(t *testing.T) store.Store {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	st, err := redisstore.New(redistest.NewClient(t, addr), redisstore.WithTimeout(200*time.Millisecond))
	require.NoError(t, err)
	return st
}

func TestStoreDown(t *testing.T) {
	pepper := bytes.Repeat([]byte{7}, 32)
	e := newEnv(t, func(c *Config) { c.Store, c.Peppers = downStore(t), [][]byte{pepper} })
	// A well-formed token under the server's keys, so that the guard asks
	// the store (a forged one is refused before any store call).
	keys, err := keyring.New(pepper)
	require.NoError(t, err)
	token, err := otpcode.NewSessionToken(rand.Reader, keys)
	require.NoError(t, err)

	// Guarded actions that need OTP fail closed.
	w := e.call("POST", "/api/v2/customers/"+mariaID+"/rewards/rwd_free_coffee/redeem/", key["goomer"], token, `{"use_z_tokens": false}`)
	assertProblemType(t, w, http.StatusServiceUnavailable, "service-unavailable")
	assert.NotContains(t, w.Body.String(), "connection refused")
	w = e.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "", `{"identifier": "+5511987654321"}`)
	assertProblemType(t, w, http.StatusServiceUnavailable, "service-unavailable")

	// Actions that need no OTP never touch the store.
	w = e.call("GET", "/api/v2/customers/"+mariaID+"/balance", key["goomer"], "", "")
	assert.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
	w = e.call("POST", "/api/v2/customers/"+mariaID+"/rewards/rwd_free_coffee/redeem/", key["repediu"], "", `{"use_z_tokens": false}`)
	assert.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
}

// TestOneGuardBindsEveryRoute: the one guard finds each route's customer
// where the route says — the path, the coupon's owner, the enrollment's
// identifier — and a request whose customer cannot be found is refused
// with its own reason in the audit log.
func TestOneGuardBindsEveryRoute(t *testing.T) {
	e := newEnv(t)
	s := e.login(t, "balcao", mariaPhone, mariaPhone) // strict: every action needs OTP
	for _, c := range []struct{ path, body string }{
		{"/api/v2/coupons/MARIA10/validate/", ""},
		{"/api/v2/customers/enroll/", `{"identifier": "(11) 98765-4321", "full_name": "Maria Santos"}`},
		{"/api/v2/coupons/MARIA10/use/", ""},
	} {
		w := e.call("POST", c.path, key["balcao"], s.Session, c.body)
		assert.Equal(t, http.StatusOK, w.Code, "%s: got %d, want 200; body %s", c.path, w.Code, w.Body.String())
	}

	// An unknown coupon names no customer: 403, reason "no customer".
	assertOTPRequired(t, e.call("POST", "/api/v2/coupons/NO-SUCH/validate/", key["balcao"], s.Session, ""))
	// An enrollment without an identifier names none either.
	assertOTPRequired(t, e.call("POST", "/api/v2/customers/enroll/", key["balcao"], s.Session, `{"full_name": "x"}`))
	var reasons []string
	sc := bufio.NewScanner(strings.NewReader(e.logs.String()))
	for sc.Scan() {
		var ev struct{ Msg, Outcome, Reason, Action string }
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev))
		if ev.Msg == "otp.decision" && ev.Outcome == "denied" {
			reasons = append(reasons, ev.Action+": "+ev.Reason)
		}
	}
	assert.Equal(t, []string{
		"validate_coupon: middleware: request names no customer",
		"enroll_customer: middleware: request names no customer",
	}, reasons)
}

// TestIdentifiersAsTyped: Brazilian phone numbers in national formats
// reach the customer's WhatsApp; 11 digits that are both a valid CPF and a
// valid São Paulo mobile must say which they are.
func TestIdentifiersAsTyped(t *testing.T) {
	for _, typed := range []string{"(11) 98765-4321", "11987654321", "+55 11 98765-4321"} {
		t.Run(typed, func(t *testing.T) {
			e := newEnv(t)
			w := e.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "", fmt.Sprintf(`{"identifier": %q}`, typed))
			require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
			assert.JSONEq(t, `{"data":{"status":"sent","channel":"whatsapp","expires_in":300},"meta":{}}`, w.Body.String())
			code := e.lastCode(t, mariaPhone) // delivered to +5511987654321
			w = e.call("POST", "/api/v2/auth/verify-otp/", key["goomer"], "", fmt.Sprintf(`{"identifier": %q, "otp_code": %q}`, typed, code))
			require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
			assert.Contains(t, w.Body.String(), `"customer_id":"`+mariaID+`"`)
		})
	}
	t.Run("ambiguous", func(t *testing.T) {
		e := newEnv(t)
		w := e.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "", `{"identifier": "11987650034"}`)
		assertProblemType(t, w, http.StatusBadRequest, "validation-error")
		var p struct {
			Errors   map[string][]string
			Messages map[string]string
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
		assert.Equal(t, []string{"ambiguous"}, p.Errors["identifier"])
		assert.Contains(t, p.Messages["identifier"], "identifier_type")
		assert.Empty(t, e.out.String(), "nothing may be sent for an ambiguous identifier")

		w = e.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "", `{"identifier": "11987650034", "identifier_type": "phone"}`)
		require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
		assert.NotEmpty(t, e.lastCode(t, "+5511987650034"))
	})
	t.Run("formatted CPF is never ambiguous", func(t *testing.T) {
		e := newEnv(t)
		w := e.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "", `{"identifier": "529.982.247-25"}`)
		require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
		assert.NotEmpty(t, e.lastCode(t, mariaPhone))
	})
	t.Run("bad identifier_type", func(t *testing.T) {
		e := newEnv(t)
		w := e.call("POST", "/api/v2/auth/request-otp/", key["goomer"], "", `{"identifier": "11987650034", "identifier_type": "fax"}`)
		assertProblemType(t, w, http.StatusBadRequest, "validation-error")
		assert.Contains(t, w.Body.String(), `"identifier_type":["invalid_format"]`)
	})
}
