package middleware

import (
	"context"
	"errors"
	"strings"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/otpguard/otpguard/internal/instrument"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/telemetry"
)

// WithTelemetry sets where the guard reports: the metric
// otpguard_guard_decisions, a span "otpguard.guard" per decision with a
// child span per session-store call, otpguard_store_errors, and the event
// telemetry.EventIntegrityFailure (see package telemetry). Hand the OTP
// service the same value (otpcode.WithTelemetry), so that everything
// reports to one place. Default: nil, nothing reported and no cost: the
// guard's paths allocate nothing more than without it.
func WithTelemetry(t *telemetry.Telemetry) HTTPOption {
	return func(h *HTTP) error {
		if t == nil {
			return errors.New("nil telemetry")
		}
		h.telemetry = t
		return nil
	}
}

// guardObs is what a guard reports through, built by NewGuard; nil when
// it reports neither metrics nor spans.
type guardObs struct {
	tracer    trace.Tracer        // nil: no spans
	decisions metric.Int64Counter // nil: no metrics
}

// newGuardObs builds the guard's reporting and wraps its session store.
func newGuardObs(g *Guard) error {
	tracer := instrument.Tracer(g.web.telemetry)
	m := instrument.Meter(g.web.telemetry)
	if tracer == nil && m == nil {
		return nil
	}
	o := &guardObs{tracer: tracer}
	var err error
	if o.decisions, err = instrument.Counter(m, instrument.GuardDecisions, "{decision}",
		"Decisions of the guard, by action, outcome (allowed, denied, error) and reason."); err != nil {
		return err
	}
	if g.sessions, err = instrument.Sessions(g.sessions, tracer, m); err != nil {
		return err
	}
	g.obs = o
	return nil
}

// denyReasons are the reasons of a refusal, in the order of denyNames.
var denyReasons = [...]error{
	ErrNoIntegration, ErrNoSession, ErrSessionInvalid, ErrSessionExpired, ErrWrongIntegration,
	ErrNoCustomer, ErrWrongCustomer, ErrScope, ErrSessionStale, ErrSessionUsed, ErrSessionForged,
}

// denyNames are the reason labels of denyReasons.
var denyNames = [len(denyReasons)]string{
	"no_integration", "no_session", "invalid", "expired", "wrong_integration",
	"no_customer", "wrong_customer", "scope", "stale", "used", "forged",
}

// denyIndex returns the index of reason in denyReasons.
func denyIndex(reason error) int {
	for i, r := range denyReasons {
		if reason == r {
			return i
		}
	}
	for i, r := range denyReasons {
		if errors.Is(reason, r) {
			return i
		}
	}
	return errorStore // unreachable: the guard refuses for these reasons only
}

// Reasons of the outcome "error", indexes of routeObs.errorOpts.
const (
	errorPolicy = iota
	errorStore
	numErrors
)

var errorNames = [numErrors]string{"policy_error", "store_error"}

// numDecisionReasons bounds the policy reasons labelled by name; any later
// one is labelled "other".
const numDecisionReasons = int(policy.ReasonTrustedPartner) + 1

// routeObs is a guarded route's reporting: the guard's instruments and
// every attribute set the route can report, built once by Middleware.
type routeObs struct {
	*guardObs
	spanStart   []trace.SpanStartOption
	allowedOpts [numDecisionReasons + 1][]metric.AddOption // the last: "other"
	deniedOpts  [len(denyReasons)][]metric.AddOption
	errorOpts   [numErrors][]metric.AddOption
}

// newRouteObs returns the reporting of the route of action a, nil when the
// guard reports nothing.
func newRouteObs(o *guardObs, a policy.Action) *routeObs {
	if o == nil {
		return nil
	}
	ro := &routeObs{
		guardObs:  o,
		spanStart: []trace.SpanStartOption{trace.WithAttributes(instrument.SpanAction.String(string(a)))},
	}
	if o.decisions == nil {
		return ro
	}
	action := instrument.KeyAction.String(string(a))
	for i, name := range allowedNames {
		ro.allowedOpts[i] = instrument.AddOptions(action, instrument.KeyOutcome.String(outcomeAllowed), instrument.KeyReason.String(name))
	}
	for i, name := range denyNames {
		ro.deniedOpts[i] = instrument.AddOptions(action, instrument.KeyOutcome.String(outcomeDenied), instrument.KeyReason.String(name))
	}
	for i, name := range errorNames {
		ro.errorOpts[i] = instrument.AddOptions(action, instrument.KeyOutcome.String(outcomeError), instrument.KeyReason.String(name))
	}
	return ro
}

// allowedNames are the reason labels of allowed decisions, by policy
// reason: its name with "_" for spaces ("require_otp_for_redemption",
// "never", "trusted_partner", "unknown_action"), and "other" last.
var allowedNames = func() (n [numDecisionReasons + 1]string) {
	for i := range numDecisionReasons {
		n[i] = strings.ReplaceAll(policy.Reason(i).String(), " ", "_")
	}
	n[numDecisionReasons] = "other"
	return n
}()

// start starts the decision's span, when tracing.
func (ro *routeObs) start(ctx context.Context) (context.Context, trace.Span) {
	if ro == nil || ro.tracer == nil {
		return ctx, nil
	}
	return ro.tracer.Start(ctx, instrument.SpanGuard, ro.spanStart...)
}

// decided reports a decision: outcome, and the index of its reason (the
// policy reason when allowed, in denyReasons when denied, an error index
// on error); cause is the failure of an error.
func (ro *routeObs) decided(ctx context.Context, span trace.Span, integration, outcome string, reason int, cause error) {
	if ro == nil {
		return
	}
	var opts []metric.AddOption
	var name string
	switch outcome {
	case outcomeAllowed:
		reason = min(reason, numDecisionReasons)
		opts, name = ro.allowedOpts[reason], allowedNames[reason]
	case outcomeDenied:
		opts, name = ro.deniedOpts[reason], denyNames[reason]
	default:
		opts, name = ro.errorOpts[reason], errorNames[reason]
	}
	if ro.decisions != nil {
		ro.decisions.Add(ctx, 1, opts...)
	}
	if span == nil {
		return
	}
	span.SetAttributes(
		instrument.SpanIntegration.String(integration),
		instrument.SpanOutcome.String(outcome),
		instrument.SpanReason.String(name),
	)
	if outcome == outcomeError {
		what := errAuditPolicySource
		if reason == errorStore {
			what = errAuditSessionStore
		}
		instrument.Fail(span, what, instrument.Class(cause))
	}
}

// emitIntegrityFailure hands the integrity failure to the event hook.
func (g *Guard) emitIntegrityFailure(ctx context.Context, integration string, d policy.Decision) {
	g.web.telemetry.Emit(ctx, telemetry.Event{Kind: telemetry.EventIntegrityFailure, Integration: integration, Action: string(d.Action)})
}
