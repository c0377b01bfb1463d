package telemetry_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/otpguard/otpguard/telemetry"
)

func TestNewRefusesNil(t *testing.T) {
	_, err := telemetry.New(nil, telemetry.WithMeterProvider(nil), telemetry.WithTracerProvider(nil), telemetry.WithEvents(nil))
	require.Error(t, err)
	for _, want := range []string{"nil option", "nil meter provider", "nil tracer provider", "nil event hook"} {
		assert.Contains(t, err.Error(), want, "got %q, want it to mention %q", err, want)
	}
}

func TestDefaultsAreNoOp(t *testing.T) {
	for _, tel := range []*telemetry.Telemetry{nil, must(telemetry.New())} {
		assert.IsType(t, metricnoop.MeterProvider{}, tel.MeterProvider())
		assert.IsType(t, tracenoop.TracerProvider{}, tel.TracerProvider())
		assert.False(t, tel.HasEvents())
		tel.Emit(context.Background(), telemetry.Event{Kind: telemetry.EventLocked}) // no hook: nothing happens
	}
}

func TestEmit(t *testing.T) {
	var got []telemetry.Event
	tel := must(telemetry.New(telemetry.WithEvents(func(_ context.Context, e telemetry.Event) { got = append(got, e) })))
	assert.True(t, tel.HasEvents())
	tel.Emit(context.Background(), telemetry.Event{Kind: telemetry.EventRevoked, Sessions: 2})
	assert.Equal(t, []telemetry.Event{{Kind: telemetry.EventRevoked, Sessions: 2}}, got)
}

func TestEventKindString(t *testing.T) {
	for k, want := range map[telemetry.EventKind]string{
		telemetry.EventLocked:           "otp.locked",
		telemetry.EventBreakerTripped:   "otp.breaker_tripped",
		telemetry.EventUnlocked:         "otp.unlocked",
		telemetry.EventRevoked:          "otp.revoked",
		telemetry.EventDeliveryFailed:   "otp.delivery_failed",
		telemetry.EventIntegrityFailure: "otp.integrity_failure",
		0:                               "otp.unknown",
		99:                              "otp.unknown",
	} {
		assert.Equal(t, want, k.String(), "got %q for kind %d, want %q", k.String(), k, want)
	}
}

func must(t *telemetry.Telemetry, err error) *telemetry.Telemetry {
	if err != nil {
		panic(err)
	}
	return t
}
