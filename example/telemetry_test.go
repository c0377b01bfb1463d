package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/otpguard/otpguard/example/loyalty"
	"github.com/otpguard/otpguard/internal/testio"
)

// A caller's trace, as a W3C traceparent header carries it.
const (
	callerTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan   = "00f067aa0ba902b7"
	callerHeader = "00-" + callerTrace + "-" + callerSpan + "-01"
)

func TestOTLPBase(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"http://127.0.0.1:4318", "http://127.0.0.1:4318", ""},
		{"http://127.0.0.1:4318/", "http://127.0.0.1:4318", ""},
		{"https://otel.example.net/otlp/", "https://otel.example.net/otlp", ""},
		{"127.0.0.1:4318", "", "not a URL"},
		{"otel.example.net:4318", "", "http:// or https://"},
		{"grpc://127.0.0.1:4317", "", "http:// or https://"},
		{"http://", "", "with a host"},
		{"https://user:s3cret@otel.example.net", "", "OTEL_EXPORTER_OTLP_HEADERS"},
		{"http://127.0.0.1:4318?token=s3cret", "", "no user, query or fragment"},
		{"http://[::1", "", "not a URL"},
		{"http://user:s3cret@[::1", "", "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := otlpBase(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err, "got %q, want an error", got)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), "s3cret", "the error repeats a secret")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestRunOTLPFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-h"}, noEnv, &stdout, &stderr))
	assert.Regexp(t, `(?m)^  -otlp-endpoint( |$)`, stderr.String(), "-h does not list -otlp-endpoint")

	err := run(context.Background(), []string{"-otlp-endpoint", "http://user:s3cret@127.0.0.1:4318"}, noEnv, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-otlp-endpoint")
	assert.NotContains(t, err.Error(), "s3cret")
}

func TestAdminHandler(t *testing.T) {
	const token = "an-admin-token-of-at-least-32-characters"
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized) // the admin API refuses what reaches it without the token
		_, _ = io.WriteString(w, "admin "+r.URL.Path)
	})
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "otpguard_locks_total 1\n") })
	h := adminHandler(admin, metrics, token)

	tests := []struct {
		name, method, path string
		auth               []string
		wantStatus         int
		wantBody           string
	}{
		{"metrics with the token", http.MethodGet, "/metrics", []string{"Bearer " + token}, http.StatusOK, "otpguard_locks_total 1\n"},
		{"scheme in any case", http.MethodGet, "/metrics", []string{"bearer " + token}, http.StatusOK, "otpguard_locks_total 1\n"},
		{"metrics without a token", http.MethodGet, "/metrics", nil, http.StatusUnauthorized, "admin /metrics"},
		{"metrics with another token", http.MethodGet, "/metrics", []string{"Bearer " + token + "x"}, http.StatusUnauthorized, "admin /metrics"},
		{"two Authorization headers", http.MethodGet, "/metrics", []string{"Bearer " + token, "Bearer " + token}, http.StatusUnauthorized, "admin /metrics"},
		{"basic credentials", http.MethodGet, "/metrics", []string{"Basic " + token}, http.StatusUnauthorized, "admin /metrics"},
		{"metrics by POST", http.MethodPost, "/metrics", []string{"Bearer " + token}, http.StatusUnauthorized, "admin /metrics"},
		{"the admin API", http.MethodGet, "/admin/v1/customers/x/otp", []string{"Bearer " + token}, http.StatusUnauthorized, "admin /admin/v1/customers/x/otp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			for _, a := range tt.auth {
				r.Header.Add("Authorization", a)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			assert.Equal(t, tt.wantStatus, w.Code, "got status %d, want %d", w.Code, tt.wantStatus)
			assert.Equal(t, tt.wantBody, w.Body.String())
		})
	}

	t.Run("no metrics", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		adminHandler(admin, nil, token).ServeHTTP(w, r)
		assert.Equal(t, "admin /metrics", w.Body.String(), "without metrics the admin API serves every path")
	})
}

// TestTraceRequests checks, with an in-memory span recorder, that the
// example's server span continues the caller's trace and that otpguard's
// spans are its children: request-otp's otpguard.request (with its
// delivery and store calls) and a guarded call's otpguard.guard.
func TestTraceRequests(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	var out testio.Buffer
	srv, err := loyalty.New(loyalty.Config{TracerProvider: tp}, &out)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	h := traceRequests(srv, tp)

	serve := func(method, target, body, session string) int {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-API-Key", partnerKey(t, "goomer"))
		r.Header.Set("Traceparent", callerHeader)
		if session != "" {
			r.Header.Set("X-OTP-Session", session)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	require.Equal(t, http.StatusOK, serve(http.MethodPost, "/api/v2/auth/request-otp/", `{"identifier": "`+loyalty.MariaPhone+`"}`, ""))
	require.Equal(t, http.StatusForbidden, serve(http.MethodPost, "/api/v2/customers/"+loyalty.MariaID+"/rewards/rwd_free_coffee/redeem/", `{"use_z_tokens": false}`, ""))

	spans := rec.Ended()
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = append(byName[s.Name()], s)
		assert.Equal(t, callerTrace, s.SpanContext().TraceID().String(), "span %s is not in the caller's trace", s.Name())
	}
	one := func(name string) sdktrace.ReadOnlySpan {
		t.Helper()
		require.Len(t, byName[name], 1, "spans named %q", name)
		return byName[name][0]
	}

	requestServer := one("POST /api/v2/auth/request-otp/{$}")
	assert.Equal(t, trace.SpanKindServer, requestServer.SpanKind())
	assert.True(t, requestServer.Parent().IsRemote(), "the server span's parent is not the caller's span")
	assert.Equal(t, callerSpan, requestServer.Parent().SpanID().String())
	attrs := attrMap(requestServer.Attributes())
	assert.Equal(t, "POST", attrs["http.request.method"])
	assert.Equal(t, "/api/v2/auth/request-otp/{$}", attrs["http.route"])
	assert.Equal(t, "200", attrs["http.response.status_code"])
	for k := range attrs {
		assert.False(t, strings.HasPrefix(k, "url."), "the server span records %s, which may carry personal data", k)
	}

	request := one("otpguard.request")
	assert.Equal(t, requestServer.SpanContext().SpanID(), request.Parent().SpanID(), "otpguard.request is not a child of the server span")
	deliver := one("otpguard.deliver")
	assert.Equal(t, request.SpanContext().SpanID(), deliver.Parent().SpanID(), "otpguard.deliver is not a child of otpguard.request")
	stores := 0
	for _, s := range spans {
		if strings.HasPrefix(s.Name(), "otpguard.store.") {
			stores++
		}
	}
	assert.Positive(t, stores, "got no otpguard.store.* span")

	redeemServer := one("POST /api/v2/customers/{id}/rewards/{rid}/redeem/{$}")
	assert.Equal(t, callerSpan, redeemServer.Parent().SpanID().String())
	assert.Equal(t, "403", attrMap(redeemServer.Attributes())["http.response.status_code"])
	assert.Equal(t, codes.Unset, redeemServer.Status().Code, "a 403 is the client's error, not the server's")
	guard := one("otpguard.guard")
	assert.Equal(t, redeemServer.SpanContext().SpanID(), guard.Parent().SpanID(), "otpguard.guard is not a child of the server span")
	for _, s := range spans {
		assert.NotContains(t, s.Name(), loyalty.MariaID, "a span name holds a customer ID")
	}
}

func TestTraceRequestsStatus(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		method     string
		wantName   string
		wantStatus string
		wantCode   codes.Code
	}{
		{"body without a header is 200", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }, http.MethodGet, "GET", "200", codes.Unset},
		{"nothing written is 200", func(http.ResponseWriter, *http.Request) {}, http.MethodGet, "GET", "200", codes.Unset},
		{"1xx then 204", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusNoContent)
		}, http.MethodGet, "GET", "204", codes.Unset},
		{"404 is the client's", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) }, http.MethodGet, "GET", "404", codes.Unset},
		{"503 is an error", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }, http.MethodPost, "POST", "503", codes.Error},
		{"unknown method", func(http.ResponseWriter, *http.Request) {}, "BREW", "_OTHER", "200", codes.Unset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			defer func() { _ = tp.Shutdown(context.Background()) }()
			traceRequests(tt.handler, tp).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, "/x", nil))
			spans := rec.Ended()
			require.Len(t, spans, 1)
			s := spans[0]
			assert.Equal(t, tt.wantName, s.Name(), "no route: the span is named after the method alone")
			assert.False(t, s.Parent().IsValid(), "no traceparent: the span is a root")
			assert.Equal(t, tt.wantStatus, attrMap(s.Attributes())["http.response.status_code"])
			assert.Equal(t, tt.wantCode, s.Status().Code)
		})
	}
}

// attrMap returns the attributes as strings by key.
func attrMap(kvs []attribute.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// collector is an OTLP/HTTP collector that keeps what it receives.
type collector struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string // the resources' service.name
	metrics  map[string]bool
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r.URL.Path {
	case "/v1/traces":
		var req coltracepb.ExportTraceServiceRequest
		if proto.Unmarshal(body, &req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, rs := range req.GetResourceSpans() {
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.GetKey() == "service.name" {
					c.services = append(c.services, kv.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				c.spans = append(c.spans, ss.GetSpans()...)
			}
		}
	case "/v1/metrics":
		var req colmetricpb.ExportMetricsServiceRequest
		if proto.Unmarshal(body, &req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					c.metrics[m.GetName()] = true
				}
			}
		}
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// TestRunOTLP runs the example with -otlp-endpoint on a collector: the
// spans of a request-otp continue the caller's trace, otpguard's under the
// server span, and the spans and metrics reach the collector when the
// server stops, well before the exporters' own schedules.
func TestRunOTLP(t *testing.T) {
	col := &collector{metrics: map[string]bool{}}
	ts := httptest.NewServer(col)
	t.Cleanup(ts.Close)
	// Cleanups run last registered first: this one runs after startRun's,
	// which stops the server and so flushes the exporters.
	t.Cleanup(func() { checkCollected(t, col) })
	base, stdout, stderr := startRunOutput(t, []string{"-otlp-endpoint", ts.URL + "/"}, nil)
	eventually(t, 10*time.Second, "the OTLP line on stderr", func() bool {
		return strings.Contains(stderr.String(), "telemetry: traces and metrics over OTLP/HTTP to "+ts.URL)
	})

	req, err := http.NewRequest(http.MethodPost, base+"/api/v2/auth/request-otp/", strings.NewReader(`{"identifier": "`+loyalty.MariaPhone+`"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", partnerKey(t, "goomer"))
	req.Header.Set("Traceparent", callerHeader)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, deliveries(t, stdout), 1)

	col.mu.Lock()
	defer col.mu.Unlock()
	assert.Empty(t, col.spans, "spans were exported before the batch was due: the flush at stop is not tested")
}

// checkCollected checks what the collector received from TestRunOTLP.
func checkCollected(t *testing.T, col *collector) {
	col.mu.Lock()
	defer col.mu.Unlock()
	byName := map[string]*tracepb.Span{}
	for _, s := range col.spans {
		byName[s.GetName()] = s
		assert.Equal(t, callerTrace, hex.EncodeToString(s.GetTraceId()), "span %s is not in the caller's trace", s.GetName())
	}
	server, request, deliver := byName["POST /api/v2/auth/request-otp/{$}"], byName["otpguard.request"], byName["otpguard.deliver"]
	if !assert.NotNil(t, server, "no server span among %d spans", len(col.spans)) ||
		!assert.NotNil(t, request, "no otpguard.request span") || !assert.NotNil(t, deliver, "no otpguard.deliver span") {
		return
	}
	assert.Equal(t, tracepb.Span_SPAN_KIND_SERVER, server.GetKind())
	assert.Equal(t, callerSpan, hex.EncodeToString(server.GetParentSpanId()))
	assert.Equal(t, server.GetSpanId(), request.GetParentSpanId(), "otpguard.request is not a child of the server span")
	assert.Equal(t, request.GetSpanId(), deliver.GetParentSpanId(), "otpguard.deliver is not a child of otpguard.request")
	assert.Contains(t, col.services, serviceName)
	for _, name := range []string{"otpguard_codes_sent", "otpguard_delivery_duration"} {
		assert.True(t, col.metrics[name], "the collector got no %s (got %v)", name, col.metrics)
	}
}
