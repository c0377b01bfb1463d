// Package instrument holds what otpcode and middleware share to report
// through the OpenTelemetry API: the instruments' names, units and
// attribute keys, the tracer and meter of a telemetry.Telemetry (nil when
// its provider is a no-op, so callers skip the work entirely), the
// classification of errors, and a store wrapper with a span per call and a
// count per failure. The names are documented for users in package
// telemetry.
package instrument

import (
	"context"
	"errors"
	"net"
	"syscall"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/otpguard/otpguard/telemetry"
)

// Scope is the instrumentation scope of every meter and tracer.
const Scope = "github.com/otpguard/otpguard"

// The instruments' names.
const (
	CodesSent         = "otpguard_codes_sent"
	DeliveryDuration  = "otpguard_delivery_duration"
	Verifications     = "otpguard_verifications"
	Locks             = "otpguard_locks"
	GuardDecisions    = "otpguard_guard_decisions"
	StoreErrors       = "otpguard_store_errors"
	RateLimitRefusals = "otpguard_rate_limit_refusals"
)

// The spans' names.
const (
	SpanRequest = "otpguard.request"
	SpanVerify  = "otpguard.verify"
	SpanGuard   = "otpguard.guard"
	SpanDeliver = "otpguard.deliver"
	// SpanStore prefixes the store method's name: "otpguard.store.GetSession".
	SpanStore = "otpguard.store."
)

// Metric attribute keys. The values are bounded enumerations.
const (
	KeyChannel   = attribute.Key("channel")
	KeyOutcome   = attribute.Key("outcome")
	KeyScope     = attribute.Key("scope")
	KeyAction    = attribute.Key("action")
	KeyReason    = attribute.Key("reason")
	KeyOperation = attribute.Key("operation")
	KeyLimit     = attribute.Key("limit")
)

// Span attribute keys.
const (
	SpanIntegration = attribute.Key("otpguard.integration")
	SpanChannel     = attribute.Key("otpguard.channel")
	SpanOutcome     = attribute.Key("otpguard.outcome")
	SpanScope       = attribute.Key("otpguard.scope")
	SpanAction      = attribute.Key("otpguard.action")
	SpanReason      = attribute.Key("otpguard.reason")
	SpanOperation   = attribute.Key("otpguard.operation")
	SpanLimit       = attribute.Key("otpguard.limit")
	// SpanErrorType is OpenTelemetry's error.type: the class of a failure.
	SpanErrorType = attribute.Key("error.type")
)

// Meter returns the meter of t, or nil when t reports no metrics (nil, or
// a no-op meter provider).
func Meter(t *telemetry.Telemetry) metric.Meter {
	mp := t.MeterProvider()
	switch mp.(type) {
	case metricnoop.MeterProvider, *metricnoop.MeterProvider:
		return nil
	}
	return mp.Meter(Scope)
}

// Tracer returns the tracer of t, or nil when t traces nothing (nil, or a
// no-op tracer provider).
func Tracer(t *telemetry.Telemetry) trace.Tracer {
	tp := t.TracerProvider()
	switch tp.(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider:
		return nil
	}
	return tp.Tracer(Scope)
}

// Counter returns the counter name of m with unit and description, or nil
// when m is nil.
func Counter(m metric.Meter, name, unit, desc string) (metric.Int64Counter, error) {
	if m == nil {
		return nil, nil
	}
	return m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
}

// DeliveryBuckets are the bucket boundaries of otpguard_delivery_duration,
// in seconds: a provider's API answers in tens of milliseconds to tens of
// seconds.
var DeliveryBuckets = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// AddOptions returns the options of one measurement with attributes kv,
// built once so that measuring allocates nothing.
func AddOptions(kv ...attribute.KeyValue) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
}

// RecordOptions is AddOptions for histograms.
func RecordOptions(kv ...attribute.KeyValue) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
}

// Error classes: the value of error.type on spans and of error_class in
// audit logs. A class says what kind of failure happened without any of the
// error's text, which is not under otpguard's control (a directory's error
// may name a customer).
const (
	ClassTimeout     = "timeout"
	ClassCanceled    = "canceled"
	ClassUnavailable = "unavailable"
	ClassOther       = "other"
)

// Class returns the class of err: ClassTimeout for a deadline or a network
// timeout, ClassCanceled for a canceled context, ClassUnavailable for a
// connection that could not be made or was lost, else ClassOther.
func Class(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ClassTimeout
	case errors.Is(err, context.Canceled):
		return ClassCanceled
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return ClassUnavailable
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return ClassUnavailable
	}
	return ClassOther
}

// Fail marks span as failed: error.type is class, and the recorded error
// and the status carry what, a fixed description of the failure, never the
// error's own text.
func Fail(span trace.Span, what error, class string) {
	span.SetAttributes(SpanErrorType.String(class))
	span.RecordError(what)
	span.SetStatus(codes.Error, what.Error())
}
