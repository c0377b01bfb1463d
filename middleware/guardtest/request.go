package guardtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/otpguard/otpguard/middleware"
)

// RequestOption adds something to a request NewRequest builds.
type RequestOption func(*http.Request)

// NewRequest returns a server-side request for method and target, as
// httptest.NewRequest does (an empty method means GET; target is a path
// with an optional query, or an absolute URL), with body and the options
// applied in order. Like httptest.NewRequest it panics on a method or
// target it cannot parse, and it panics when WithJSON's value cannot be
// encoded: both are mistakes in the test, not in the code under test.
func NewRequest(method, target string, body io.Reader, opts ...RequestOption) *http.Request {
	r := httptest.NewRequest(method, target, body)
	for _, opt := range opts {
		if opt != nil {
			opt(r)
		}
	}
	return r
}

// WithAPIKey sets the X-API-Key header (middleware.DefaultAPIKeyHeader) that
// middleware.APIKeys authenticates; an empty key sets none. For a host that
// reads the key from another header, use WithHeader.
func WithAPIKey(key string) RequestOption {
	return func(r *http.Request) {
		if key != "" {
			r.Header.Set(middleware.DefaultAPIKeyHeader, key)
		}
	}
}

// WithSession sets the X-OTP-Session header to token, a token IssueSession
// returned; an empty token sets none, so a table of cases can leave it out.
func WithSession(token string) RequestOption {
	return func(r *http.Request) {
		if token != "" {
			r.Header.Set(middleware.SessionHeader, token)
		}
	}
}

// WithHeader adds the header key: value, keeping earlier values of key.
func WithHeader(key, value string) RequestOption {
	return func(r *http.Request) { r.Header.Add(key, value) }
}

// WithJSON replaces the request's body with the JSON encoding of v and sets
// Content-Type: application/json. It panics, when the request is built,
// if v cannot be encoded.
func WithJSON(v any) RequestOption {
	return func(r *http.Request) {
		b, err := json.Marshal(v)
		if err != nil {
			panic("guardtest: WithJSON: " + err.Error())
		}
		setBody(r, b)
		r.Header.Set("Content-Type", "application/json")
	}
}

// WithIntegration puts integration in the request's context, where the guard
// finds it by default (see middleware.WithIntegration). Use it to call a
// guarded handler directly, without the API-key middleware in front.
func WithIntegration(integration string) RequestOption {
	return func(r *http.Request) {
		*r = *r.WithContext(middleware.WithIntegration(r.Context(), integration))
	}
}

// setBody makes b the request's body, with its length and a GetBody.
func setBody(r *http.Request, b []byte) {
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// Serve serves r with h and returns the recorded response.
func Serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// IsOTPRequired reports whether a response with status and body is the
// guard's otp-required refusal: status 403 and a JSON problem whose "type"
// is "otp-required" under any base URI (ending in "/otp-required" or
// "#otp-required", or exactly "otp-required"). Any other 403 — a host's own
// permission check, a proxy's refusal — is not.
func IsOTPRequired(status int, body []byte) bool {
	return status == http.StatusForbidden && isOTPRequiredType(problemType(body))
}

// problemType returns the "type" member of a JSON problem body, or "".
func problemType(body []byte) string {
	var p struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &p) != nil {
		return ""
	}
	return p.Type
}

// isOTPRequiredType reports whether typ names the otp-required problem.
func isOTPRequiredType(typ string) bool {
	rest, ok := strings.CutSuffix(typ, middleware.TypeOTPRequired)
	return ok && (rest == "" || strings.HasSuffix(rest, "/") || strings.HasSuffix(rest, "#"))
}
