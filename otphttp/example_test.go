package otphttp_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otphttp"
	"github.com/otpguard/otpguard/store/memory"
)

// ExampleNew mounts request-otp and verify-otp behind API-key
// authentication and runs the first two steps of the OTP flow: request a
// code, read it from the development sender, verify it.
func ExampleNew() {
	st := memory.New()
	defer st.Close()

	pepper := make([]byte, 32)
	_, _ = rand.Read(pepper)
	keys, _ := keyring.New(pepper)

	// The development sender prints each code as a JSON line; here into a
	// buffer, so the example can read it back.
	var outbox bytes.Buffer
	chain, _ := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: otpcode.NewDevSender(&outbox)})
	svc, err := otpcode.NewService(st, keys, chain)
	if err != nil {
		fmt.Println(err)
		return
	}

	// One set of HTTP settings for every piece: here the problem base.
	web, err := middleware.NewHTTP(middleware.WithProblemBase("https://api.zupy.com/errors/"))
	if err != nil {
		fmt.Println(err)
		return
	}
	otp, err := otphttp.New(web, svc)
	if err != nil {
		fmt.Println(err)
		return
	}
	auth, err := middleware.APIKeys(web, map[string]string{"zupy_pk_test_goomer_0001": "goomer"})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("POST /api/v2/auth/request-otp/", auth(otp.RequestOTP()))
	mux.Handle("POST /api/v2/auth/verify-otp/", auth(otp.VerifyOTP()))

	post := func(path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("X-API-Key", "zupy_pk_test_goomer_0001")
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}

	w := post("/api/v2/auth/request-otp/", `{"identifier": "+5511987654321"}`)
	fmt.Print(w.Code, " ", w.Body.String())

	var sent struct{ Code string }
	_ = json.Unmarshal(outbox.Bytes(), &sent)
	w = post("/api/v2/auth/verify-otp/", `{"identifier": "+5511987654321", "otp_code": "`+sent.Code+`"}`)
	var verified struct {
		Data struct {
			CustomerID string `json:"customer_id"`
			IsNew      bool   `json:"is_new"`
			Session    string `json:"otp_session"`
			ExpiresIn  int    `json:"expires_in"`
		} `json:"data"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &verified)
	// Without a directory, the customer is the phone number itself, known to
	// the API only by its keyed pseudonym (22 characters).
	fmt.Println(w.Code, len(verified.Data.CustomerID), verified.Data.IsNew, len(verified.Data.Session), verified.Data.ExpiresIn)

	// The code is consumed: a second verification finds none.
	w = post("/api/v2/auth/verify-otp/", `{"identifier": "+5511987654321", "otp_code": "`+sent.Code+`"}`)
	fmt.Print(w.Code, " ", w.Body.String())

	// Output:
	// 200 {"data":{"status":"sent","channel":"whatsapp","expires_in":300},"meta":{}}
	// 200 22 false 64 1800
	// 404 {"type":"https://api.zupy.com/errors/not-found","title":"Not Found","status":404,"detail":"OTP was not requested for this identifier"}
}
