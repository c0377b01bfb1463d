package guardtest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/middleware/guardtest"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store/memory"
)

// This example issues a session straight into the guard's store, without
// the code flow, and calls a guarded redemption route with it. Goomer is
// relaxed, so redeeming needs a session for the customer in the path.
func ExampleIssueSession() {
	strict, _ := policy.Preset(policy.Strict)
	relaxed, _ := policy.Preset(policy.Relaxed)
	policies, err := policy.NewStatic(strict, map[string]policy.Policy{"goomer": relaxed})
	if err != nil {
		panic(err)
	}
	sessions := memory.New()
	defer sessions.Close()
	// The guard's session keys: the keyring of the OTP service.
	keys, err := keyring.New(bytes.Repeat([]byte{0x5a}, keyring.MinKeyBytes))
	if err != nil {
		panic(err)
	}
	web, err := middleware.NewHTTP()
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
	auth, err := middleware.APIKeys(web, map[string]string{"zupy_pk_test_goomer_8d3e6b0c5a": "goomer"})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /customers/{id}/rewards/{rid}/redeem",
		guard.Require(policy.RedeemReward, middleware.CustomerFromPath("id"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "redeemed %s", r.PathValue("rid"))
		})))
	host := auth(mux)

	// In a test, guardtest.MustIssue(t, sessions, ...) does the same.
	token, err := guardtest.IssueSession(context.Background(), sessions, guardtest.Session{
		Integration: "goomer",
		CustomerID:  "cust-1",
		Keys:        keys,
	})
	if err != nil {
		panic(err)
	}

	for _, c := range []struct{ name, customer, token string }{
		{"no session", "cust-1", ""},
		{"session", "cust-1", token},
		{"another customer", "cust-2", token},
	} {
		req := guardtest.NewRequest(http.MethodPost, "/customers/"+c.customer+"/rewards/r-9/redeem", nil,
			guardtest.WithAPIKey("zupy_pk_test_goomer_8d3e6b0c5a"),
			guardtest.WithSession(c.token),
			guardtest.WithJSON(map[string]bool{"use_z_tokens": false}),
		)
		rec := guardtest.Serve(host, req)
		fmt.Printf("%-16s %d otp-required=%v\n", c.name, rec.Code, guardtest.IsOTPRequired(rec.Code, rec.Body.Bytes()))
	}
	// Output:
	// no session       403 otp-required=true
	// session          200 otp-required=false
	// another customer 403 otp-required=true
}

// This example checks a host's whole action matrix and prints a summary.
// The expectations come from the partners' policies: Repediu is trusted and
// Goomer relaxed, so only Goomer needs a session to redeem. In a test,
// guardtest.AssertMatrix(t, host, m) runs the same checks as subtests.
func ExampleCheckMatrix() {
	relaxed, _ := policy.Preset(policy.Relaxed)
	trusted, _ := policy.Preset(policy.Trusted)
	policies, err := policy.NewStatic(relaxed, map[string]policy.Policy{"repediu": trusted, "goomer": relaxed})
	if err != nil {
		panic(err)
	}
	sessions := memory.New()
	defer sessions.Close()
	// The guard's session keys: the keyring of the OTP service.
	keys, err := keyring.New(bytes.Repeat([]byte{0x5a}, keyring.MinKeyBytes))
	if err != nil {
		panic(err)
	}
	web, err := middleware.NewHTTP()
	if err != nil {
		panic(err)
	}
	guard, err := middleware.NewGuard(web,
		middleware.WithPolicies(policies),
		middleware.WithSessions(sessions),
		middleware.WithSessionKeys(keys),
		middleware.WithCustomer(middleware.CustomerFromPath("id")),
	)
	if err != nil {
		panic(err)
	}
	auth, err := middleware.APIKeys(web, map[string]string{
		"zupy_pk_test_repediu_4f9c2a7e1b": "repediu",
		"zupy_pk_test_goomer_8d3e6b0c5a":  "goomer",
	})
	if err != nil {
		panic(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("GET /customers/{id}/balance", guard.Require(policy.ViewBalance)(ok))
	mux.Handle("POST /customers/{id}/redeem", guard.Require(policy.RedeemReward)(ok))

	results, err := guardtest.CheckMatrix(auth(mux), guardtest.Matrix{
		Partners: []guardtest.Partner{
			{Name: "repediu", Integration: "repediu", APIKey: "zupy_pk_test_repediu_4f9c2a7e1b"},
			{Name: "goomer", Integration: "goomer", APIKey: "zupy_pk_test_goomer_8d3e6b0c5a"},
		},
		Routes: []guardtest.Route{
			{Name: "balance", Target: "/customers/cust-1/balance", Action: policy.ViewBalance, CustomerID: "cust-1"},
			{Name: "redeem", Method: http.MethodPost, Target: "/customers/cust-1/redeem", Action: policy.RedeemReward, CustomerID: "cust-1"},
		},
		Sessions:        sessions,
		Keys:            keys,
		Policies:        policies,
		OtherCustomerID: "cust-2",
	})
	if err != nil {
		panic(err)
	}
	for _, r := range results {
		fmt.Println(r)
	}
	fmt.Println("failures:", len(guardtest.Failures(results)))
	// Output:
	// ok   repediu/balance/without-session: got 200, want neither 401 nor 403
	// ok   repediu/balance/with-session: got 200, want neither 401 nor 403
	// ok   repediu/redeem/without-session: got 200, want neither 401 nor 403
	// ok   repediu/redeem/with-session: got 200, want neither 401 nor 403
	// ok   goomer/balance/without-session: got 200, want neither 401 nor 403
	// ok   goomer/balance/with-session: got 200, want neither 401 nor 403
	// ok   goomer/redeem/without-session: got 403 otp-required, want 403 otp-required
	// ok   goomer/redeem/other-customer: got 403 otp-required, want 403 otp-required
	// ok   goomer/redeem/with-session: got 200, want neither 401 nor 403
	// failures: 0
}
