package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/otpguard/otpguard/telemetry"
)

// DefaultBodyLimit is the largest request body, in bytes, that otpguard
// reads (the OTP handlers' bodies, a guard route's JSON customer field)
// unless WithBodyLimit says otherwise.
const DefaultBodyLimit = 4 << 10

// HTTP is the one set of settings that every HTTP-facing piece of otpguard
// shares: the guard (NewGuard), partner authentication (APIKeys, AuthFunc)
// and the OTP handlers (package otphttp). Build it once with NewHTTP and
// hand the same value to each, so that one API answers under one problem
// base, finds the calling integration one way, logs to one place and
// reports to one telemetry (WithTelemetry).
//
// An HTTP is immutable after NewHTTP and safe for concurrent use.
type HTTP struct {
	base        string
	integration func(*http.Request) (string, bool)
	logger      *slog.Logger
	bodyLimit   int64
	telemetry   *telemetry.Telemetry // WithTelemetry
}

// HTTPOption configures the shared HTTP settings in NewHTTP.
type HTTPOption func(*HTTP) error

// WithProblemBase sets the base URI of every problem type otpguard answers
// with, such as "https://api.zupy.com/errors/" (so the 403 is of type
// "https://api.zupy.com/errors/otp-required"). It must be an absolute URI
// ending in "/" or "#". Default: DefaultProblemBase.
func WithProblemBase(uri string) HTTPOption {
	return func(h *HTTP) error {
		if err := checkProblemBase(uri); err != nil {
			return err
		}
		h.base = uri
		return nil
	}
}

// WithIntegrationFunc sets how the guard and the OTP handlers find the
// request's integration. Default: IntegrationFrom(r.Context()), the
// integration APIKeys or AuthFunc put there. Security: the function must
// return only an authenticated integration — the guard trusts it to choose
// the policy, so a function that reads an unauthenticated header lets any
// caller pick the most lenient policy. Returning false (or "") refuses the
// request with 401.
func WithIntegrationFunc(f func(*http.Request) (string, bool)) HTTPOption {
	return func(h *HTTP) error {
		if f == nil {
			return errors.New("nil integration func")
		}
		h.integration = f
		return nil
	}
}

// WithLogger turns on the audit log of every piece built on these settings:
// the guard's "otp.decision" event per guarded request (with error_class,
// never the error's text, when the policy source or the session store
// failed) and "otp.integrity_failure", and the OTP handlers' "otp.request"
// and "otp.verify" events (with customer_ref, the customer's pseudonymous
// reference, once the service knew the customer). Codes, session tokens,
// their hashes, API keys and identifiers never appear in it. Default: nil,
// no audit log and no cost.
func WithLogger(l *slog.Logger) HTTPOption {
	return func(h *HTTP) error {
		if l == nil {
			return errors.New("nil logger")
		}
		h.logger = l
		return nil
	}
}

// WithBodyLimit sets the largest request body otpguard reads, in bytes: the
// OTP handlers answer larger bodies with 413 payload-too-large, and a guard
// route that finds its customer in a JSON body field reads no further.
// Default DefaultBodyLimit (4 KiB).
func WithBodyLimit(n int64) HTTPOption {
	return func(h *HTTP) error {
		if n <= 0 {
			return fmt.Errorf("body limit %d must be positive", n)
		}
		h.bodyLimit = n
		return nil
	}
}

// NewHTTP returns the shared HTTP settings configured by opts. It checks
// every option and returns every problem it finds, joined, each wrapping
// ErrInvalidConfig.
func NewHTTP(opts ...HTTPOption) (*HTTP, error) {
	h := &HTTP{base: DefaultProblemBase, bodyLimit: DefaultBodyLimit}
	if err := applyOptions(h, "http settings", opts); err != nil {
		return nil, err
	}
	return h, nil
}

// applyOptions applies opts to v and returns every error, joined, each
// wrapping ErrInvalidConfig and named after what is being built.
func applyOptions[T any, O ~func(*T) error](v *T, what string, opts []O, more ...error) error {
	var errs []error
	for _, opt := range opts {
		if opt == nil {
			errs = append(errs, errors.New("nil option"))
			continue
		}
		if err := opt(v); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, more...)
	if len(errs) == 0 {
		return nil
	}
	for i, err := range errs {
		errs[i] = fmt.Errorf("middleware: %s: %w: %w", what, ErrInvalidConfig, err)
	}
	return errors.Join(errs...)
}

// checkHTTP is the error of a constructor given nil settings.
func checkHTTP(h *HTTP) error {
	switch {
	case h == nil:
		return errors.New("nil HTTP settings (build them with middleware.NewHTTP)")
	case h.bodyLimit == 0: // NewHTTP always sets it
		return errors.New("HTTP settings not built by middleware.NewHTTP")
	}
	return nil
}

// ProblemBase returns the problem-type base URI.
func (h *HTTP) ProblemBase() string { return h.base }

// BodyLimit returns the largest request body otpguard reads, in bytes.
func (h *HTTP) BodyLimit() int64 { return h.bodyLimit }

// Logger returns the audit logger, or nil when the audit log is off.
func (h *HTTP) Logger() *slog.Logger { return h.logger }

// Integration returns the request's authenticated integration, found as
// WithIntegrationFunc says.
func (h *HTTP) Integration(r *http.Request) (string, bool) {
	if h.integration != nil {
		return h.integration(r)
	}
	return IntegrationFrom(r.Context())
}

// WriteProblem writes p under the problem base: p.Type is a type name such
// as TypeValidation, and the response's type is the base followed by it.
func (h *HTTP) WriteProblem(w http.ResponseWriter, p Problem) {
	p.Type = h.base + p.Type
	WriteProblem(w, p)
}

// encodedProblem is a problem encoded once, at set-up, for the answers that
// never change (the guard's 401, 403 and 503, the 401 of APIKeys), so that
// refusing a request costs no encoding and no allocation.
type encodedProblem struct {
	status     int
	body       []byte
	retryAfter []string // nil, or the Retry-After header's value
}

// Header values shared by every problem response, allocated once.
var (
	problemContentType = []string{"application/problem+json"}
	nosniff            = []string{"nosniff"}
	noStore            = []string{"no-store"}
)

// encodeProblem encodes p under the problem base.
func (h *HTTP) encodeProblem(p Problem) encodedProblem {
	p.Type = h.base + p.Type
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(p); err != nil {
		// A Problem of strings and integers always encodes.
		panic("middleware: encode problem: " + err.Error())
	}
	ep := encodedProblem{status: p.Status, body: buf.Bytes()}
	if p.RetryAfter > 0 {
		ep.retryAfter = []string{strconv.FormatInt(p.RetryAfter, 10)}
	}
	return ep
}

// write answers with the encoded problem. The header values are shared
// slices that net/http only reads.
func (p *encodedProblem) write(w http.ResponseWriter) {
	hd := w.Header()
	hd["Content-Type"] = problemContentType
	hd["X-Content-Type-Options"] = nosniff
	hd["Cache-Control"] = noStore
	if p.retryAfter != nil {
		hd["Retry-After"] = p.retryAfter
	}
	w.WriteHeader(p.status)
	_, _ = w.Write(p.body)
}
