package loyalty

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/testio"
	"github.com/otpguard/otpguard/otpcode"
)

// live is a loyalty server behind a real HTTP server on loopback, with its
// stdout, its audit log and every response body it sent.
type live struct {
	t      *testing.T
	url    string
	out    *testio.Buffer
	logs   *testio.Buffer
	served chan string // the path of every request the server finished
	admin  string      // the admin API's URL, when Config.AdminToken is set

	mu     sync.Mutex
	bodies []string
}

// startLive builds a server from cfg (its audit log captured unless cfg
// sets one) and serves it on loopback until the test ends.
func startLive(t *testing.T, cfg Config) *live {
	t.Helper()
	l := &live{t: t, out: &testio.Buffer{}, logs: &testio.Buffer{}, served: make(chan string, 64)}
	if cfg.Audit == nil {
		cfg.Audit = slog.New(slog.NewJSONHandler(l.logs, nil))
	}
	srv, err := New(cfg, l.out)
	require.NoError(t, err)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.ServeHTTP(w, r)
		select {
		case l.served <- r.URL.Path:
		default:
		}
	}))
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	l.url = ts.URL
	if h := srv.Admin(); h != nil {
		as := httptest.NewServer(h)
		t.Cleanup(as.Close)
		l.admin = as.URL
	}
	return l
}

// request builds a request; apiKey and session are left out when "".
func (l *live) request(ctx context.Context, method, path, apiKey, session, body string) *http.Request {
	l.t.Helper()
	r, err := http.NewRequestWithContext(ctx, method, l.url+path, strings.NewReader(body))
	require.NoError(l.t, err)
	setHeaders(r, apiKey, session, body)
	return r
}

// call sends one request and returns the status, the headers and the body.
func (l *live) call(method, path, apiKey, session, body string) (int, http.Header, string) {
	l.t.Helper()
	resp, err := http.DefaultClient.Do(l.request(context.Background(), method, path, apiKey, session, body))
	require.NoError(l.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(l.t, err)
	l.mu.Lock()
	l.bodies = append(l.bodies, string(b))
	l.mu.Unlock()
	return resp.StatusCode, resp.Header, string(b)
}

// responsesContaining returns the number of response bodies so far that
// contain s.
func (l *live) responsesContaining(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, b := range l.bodies {
		if strings.Contains(b, s) {
			n++
		}
	}
	return n
}

// requestOTP asks for a code for identifier with the partner's key.
func (l *live) requestOTP(partner, identifier string) (int, string) {
	l.t.Helper()
	status, _, body := l.call("POST", "/api/v2/auth/request-otp/", key[partner], "", fmt.Sprintf(`{"identifier": %q}`, identifier))
	return status, body
}

// verifyOTP verifies code for identifier with the partner's key.
func (l *live) verifyOTP(partner, identifier, code string) (int, string) {
	l.t.Helper()
	status, _, body := l.call("POST", "/api/v2/auth/verify-otp/", key[partner], "", fmt.Sprintf(`{"identifier": %q, "otp_code": %q}`, identifier, code))
	return status, body
}

// session returns the otp_session of a verify-otp response.
func session(t *testing.T, body string) string {
	t.Helper()
	var v struct{ Data verified }
	require.NoError(t, json.Unmarshal([]byte(body), &v), "body %s", body)
	require.NotEmpty(t, v.Data.Session, "no otp_session in %s", body)
	return v.Data.Session
}

// problemType returns the type of a problem response body.
func problemType(t *testing.T, body string) string {
	t.Helper()
	var p struct{ Type string }
	require.NoError(t, json.Unmarshal([]byte(body), &p), "body %s", body)
	return p.Type
}

// redeemCoffee redeems the free coffee for Maria with the Goomer key and
// session, and returns the status and body.
func (l *live) redeemCoffee(sess string) (int, string) {
	l.t.Helper()
	status, _, body := l.call("POST", "/api/v2/customers/"+MariaID+"/rewards/rwd_free_coffee/redeem/", key["goomer"], sess, `{"use_z_tokens": false}`)
	return status, body
}

// balance returns Maria's balance, read with the trusted Repediu key (an
// action that never needs OTP and never touches the store).
func (l *live) balance() int {
	l.t.Helper()
	status, _, body := l.call("GET", "/api/v2/customers/"+MariaID+"/balance", key["repediu"], "", "")
	require.Equal(l.t, http.StatusOK, status, "balance: body %s", body)
	var b struct {
		Data struct {
			Points int `json:"points_balance"`
		}
	}
	require.NoError(l.t, json.Unmarshal([]byte(body), &b))
	return b.Data.Points
}

func TestHealthz(t *testing.T) {
	l := startLive(t, Config{})
	status, h, body := l.call("GET", "/healthz", "", "", "")
	assert.Equal(t, http.StatusOK, status, "got %d, want 200", status)
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	assert.JSONEq(t, `{"status":"ok"}`, body)

	status, _, _ = l.call("POST", "/healthz", "", "", "")
	assert.Equal(t, http.StatusMethodNotAllowed, status, "got %d, want 405 for POST", status)
}

// TestZeroConfig builds the server from the zero Config: the embedded
// policies, Zupy's problem base, the default limits, a memory store and the
// development senders on stdout.
func TestZeroConfig(t *testing.T) {
	l := startLive(t, Config{})
	status, _, body := l.call("POST", "/api/v2/customers/"+MariaID+"/rewards/rwd_free_coffee/redeem/", key["goomer"], "", "")
	assert.Equal(t, http.StatusForbidden, status, "got %d, want 403 (Goomer is relaxed)", status)
	assert.Equal(t, "https://api.zupy.com/errors/otp-required", problemType(t, body))

	status, body = l.requestOTP("goomer", MariaPhone)
	require.Equal(t, http.StatusOK, status, "body %s", body)
	assert.JSONEq(t, `{"data": {"status": "sent", "channel": "whatsapp", "expires_in": 300}, "meta": {}}`, body)
	status, body = l.verifyOTP("goomer", MariaPhone, devCode(t, l.out, MariaPhone))
	require.Equal(t, http.StatusOK, status, "body %s", body)
	status, body = l.redeemCoffee(session(t, body))
	assert.Equal(t, http.StatusOK, status, "body %s", body)
	assert.Equal(t, 50, l.balance())
}

func TestNewErrors(t *testing.T) {
	bad := otpcode.DefaultLimits()
	bad.MaxAttempts = 0
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"incomplete limits", Config{Limits: bad}, "otp service"},
		{"short pepper", Config{Peppers: [][]byte{[]byte("short")}}, "keyring"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := New(tt.cfg, nil)
			require.Error(t, err, "got a server, want an error")
			assert.Nil(t, srv)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestCloseTwice(t *testing.T) {
	srv, err := New(Config{}, io.Discard)
	require.NoError(t, err)
	srv.Close()
	assert.NotPanics(t, srv.Close, "a second Close must be harmless")
}
