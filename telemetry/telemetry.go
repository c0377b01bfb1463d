package telemetry

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Telemetry is where otpguard reports: an OpenTelemetry meter provider, a
// tracer provider and an event hook. Build it once with New and hand the
// same value to otpcode.WithTelemetry and middleware.WithTelemetry, so that
// the OTP service, the guard and the HTTP handlers report to one place.
//
// A Telemetry is immutable after New and safe for concurrent use. A nil
// *Telemetry reports nothing, as New() with no option does.
type Telemetry struct {
	meters  metric.MeterProvider
	tracers trace.TracerProvider
	events  func(context.Context, Event)
}

// Option configures a Telemetry in New.
type Option func(*Telemetry) error

// WithMeterProvider sets the provider of otpguard's meter (instrumentation
// scope "github.com/otpguard/otpguard"); see the package documentation for
// the instruments. Default: a no-op provider, which otpguard recognises
// and skips at build time, so that metrics cost nothing unless configured.
// Pass otel.GetMeterProvider() to report through the global provider; its
// delegate costs an atomic load per measurement until the host sets one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(t *Telemetry) error {
		if mp == nil {
			return errors.New("nil meter provider")
		}
		t.meters = mp
		return nil
	}
}

// WithTracerProvider sets the provider of otpguard's tracer (instrumentation
// scope "github.com/otpguard/otpguard"); see the package documentation for
// the spans. Default: a no-op provider, which otpguard recognises and skips
// at build time, so that tracing costs nothing unless configured. Pass
// otel.GetTracerProvider() to trace through the global provider; its
// delegate allocates a context per span even before the host sets one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(t *Telemetry) error {
		if tp == nil {
			return errors.New("nil tracer provider")
		}
		t.tracers = tp
		return nil
	}
}

// WithEvents sets the hook that receives every Event of the OTP service and
// the guard, for alerts and audit. It is called synchronously on the
// request's goroutine: it must be quick and safe for concurrent use.
// Default: none.
func WithEvents(hook func(context.Context, Event)) Option {
	return func(t *Telemetry) error {
		if hook == nil {
			return errors.New("nil event hook")
		}
		t.events = hook
		return nil
	}
}

// New returns the telemetry settings configured by opts. It checks every
// option and returns every problem it finds, joined.
func New(opts ...Option) (*Telemetry, error) {
	t := &Telemetry{}
	var errs []error
	for _, o := range opts {
		if o == nil {
			errs = append(errs, errors.New("nil option"))
			continue
		}
		if err := o(t); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		for i, err := range errs {
			errs[i] = fmt.Errorf("telemetry: new: %w", err)
		}
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// MeterProvider returns the meter provider: the one WithMeterProvider set,
// or a no-op provider.
func (t *Telemetry) MeterProvider() metric.MeterProvider {
	if t == nil || t.meters == nil {
		return metricnoop.NewMeterProvider()
	}
	return t.meters
}

// TracerProvider returns the tracer provider: the one WithTracerProvider
// set, or a no-op provider.
func (t *Telemetry) TracerProvider() trace.TracerProvider {
	if t == nil || t.tracers == nil {
		return tracenoop.NewTracerProvider()
	}
	return t.tracers
}

// HasEvents reports whether an event hook is set.
func (t *Telemetry) HasEvents() bool { return t != nil && t.events != nil }

// Emit hands e to the event hook, if one is set. otpguard's packages call
// it.
func (t *Telemetry) Emit(ctx context.Context, e Event) {
	if t != nil && t.events != nil {
		t.events(ctx, e)
	}
}
