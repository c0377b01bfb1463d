package otphttp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otphttp"
	"github.com/otpguard/otpguard/store/memory"
)

// merchants is a directory of one merchant, found by phone number.
type merchants map[string]otpcode.Customer

func (m merchants) Lookup(_ context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	c, ok := m[id.Value]
	return c, ok, nil
}

func (m merchants) Resolve(ctx context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	return m.Lookup(ctx, id)
}

// ExamplePayU serves PayU's Send OTP and Verify OTP APIs: form bodies with
// bracketed keys, identities of region IN, the partner's key as a bearer
// credential with the "otp" scope, and PayU's answers.
func ExamplePayU() {
	st := memory.New()
	defer st.Close()
	pepper := make([]byte, 32)
	_, _ = rand.Read(pepper)
	keys, _ := keyring.New(pepper)

	var outbox bytes.Buffer
	chain, _ := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelSMS, Sender: otpcode.NewDevSender(&outbox)})
	users := merchants{"+919044155723": {
		ID:       "11ea-bf7f-3063406a-85a0-02f413145cce",
		Contacts: otpcode.Contacts{Phone: "+919044155723"},
		Profile:  map[string]any{"mid": "7060011"},
	}}
	svc, err := otpcode.NewService(st, keys, chain, otpcode.WithDirectory(users))
	if err != nil {
		fmt.Println(err)
		return
	}
	web, _ := middleware.NewHTTP()
	payu, err := otphttp.New(web, svc, otphttp.WithContract(otphttp.PayU(otphttp.PayUConfig{
		Types: []string{"SignIn", "SignUp"},
		Users: users,
	})))
	if err != nil {
		fmt.Println(err)
		return
	}
	auth, err := middleware.APIKeys(web, []middleware.APIKey{
		{Key: "payu_partner_key_0001", Integration: "partner", Scopes: []string{"otp"}},
		{Key: "payu_reports_key_0001", Integration: "reports", Scopes: []string{"reports"}},
	}, middleware.WithBearer(), middleware.WithUnauthorizedHandler(otphttp.PayUUnauthorized))
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/otps/send_otp", auth.Require("otp")(payu.RequestOTP()))
	mux.Handle("POST /api/v1/otps/verify_otp", auth.Require("otp")(payu.VerifyOTP()))

	post := func(path, key string, form url.Values) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
		r.Header.Set("Authorization", "Bearer "+key)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}

	w := post("/api/v1/otps/send_otp", "payu_partner_key_0001", url.Values{"otp[identity]": {"9044155723"}, "otp[type]": {"SignIn"}})
	var sent struct {
		Data struct {
			Attributes struct{ Payload map[string][]string }
		}
	}
	_ = json.Unmarshal(w.Body.Bytes(), &sent)
	fmt.Println(w.Code, sent.Data.Attributes.Payload)

	var code struct{ Code string }
	_ = json.Unmarshal(outbox.Bytes(), &code)
	w = post("/api/v1/otps/verify_otp", "payu_partner_key_0001", url.Values{
		"otp[identity]": {"9044155723"}, "otp[code]": {code.Code}, "otp[type]": {"SignIn"}})
	var token struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		MID         string `json:"mid"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &token)
	fmt.Println(w.Code, token.AccessToken != "", token.TokenType, token.ExpiresIn, token.MID)

	w = post("/api/v1/otps/verify_otp", "payu_partner_key_0001", url.Values{
		"otp[identity]": {"9044199921"}, "otp[code]": {"123456"}, "otp[type]": {"SignIn"}})
	fmt.Print(w.Code, " ", w.Body.String())
	w = post("/api/v1/otps/send_otp", "payu_partner_key_0001", url.Values{"otp[identity]": {"9044155723"}, "otp[type]": {"SignInas"}})
	fmt.Print(w.Code, " ", w.Body.String())
	w = post("/api/v1/otps/send_otp", "payu_reports_key_0001", url.Values{"otp[identity]": {"9044155723"}, "otp[type]": {"SignIn"}})
	fmt.Print(w.Code, " ", w.Body.String())

	// Output:
	// 200 map[sms:[90xxxxxx23]]
	// 200 true Bearer 1800 7060011
	// 422 {"errors":{"user":["not_found"]},"messages":{"user":"User not found"},"additional_data":{"user":{"search_term":"9044199921"}}}
	// 422 {"errors":{"type":["invalid"]},"messages":{"type":"Type has invalid value"},"additional_data":{"type":{"value":"SignInas"}}}
	// 401 {"status":"Unauthorized"}
}
