package loyalty

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/smtptest"
	"github.com/otpguard/otpguard/otpcode/email"
	"github.com/otpguard/otpguard/otpcode/whatsapp"
)

// These tests run the request-otp flow through HTTP with the real senders:
// the WhatsApp Cloud API sender against an httptest server on loopback, and
// the SMTP sender against a recording SMTP server on loopback
// (internal/smtptest), without TLS.

const (
	waPhoneNumberID = "106540352242922"
	smtpFrom        = "no-reply@zupy.example"
	mariaEmail      = "maria@example.com"
	joaoEmail       = "joao@example.com"
)

// graph is a fake WhatsApp Cloud API that answers with handle and records
// the Authorization header of every request.
type graph struct {
	url string
	mu  sync.Mutex
	got []string // Authorization headers
}

func startGraph(t *testing.T, handle http.HandlerFunc) *graph {
	t.Helper()
	g := &graph{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.got = append(g.got, r.Header.Get("Authorization"))
		g.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(ts.Close)
	g.url = ts.URL
	return g
}

// requests returns the Authorization headers received so far.
func (g *graph) requests() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.got...)
}

// graphError answers like the Graph API refusing a request.
func graphError(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// smtpAccount is the SMTP login of the email sender; zero for none.
type smtpAccount struct{ user, pass string }

// realSenders returns the WhatsApp sender on the fake Graph API and the
// SMTP sender on a loopback port, both with timeout.
func realSenders(t *testing.T, graphURL, token string, smtpPort int, acct smtpAccount, timeout time.Duration) Senders {
	t.Helper()
	wa, err := whatsapp.New(whatsapp.Config{Token: token, PhoneNumberID: waPhoneNumberID},
		whatsapp.WithBaseURL(graphURL), whatsapp.WithTimeout(timeout))
	require.NoError(t, err)
	em, err := email.New(email.Config{
		Host: "127.0.0.1", Port: smtpPort, Username: acct.user, Password: acct.pass,
		From: smtpFrom, FromName: "Zupy Demo", TLS: email.TLSNone,
	}, email.WithTimeout(timeout))
	require.NoError(t, err)
	return Senders{WhatsApp: wa, Email: em}
}

// TestFallbackToEmail: WhatsApp refuses, the code goes by email, and the
// code read from the email verifies.
func TestFallbackToEmail(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"whatsapp 500", http.StatusInternalServerError, `{"error": {"message": "Something went wrong", "type": "OAuthException", "code": 131000, "fbtrace_id": "A1"}}`},
		{"whatsapp 429", http.StatusTooManyRequests, `{"error": {"message": "Rate limit hit", "type": "OAuthException", "code": 130429, "fbtrace_id": "A2"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGraph(t, graphError(tt.status, tt.body))
			mb := smtptest.Start(t)
			l := startLive(t, Config{Senders: realSenders(t, g.url, "wa-token", mb.Port(), smtpAccount{}, 3*time.Second)})

			status, body := l.requestOTP("goomer", MariaPhone)
			require.Equal(t, http.StatusOK, status, "request-otp: got %d, want 200; body %s", status, body)
			assert.JSONEq(t, `{"data": {"status": "sent", "channel": "email", "expires_in": 300}, "meta": {}}`, body)
			assert.Len(t, g.requests(), 1, "got %d WhatsApp requests, want 1 (tried first)", len(g.requests()))

			mails := mb.Messages()
			require.Len(t, mails, 1, "got %d emails, want 1", len(mails))
			assert.Equal(t, []string{mariaEmail}, mails[0].To)
			assert.Equal(t, smtpFrom, mails[0].From)
			assert.Empty(t, l.out.String(), "the development sender printed something; the real senders were not used")

			status, body = l.verifyOTP("goomer", MariaPhone, mailCode(t, mails[0].Data))
			require.Equal(t, http.StatusOK, status, "verify-otp: got %d, want 200; body %s", status, body)
			status, body = l.redeemCoffee(session(t, body))
			assert.Equal(t, http.StatusOK, status, "redeem: got %d, want 200; body %s", status, body)
		})
	}
}

// TestBothChannelsDown: WhatsApp and email both fail, the client gets 502
// and no usable code is left behind.
func TestBothChannelsDown(t *testing.T) {
	tests := []struct {
		name string
		// start returns the SMTP port and what the server there received.
		start func(t *testing.T) (port int, received func() []smtptest.Message)
	}{
		{"recipient refused with 550", func(t *testing.T) (int, func() []smtptest.Message) {
			mb := smtptest.Start(t, smtptest.WithRefusal(smtptest.MailboxUnavailable))
			return mb.Port(), mb.Messages
		}},
		{"closed port", func(t *testing.T) (int, func() []smtptest.Message) {
			return smtptest.ClosedPort(t), func() []smtptest.Message { return nil }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGraph(t, graphError(http.StatusServiceUnavailable, `{"error": {"message": "down", "code": 2}}`))
			port, received := tt.start(t)
			l := startLive(t, Config{Senders: realSenders(t, g.url, "wa-token", port, smtpAccount{}, 3*time.Second)})

			status, body := l.requestOTP("goomer", MariaPhone)
			assert.Equal(t, http.StatusBadGateway, status, "request-otp: got %d, want 502; body %s", status, body)
			assert.Equal(t, problems+"delivery-failed", problemType(t, body))
			assert.Len(t, g.requests(), 1, "got %d WhatsApp requests, want 1", len(g.requests()))
			mails := received()
			assert.Empty(t, mails)

			for _, code := range []string{"000000", "123456", "999999"} {
				status, body = l.verifyOTP("goomer", MariaPhone, code)
				assert.Equal(t, http.StatusNotFound, status, "verify %s: got %d, want 404; body %s", code, status, body)
				assert.Equal(t, problems+"not-found", problemType(t, body))
			}
		})
	}
}

// TestCancelStopsChain: a client that gives up while WhatsApp is still
// answering stops the chain; email is never tried.
func TestCancelStopsChain(t *testing.T) {
	arrived := make(chan struct{}, 1)
	cancelled := make(chan bool, 1)
	g := startGraph(t, func(w http.ResponseWriter, r *http.Request) {
		// net/http notices a closed connection only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
			cancelled <- true
		case <-time.After(20 * time.Second):
			cancelled <- false
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	mb := smtptest.Start(t)
	l := startLive(t, Config{Senders: realSenders(t, g.url, "wa-token", mb.Port(), smtpAccount{}, 20*time.Second)})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := l.request(ctx, "POST", "/api/v2/auth/request-otp/", key["goomer"], "", `{"identifier": "`+MariaPhone+`"}`)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()

	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the WhatsApp request never arrived")
	}
	cancel()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the client request did not return after cancel")
	}
	select {
	case path := <-l.served:
		assert.Equal(t, "/api/v2/auth/request-otp/", path)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the server's handler did not return after the client cancelled")
	}
	select {
	case ok := <-cancelled:
		assert.True(t, ok, "the WhatsApp request was not cancelled")
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the WhatsApp request was not cancelled")
	}

	sessions, mails := mb.Sessions(), mb.Messages()
	assert.Zero(t, sessions, "got %d SMTP connections, want 0: the chain went on after the cancel", sessions)
	assert.Empty(t, mails)
	status, body := l.verifyOTP("goomer", MariaPhone, "123456")
	assert.Equal(t, http.StatusNotFound, status, "verify after a cancelled request: got %d, want 404; body %s", status, body)
}

// TestNoSecretsLeak runs the flow with credentials configured on both
// senders, through a WhatsApp API that echoes the token and an SMTP server
// that refuses one recipient, and checks that neither the token, the
// password, the code nor the session reaches the audit log or a response.
func TestNoSecretsLeak(t *testing.T) {
	const (
		token    = "wa-secret-token-123"
		user     = "otp@zupy.example"
		password = "smtp-secret-pw"
	)
	g := startGraph(t, graphError(http.StatusUnauthorized,
		`{"error": {"message": "Invalid OAuth access token: `+token+`", "type": "OAuthException", "code": 190, "fbtrace_id": "A3"}}`))
	mb := smtptest.Start(t, smtptest.WithAuth(user, password), smtptest.WithRefusal(smtptest.MailboxUnavailable, joaoEmail))
	l := startLive(t, Config{Senders: realSenders(t, g.url, token, mb.Port(), smtpAccount{user, password}, 3*time.Second)})

	// Maria: WhatsApp refuses the token, the email goes out after AUTH.
	status, body := l.requestOTP("goomer", MariaPhone)
	require.Equal(t, http.StatusOK, status, "request-otp: body %s", body)
	assert.Contains(t, body, `"channel":"email"`)
	require.NotEmpty(t, g.requests())
	assert.Equal(t, "Bearer "+token, g.requests()[0], "the WhatsApp sender did not use the configured token")
	assert.Equal(t, 1, mb.Logins(), "got %d SMTP logins, want 1 with the configured password", mb.Logins())
	mails := mb.Messages()
	require.Len(t, mails, 1)
	code := mailCode(t, mails[0].Data)

	status, body = l.verifyOTP("goomer", MariaPhone, wrongCode(code))
	assert.Equal(t, http.StatusUnauthorized, status, "wrong code: got %d, want 401; body %s", status, body)
	status, body = l.verifyOTP("goomer", MariaPhone, code)
	require.Equal(t, http.StatusOK, status, "verify-otp: body %s", body)
	sess := session(t, body)
	status, body = l.redeemCoffee(sess)
	assert.Equal(t, http.StatusOK, status, "redeem: body %s", body)

	// João: WhatsApp refuses, the SMTP server refuses him: 502, logged
	// with its error.
	status, body = l.requestOTP("goomer", "+5521998765432")
	assert.Equal(t, http.StatusBadGateway, status, "request-otp for João: got %d, want 502; body %s", status, body)

	logs := l.logs.String()
	require.Contains(t, logs, `"status":502`, "the delivery failure was not logged; logs %s", logs)
	require.Contains(t, logs, `"outcome":"verified"`)
	plainAuth := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	for name, secret := range map[string]string{
		"WhatsApp token": token, "SMTP password": password, "SMTP AUTH PLAIN": plainAuth,
		"code": code, "otp_session": sess,
	} {
		assert.NotContains(t, logs, secret, "the %s is in the audit log", name)
		// verify-otp returns the session by design; no other response
		// may carry it, and none carries the rest.
		want := 0
		if name == "otp_session" {
			want = 1
		}
		assert.Equal(t, want, l.responsesContaining(secret), "got the %s in %d responses, want %d", name, l.responsesContaining(secret), want)
	}
	assert.Empty(t, l.out.String(), "the development sender printed a code")
}

// sixDigits matches a verification code.
var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// mailCode returns the one code in the text/plain part of a message.
func mailCode(t *testing.T, data []byte) string {
	t.Helper()
	text := smtptest.Parse(t, data).Text
	codes := map[string]bool{}
	for _, c := range sixDigits.FindAllString(text, -1) {
		codes[c] = true
	}
	require.Len(t, codes, 1, "got codes %v in the text part %q, want exactly one", codes, text)
	for c := range codes {
		return c
	}
	return ""
}
