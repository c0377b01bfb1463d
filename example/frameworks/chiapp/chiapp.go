// Package chiapp is the chi recipe: otpguard's API-key middleware, OTP
// handlers and guard on a github.com/go-chi/chi/v5 router.
//
// chi (v5.0.12 or later) copies its URL parameters into the request's path
// values when it routes, so middleware.CustomerFromPath("id") reads chi's
// {id} and no adapter is needed. The guard must therefore run after
// routing: put it on the route (With, Group), not in Use of a router whose
// own routes declare the parameter.
package chiapp

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otphttp"
	"github.com/otpguard/otpguard/policy"
)

// New returns a chi router that serves request-otp and verify-otp and one
// guarded route, POST /api/v2/customers/{id}/rewards/{rid}/redeem/, served
// by redeem. auth, otp and guard are built over one middleware.HTTP as in
// example/hostapp; guard finds the customer with
// middleware.CustomerFromPath("id"), by default (WithCustomer) or per route.
// Inside redeem, middleware.SessionFrom(r.Context()) returns the session the
// guard accepted.
func New(auth func(http.Handler) http.Handler, otp *otphttp.Handlers, guard *middleware.Guard, redeem http.HandlerFunc) *chi.Mux {
	// README:begin chi
	r := chi.NewRouter()
	r.Use(auth)
	r.Method(http.MethodPost, "/api/v2/auth/request-otp/", otp.RequestOTP())
	r.Method(http.MethodPost, "/api/v2/auth/verify-otp/", otp.VerifyOTP())
	// On the route, not in r.Use: chi sets {id} as a path value when it routes.
	r.With(guard.Require(policy.RedeemReward)).
		Post("/api/v2/customers/{id}/rewards/{rid}/redeem/", redeem)
	// README:end chi
	return r
}
