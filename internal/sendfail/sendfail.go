// Package sendfail classifies the transport failures of otpguard's HTTP
// senders (otpcode/whatsapp, otpcode/sms) the same way: a caller that gave
// up, a timeout, or a network error, each a retryable *otpcode.SendError.
package sendfail

import (
	"context"
	"errors"
	"fmt"
	"net"
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
