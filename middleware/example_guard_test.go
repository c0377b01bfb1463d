package middleware_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
)

// This example guards a redemption route. Goomer is a relaxed integration,
// so redeeming a reward needs a verified OTP session: without one the guard
// answers the seed's 403; with one the route runs. The route binds sessions
// to the customer in its path, so a session verified for one customer does
// not redeem for another.
func ExampleGuard_Require() {
	strict, _ := policy.Preset(policy.Strict)
	relaxed, _ := policy.Preset(policy.Relaxed)
	policies, err := policy.NewStatic(strict, map[string]policy.Policy{"goomer": relaxed})
	if err != nil {
		panic(err)
	}
	sessions := memory.New()
	defer sessions.Close()
	// The keys the OTP service seals its sessions with (in production, the
	// pepper: the same keyring the otpcode.Service is built with).
	keys, err := keyring.New(bytes.Repeat([]byte{0x5a}, keyring.MinKeyBytes))
	if err != nil {
		panic(err)
	}

	// One set of HTTP settings for every otpguard piece of the API.
	web, err := middleware.NewHTTP(middleware.WithProblemBase("https://api.zupy.com/errors/"))
	if err != nil {
		panic(err)
	}
	guard, err := middleware.NewGuard(web,
		middleware.WithPolicies(policies),
		middleware.WithSessions(sessions),
		middleware.WithSessionKeys(keys),
	)
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("POST /api/v2/customers/{id}/rewards/{rid}/redeem/",
		guard.Require(policy.RedeemReward, middleware.CustomerFromPath("id"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, _ := middleware.SessionFrom(r.Context())
			fmt.Fprintf(w, "redeemed %s for %s\n", r.PathValue("rid"), s.CustomerID)
		})))

	call := func(session string) {
		req := httptest.NewRequest(http.MethodPost, "/api/v2/customers/cust-1/rewards/r-9/redeem/", nil)
		// APIKeys normally puts the integration in the context.
		req = req.WithContext(middleware.WithIntegration(req.Context(), "goomer"))
		if session != "" {
			req.Header.Set(middleware.SessionHeader, session)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}

	call("")

	// The verify-otp handler creates sessions like this one: a token of
	// random bytes signed with the keys, and a record sealed with them
	// under the hash of the token.
	var random [store.TokenRandomBytes]byte
	if _, err := rand.Read(random[:]); err != nil {
		panic(err)
	}
	token := store.SignToken(keys, &random)
	s := store.Session{
		Integration: "goomer",
		CustomerID:  "cust-1",
		ExpiresAt:   time.Now().Add(30 * time.Minute),
	}
	store.Seal(keys, store.HashToken(token), &s)
	if err := sessions.CreateSession(context.Background(), store.HashToken(token), s, 30*time.Minute); err != nil {
		panic(err)
	}
	call(token)
	// Output:
	// 403 {"type":"https://api.zupy.com/errors/otp-required","title":"OTP Required","status":403,"detail":"Customer OTP verification required for this action"}
	// 200 redeemed r-9 for cust-1
}

// This example mounts API-key authentication in front of a plain mux whose
// routes are guarded per action. Searching customers never needs OTP;
// enrolling one does under the default strict policy.
func ExampleAPIKeys() {
	strict, _ := policy.Preset(policy.Strict)
	policies, err := policy.NewStatic(strict, nil)
	if err != nil {
		panic(err)
	}
	sessions := memory.New()
	defer sessions.Close()
	web, err := middleware.NewHTTP()
	if err != nil {
		panic(err)
	}
	keys, err := keyring.New(bytes.Repeat([]byte{0x5a}, keyring.MinKeyBytes))
	if err != nil {
		panic(err)
	}
	guard, err := middleware.NewGuard(web, middleware.WithPolicies(policies), middleware.WithSessions(sessions), middleware.WithSessionKeys(keys))
	if err != nil {
		panic(err)
	}
	auth, err := middleware.APIKeys(web, map[string]string{"zupy_pk_test_saipos_0001": "saipos"})
	if err != nil {
		panic(err)
	}

	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		integration, _ := middleware.IntegrationFrom(r.Context())
		fmt.Fprintf(w, "hello %s\n", integration)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /api/v2/customers/", guard.Require(policy.SearchCustomers)(ok))
	mux.Handle("POST /api/v2/customers/", guard.Require(policy.EnrollCustomer)(ok))
	handler := auth(mux)

	for _, c := range []struct{ method, key string }{
		{http.MethodGet, ""},
		{http.MethodGet, "zupy_pk_test_saipos_0001"},
		{http.MethodPost, "zupy_pk_test_saipos_0001"},
	} {
		req := httptest.NewRequest(c.method, "/api/v2/customers/", nil)
		if c.key != "" {
			req.Header.Set("X-API-Key", c.key)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Print(c.method, " ", rec.Code, " ", rec.Body.String())
	}
	// Output:
	// GET 401 {"type":"about:blank#authentication-required","title":"Authentication Required","status":401,"detail":"a valid X-API-Key header is required"}
	// GET 200 hello saipos
	// POST 403 {"type":"about:blank#otp-required","title":"OTP Required","status":403,"detail":"Customer OTP verification required for this action"}
}

// This example binds a route's sessions to the customer named in its JSON
// body. The guard reads the body within the body limit of the shared
// settings and gives it back intact, so the handler decodes it as usual.
func ExampleCustomerFromJSON() {
	strict, _ := policy.Preset(policy.Strict)
	policies, err := policy.NewStatic(strict, nil)
	if err != nil {
		panic(err)
	}
	sessions := memory.New()
	defer sessions.Close()
	web, err := middleware.NewHTTP(middleware.WithBodyLimit(1 << 10))
	if err != nil {
		panic(err)
	}
	keys, err := keyring.New(bytes.Repeat([]byte{0x5a}, keyring.MinKeyBytes))
	if err != nil {
		panic(err)
	}
	guard, err := middleware.NewGuard(web, middleware.WithPolicies(policies), middleware.WithSessions(sessions), middleware.WithSessionKeys(keys))
	if err != nil {
		panic(err)
	}
	var random [store.TokenRandomBytes]byte
	if _, err := rand.Read(random[:]); err != nil {
		panic(err)
	}
	token := store.SignToken(keys, &random)
	s := store.Session{
		Integration: "saipos",
		CustomerID:  "cust-1",
		ExpiresAt:   time.Now().Add(30 * time.Minute),
	}
	store.Seal(keys, store.HashToken(token), &s)
	if err := sessions.CreateSession(context.Background(), store.HashToken(token), s, 30*time.Minute); err != nil {
		panic(err)
	}

	redeem := guard.Require(policy.RedeemReward, middleware.CustomerFromJSON("customer_id"))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				CustomerID string `json:"customer_id"`
				Reward     string `json:"reward"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, "redeemed %s for %s\n", body.Reward, body.CustomerID)
		}))

	for _, body := range []string{
		`{"customer_id":"cust-1","reward":"coffee"}`,
		`{"customer_id":"cust-2","reward":"coffee"}`,
		`{"reward":"coffee"}`,
	} {
		req := httptest.NewRequest(http.MethodPost, "/rewards/redeem", strings.NewReader(body))
		req = req.WithContext(middleware.WithIntegration(req.Context(), "saipos"))
		req.Header.Set(middleware.SessionHeader, token)
		rec := httptest.NewRecorder()
		redeem.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 200 redeemed coffee for cust-1
	// 403 {"type":"about:blank#otp-required","title":"OTP Required","status":403,"detail":"Customer OTP verification required for this action"}
	// 403 {"type":"about:blank#otp-required","title":"OTP Required","status":403,"detail":"Customer OTP verification required for this action"}
}
