// Package telemetry says where otpguard reports — OpenTelemetry metrics
// and traces, and an event hook for alerts — and documents everything it
// reports.
//
// Build one Telemetry at start-up and hand it to both halves of otpguard:
//
//	tel, err := telemetry.New(
//		telemetry.WithMeterProvider(meterProvider),
//		telemetry.WithTracerProvider(tracerProvider),
//		telemetry.WithEvents(alert),
//	)
//	svc, err := otpcode.NewService(st, keys, chain, otpcode.WithTelemetry(tel))
//	web, err := middleware.NewHTTP(middleware.WithTelemetry(tel))
//
// otpguard uses the OpenTelemetry API packages only; the host links the SDK
// and the exporters it chooses. Without a provider (the default, or a
// no-op provider) otpguard creates no instrument and starts no span: it
// pays nothing, and the guard's paths allocate nothing more. Passing
// otel.GetMeterProvider() and otel.GetTracerProvider() reports through the
// global providers, which the host may set later; until it does, their
// delegates cost a little per request (an atomic load per measurement, an
// allocation per span).
//
// # Metrics
//
// Every instrument belongs to the meter "github.com/otpguard/otpguard".
// Their labels are bounded enumerations: never a customer, an
// identifier, a token, an integration or any free text. The Prometheus
// exporter adds _total to counters and the unit to the histogram.
//
//	otpguard_codes_sent {code}, counter; labels channel, outcome
//	    One per delivery attempt of a code. channel: whatsapp or email.
//	    outcome: sent (the channel delivered), fell_back (it failed and
//	    the next channel was tried), failed (it failed and no channel was
//	    left: the request failed with otpcode.ErrDelivery).
//	otpguard_delivery_duration s, histogram; label channel
//	    The time a channel's sender took per attempt, failed ones included.
//	    Buckets from 25 ms to 30 s.
//	otpguard_verifications {verification}, counter; label outcome
//	    One per otpcode.Service.Verify that reached the code: verified,
//	    wrong_code, expired, not_found (no code outstanding, or a parallel
//	    verification took it), burned (the code's attempts ran out), locked
//	    (a lock or the integration's breaker refused it unjudged). A wrong
//	    or expired code that sets a lock counts as wrong_code or expired,
//	    and the lock in otpguard_locks. Malformed input and the
//	    integration's rate are not counted here.
//	otpguard_locks {lock}, counter; label scope
//	    Locks set by wrong codes: integration-customer (the pair),
//	    customer (every integration), integration (the integration's
//	    breaker tripped) — store.LockScope's names.
//	otpguard_rate_limit_refusals {refusal}, counter; label limit
//	    One per request or verification refused by a limit (an HTTP 429):
//	    integration_rate, cooldown, pair_sends, customer_sends,
//	    integration_sends, pair_lock, customer_lock, breaker, attempts.
//	otpguard_guard_decisions {decision}, counter; labels action, outcome, reason
//	    One per request the guard decided. action: the guarded action.
//	    outcome: allowed, denied, error. reason: for allowed, the policy
//	    decision's reason (never, trusted_partner,
//	    require_otp_for_enrollment, require_otp_for_redemption,
//	    require_otp_for_coupon_usage, unknown_action); for denied,
//	    no_integration, no_session, invalid, expired, wrong_integration,
//	    no_customer, wrong_customer, scope, stale, used, forged; for error,
//	    policy_error or store_error.
//	otpguard_store_errors {error}, counter; label operation
//	    Failed store calls of the service and the guard, by store method
//	    (PutCode, AttemptCode, GetSession, Hit, ...).
//
// # Traces
//
// Spans start from the caller's context, so they nest under an HTTP
// server span such as otelhttp's. Every span belongs to the tracer
// "github.com/otpguard/otpguard".
//
//	otpguard.request   otpcode.Service.Request
//	otpguard.verify    otpcode.Service.Verify
//	otpguard.guard     one guard decision (it ends before the guarded handler runs)
//	otpguard.deliver   one delivery attempt, a child of otpguard.request
//	otpguard.store.M   one call of store method M (otpguard.store.GetSession, ...)
//
// Their attributes: otpguard.integration (request, verify, guard),
// otpguard.outcome (request: sent, refused, failed, error; verify: the
// verification outcome above, refused or error; guard: allowed, denied,
// error; deliver: sent), otpguard.reason and otpguard.action (guard),
// otpguard.limit (a refusal by a limit), otpguard.channel (request,
// deliver), otpguard.operation (store). A failure of otpguard's own — a
// store, a directory or a sender that failed — sets the span's status to
// Error and records an error with a fixed description and error.type, the
// failure's class (timeout, canceled, unavailable, other; retryable or
// permanent for a sender). The failure's own text is not recorded: it is
// not under otpguard's control (a directory's error may name a customer).
// A refusal (a wrong code, a limit, a denied request) is an outcome, not
// an error.
//
// # Events
//
// Every lock, unlock, revocation, breaker trip, delivery failure and
// integrity failure is an Event handed to the one hook set by WithEvents;
// see EventKind for each kind and the fields it sets. Events name the
// customer only by a pseudonymous reference (Event.Customer), the same
// that otphttp writes in its audit log as customer_ref.
package telemetry
