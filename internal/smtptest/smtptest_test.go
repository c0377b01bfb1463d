package smtptest_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/smtptest"
)

const (
	user = "otp@example.com"
	pass = "s3cr3t"
	from = "no-reply@example.com"
	to   = "ana@example.com"
	body = "Subject: hi\r\n\r\nhello\r\n"
)

// send runs one transaction on c, logging in first when auth is set, and
// returns the first error.
func send(c *smtp.Client, auth sasl.Client, rcpts ...string) error {
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return err
		}
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}

// code returns the SMTP reply code of err, or 0.
func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestServerRecords(t *testing.T) {
	tests := []struct {
		name    string
		opts    []smtptest.Option
		dial    func(s *smtptest.Server) (*smtp.Client, error)
		auth    sasl.Client
		wantTLS bool
		// wantSessions is 2 after STARTTLS: go-smtp opens a new session
		// on the encrypted connection.
		wantSessions int
	}{
		{"plain", nil,
			func(s *smtptest.Server) (*smtp.Client, error) { return smtp.Dial(s.Addr()) }, nil, false, 1},
		{"plain with AUTH", []smtptest.Option{smtptest.WithAuth(user, pass)},
			func(s *smtptest.Server) (*smtp.Client, error) { return smtp.Dial(s.Addr()) }, sasl.NewPlainClient("", user, pass), false, 1},
		{"STARTTLS with AUTH", []smtptest.Option{smtptest.WithSTARTTLS(), smtptest.WithAuth(user, pass)},
			func(s *smtptest.Server) (*smtp.Client, error) {
				return smtp.DialStartTLS(s.Addr(), s.ClientTLSConfig())
			},
			sasl.NewPlainClient("", user, pass), true, 2},
		{"implicit TLS", []smtptest.Option{smtptest.WithImplicitTLS()},
			func(s *smtptest.Server) (*smtp.Client, error) { return smtp.DialTLS(s.Addr(), s.ClientTLSConfig()) }, nil, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.opts...)
			assert.Equal(t, "127.0.0.1", srv.Host(), "got host %s, want 127.0.0.1", srv.Host())
			assert.Equal(t, "127.0.0.1:"+strconv.Itoa(srv.Port()), srv.Addr(), "got addr %s", srv.Addr())
			assert.Equal(t, tt.wantTLS, srv.RootCAs() != nil, "got root pool %v, want one only with TLS", srv.RootCAs())
			c, err := tt.dial(srv)
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, send(c, tt.auth, to, "bob@example.com"))
			require.NoError(t, c.Quit())

			msgs := srv.Messages()
			require.Len(t, msgs, 1, "got %d messages, want 1", len(msgs))
			assert.Equal(t, from, msgs[0].From, "got MAIL FROM %s, want %s", msgs[0].From, from)
			assert.Equal(t, []string{to, "bob@example.com"}, msgs[0].To, "got RCPT TO %v", msgs[0].To)
			assert.Equal(t, body, string(msgs[0].Data), "got data %q, want %q", msgs[0].Data, body)
			assert.Equal(t, tt.wantTLS, msgs[0].TLS, "got TLS %v, want %v", msgs[0].TLS, tt.wantTLS)
			assert.Equal(t, tt.wantSessions, srv.Sessions(), "got %d sessions, want %d", srv.Sessions(), tt.wantSessions)
			wantLogins := 0
			if tt.auth != nil {
				wantLogins = 1
			}
			assert.Equal(t, wantLogins, srv.Logins(), "got %d logins, want %d", srv.Logins(), wantLogins)
		})
	}
}

func TestServerAuth(t *testing.T) {
	t.Run("MAIL without AUTH", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithAuth(user, pass))
		c, err := smtp.Dial(srv.Addr())
		require.NoError(t, err)
		defer c.Close()
		err = send(c, nil, to)
		assert.Equal(t, 502, code(err), "got %v, want 502 authentication required", err)
		assert.Empty(t, srv.Messages())
	})

	t.Run("wrong password", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithSTARTTLS(), smtptest.WithAuth(user, pass))
		c, err := smtp.DialStartTLS(srv.Addr(), srv.ClientTLSConfig())
		require.NoError(t, err)
		defer c.Close()
		err = send(c, sasl.NewPlainClient("", user, "wrong"), to)
		assert.Equal(t, 535, code(err), "got %v, want 535", err)
		assert.Zero(t, srv.Logins(), "got %d logins, want 0", srv.Logins())
	})

	t.Run("STARTTLS server offers AUTH only over TLS", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithSTARTTLS(), smtptest.WithAuth(user, pass))
		c, err := smtp.Dial(srv.Addr())
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Hello("localhost"))
		ok, _ := c.Extension("STARTTLS")
		assert.True(t, ok, "got no STARTTLS, want it offered")
		ok, _ = c.Extension("AUTH")
		assert.False(t, ok, "got AUTH offered in clear text, want it only after STARTTLS")
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithSTARTTLS())
		other := smtptest.Start(t, smtptest.WithSTARTTLS())
		c, err := smtp.DialStartTLS(srv.Addr(), other.ClientTLSConfig())
		require.NoError(t, err) // the handshake runs with the next command
		defer c.Close()
		err = c.Hello("localhost")
		var verr *tls.CertificateVerificationError
		assert.ErrorAs(t, err, &verr, "got %v, want a certificate verification error", err)
	})
}

func TestServerRefusal(t *testing.T) {
	tempfail := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	tests := []struct {
		name     string
		opts     []smtptest.Option
		rcpt     string
		wantCode int
	}{
		{"every recipient", []smtptest.Option{smtptest.WithRefusal(smtptest.MailboxUnavailable)}, to, 550},
		{"every recipient, chosen reply", []smtptest.Option{smtptest.WithRefusal(tempfail)}, to, 451},
		{"one address, refused", []smtptest.Option{smtptest.WithRefusal(smtptest.MailboxUnavailable, "joao@example.com")}, "joao@example.com", 550},
		{"one address, another accepted", []smtptest.Option{smtptest.WithRefusal(smtptest.MailboxUnavailable, "joao@example.com")}, to, 0},
		{"nil refuses nothing", []smtptest.Option{smtptest.WithRefusal(nil)}, to, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.opts...)
			c, err := smtp.Dial(srv.Addr())
			require.NoError(t, err)
			defer c.Close()
			err = send(c, nil, tt.rcpt)
			assert.Equal(t, tt.wantCode, code(err), "got %v, want code %d", err, tt.wantCode)
			wantMsgs := 0
			if tt.wantCode == 0 {
				wantMsgs = 1
			}
			assert.Len(t, srv.Messages(), wantMsgs, "got %d messages, want %d", len(srv.Messages()), wantMsgs)
		})
	}
}

func TestServerMailHook(t *testing.T) {
	called := make(chan string, 1)
	srv := smtptest.Start(t, smtptest.WithMailHook(func() { called <- "mail" }))
	c, err := smtp.Dial(srv.Addr())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, send(c, nil, to))
	select {
	case got := <-called:
		assert.Equal(t, "mail", got)
	default:
		t.Fatal("got no call of the MAIL hook, want one")
	}
}

func TestClosedPort(t *testing.T) {
	port := smtptest.ClosedPort(t)
	assert.Positive(t, port, "got port %d, want a real one", port)
	_, err := smtp.Dial("127.0.0.1:" + strconv.Itoa(port))
	assert.Error(t, err, "got a connection to the closed port %d, want none", port)
}

func TestParse(t *testing.T) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	pw, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	require.NoError(t, err)
	qp := quotedprintable.NewWriter(pw)
	_, err = qp.Write([]byte("Olá, seu código é 493817."))
	require.NoError(t, err)
	require.NoError(t, qp.Close())
	hw, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/html; charset=utf-8"},
		"Content-Transfer-Encoding": {"base64"},
	})
	require.NoError(t, err)
	_, err = hw.Write([]byte("PHA+NDkzODE3PC9wPg==")) // <p>493817</p>
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	msg := "From: " + from + "\r\n" +
		"Subject: " + mime.QEncoding.Encode("utf-8", "Seu código") + "\r\n" +
		"Content-Type: multipart/alternative; boundary=" + mw.Boundary() + "\r\n\r\n" + buf.String()

	p := smtptest.Parse(t, []byte(msg))
	assert.Equal(t, "Seu código", p.Subject, "got subject %q, want %q", p.Subject, "Seu código")
	assert.Equal(t, "multipart/alternative", p.MediaType, "got media type %s", p.MediaType)
	assert.Equal(t, from, p.Header.Get("From"), "got From %q, want %q", p.Header.Get("From"), from)
	assert.Equal(t, "Olá, seu código é 493817.", p.Text, "got text %q", p.Text)
	assert.Equal(t, "<p>493817</p>", strings.TrimSpace(p.HTML), "got html %q", p.HTML)
}
