package middleware

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Problem types, appended to the configured base URI. The example uses the
// base "https://api.zupy.com/errors/".
const (
	TypeValidation           = "validation-error"
	TypeAuthenticationNeeded = "authentication-required"
	TypeOTPRequired          = "otp-required"
	TypeNotFound             = "not-found"
	TypeMethodNotAllowed     = "method-not-allowed"
	TypePayloadTooLarge      = "payload-too-large"
	TypeUnsupportedMediaType = "unsupported-media-type"
	TypeRateLimited          = "rate-limit-exceeded"
	TypeDeliveryFailed       = "delivery-failed"
	TypeServiceUnavailable   = "service-unavailable"
)

// DefaultProblemBase is the base URI of problem types when none is set.
const DefaultProblemBase = "about:blank#"

// Problem is an RFC 9457 problem details object with otpguard's extension
// members. Its Type is the full URI.
type Problem struct {
	// Type is the problem type's URI: the base URI and a Type* constant.
	Type string `json:"type"`
	// Title is the type's short, fixed summary, such as "OTP Required".
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence for people. It never carries internal
	// error text.
	Detail string `json:"detail,omitempty"`
	// Errors lists, per request field, machine-readable reasons
	// ("required", "invalid_format", "not_permitted"), as in PayU's API.
	Errors map[string][]string `json:"errors,omitempty"`
	// Messages gives, per request field, a sentence for people.
	Messages map[string]string `json:"messages,omitempty"`
	// RetryAfter is the number of seconds before a retry can succeed; it is
	// also sent as the Retry-After header.
	RetryAfter int64 `json:"retry_after,omitempty"`
	// LockDuration is the number of seconds the identifier stays locked.
	LockDuration int64 `json:"lock_duration,omitempty"`
}

// WriteProblem writes p with Content-Type application/problem+json, the
// status p.Status, and a Retry-After header when p.RetryAfter is set.
func WriteProblem(w http.ResponseWriter, p Problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(p.RetryAfter, 10))
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
