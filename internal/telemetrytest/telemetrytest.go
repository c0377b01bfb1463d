// Package telemetrytest records what otpguard reports through a
// telemetry.Telemetry — metrics in an SDK ManualReader, spans in a
// tracetest.SpanRecorder, events in a slice — for tests to assert on. Only
// tests import it, so the SDK stays out of otpguard's packages.
package telemetrytest

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/otpguard/otpguard/telemetry"
)

// Recorder holds what a Telemetry built by New reported.
type Recorder struct {
	// Telemetry reports into the recorder.
	Telemetry *telemetry.Telemetry

	t      testing.TB
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder

	mu     sync.Mutex
	events []telemetry.Event
}

// New returns a recorder whose Telemetry reports metrics, spans and events
// into it.
func New(t testing.TB) *Recorder {
	t.Helper()
	r := &Recorder{t: t, reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = tp.Shutdown(context.Background())
	})
	tel, err := telemetry.New(
		telemetry.WithMeterProvider(mp),
		telemetry.WithTracerProvider(tp),
		telemetry.WithEvents(func(_ context.Context, e telemetry.Event) {
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
		}),
	)
	if err != nil {
		t.Fatalf("telemetry.New: %v", err)
	}
	r.Telemetry = tel
	return r
}

// Metrics collects the metrics reported so far.
func (r *Recorder) Metrics() metricdata.ResourceMetrics {
	r.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		r.t.Fatalf("collect metrics: %v", err)
	}
	return rm
}

// Metric returns the metric name from rm, and whether there is one.
func Metric(rm metricdata.ResourceMetrics, name string) (metricdata.Metrics, bool) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// Counts returns the counter name's values by attribute set, each set
// written as its attributes' "key=value" joined by ",", sorted by key.
func (r *Recorder) Counts(name string) map[string]int64 {
	r.t.Helper()
	out := map[string]int64{}
	m, ok := Metric(r.Metrics(), name)
	if !ok {
		return out
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		r.t.Fatalf("metric %s: got %T, want an int64 sum", name, m.Data)
	}
	for _, dp := range sum.DataPoints {
		out[Key(dp.Attributes)] += dp.Value
	}
	return out
}

// HistogramCounts returns the float64 histogram name's counts by attribute
// set (see Counts).
func (r *Recorder) HistogramCounts(name string) map[string]uint64 {
	r.t.Helper()
	out := map[string]uint64{}
	m, ok := Metric(r.Metrics(), name)
	if !ok {
		return out
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		r.t.Fatalf("metric %s: got %T, want a float64 histogram", name, m.Data)
	}
	for _, dp := range h.DataPoints {
		out[Key(dp.Attributes)] += dp.Count
	}
	return out
}

// Key writes an attribute set as "key=value,key=value", sorted by key.
func Key(s attribute.Set) string {
	var out string
	for i, kv := range s.ToSlice() {
		if i > 0 {
			out += ","
		}
		out += string(kv.Key) + "=" + kv.Value.Emit()
	}
	return out
}

// Spans returns the ended spans, in the order they ended.
func (r *Recorder) Spans() []sdktrace.ReadOnlySpan { return r.spans.Ended() }

// SpansNamed returns the ended spans named name.
func (r *Recorder) SpansNamed(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// Attr returns the value of span attribute key on s, "" when it has none.
func Attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// Events returns the events emitted so far.
func (r *Recorder) Events() []telemetry.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]telemetry.Event(nil), r.events...)
}

// Reset forgets the spans and events recorded so far (not the metrics,
// which are cumulative).
func (r *Recorder) Reset() {
	r.spans.Reset()
	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
}
