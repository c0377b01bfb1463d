package otphttp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/otpguard/otpguard/internal/testio"
	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otphttp"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/store/storetest"
)

const (
	hBase        = "https://api.zupy.com/errors/"
	hIntegration = "goomer"
	hPhone       = "+5511987654321"
)

// hDirectory is a fixed customer directory; unknown phones and emails become
// new customers on Resolve.
type hDirectory struct {
	customers map[string]otpcode.Customer // by Identifier.Subject()
}

func (d hDirectory) Lookup(_ context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	c, ok := d.customers[id.Subject()]
	return c, ok, nil
}

func (d hDirectory) Resolve(_ context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	if c, ok := d.customers[id.Subject()]; ok {
		return c, true, nil
	}
	if id.Kind == otpcode.KindCPF {
		return otpcode.Customer{}, false, nil
	}
	return otpcode.Customer{ID: "new-" + id.Value, IsNew: true, Profile: map[string]any{"points_balance": 0}}, true, nil
}

func hMariaDirectory() hDirectory {
	maria := otpcode.Customer{
		ID:       "2awTHloSJX7kGGprFerOOsvABcd",
		Name:     "Maria Santos",
		Contacts: otpcode.Contacts{Phone: hPhone, Email: "maria@example.com"},
		Profile: map[string]any{
			"full_name":      "Maria Santos",
			"points_balance": 150,
			"tier":           "silver",
			// A profile cannot override the reserved members.
			"customer_id": "forged",
			"otp_session": "forged",
			"is_new":      true,
			"expires_in":  1,
			"scope":       "everything",
		},
	}
	return hDirectory{customers: map[string]otpcode.Customer{
		"phone:" + hPhone:          maria,
		"email:maria@example.com":  maria,
		"cpf:52998224725":          maria,
		"phone:+5521999990000":     {ID: "nameless", Contacts: otpcode.Contacts{Phone: "+5521999990000"}},
		"email:broken@example.com": {ID: "broken", Contacts: otpcode.Contacts{Email: "broken@example.com"}, Profile: map[string]any{"bad": make(chan int)}},
	}}
}

// hEnv is one set of handlers over a real service and memory store.
type hEnv struct {
	h     *otphttp.Handlers
	web   *middleware.HTTP
	clock *storetest.Clock
	out   *testio.Buffer // dev sender output
	logs  *testio.Buffer
}

type hConfig struct {
	limits  otpcode.Limits
	store   store.Store
	senders []otpcode.Route
	web     []middleware.HTTPOption
	opts    []otphttp.Option
}

func newHEnv(t *testing.T, mods ...func(*hConfig)) *hEnv {
	t.Helper()
	e := &hEnv{clock: storetest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)), out: &testio.Buffer{}, logs: &testio.Buffer{}}
	cfg := hConfig{limits: otpcode.DefaultLimits()}
	for _, m := range mods {
		m(&cfg)
	}
	if cfg.store == nil {
		ms := memory.New(memory.WithClock(e.clock.Now))
		t.Cleanup(ms.Close)
		cfg.store = ms
	}
	if cfg.senders == nil {
		dev := otpcode.NewDevSender(e.out)
		cfg.senders = []otpcode.Route{{Channel: otpcode.ChannelWhatsApp, Sender: dev}, {Channel: otpcode.ChannelEmail, Sender: dev}}
	}
	keys, err := keyring.New(bytes.Repeat([]byte{0x42}, 32))
	require.NoError(t, err)
	chain, err := otpcode.NewChain(cfg.senders...)
	require.NoError(t, err)
	svc, err := otpcode.NewService(cfg.store, keys, chain,
		otpcode.WithLimits(cfg.limits),
		otpcode.WithDirectory(hMariaDirectory()),
		otpcode.WithClock(e.clock.Now),
	)
	require.NoError(t, err)
	e.web, err = middleware.NewHTTP(append([]middleware.HTTPOption{
		middleware.WithProblemBase(hBase),
		middleware.WithLogger(slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}, cfg.web...)...)
	require.NoError(t, err)
	e.h, err = otphttp.New(e.web, svc, cfg.opts...)
	require.NoError(t, err)
	return e
}

// hRequest describes one call.
type hRequest struct {
	method      string // default POST
	contentType string // default application/json; "-" for none
	body        string
	integration string // default hIntegration; "-" for none
}

func (e *hEnv) do(h http.Handler, rq hRequest) *httptest.ResponseRecorder {
	method := rq.method
	if method == "" {
		method = http.MethodPost
	}
	r := httptest.NewRequest(method, "/api/v2/auth/otp/", strings.NewReader(rq.body))
	switch rq.contentType {
	case "":
		r.Header.Set("Content-Type", "application/json")
	case "-":
	default:
		r.Header.Set("Content-Type", rq.contentType)
	}
	switch rq.integration {
	case "":
		r = r.WithContext(middleware.WithIntegration(r.Context(), hIntegration))
	case "-":
	default:
		r = r.WithContext(middleware.WithIntegration(r.Context(), rq.integration))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func (e *hEnv) request(body string) *httptest.ResponseRecorder {
	return e.do(e.h.RequestOTP(), hRequest{body: body})
}

func (e *hEnv) verify(body string) *httptest.ResponseRecorder {
	return e.do(e.h.VerifyOTP(), hRequest{body: body})
}

// lastCode returns the code of the dev sender's last delivery to to.
func (e *hEnv) lastCode(t *testing.T, to string) string {
	t.Helper()
	code := ""
	sc := bufio.NewScanner(strings.NewReader(e.out.String()))
	for sc.Scan() {
		var line struct{ To, Code string }
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line))
		if line.To == to {
			code = line.Code
		}
	}
	require.NotEmpty(t, code, "no delivery to %s in %q", to, e.out.String())
	return code
}

// hWrongCode returns a well-formed code that differs from code.
func hWrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func hVerifyBody(identifier, code string) string {
	b, _ := json.Marshal(map[string]string{"identifier": identifier, "otp_code": code})
	return string(b)
}

type hProblem struct {
	Type         string              `json:"type"`
	Title        string              `json:"title"`
	Status       int                 `json:"status"`
	Detail       string              `json:"detail"`
	Errors       map[string][]string `json:"errors"`
	Messages     map[string]string   `json:"messages"`
	RetryAfter   *int64              `json:"retry_after"`
	LockDuration *int64              `json:"lock_duration"`
}

// hAssertProblem checks a problem response and returns it.
func hAssertProblem(t *testing.T, w *httptest.ResponseRecorder, status int, typ string) hProblem {
	t.Helper()
	assert.Equal(t, status, w.Code, "got status %d, want %d; body %s", w.Code, status, w.Body.String())
	assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	var p hProblem
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p), "body %s", w.Body.String())
	assert.Equal(t, hBase+typ, p.Type, "got type %s, want %s", p.Type, hBase+typ)
	assert.Equal(t, status, p.Status)
	assert.NotEmpty(t, p.Title)
	assert.NotEmpty(t, p.Detail)
	return p
}

// hAssertRetryAfter checks the Retry-After header and the retry_after member.
func hAssertRetryAfter(t *testing.T, w *httptest.ResponseRecorder, p hProblem, want int64) {
	t.Helper()
	assert.Equal(t, strconv.FormatInt(want, 10), w.Header().Get("Retry-After"), "got Retry-After %q, want %d", w.Header().Get("Retry-After"), want)
	if assert.NotNil(t, p.RetryAfter, "retry_after missing") {
		assert.Equal(t, want, *p.RetryAfter, "got retry_after %d, want %d", *p.RetryAfter, want)
	}
}

func TestRequestOTPSuccess(t *testing.T) {
	tests := []struct {
		name, body, channel, to string
	}{
		{"phone goes to whatsapp", `{"identifier": "+5511987654321"}`, "whatsapp", hPhone},
		{"formatted phone", `{"identifier": "+55 (11) 98765-4321"}`, "whatsapp", hPhone},
		{"known email", `{"identifier": "maria@example.com"}`, "whatsapp", hPhone},
		{"email channel asked", `{"identifier": "+5511987654321", "channel": "email"}`, "email", "maria@example.com"},
		{"known CPF", `{"identifier": "529.982.247-25", "purpose": "redeem_reward", "locale": "pt-BR"}`, "whatsapp", hPhone},
		{"unknown email becomes its own contact", `{"identifier": "new@example.com"}`, "email", "new@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newHEnv(t)
			w := e.request(tt.body)
			require.Equal(t, http.StatusOK, w.Code, "got %d, want 200; body %s", w.Code, w.Body.String())
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			want := `{"data":{"status":"sent","channel":"` + tt.channel + `","expires_in":300},"meta":{}}`
			assert.JSONEq(t, want, w.Body.String())
			assert.Len(t, e.lastCode(t, tt.to), 6)
		})
	}
}

func TestVerifyOTPSuccess(t *testing.T) {
	t.Run("known customer with profile", func(t *testing.T) {
		e := newHEnv(t)
		require.Equal(t, http.StatusOK, e.request(`{"identifier": "+5511987654321"}`).Code)
		w := e.verify(hVerifyBody(hPhone, e.lastCode(t, hPhone)))
		require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
		assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
		assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
		var got struct {
			Data map[string]any `json:"data"`
			Meta map[string]any `json:"meta"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
		assert.NotNil(t, got.Meta)
		assert.Equal(t, "2awTHloSJX7kGGprFerOOsvABcd", got.Data["customer_id"])
		assert.Equal(t, false, got.Data["is_new"])
		assert.Equal(t, float64(1800), got.Data["expires_in"])
		assert.Equal(t, "Maria Santos", got.Data["full_name"])
		assert.Equal(t, float64(150), got.Data["points_balance"])
		assert.Equal(t, "silver", got.Data["tier"])
		token, _ := got.Data["otp_session"].(string)
		assert.Len(t, token, store.TokenLen, "got token %q, want %d characters", token, store.TokenLen)
		assert.NotContains(t, got.Data, "scope", "an unscoped session has no scope member")
	})
	t.Run("new customer", func(t *testing.T) {
		e := newHEnv(t)
		require.Equal(t, http.StatusOK, e.request(`{"identifier": "+5521988887777"}`).Code)
		w := e.verify(hVerifyBody("+5521988887777", e.lastCode(t, "+5521988887777")))
		require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
		assert.Contains(t, w.Body.String(), `"is_new":true`)
		assert.Contains(t, w.Body.String(), `"customer_id":"new-+5521988887777"`)
		assert.Contains(t, w.Body.String(), `"points_balance":0`)
	})
	t.Run("scoped session", func(t *testing.T) {
		e := newHEnv(t, func(c *hConfig) {
			c.opts = append(c.opts, otphttp.WithScopesAllowed(policy.RedeemReward, policy.UseCoupon))
		})
		require.Equal(t, http.StatusOK, e.request(`{"identifier": "+5511987654321", "purpose": "checkout"}`).Code)
		body := `{"identifier": "+5511987654321", "otp_code": "` + e.lastCode(t, hPhone) +
			`", "purpose": "checkout", "scope": " redeem_reward  use_coupon redeem_reward"}`
		w := e.verify(body)
		require.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
		assert.Contains(t, w.Body.String(), `"scope":"redeem_reward use_coupon"`)
	})
	t.Run("charset parameter accepted", func(t *testing.T) {
		e := newHEnv(t)
		w := e.do(e.h.RequestOTP(), hRequest{contentType: "application/json; charset=utf-8", body: `{"identifier":"+5511987654321"}`})
		assert.Equal(t, http.StatusOK, w.Code, "body %s", w.Body.String())
	})
}

func TestOTPHandlersErrors(t *testing.T) {
	e := newHEnv(t, func(c *hConfig) {
		c.opts = append(c.opts, otphttp.WithScopesAllowed(policy.RedeemReward))
	})
	big := `{"identifier": "` + strings.Repeat("1", 5<<10) + `"}`
	tests := []struct {
		name    string
		verify  bool
		rq      hRequest
		status  int
		typ     string
		field   string // errors member expected, if any
		code    string
		allowed string // the Allow header expected, if any
	}{
		{name: "GET request-otp", rq: hRequest{method: http.MethodGet}, status: 405, typ: "method-not-allowed", allowed: "POST"},
		{name: "PUT verify-otp", verify: true, rq: hRequest{method: http.MethodPut, body: "{}"}, status: 405, typ: "method-not-allowed", allowed: "POST"},
		{name: "no integration", rq: hRequest{integration: "-", body: `{"identifier":"+5511987654321"}`}, status: 401, typ: "authentication-required"},
		{name: "text/plain", rq: hRequest{contentType: "text/plain", body: `{"identifier":"+5511987654321"}`}, status: 415, typ: "unsupported-media-type"},
		{name: "no content type", verify: true, rq: hRequest{contentType: "-", body: `{}`}, status: 415, typ: "unsupported-media-type"},
		{name: "malformed content type", rq: hRequest{contentType: "application/json; =", body: `{}`}, status: 415, typ: "unsupported-media-type"},
		{name: "5 KiB body", rq: hRequest{body: big}, status: 413, typ: "payload-too-large"},
		{name: "5 KiB body on verify", verify: true, rq: hRequest{body: big}, status: 413, typ: "payload-too-large"},
		{name: "object then 5 KiB of spaces", rq: hRequest{body: `{"identifier":"+5511987654321"}` + strings.Repeat(" ", 5<<10)}, status: 413, typ: "payload-too-large"},
		{name: "empty body", rq: hRequest{body: ""}, status: 400, typ: "validation-error", field: "body", code: "required"},
		{name: "not JSON", rq: hRequest{body: "identifier=1"}, status: 400, typ: "validation-error", field: "body", code: "invalid_format"},
		{name: "truncated JSON", rq: hRequest{body: `{"identifier": "+55`}, status: 400, typ: "validation-error", field: "body", code: "invalid_format"},
		{name: "array", rq: hRequest{body: `["+5511987654321"]`}, status: 400, typ: "validation-error", field: "body", code: "invalid_format"},
		{name: "unknown field", rq: hRequest{body: `{"identifier":"+5511987654321","phone":"1"}`}, status: 400, typ: "validation-error", field: "phone", code: "unknown_field"},
		{name: "unknown odd field", rq: hRequest{body: `{"identifier":"+5511987654321","a b":"1"}`}, status: 400, typ: "validation-error", field: "body", code: "unknown_field"},
		{name: "repeated member", rq: hRequest{body: `{"identifier":"+5511987654321","identifier":"+5521987654321"}`}, status: 400, typ: "validation-error", field: "identifier", code: "duplicate"},
		{name: "member in another case", rq: hRequest{body: `{"IDENTIFIER":"+5511987654321","identifier":"+5521987654321"}`}, status: 400, typ: "validation-error", field: "IDENTIFIER", code: "unknown_field"},
		{name: "verify member in another case", verify: true, rq: hRequest{body: `{"identifier":"+5511987654321","OTP_code":"123456"}`}, status: 400, typ: "validation-error", field: "OTP_code", code: "unknown_field"},
		{name: "trailing object", rq: hRequest{body: `{"identifier":"+5511987654321"}{}`}, status: 400, typ: "validation-error", field: "body", code: "invalid_format"},
		{name: "trailing garbage", verify: true, rq: hRequest{body: `{"identifier":"+5511987654321","otp_code":"123456"} x`}, status: 400, typ: "validation-error", field: "body", code: "invalid_format"},
		{name: "number code", verify: true, rq: hRequest{body: `{"identifier":"+5511987654321","otp_code":123456}`}, status: 400, typ: "validation-error", field: "otp_code", code: "invalid_type"},
		{name: "missing identifier", rq: hRequest{body: `{}`}, status: 400, typ: "validation-error", field: "identifier", code: "required"},
		{name: "null body", rq: hRequest{body: `null`}, status: 400, typ: "validation-error", field: "identifier", code: "required"},
		{name: "malformed identifier", rq: hRequest{body: `{"identifier":"not a phone"}`}, status: 400, typ: "validation-error", field: "identifier", code: "invalid_format"},
		{name: "bad CPF", rq: hRequest{body: `{"identifier":"123.456.789-00"}`}, status: 400, typ: "validation-error", field: "identifier", code: "invalid_format"},
		{name: "unknown channel", rq: hRequest{body: `{"identifier":"+5511987654321","channel":"sms"}`}, status: 400, typ: "validation-error", field: "channel", code: "not_permitted"},
		{name: "email channel without email", rq: hRequest{body: `{"identifier":"+5521999990000","channel":"email"}`}, status: 400, typ: "validation-error", field: "channel", code: "not_permitted"},
		{name: "bad purpose", rq: hRequest{body: `{"identifier":"+5511987654321","purpose":"a b"}`}, status: 400, typ: "validation-error", field: "purpose", code: "invalid_format"},
		{name: "bad locale", rq: hRequest{body: `{"identifier":"+5511987654321","locale":"<script>"}`}, status: 400, typ: "validation-error", field: "locale", code: "invalid_format"},
		{name: "missing otp_code", verify: true, rq: hRequest{body: `{"identifier":"+5511987654321"}`}, status: 400, typ: "validation-error", field: "otp_code", code: "required"},
		{name: "short otp_code", verify: true, rq: hRequest{body: `{"identifier":"+5511987654321","otp_code":"123"}`}, status: 400, typ: "validation-error", field: "otp_code", code: "invalid_format"},
		{name: "scope not allowed", verify: true, rq: hRequest{body: `{"identifier":"+5511987654321","otp_code":"123456","scope":"use_coupon"}`}, status: 400, typ: "validation-error", field: "scope", code: "not_permitted"},
		{name: "scope as array", verify: true, rq: hRequest{body: `{"identifier":"+5511987654321","otp_code":"123456","scope":["redeem_reward"]}`}, status: 400, typ: "validation-error", field: "scope", code: "invalid_type"},
		{name: "scope with quote", verify: true, rq: hRequest{body: `{"identifier":"+5511987654321","otp_code":"123456","scope":"a\"b"}`}, status: 400, typ: "validation-error", field: "scope", code: "invalid_format"},
		{name: "verify without request", verify: true, rq: hRequest{body: hVerifyBody("+5521977776666", "123456")}, status: 404, typ: "not-found"},
		{name: "unknown CPF", rq: hRequest{body: `{"identifier":"111.444.777-35"}`}, status: 404, typ: "not-found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := e.h.RequestOTP()
			if tt.verify {
				h = e.h.VerifyOTP()
			}
			w := e.do(h, tt.rq)
			p := hAssertProblem(t, w, tt.status, tt.typ)
			assert.Equal(t, tt.allowed, w.Header().Get("Allow"), "got Allow %q, want %q", w.Header().Get("Allow"), tt.allowed)
			if tt.field != "" {
				assert.Equal(t, []string{tt.code}, p.Errors[tt.field], "got errors %v, want %s: [%s]", p.Errors, tt.field, tt.code)
				assert.NotEmpty(t, p.Messages[tt.field], "got messages %v, want one for %s", p.Messages, tt.field)
			} else {
				assert.Empty(t, p.Errors)
			}
			assert.Empty(t, w.Header().Get("Retry-After"))
		})
	}
}

func TestVerifyOTPWrongAndExpiredCode(t *testing.T) {
	e := newHEnv(t)
	require.Equal(t, http.StatusOK, e.request(`{"identifier": "+5511987654321"}`).Code)
	code := e.lastCode(t, hPhone)

	p := hAssertProblem(t, e.verify(hVerifyBody(hPhone, hWrongCode(code))), 401, "authentication-required")
	assert.Contains(t, p.Detail, "invalid")

	// A code requested for one purpose does not verify for another.
	w := e.verify(`{"identifier":"+5511987654321","otp_code":"` + code + `","purpose":"other"}`)
	hAssertProblem(t, w, 401, "authentication-required")

	// 5:01 after the request the code has expired, even the right one.
	e.clock.Advance(5*time.Minute + time.Second)
	p = hAssertProblem(t, e.verify(hVerifyBody(hPhone, code)), 401, "authentication-required")
	assert.Contains(t, p.Detail, "expired")
}

func TestOTPHandlersLimits(t *testing.T) {
	t.Run("resend cooldown", func(t *testing.T) {
		e := newHEnv(t)
		require.Equal(t, http.StatusOK, e.request(`{"identifier": "+5511987654321"}`).Code)
		e.clock.Advance(500 * time.Millisecond)
		w := e.request(`{"identifier": "+5511987654321"}`)
		p := hAssertProblem(t, w, 429, "rate-limit-exceeded")
		hAssertRetryAfter(t, w, p, 60) // 59.5 s rounded up
		assert.Nil(t, p.LockDuration)
		e.clock.Advance(60 * time.Second)
		assert.Equal(t, http.StatusOK, e.request(`{"identifier": "+5511987654321"}`).Code)
	})
	t.Run("send window", func(t *testing.T) {
		e := newHEnv(t)
		for i := range 5 {
			w := e.request(`{"identifier": "+5511987654321"}`)
			require.Equal(t, http.StatusOK, w.Code, "send %d: body %s", i+1, w.Body.String())
			e.clock.Advance(61 * time.Second)
		}
		// Five sends at 0, 61, 122, 183 and 244 s; the window of 10 min
		// ends at 600 s and it is now 305 s.
		w := e.request(`{"identifier": "+5511987654321"}`)
		p := hAssertProblem(t, w, 429, "rate-limit-exceeded")
		hAssertRetryAfter(t, w, p, 295)
		assert.Contains(t, p.Detail, "too many codes")
	})
	t.Run("integration rate", func(t *testing.T) {
		e := newHEnv(t, func(c *hConfig) {
			c.limits.IntegrationRate = rate.Every(10 * time.Second)
			c.limits.IntegrationBurst = 1
		})
		require.Equal(t, http.StatusOK, e.request(`{"identifier": "+5511987654321"}`).Code)
		w := e.request(`{"identifier": "+5521999990000"}`)
		p := hAssertProblem(t, w, 429, "rate-limit-exceeded")
		hAssertRetryAfter(t, w, p, 10)
		assert.Contains(t, p.Detail, "integration")
	})
	t.Run("attempts burn the code", func(t *testing.T) {
		e := newHEnv(t)
		require.Equal(t, http.StatusOK, e.request(`{"identifier": "+5511987654321"}`).Code)
		code := e.lastCode(t, hPhone)
		for range 5 {
			hAssertProblem(t, e.verify(hVerifyBody(hPhone, hWrongCode(code))), 401, "authentication-required")
		}
		// The sixth attempt is refused even with the right code, and the
		// retry hint is the true time until a new code can be requested:
		// what is left of the 60 s resend cooldown.
		e.clock.Advance(12 * time.Second)
		w := e.verify(hVerifyBody(hPhone, code))
		p := hAssertProblem(t, w, 429, "rate-limit-exceeded")
		hAssertRetryAfter(t, w, p, 48)
		assert.Contains(t, p.Detail, "request a new code")
		assert.Nil(t, p.LockDuration)
		// Requesting a new code before then is refused with the same hint;
		// once it has passed, a new code is sent.
		w = e.request(`{"identifier": "+5511987654321"}`)
		hAssertRetryAfter(t, w, hAssertProblem(t, w, 429, "rate-limit-exceeded"), 48)
		e.clock.Advance(48 * time.Second)
		assert.Equal(t, http.StatusOK, e.request(`{"identifier": "+5511987654321"}`).Code)
	})
	t.Run("lock after ten wrong codes", func(t *testing.T) {
		e := newHEnv(t)
		var w *httptest.ResponseRecorder
		for round := range 2 {
			require.Equal(t, http.StatusOK, e.request(`{"identifier": "+5511987654321"}`).Code, "round %d", round)
			code := e.lastCode(t, hPhone)
			for range 5 {
				w = e.verify(hVerifyBody(hPhone, hWrongCode(code)))
			}
			e.clock.Advance(61 * time.Second)
		}
		// The tenth wrong guess, 61 s after the first, locked the
		// identifier until the hour that began with the first is over
		// (longer than the 15 minutes of LockFor): 10 guesses an hour.
		p := hAssertProblem(t, w, 429, "rate-limit-exceeded")
		hAssertRetryAfter(t, w, p, 3539)
		if assert.NotNil(t, p.LockDuration) {
			assert.Equal(t, int64(3539), *p.LockDuration)
		}
		// 61 s later, request and verify are both refused while locked.
		for _, w := range []*httptest.ResponseRecorder{
			e.request(`{"identifier": "+5511987654321"}`),
			e.verify(hVerifyBody(hPhone, "123456")),
		} {
			p := hAssertProblem(t, w, 429, "rate-limit-exceeded")
			hAssertRetryAfter(t, w, p, 3478)
			if assert.NotNil(t, p.LockDuration) {
				assert.Equal(t, int64(3478), *p.LockDuration, "got lock_duration %d, want 3478", *p.LockDuration)
			}
			assert.Contains(t, p.Detail, "locked")
		}
		e.clock.Advance(3478 * time.Second)
		assert.Equal(t, http.StatusOK, e.request(`{"identifier": "+5511987654321"}`).Code)
	})
}

func TestOTPHandlersDeliveryFailed(t *testing.T) {
	failing := otpcode.SenderFunc(func(context.Context, otpcode.Message) error {
		return &otpcode.SendError{Channel: otpcode.ChannelWhatsApp, Retryable: true, Status: 503, Reason: "provider down"}
	})
	e := newHEnv(t, func(c *hConfig) {
		c.senders = []otpcode.Route{{Channel: otpcode.ChannelWhatsApp, Sender: failing}}
	})
	w := e.request(`{"identifier": "+5511987654321"}`)
	p := hAssertProblem(t, w, 502, "delivery-failed")
	assert.NotContains(t, w.Body.String(), "provider down")
	assert.Empty(t, p.Errors)
	// No usable code was left behind.
	hAssertProblem(t, e.verify(hVerifyBody(hPhone, "123456")), 404, "not-found")
}

// hFailingStore fails every call, as a store that is down does.
type hFailingStore struct{}

var errHStoreDown = errors.New("dial tcp 10.0.0.1:6379: connection refused")

func (hFailingStore) PutCode(context.Context, store.Pair, store.Code, time.Duration) error {
	return errHStoreDown
}
func (hFailingStore) AttemptCode(context.Context, store.Pair, store.Budgets) (store.Attempt, error) {
	return store.Attempt{}, errHStoreDown
}
func (hFailingStore) ConsumeCode(context.Context, store.Pair, string) (bool, error) {
	return false, errHStoreDown
}
func (hFailingStore) CreateSession(context.Context, string, store.Session, time.Duration) error {
	return errHStoreDown
}
func (hFailingStore) GetSession(context.Context, string) (store.Session, bool, error) {
	return store.Session{}, false, errHStoreDown
}
func (hFailingStore) RevokeSession(context.Context, string) (bool, error) {
	return false, errHStoreDown
}
func (hFailingStore) UseSession(context.Context, string, string) (bool, error) {
	return false, errHStoreDown
}
func (hFailingStore) RevokeSessions(context.Context, store.LockScope, string) (int, error) {
	return 0, errHStoreDown
}
func (hFailingStore) CountSessions(context.Context, store.LockScope, string) (int, error) {
	return 0, errHStoreDown
}
func (hFailingStore) Status(context.Context, string) (store.Status, error) {
	return store.Status{}, errHStoreDown
}
func (hFailingStore) Unlock(context.Context, string, string) error { return errHStoreDown }
func (hFailingStore) Fail(context.Context, store.Pair, store.Budgets) (store.Lock, error) {
	return store.Lock{}, errHStoreDown
}
func (hFailingStore) Locked(context.Context, store.Pair) (store.Lock, error) {
	return store.Lock{}, errHStoreDown
}
func (hFailingStore) Succeed(context.Context, store.Pair) error { return errHStoreDown }
func (hFailingStore) Cooldown(context.Context, string, time.Duration) (bool, time.Duration, error) {
	return false, 0, errHStoreDown
}
func (hFailingStore) Hit(context.Context, string, int, time.Duration) (store.Window, error) {
	return store.Window{}, errHStoreDown
}
func (hFailingStore) Peek(context.Context, string, int) (store.Window, error) {
	return store.Window{}, errHStoreDown
}
func (hFailingStore) Refund(context.Context, string) error { return errHStoreDown }
func (hFailingStore) Take(context.Context, string, rate.Limit, int) (bool, time.Duration, error) {
	return false, 0, errHStoreDown
}

func TestOTPHandlersStoreDown(t *testing.T) {
	e := newHEnv(t, func(c *hConfig) { c.store = hFailingStore{} })
	for name, w := range map[string]*httptest.ResponseRecorder{
		"request": e.request(`{"identifier": "+5511987654321"}`),
		"verify":  e.verify(hVerifyBody(hPhone, "123456")),
	} {
		t.Run(name, func(t *testing.T) {
			p := hAssertProblem(t, w, 503, "service-unavailable")
			assert.NotContains(t, w.Body.String(), "connection refused")
			assert.Equal(t, "the service is temporarily unavailable; try again later", p.Detail)
		})
	}
	// Client mistakes found without the store are still 4xx. (A malformed
	// identifier is parsed after the integration's rate limit, which needs
	// the store.)
	hAssertProblem(t, e.request(`{}`), 400, "validation-error")
	hAssertProblem(t, e.verify(`{"identifier": "+5511987654321", "otp_code": "12"}`), 400, "validation-error")
	// The operator's log has the cause.
	assert.Contains(t, e.logs.String(), "connection refused")
}

func TestVerifyOTPProfileNotEncodable(t *testing.T) {
	e := newHEnv(t)
	require.Equal(t, http.StatusOK, e.request(`{"identifier": "broken@example.com"}`).Code)
	w := e.verify(hVerifyBody("broken@example.com", e.lastCode(t, "broken@example.com")))
	hAssertProblem(t, w, 503, "service-unavailable")
	assert.NotContains(t, w.Body.String(), "otp_session")
}

func TestOTPHandlersLogsHoldNoSecrets(t *testing.T) {
	e := newHEnv(t)
	require.Equal(t, http.StatusOK, e.request(`{"identifier": "+5511987654321"}`).Code)
	code := e.lastCode(t, hPhone)
	hAssertProblem(t, e.verify(hVerifyBody(hPhone, hWrongCode(code))), 401, "authentication-required")
	w := e.verify(hVerifyBody(hPhone, code))
	require.Equal(t, http.StatusOK, w.Code)
	var got struct {
		Data struct {
			Session string `json:"otp_session"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	require.NotEmpty(t, got.Data.Session)

	logs := e.logs.String()
	assert.Contains(t, logs, `"msg":"otp.request"`)
	assert.Contains(t, logs, `"outcome":"verified"`)
	assert.Contains(t, logs, `"outcome":"authentication-required"`)
	assert.NotContains(t, logs, code, "the code is in the logs")
	assert.NotContains(t, logs, hWrongCode(code), "a guessed code is in the logs")
	assert.NotContains(t, logs, got.Data.Session, "the session token is in the logs")
	assert.NotContains(t, logs, store.HashToken(got.Data.Session), "the token's hash is in the logs")
	assert.NotContains(t, logs, "98765", "the identifier is in the logs")
}

func TestOTPHandlersOverHTTP(t *testing.T) {
	e := newHEnv(t)
	auth, err := middleware.APIKeys(e.web, map[string]string{"zupy_pk_test_goomer_0001": hIntegration})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/api/v2/auth/request-otp/", auth(e.h.RequestOTP()))
	mux.Handle("/api/v2/auth/verify-otp/", auth(e.h.VerifyOTP()))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	post := func(path, key, body string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	resp := post("/api/v2/auth/request-otp/", "", `{"identifier": "+5511987654321"}`)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp = post("/api/v2/auth/request-otp/", "zupy_pk_test_goomer_0001", `{"identifier": "+5511987654321"}`+strings.Repeat(" ", 8<<10))
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)

	resp = post("/api/v2/auth/request-otp/", "zupy_pk_test_goomer_0001", `{"identifier": "+5511987654321"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp = post("/api/v2/auth/verify-otp/", "zupy_pk_test_goomer_0001", hVerifyBody(hPhone, e.lastCode(t, hPhone)))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"customer_id":"2awTHloSJX7kGGprFerOOsvABcd"`)
}

func TestNewConfig(t *testing.T) {
	svc := newHService(t)
	web, err := middleware.NewHTTP()
	require.NoError(t, err)
	tests := []struct {
		name string
		web  *middleware.HTTP
		svc  *otpcode.Service
		opts []otphttp.Option
	}{
		{"nil settings", nil, svc, nil},
		{"nil service", web, nil, nil},
		{"no scopes", web, svc, []otphttp.Option{otphttp.WithScopesAllowed()}},
		{"scope with space", web, svc, []otphttp.Option{otphttp.WithScopesAllowed("a b")}},
		{"nil channel policy", web, svc, []otphttp.Option{otphttp.WithChannelPolicy(nil)}},
		{"nil option", web, svc, []otphttp.Option{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := otphttp.New(tt.web, tt.svc, tt.opts...)
			assert.Nil(t, h)
			assert.ErrorIs(t, err, middleware.ErrInvalidConfig, "got %v, want ErrInvalidConfig", err)
		})
	}
}

// newHService returns a service over a memory store with default limits.
func newHService(t *testing.T) *otpcode.Service {
	t.Helper()
	ms := memory.New()
	t.Cleanup(ms.Close)
	keys, err := keyring.New(bytes.Repeat([]byte{1}, 32))
	require.NoError(t, err)
	chain, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: otpcode.NewDevSender(io.Discard)})
	require.NoError(t, err)
	svc, err := otpcode.NewService(ms, keys, chain)
	require.NoError(t, err)
	return svc
}

func TestOTPHandlersOptions(t *testing.T) {
	t.Run("integration func and body limit", func(t *testing.T) {
		e := newHEnv(t, func(c *hConfig) {
			c.web = append(c.web,
				middleware.WithIntegrationFunc(func(r *http.Request) (string, bool) {
					id := r.Header.Get("X-Test-Integration")
					return id, id != ""
				}),
				middleware.WithBodyLimit(64),
			)
		})
		// The context's integration is ignored in favour of the function.
		w := e.do(e.h.RequestOTP(), hRequest{body: `{"identifier":"+5511987654321"}`})
		hAssertProblem(t, w, 401, "authentication-required")

		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"identifier":"+5511987654321","locale":"`+strings.Repeat("a", 40)+`"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Test-Integration", "saipos")
		w = httptest.NewRecorder()
		e.h.RequestOTP().ServeHTTP(w, r)
		hAssertProblem(t, w, 413, "payload-too-large")
	})
	t.Run("channel policy forbids email", func(t *testing.T) {
		e := newHEnv(t, func(c *hConfig) {
			c.opts = append(c.opts, otphttp.WithChannelPolicy(func(integration string, ch otpcode.Channel) bool {
				return ch != otpcode.ChannelEmail || integration != hIntegration
			}))
		})
		p := hAssertProblem(t, e.request(`{"identifier":"+5511987654321","channel":"email"}`), 400, "validation-error")
		assert.Equal(t, []string{"not_permitted"}, p.Errors["channel"])
		// A customer reachable only by email cannot get a code at all.
		p = hAssertProblem(t, e.request(`{"identifier":"broken@example.com"}`), 400, "validation-error")
		assert.Equal(t, []string{"not_permitted"}, p.Errors["channel"])
		// WhatsApp is still allowed.
		assert.Equal(t, http.StatusOK, e.request(`{"identifier":"+5511987654321"}`).Code)
	})
}
