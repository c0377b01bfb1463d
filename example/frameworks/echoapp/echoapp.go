// Package echoapp is the echo recipe: otpguard's API-key middleware, OTP
// handlers and guard on a github.com/labstack/echo/v4 server, through Wrap,
// the adapter from net/http middleware to echo middleware.
package echoapp

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otphttp"
	"github.com/otpguard/otpguard/policy"
)

// New returns an echo server that serves request-otp and verify-otp and one
// guarded route, POST /api/v2/customers/:id/rewards/:rid/redeem/, served by
// redeem. auth, otp and guard are built over one middleware.HTTP as in
// example/hostapp; guard finds the customer with
// middleware.CustomerFromPath("id"), by default (WithCustomer) or per route,
// which Wrap makes read echo's :id. Inside redeem,
// middleware.SessionFrom(c.Request().Context()) returns the session the
// guard accepted.
func New(auth func(http.Handler) http.Handler, otp *otphttp.Handlers, guard *middleware.Guard, redeem echo.HandlerFunc) *echo.Echo {
	// README:begin echo
	e := echo.New()
	e.Use(Wrap(auth))
	e.POST("/api/v2/auth/request-otp/", echo.WrapHandler(otp.RequestOTP()))
	e.POST("/api/v2/auth/verify-otp/", echo.WrapHandler(otp.VerifyOTP()))
	e.POST("/api/v2/customers/:id/rewards/:rid/redeem/", redeem,
		Wrap(guard.Require(policy.RedeemReward)))
	// README:end echo
	return e
}

// README:begin echo-wrap

// Wrap turns net/http middleware, such as auth or guard.Require(action),
// into echo middleware. It copies echo's path parameters into the request's
// path values, where middleware.CustomerFromPath finds them, then runs mw
// as echo.WrapMiddleware does: the next handler sees, as c.Request(), the
// request mw passes on, whose context carries the OTP session.
func Wrap(mw func(http.Handler) http.Handler) echo.MiddlewareFunc {
	wrapped := echo.WrapMiddleware(mw)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := wrapped(next)
		return func(c echo.Context) error {
			values := c.ParamValues()
			for i, name := range c.ParamNames() {
				c.Request().SetPathValue(name, values[i])
			}
			return h(c)
		}
	}
}

// README:end echo-wrap
