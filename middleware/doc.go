// Package middleware puts customer OTP verification in front of net/http
// handlers: the guard that decides and enforces, the HTTP settings every
// HTTP-facing piece of otpguard shares (NewHTTP), partner authentication by
// API key, where each route finds its customer (CustomerSource), and RFC
// 9457 problem responses.
//
// It is light on purpose: it parses no identifiers and sends nothing, so a
// program that only guards routes links no phone-number metadata, mail
// client or sender. The OTP flow's endpoints that issue sessions live in
// package otphttp.
//
// The guard reports its decisions through OpenTelemetry (the metric
// otpguard_guard_decisions, a span "otpguard.guard" per decision) and its
// integrity failures through the event hook of a telemetry.Telemetry set
// with WithTelemetry; package telemetry documents both.
//
// A typical set-up:
//
//	web, err := middleware.NewHTTP(middleware.WithProblemBase("https://api.example.com/errors/"), middleware.WithTelemetry(tel))
//	auth, err := middleware.APIKeys(web, keys)
//	guard, err := middleware.NewGuard(web,
//		middleware.WithPolicies(policies),
//		middleware.WithSessions(st),
//		middleware.WithCustomer(middleware.CustomerFromPath("id")),
//	)
//	mux.Handle("POST /customers/{id}/rewards/{rid}/redeem/", auth(guard.Require(policy.RedeemReward)(redeem)))
package middleware
