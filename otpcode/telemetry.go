package otpcode

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/otpguard/otpguard/internal/instrument"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/telemetry"
)

// WithTelemetry sets where the service reports: the metrics, spans and
// events listed in package telemetry's documentation (codes sent, delivery
// time, verifications, locks, rate-limit refusals and store errors; a span
// per Request and Verify with child spans per store call and delivery
// attempt; the events locked, unlocked, revoked, breaker_tripped and
// delivery_failed). Hand the guard's HTTP settings the same value
// (middleware.WithTelemetry). Default: nil, nothing reported and no cost.
func WithTelemetry(t *telemetry.Telemetry) Option {
	return func(s *Service) error {
		if t == nil {
			return errors.New("otpcode: nil telemetry")
		}
		s.tel = t
		return nil
	}
}

// auditDomain is the domain of customer references in events and audit
// logs: a domain of its own, so that a reference links a customer's events
// to each other but not to the subject pseudonyms that key its records.
const auditDomain = "otpguard/audit/v1"

// customerRef returns the audit reference of subject.
func (s *Service) customerRef(subject string) string {
	return s.keys.Pseudonym(auditDomain, subject)
}

// refError is an error of the service about one customer, with the
// customer's audit reference.
type refError struct {
	err error
	ref string
}

func (e *refError) Error() string { return e.err.Error() }
func (e *refError) Unwrap() error { return e.err }

// CustomerRef returns the pseudonymous reference of the customer an error
// of Service.Request or Service.Verify concerns — the reference that
// telemetry.Event.Customer carries — or "" when the error came before the
// customer was known (a malformed identifier, the integration's rate). Audit
// logs use it to attribute failed verifications and locks without naming
// the customer.
func CustomerRef(err error) string {
	var re *refError
	if errors.As(err, &re) {
		return re.ref
	}
	return ""
}

// Verification outcomes (the outcome of otpguard_verifications).
type verifyOutcome uint8

const (
	verifyNone verifyOutcome = iota // not counted
	verifyVerified
	verifyWrongCode
	verifyExpired
	verifyNotFound
	verifyBurned
	verifyLocked
	numVerifyOutcomes
)

var verifyOutcomeNames = [numVerifyOutcomes]string{"", "verified", "wrong_code", "expired", "not_found", "burned", "locked"}

// Rate-limit refusals (the limit of otpguard_rate_limit_refusals).
type limitKind uint8

const (
	limitIntegrationRate limitKind = iota
	limitCooldown
	limitPairSends
	limitCustomerSends
	limitIntegrationSends
	limitPairLock
	limitCustomerLock
	limitBreaker
	limitAttempts
	numLimits
)

var limitNames = [numLimits]string{
	"integration_rate", "cooldown", "pair_sends", "customer_sends", "integration_sends",
	"pair_lock", "customer_lock", "breaker", "attempts",
}

// limitOfErr returns the limit that refused with err, if one did. finish
// calls it only for an error: the target errors.As takes escapes to the
// heap, and declared here it is allocated only then, not on every call.
func limitOfErr(err error) (limitKind, bool) {
	var le *LimitError
	if !errors.As(err, &le) {
		return 0, false
	}
	return limitOf(le)
}

// limitOf returns the limit that refused with le.
func limitOf(le *LimitError) (limitKind, bool) {
	switch {
	case errors.Is(le.Err, ErrRateLimited):
		return limitIntegrationRate, true
	case errors.Is(le.Err, ErrCooldown):
		return limitCooldown, true
	case errors.Is(le.Err, ErrTooManyAttempts):
		return limitAttempts, true
	case errors.Is(le.Err, ErrSendLimit):
		switch le.Scope {
		case store.ScopeCustomer:
			return limitCustomerSends, true
		case store.ScopeIntegration:
			return limitIntegrationSends, true
		}
		return limitPairSends, true
	case errors.Is(le.Err, ErrLocked):
		switch le.Scope {
		case store.ScopeCustomer:
			return limitCustomerLock, true
		case store.ScopeIntegration:
			return limitBreaker, true
		}
		return limitPairLock, true
	}
	return 0, false
}

// Delivery outcomes (the outcome of otpguard_codes_sent).
type sendOutcome uint8

const (
	sendSent sendOutcome = iota
	sendFailed
	sendFellBack
	numSendOutcomes
)

var sendOutcomeNames = [numSendOutcomes]string{"sent", "failed", "fell_back"}

// observer holds what the service reports through, built once by
// NewService; every measurement's attributes are built here, so measuring
// allocates nothing. The zero observer reports nothing.
type observer struct {
	tel    *telemetry.Telemetry
	tracer trace.Tracer // nil: no spans
	on     bool         // metrics (the instruments below are set)

	codesSent        metric.Int64Counter
	deliveryDuration metric.Float64Histogram
	verifications    metric.Int64Counter
	locks            metric.Int64Counter
	refusals         metric.Int64Counter

	// By route of the service's chain.
	sentOpts     [][numSendOutcomes][]metric.AddOption
	durationOpts [][]metric.RecordOption
	verifyOpts   [numVerifyOutcomes][]metric.AddOption
	lockOpts     [store.ScopeIntegration + 1][]metric.AddOption
	limitOpts    [numLimits][]metric.AddOption
}

// reporting reports whether o reports anything: spans, metrics or events.
func (o *observer) reporting() bool { return o.tracer != nil || o.on || o.tel.HasEvents() }

// newObserver builds the observer of t for a service delivering over
// chain.
func newObserver(t *telemetry.Telemetry, chain *Chain) (observer, error) {
	o := observer{tel: t, tracer: instrument.Tracer(t)}
	m := instrument.Meter(t)
	if m == nil {
		return o, nil
	}
	o.on = true
	var err, e error
	o.codesSent, e = instrument.Counter(m, instrument.CodesSent, "{code}",
		"Delivery attempts of one-time codes, by channel and outcome (sent, failed, fell_back).")
	err = errors.Join(err, e)
	o.deliveryDuration, e = m.Float64Histogram(instrument.DeliveryDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Time a channel's sender took per delivery attempt, by channel."),
		metric.WithExplicitBucketBoundaries(instrument.DeliveryBuckets...))
	err = errors.Join(err, e)
	o.verifications, e = instrument.Counter(m, instrument.Verifications, "{verification}",
		"Verifications of one-time codes, by outcome.")
	err = errors.Join(err, e)
	o.locks, e = instrument.Counter(m, instrument.Locks, "{lock}",
		"Locks set by wrong codes, by scope (integration-customer, customer, integration: the breaker).")
	err = errors.Join(err, e)
	o.refusals, e = instrument.Counter(m, instrument.RateLimitRefusals, "{refusal}",
		"Requests and verifications refused by a limit, by limit.")
	err = errors.Join(err, e)
	if err != nil {
		return observer{}, err
	}
	o.sentOpts = make([][numSendOutcomes][]metric.AddOption, len(chain.routes))
	o.durationOpts = make([][]metric.RecordOption, len(chain.routes))
	for i, r := range chain.routes {
		ch := instrument.KeyChannel.String(string(r.Channel))
		for so := range numSendOutcomes {
			o.sentOpts[i][so] = instrument.AddOptions(ch, instrument.KeyOutcome.String(sendOutcomeNames[so]))
		}
		o.durationOpts[i] = instrument.RecordOptions(ch)
	}
	for vo := verifyVerified; vo < numVerifyOutcomes; vo++ {
		o.verifyOpts[vo] = instrument.AddOptions(instrument.KeyOutcome.String(verifyOutcomeNames[vo]))
	}
	for sc := store.ScopePair; sc <= store.ScopeIntegration; sc++ {
		o.lockOpts[sc] = instrument.AddOptions(instrument.KeyScope.String(sc.String()))
	}
	for l := range numLimits {
		o.limitOpts[l] = instrument.AddOptions(instrument.KeyLimit.String(limitNames[l]))
	}
	return o, nil
}

// startSpan starts a span named name, when tracing.
func (o *observer) startSpan(ctx context.Context, name, integration string) (context.Context, trace.Span) {
	if o.tracer == nil {
		return ctx, nil
	}
	return o.tracer.Start(ctx, name, trace.WithAttributes(instrument.SpanIntegration.String(integration)))
}

// lock counts a lock of scope set by a wrong code.
func (o *observer) lock(ctx context.Context, scope store.LockScope) {
	if o.on && scope >= store.ScopePair && scope <= store.ScopeIntegration {
		o.locks.Add(ctx, 1, o.lockOpts[scope]...)
	}
}

// errSystem is what a span records of a failure of the service's own (a
// store or a directory that failed): the error's text stays out of traces.
var (
	errSystem   = errors.New("otpguard: system failure")
	errDelivery = errors.New("otpguard: delivery failed")
)

// clientErrors are the sentinels of client-side conditions (see the
// package's errors): a refusal, not a failure of the service.
var clientErrors = []error{
	ErrInvalidInput, ErrInvalidIdentifier, ErrChannelNotPermitted, ErrUnknownCustomer,
	ErrNotRequested, ErrInvalidCode, ErrExpired, ErrTooManyAttempts, ErrLocked, ErrCooldown,
	ErrSendLimit, ErrDestinationNotPermitted, ErrRateLimited,
}

// finish reports the end of a Request or Verify that returned err, on
// span (nil when not tracing) and in the metrics, and returns err with the
// customer's reference when subject is known. outcome is the span's
// otpguard.outcome; "" derives it from err: "refused" for a client-side
// condition or a limit, "failed" for a delivery failure, "error" for a
// failure of the service's own.
func (s *Service) finish(ctx context.Context, span trace.Span, subject, outcome string, err error) error {
	o := &s.obs
	var limit limitKind
	var limited bool
	if err != nil {
		limit, limited = limitOfErr(err)
	}
	if o.on && limited {
		o.refusals.Add(ctx, 1, o.limitOpts[limit]...)
	}
	if span != nil {
		refused := "refused"
		if outcome != "" {
			refused = outcome
		}
		switch {
		case err == nil:
		case limited:
			span.SetAttributes(instrument.SpanLimit.String(limitNames[limit]))
			outcome = refused
		case errors.Is(err, ErrDelivery):
			instrument.Fail(span, errDelivery, deliveryClass(err))
			outcome = "failed"
		case isClientError(err):
			outcome = refused
		default:
			instrument.Fail(span, errSystem, instrument.Class(err))
			outcome = "error"
		}
		span.SetAttributes(instrument.SpanOutcome.String(outcome))
		span.End()
	}
	if err != nil && subject != "" {
		err = &refError{err: err, ref: s.customerRef(subject)}
	}
	return err
}

func isClientError(err error) bool {
	for _, c := range clientErrors {
		if errors.Is(err, c) {
			return true
		}
	}
	return false
}

// deliveryClass is the error.type of a failed delivery: "retryable" or
// "permanent" for a sender's *SendError, else the error's class.
func deliveryClass(err error) string {
	switch c := instrument.Class(err); {
	case c != instrument.ClassOther:
		return c
	case errors.Is(err, ErrRetryable):
		return "retryable"
	case errors.Is(err, ErrPermanent):
		return "permanent"
	default:
		return c
	}
}

// delivery reports the delivery attempts of one request: a child span per
// attempt, its duration, the codes sent and a delivery_failed event per
// failed attempt. A nil *delivery reports nothing.
type delivery struct {
	s           *Service
	integration string
	subject     string
	ref         string // computed at the first failure
	pending     int    // index+1 of a failed route whose outcome waits for the next attempt
}

// begin starts an attempt on route i of the chain, of channel ch.
func (d *delivery) begin(ctx context.Context, i int, ch Channel) (context.Context, trace.Span, time.Time) {
	if d == nil {
		return ctx, nil, time.Time{}
	}
	if d.pending > 0 {
		d.sent(ctx, d.pending-1, sendFellBack)
		d.pending = 0
	}
	o := &d.s.obs
	var span trace.Span
	if o.tracer != nil {
		ctx, span = o.tracer.Start(ctx, instrument.SpanDeliver, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(instrument.SpanChannel.String(string(ch))))
	}
	var start time.Time
	if o.on {
		start = time.Now()
	}
	return ctx, span, start
}

// end ends the attempt on route i, of channel ch, begun at start, which
// returned err.
func (d *delivery) end(ctx context.Context, span trace.Span, i int, ch Channel, start time.Time, err error) {
	if d == nil {
		return
	}
	o := &d.s.obs
	if o.on {
		o.deliveryDuration.Record(ctx, time.Since(start).Seconds(), o.durationOpts[i]...)
	}
	if span != nil {
		if err == nil {
			span.SetAttributes(instrument.SpanOutcome.String("sent"))
		} else {
			instrument.Fail(span, errDelivery, deliveryClass(err))
		}
		span.End()
	}
	if err == nil {
		d.sent(ctx, i, sendSent)
		return
	}
	d.pending = i + 1
	if o.tel.HasEvents() {
		if d.ref == "" {
			d.ref = d.s.customerRef(d.subject)
		}
		o.tel.Emit(ctx, telemetry.Event{Kind: telemetry.EventDeliveryFailed, Integration: d.integration, Customer: d.ref, Channel: string(ch)})
	}
}

// done ends the delivery: a failed attempt that no other followed failed.
func (d *delivery) done(ctx context.Context) {
	if d != nil && d.pending > 0 {
		d.sent(ctx, d.pending-1, sendFailed)
		d.pending = 0
	}
}

// sent counts an attempt on route i.
func (d *delivery) sent(ctx context.Context, i int, so sendOutcome) {
	if o := &d.s.obs; o.on {
		o.codesSent.Add(ctx, 1, o.sentOpts[i][so]...)
	}
}

// verified counts a verification's outcome.
func (o *observer) verified(ctx context.Context, vo verifyOutcome) {
	if o.on && vo != verifyNone {
		o.verifications.Add(ctx, 1, o.verifyOpts[vo]...)
	}
}
