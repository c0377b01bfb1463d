package middleware_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
)

// This example guards a redemption route. Goomer is a relaxed integration,
// so redeeming a reward needs a verified OTP session: without one the guard
// answers the seed's 403; with one the route runs.
func ExampleGuard_Require() {
	strict, _ := policy.Preset(policy.Strict)
	relaxed, _ := policy.Preset(policy.Relaxed)
	policies, err := policy.NewStatic(strict, map[string]policy.Policy{"goomer": relaxed})
	if err != nil {
		panic(err)
	}
	sessions := memory.New()
	defer sessions.Close()

	guard, err := middleware.NewGuard(
		middleware.WithPolicies(policies),
		middleware.WithSessions(sessions),
		middleware.WithProblemBase("https://api.zupy.com/errors/"),
		middleware.WithCustomerFunc(func(r *http.Request) string { return r.PathValue("id") }),
	)
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("POST /api/v2/customers/{id}/rewards/{rid}/redeem/",
		guard.Require(policy.RedeemReward)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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

	// The verify-otp handler creates sessions like this one.
	const token = "Yx3kW0dQm7ZpL2vN8aRt5uE1sC4bH6gJ9fKoIqTwXyA"
	err = sessions.CreateSession(context.Background(), store.HashToken(token), store.Session{
		Integration: "goomer",
		CustomerID:  "cust-1",
		ExpiresAt:   time.Now().Add(30 * time.Minute),
	}, 30*time.Minute)
	if err != nil {
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
	guard, err := middleware.NewGuard(middleware.WithPolicies(policies), middleware.WithSessions(sessions))
	if err != nil {
		panic(err)
	}
	auth, err := middleware.APIKeys(map[string]string{"zupy_pk_test_saipos_0001": "saipos"})
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
