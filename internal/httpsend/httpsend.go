// Package httpsend holds what otpguard's HTTP senders (otpcode/whatsapp,
// otpcode/sms) share: the check of a provider's base URL and of a
// credential's characters, the HTTP client they default to, and one
// classification of transport failures — a caller that gave up, a timeout,
// or a network error, each a retryable *otpcode.SendError.
package httpsend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/otpguard/otpguard/otpcode"
)

// Transport returns the error of a request on channel ch (its sender's
// package named pkg, for error text) that failed in transport with err:
// ctx is the caller's context, sendCtx the one bounded by timeout.
func Transport(ch otpcode.Channel, pkg string, ctx, sendCtx context.Context, timeout time.Duration, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return Canceled(ch, pkg, ctxErr)
	}
	reason := "network error"
	var ne net.Error
	switch {
	case timedOut(sendCtx):
		reason = fmt.Sprintf("timeout after %v", timeout)
		err = fmt.Errorf("%s: send timed out: %w (%w)", pkg, context.DeadlineExceeded, err)
	case errors.As(err, &ne) && ne.Timeout():
		reason = "timeout"
	}
	return &otpcode.SendError{Channel: ch, Retryable: true, Reason: reason, Err: err}
}

// timedOut reports whether ctx's deadline has passed; the HTTP client's own
// timeout, set to the same duration, can fire before ctx's timer.
func timedOut(ctx context.Context) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}

// Canceled is the error for a caller's context that is done: it wraps
// ctxErr so a chain stops.
func Canceled(ch otpcode.Channel, pkg string, ctxErr error) error {
	return &otpcode.SendError{
		Channel:   ch,
		Retryable: true,
		Reason:    "canceled by caller",
		Err:       fmt.Errorf("%s: send: %w", pkg, ctxErr),
	}
}

// BaseURL validates a provider's base URL u and returns it without a
// trailing slash: https with a host and nothing else, or http on a
// loopback host (tests). Every error wraps invalid, the sender's
// configuration sentinel, and never repeats credentials.
func BaseURL(u string, invalid error) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("%w: base URL: %w", invalid, err)
	}
	switch {
	case p.Host == "":
		return "", fmt.Errorf("%w: base URL %q has no host", invalid, u)
	case p.User != nil:
		return "", fmt.Errorf("%w: base URL must not carry credentials", invalid)
	case p.RawQuery != "" || p.Fragment != "" || (p.Path != "" && p.Path != "/"):
		return "", fmt.Errorf("%w: base URL %q must have no path, query or fragment", invalid, u)
	case p.Scheme == "https":
	case p.Scheme == "http" && isLoopback(p.Hostname()):
	default:
		return "", fmt.Errorf("%w: base URL %q must use https", invalid, u)
	}
	return p.Scheme + "://" + p.Host, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Client returns the client a sender uses when its caller gives none: it
// gives up after timeout, and follows no redirect (a provider's API does
// not redirect; a redirect would carry the credentials elsewhere).
func Client(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// BadCredential reports whether a token or secret holds a space or a
// control character, which no provider issues and which would corrupt the
// header it is sent in.
func BadCredential(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}
