package loyalty

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// This file is a small real SMTP server for the tests, on loopback, without
// TLS: it records every message it accepts, can require AUTH PLAIN with one
// user, and can refuse chosen recipients.

// mail is one message the test SMTP server accepted.
type mail struct {
	From string
	To   []string
	Data []byte
}

// mailbox is the test SMTP server's backend.
type mailbox struct {
	user, pass string           // when user is set, AUTH PLAIN with them is required
	refuse     map[string]error // RCPT TO of these addresses fails with the error
	refuseAll  error            // when set, every RCPT TO fails with it

	mu       sync.Mutex
	sessions int
	authed   int
	mails    []mail
}

// reject550 is the reply of a server that refuses a recipient.
var reject550 = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}

// NewSession implements smtp.Backend.
func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) {
	m.mu.Lock()
	m.sessions++
	m.mu.Unlock()
	return &mailSession{m: m}, nil
}

// received returns the sessions opened so far and the messages accepted.
func (m *mailbox) received() (sessions int, mails []mail) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions, append([]mail(nil), m.mails...)
}

// logins returns the number of successful logins.
func (m *mailbox) logins() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.authed
}

type mailSession struct {
	m      *mailbox
	authed bool
	from   string
	to     []string
}

// AuthMechanisms implements smtp.AuthSession: PLAIN when a user is set.
func (s *mailSession) AuthMechanisms() []string {
	if s.m.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth implements smtp.AuthSession.
func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.m.user || pass != s.m.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		s.m.mu.Lock()
		s.m.authed++
		s.m.mu.Unlock()
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.m.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.m.refuseAll != nil {
		return s.m.refuseAll
	}
	if err := s.m.refuse[to]; err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	s.m.mails = append(s.m.mails, mail{From: s.from, To: append([]string(nil), s.to...), Data: b})
	s.m.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }

// startSMTP serves m on a loopback port until the test ends and returns the
// port.
func startSMTP(t *testing.T, m *mailbox) int {
	t.Helper()
	srv := smtp.NewServer(m)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // loopback, no TLS
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = 5 * time.Second
	srv.WriteTimeout = 5 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// closedPort returns a loopback port nobody listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// mailCode returns the one code in the text/plain part of a message.
func mailCode(t *testing.T, data []byte) string {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err)
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mediaType)
	text := ""
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		var body io.Reader = part // quoted-printable is decoded by multipart
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "base64") {
			body = base64.NewDecoder(base64.StdEncoding, part)
		}
		b, err := io.ReadAll(body)
		require.NoError(t, err)
		if strings.HasPrefix(part.Header.Get("Content-Type"), "text/plain") {
			text = string(b)
		}
	}
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
