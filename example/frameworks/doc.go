// Package frameworks holds otpguard's recipes for web frameworks: the
// API-key middleware, the OTP handlers and the guard that example/hostapp
// mounts on net/http's ServeMux, mounted instead on chi (package chiapp),
// gin (package ginapp) and echo (package echoapp). It is a module of its
// own, so that the library's go.mod never gains a framework as a
// dependency; a replace directive builds it against the working tree.
//
// The guard finds a route's customer with middleware.CustomerFromPath,
// which reads r.PathValue. chi (v5.0.12 or later) sets path values itself,
// so its recipe needs no adapter. gin and echo keep their parameters in
// their own contexts: their recipes each have a Wrap that turns net/http
// middleware into the framework's, copying the parameters into the request
// with r.SetPathValue first, and handing the framework's next handler the
// request the middleware passed on, whose context carries the OTP session
// (middleware.SessionFrom).
//
// Each recipe's test walks request-otp, verify-otp and a guarded redeem
// through its router, and checks the refusals (no API key, no session,
// another customer's session). A test here fails when README.md's
// framework blocks and the recipes drift apart.
//
//	cd example/frameworks
//	go test -race ./...
package frameworks
