// Package httpsendtest holds the loopback servers the HTTP senders' tests
// (otpcode/whatsapp, otpcode/sms) share for transport failures: a provider
// that never answers, and an address where none listens.
package httpsendtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Stall starts a server, closed when t ends, that reads each request's
// body, closes started (when not nil) on the first request, and answers
// nothing until the client goes away; it returns the server's URL. A
// sender's timeout or its caller's cancellation is what ends the request.
func Stall(t testing.TB, started chan<- struct{}) string {
	t.Helper()
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client going away
		if started != nil {
			once.Do(func() { close(started) })
		}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second): // a safety net; the tests fail long before
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Closed returns the URL of a loopback server that has been closed: a
// request to it fails in transport.
func Closed() string {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}
