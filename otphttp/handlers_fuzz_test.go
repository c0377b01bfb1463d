package otphttp_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otphttp"
	"github.com/otpguard/otpguard/store/memory"
)

// FuzzOTPHandlers sends arbitrary bodies and content types to both handlers
// of a real service over the memory store, with a working dev sender. No
// input may cause a panic or a 5xx, and every answer must be a well-formed
// JSON document of the right media type.
func FuzzOTPHandlers(f *testing.F) {
	seeds := []struct {
		body, ctype string
		verify      bool
	}{
		{`{"identifier": "+5511987654321"}`, "application/json", false},
		{`{"identifier": "maria@example.com", "channel": "email", "purpose": "login", "locale": "pt-BR"}`, "application/json; charset=utf-8", false},
		{`{"identifier": "529.982.247-25"}`, "application/json", false},
		{`{"identifier": "+5511987654321", "otp_code": "123456"}`, "application/json", true},
		{`{"identifier": "+5511987654321", "otp_code": "123456", "scope": "redeem_reward use_coupon", "purpose": "x"}`, "application/json", true},
		{`{"identifier": null, "otp_code": 1}`, "application/json", true},
		{`{"identifier": "+55"}{}`, "application/json", false},
		{`[1,2,3]`, "application/json", true},
		{"\xff\xfe{", "application/json", false},
		{`{"identifier": "\u0000"}`, "application/json", false},
		{`{"identifier": "+5511987654321"}`, "text/plain", false},
		{`{"identifier": "+5511987654321"}`, "application/json; =", true},
		{``, "", false},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.ctype, s.verify)
	}

	svc := fuzzService(f, hMariaDirectory(), otpcode.ChannelWhatsApp)
	web, err := middleware.NewHTTP(middleware.WithProblemBase(hBase))
	if err != nil {
		f.Fatal(err)
	}
	h, err := otphttp.New(web, svc)
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte, ctype string, verify bool) {
		w := fuzzServe(t, h, body, ctype, verify)
		wantType := "application/problem+json"
		if w.Code == http.StatusOK {
			wantType = "application/json"
		}
		if got := w.Header().Get("Content-Type"); got != wantType {
			t.Fatalf("got Content-Type %q, want %q (status %d)", got, wantType, w.Code)
		}
	})
}

// fuzzService returns a service for the fuzz tests over a memory store on a
// fixed clock, with dir, delivering to a dev sender on phone and on email,
// and limits that no fuzzing run reaches.
func fuzzService(f *testing.F, dir otpcode.Directory, phone otpcode.Channel) *otpcode.Service {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ms := memory.New(memory.WithClock(clock))
	f.Cleanup(ms.Close)
	keys, err := keyring.New(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		f.Fatal(err)
	}
	dev := otpcode.NewDevSender(io.Discard)
	chain, err := otpcode.NewChain(
		otpcode.Route{Channel: phone, Sender: dev},
		otpcode.Route{Channel: otpcode.ChannelEmail, Sender: dev},
	)
	if err != nil {
		f.Fatal(err)
	}
	limits := otpcode.DefaultLimits()
	limits.IntegrationRate, limits.IntegrationBurst = 1e9, 1e6
	svc, err := otpcode.NewService(ms, keys, chain,
		otpcode.WithLimits(limits), otpcode.WithDirectory(dir), otpcode.WithClock(clock))
	if err != nil {
		f.Fatal(err)
	}
	return svc
}

// fuzzServe posts body with Content-Type ctype to h's request or verify
// handler for hIntegration, and fails t on a 5xx or an answer that is not
// one JSON document.
func fuzzServe(t *testing.T, h *otphttp.Handlers, body []byte, ctype string, verify bool) *httptest.ResponseRecorder {
	handler := h.RequestOTP()
	if verify {
		handler = h.VerifyOTP()
	}
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", ctype)
	r = r.WithContext(middleware.WithIntegration(r.Context(), hIntegration))
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	if w.Code >= 500 {
		t.Fatalf("got status %d, want < 500; body %s", w.Code, w.Body.String())
	}
	if !json.Valid(w.Body.Bytes()) {
		t.Fatalf("got invalid JSON %q", w.Body.String())
	}
	return w
}
