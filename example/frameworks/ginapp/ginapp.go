// Package ginapp is the gin recipe: otpguard's API-key middleware, OTP
// handlers and guard on a github.com/gin-gonic/gin engine, through Wrap,
// the adapter from net/http middleware to gin middleware.
package ginapp

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otphttp"
	"github.com/otpguard/otpguard/policy"
)

// New returns a gin engine that serves request-otp and verify-otp and one
// guarded route, POST /api/v2/customers/:id/rewards/:rid/redeem/, served by
// redeem. auth, otp and guard are built over one middleware.HTTP as in
// example/hostapp; guard finds the customer with
// middleware.CustomerFromPath("id"), by default (WithCustomer) or per route,
// which Wrap makes read gin's :id. Inside redeem,
// middleware.SessionFrom(c.Request.Context()) returns the session the guard
// accepted.
func New(auth func(http.Handler) http.Handler, otp *otphttp.Handlers, guard *middleware.Guard, redeem gin.HandlerFunc) *gin.Engine {
	// README:begin gin
	r := gin.New()
	r.Use(Wrap(auth))
	r.POST("/api/v2/auth/request-otp/", gin.WrapH(otp.RequestOTP()))
	r.POST("/api/v2/auth/verify-otp/", gin.WrapH(otp.VerifyOTP()))
	r.POST("/api/v2/customers/:id/rewards/:rid/redeem/",
		Wrap(guard.Require(policy.RedeemReward)), redeem)
	// README:end gin
	return r
}

// README:begin gin-wrap

// Wrap turns net/http middleware, such as auth or guard.Require(action),
// into gin middleware. It copies gin's path parameters into the request's
// path values, where middleware.CustomerFromPath finds them; runs the rest
// of gin's chain with the request mw passes on, whose context carries the
// OTP session; and stops the chain when mw answers the request itself. The
// chain keeps writing to c.Writer, which suits middleware that passes on the
// writer it got, as otpguard's does.
func Wrap(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		for _, p := range c.Params {
			c.Request.SetPathValue(p.Key, p.Value)
		}
		passed := false
		mw(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			passed = true
			c.Request = r
			c.Next()
		})).ServeHTTP(c.Writer, c.Request)
		if !passed {
			c.Abort()
		}
	}
}

// README:end gin-wrap
