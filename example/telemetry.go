package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"
)

// serviceName is the example's OpenTelemetry service.name, unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES set another.
const serviceName = "otpguard-example"

// observability holds the example's OpenTelemetry SDK: the meter provider
// behind GET /metrics and OTLP, and the tracer provider behind OTLP. A nil
// provider means that signal is off and costs nothing: otpguard gets no
// provider for it.
type observability struct {
	meters  *sdkmetric.MeterProvider
	tracers *sdktrace.TracerProvider
	// metrics serves the meter provider's metrics in the Prometheus text
	// format, from a registry of its own; nil without prometheus.
	metrics http.Handler
}

// newObservability builds the providers: with prometheus, a meter provider
// whose metrics the handler in metrics serves; with otlpEndpoint (an
// OTLP/HTTP collector's base URL, "" for none), a tracer provider and a
// meter provider reader that export there, traces to /v1/traces and
// metrics to /v1/metrics (once a minute, or OTEL_METRIC_EXPORT_INTERVAL
// milliseconds). The exporters read the rest of their settings
// (OTEL_EXPORTER_OTLP_HEADERS, timeouts, certificates) from the
// environment. Shut it down to flush what is left.
func newObservability(ctx context.Context, prom bool, otlpEndpoint string) (*observability, error) {
	o := &observability{}
	if !prom && otlpEndpoint == "" {
		return o, nil
	}
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(serviceName)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	meterOpts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	if prom {
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg),
			// The names the README documents: otpguard_codes_sent_total,
			// otpguard_delivery_duration_seconds, ...
			otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
		if err != nil {
			return nil, fmt.Errorf("prometheus exporter: %w", err)
		}
		meterOpts = append(meterOpts, sdkmetric.WithReader(exp))
		o.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	if otlpEndpoint != "" {
		base, err := otlpBase(otlpEndpoint)
		if err != nil {
			return nil, err
		}
		metricExp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(base+"/v1/metrics"))
		if err != nil {
			return nil, fmt.Errorf("otlp metric exporter: %w", err)
		}
		spanExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(base+"/v1/traces"))
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		// Nothing fails from here on: the reader and the batcher start
		// goroutines that only shutdown stops.
		meterOpts = append(meterOpts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp)))
		o.tracers = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(spanExp))
	}
	o.meters = sdkmetric.NewMeterProvider(meterOpts...)
	return o, nil
}

// otlpBase checks the -otlp-endpoint URL and returns it without a trailing
// slash. It must be http or https with a host and nothing but a path: a
// collector's credentials belong in OTEL_EXPORTER_OTLP_HEADERS, not in a
// flag the process list shows.
func otlpBase(endpoint string) (string, error) {
	const want = "want an http:// or https:// URL with a host, such as http://127.0.0.1:4318"
	// The errors repeat the URL only once it is known to hold no
	// credentials.
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		return "", errors.New("-otlp-endpoint: not a URL: " + want)
	case u.User != nil, u.RawQuery != "", u.Fragment != "":
		return "", errors.New("-otlp-endpoint: the URL may hold no user, query or fragment (set credentials in OTEL_EXPORTER_OTLP_HEADERS)")
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return "", fmt.Errorf("-otlp-endpoint %q: %s", endpoint, want)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// shutdown flushes and stops the providers: the spans and metrics not yet
// exported are sent, within ctx.
func (o *observability) shutdown(ctx context.Context) error {
	var errs []error
	if o.tracers != nil {
		errs = append(errs, o.tracers.Shutdown(ctx))
	}
	if o.meters != nil {
		errs = append(errs, o.meters.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// adminHandler serves the admin API and, when metrics is not nil, GET
// /metrics to the holders of the same bearer token. Loopback is not an
// authentication boundary — any process or user on the host, or a request
// forged through another local service, reaches it — so nothing on the
// admin listener is served without the token. A request for /metrics
// without the token goes on to the admin API, which answers 401 and logs
// it as it does for its own paths.
func adminHandler(admin, metrics http.Handler, token string) http.Handler {
	if metrics == nil {
		return admin
	}
	digest := sha256.Sum256([]byte(token))
	mux := http.NewServeMux()
	mux.Handle("/", admin)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if !hasBearer(r, digest) {
			admin.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		metrics.ServeHTTP(w, r)
	})
	return mux
}

// hasBearer reports whether r carries one Authorization header with the
// bearer token whose SHA-256 is digest, comparing digests in constant time
// as the admin API does.
func hasBearer(r *http.Request, digest [sha256.Size]byte) bool {
	vals := r.Header["Authorization"]
	if len(vals) != 1 {
		return false
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || len(tok) > 1024 {
		return false
	}
	d := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(d[:], digest[:]) == 1
}

// traceRequests starts a server span for every request to next, as
// otelhttp does, so that otpguard's spans (otpguard.request,
// otpguard.verify, otpguard.guard and their children) are its children: it
// continues the caller's trace from a W3C traceparent header and hands the
// span on in the request's context, which the loyalty API passes to
// otpguard. The span is named after the route that served the request
// ("POST /api/v2/auth/request-otp/{$}") and records the method, the route
// and the status; never the path or the query, which carry customer IDs,
// coupon codes and searched phone numbers.
//
// The example does not use otelhttp itself: its current release needs a
// newer Go than this module's go directive.
func traceRequests(next http.Handler, tp trace.TracerProvider) http.Handler {
	tracer := tp.Tracer("github.com/otpguard/otpguard/example")
	prop := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		method := httpMethod(r.Method)
		ctx, span := tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(method)))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx)
		next.ServeHTTP(sw, r)
		// The ServeMux recorded the route it chose in r.Pattern.
		if i := strings.IndexByte(r.Pattern, '/'); i >= 0 {
			route := r.Pattern[i:]
			span.SetName(method + " " + route)
			span.SetAttributes(semconv.HTTPRoute(route))
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 {
			span.SetStatus(codes.Error, "") // a server span's 4xx is the client's error, not ours
		}
	})
}

// httpMethod returns the request method as semantic conventions record it:
// a known method, or "_OTHER", so that spans have a bounded set of names.
func httpMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// statusWriter records the status a handler writes. Unwrap lets
// http.ResponseController reach the connection's own writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 { // 1xx responses are not the final status
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
