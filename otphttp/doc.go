// Package otphttp serves the OTP flow over HTTP: request-otp sends a
// customer a code, verify-otp checks it and returns the otp_session token
// that the guard (package middleware) accepts on actions that require OTP.
//
// It is the part of otpguard that parses identifiers and talks to senders,
// kept apart from the guard so that a program that only guards routes links
// none of it. Build the handlers with New over an otpcode.Service and the
// same middleware.HTTP settings as the guard and the API-key middleware, so
// the whole API answers under one problem base and logs to one place:
//
//	web, err := middleware.NewHTTP(middleware.WithProblemBase("https://api.example.com/errors/"))
//	auth, err := middleware.APIKeys(web, keys)
//	otp, err := otphttp.New(web, svc)
//	mux.Handle("/api/v2/auth/request-otp/", auth(otp.RequestOTP()))
//	mux.Handle("/api/v2/auth/verify-otp/", auth(otp.VerifyOTP()))
//
// See Handlers for the bodies, the answers and every error.
//
// The handlers speak Zupy's wire format unless WithContract chooses
// another: PayU returns PayU's partner contract (form bodies with keys such
// as otp[identity], 422 answers with errors, messages and additional_data,
// an OAuth-style token), over the same service, so that both contracts can
// be served side by side and share every code, lock and limit:
//
//	payu, err := otphttp.New(web, svc, otphttp.WithContract(otphttp.PayU(otphttp.PayUConfig{
//		Types: []string{"SignIn", "SignUp"},
//	})))
//	bearer, err := middleware.APIKeys(web, keys, middleware.WithBearer(),
//		middleware.WithUnauthorizedHandler(otphttp.PayUUnauthorized))
//	mux.Handle("/api/v1/otps/send_otp", bearer.Require("otp")(payu.RequestOTP()))
//	mux.Handle("/api/v1/otps/verify_otp", bearer.Require("otp")(payu.VerifyOTP()))
package otphttp
