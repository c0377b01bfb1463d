// Package middleware puts customer OTP verification in front of net/http
// handlers: the guard that decides and enforces, API-key authentication,
// the request-otp and verify-otp handlers, and RFC 9457 problem responses.
package middleware
