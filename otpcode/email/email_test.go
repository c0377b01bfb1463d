package email_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otpcode/email"
)

const (
	testCode     = "493817"
	testUser     = "otp@example.com"
	testPassword = "s3cr3t-Pa55word!"
	testFrom     = "no-reply@example.com"
	testTo       = "ana@example.com"
)

var testNow = time.Date(2025, 3, 14, 15, 9, 26, 0, time.FixedZone("BRT", -3*60*60))

// received is one message the test server accepted.
type received struct {
	From string
	To   []string
	Data []byte
	TLS  bool
}

// backend is a go-smtp backend that records what it receives.
type backend struct {
	user, pass string     // when set, AUTH PLAIN is required
	rcptErr    error      // returned by every RCPT TO when set
	onMail     func()     // called in MAIL FROM; may block
	mu         sync.Mutex // guards what follows
	sessions   int
	messages   []received
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.mu.Lock()
	b.sessions++
	b.mu.Unlock()
	return &session{be: b, conn: c}, nil
}

func (b *backend) counts() (sessions int, messages []received) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessions, append([]received(nil), b.messages...)
}

type session struct {
	be     *backend
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (s *session) AuthMechanisms() []string {
	if s.be.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != s.be.user || password != s.be.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.be.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	if s.be.onMail != nil {
		s.be.onMail()
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.be.rcptErr != nil {
		return s.be.rcptErr
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.be.mu.Lock()
	s.be.messages = append(s.be.messages, received{From: s.from, To: append([]string(nil), s.to...), Data: data, TLS: isTLS})
	s.be.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// serverTLS is how the test server offers TLS.
type serverTLS int

const (
	noTLS serverTLS = iota
	startTLS
	implicitTLS
)

// startServer runs a real SMTP server on loopback and returns its port.
func startServer(t *testing.T, be *backend, mode serverTLS, cert tls.Certificate) int {
	t.Helper()
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = 5 * time.Second
	srv.WriteTimeout = 5 * time.Second
	var (
		ln  net.Listener
		err error
	)
	switch mode {
	case startTLS:
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	case implicitTLS:
		ln, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	default:
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// newCert returns a self-signed certificate for 127.0.0.1 and a pool that
// trusts it.
func newCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "otpguard test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func plainConfig(port int) email.Config {
	return email.Config{Host: "127.0.0.1", Port: port, From: testFrom, FromName: "Loja Exemplo", TLS: email.TLSNone}
}

func newSender(t *testing.T, cfg email.Config, opts ...email.Option) *email.Sender {
	t.Helper()
	opts = append([]email.Option{email.WithClock(func() time.Time { return testNow })}, opts...)
	s, err := email.New(cfg, opts...)
	require.NoError(t, err)
	return s
}

func message(locale string) otpcode.Message {
	return otpcode.Message{
		Channel:   otpcode.ChannelEmail,
		To:        testTo,
		Code:      testCode,
		TTL:       5 * time.Minute,
		ExpiresAt: testNow.Add(5 * time.Minute),
		Locale:    locale,
		Name:      "Ana Souza",
		Purpose:   "login",
	}
}

// parsed is a received message taken apart.
type parsed struct {
	Header    netmail.Header
	Subject   string
	MediaType string
	Text      string
	HTML      string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err)
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	p := parsed{Header: msg.Header, Subject: subject}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	p.MediaType = mediaType
	require.Equal(t, "multipart/alternative", mediaType, "got Content-Type %s, want multipart/alternative", mediaType)
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
		ct, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		require.NoError(t, err)
		switch ct {
		case "text/plain":
			p.Text = string(b)
		case "text/html":
			p.HTML = string(b)
		default:
			t.Errorf("got part %s, want text/plain or text/html", ct)
		}
	}
	return p
}

func TestSendDelivers(t *testing.T) {
	tests := []struct {
		locale, wantSubject, wantText, wantHTML string
	}{
		{"pt-BR", "Seu código de verificação", "Ele expira em 5 minutos.", "<p>Olá, Ana Souza!</p>"},
		{"en", "Your verification code", "It expires in 5 minutes.", "<p>Hello Ana Souza,</p>"},
		{"en-US", "Your verification code", "Your verification code is: " + testCode, "Do not share this code"},
		{"", "Seu código de verificação", "Olá, Ana Souza!", "Não compartilhe este código"},
	}
	for _, tt := range tests {
		t.Run("locale="+tt.locale, func(t *testing.T) {
			be := &backend{}
			port := startServer(t, be, noTLS, tls.Certificate{})
			s := newSender(t, plainConfig(port))
			require.NoError(t, s.Send(context.Background(), message(tt.locale)))

			_, msgs := be.counts()
			require.Len(t, msgs, 1, "got %d messages, want 1", len(msgs))
			got := msgs[0]
			assert.Equal(t, testFrom, got.From, "got MAIL FROM %s, want %s", got.From, testFrom)
			assert.Equal(t, []string{testTo}, got.To, "got RCPT TO %v, want %s", got.To, testTo)

			p := parse(t, got.Data)
			from, err := p.Header.AddressList("From")
			require.NoError(t, err)
			assert.Equal(t, []*netmail.Address{{Name: "Loja Exemplo", Address: testFrom}}, from, "got From %v", from)
			to, err := p.Header.AddressList("To")
			require.NoError(t, err)
			assert.Equal(t, []*netmail.Address{{Address: testTo}}, to, "got To %v", to)
			assert.Equal(t, tt.wantSubject, p.Subject, "got Subject %q, want %q", p.Subject, tt.wantSubject)
			date, err := p.Header.Date()
			require.NoError(t, err)
			assert.True(t, date.Equal(testNow), "got Date %v, want %v", date, testNow)
			msgID := p.Header.Get("Message-Id")
			assert.Regexp(t, `^<[0-9a-f]{32}@example\.com>$`, msgID, "got Message-ID %q", msgID)
			assert.Equal(t, "auto-generated", p.Header.Get("Auto-Submitted"), "got Auto-Submitted %q", p.Header.Get("Auto-Submitted"))
			assert.Equal(t, "1.0", p.Header.Get("Mime-Version"), "got MIME-Version %q", p.Header.Get("Mime-Version"))

			assert.Contains(t, p.Text, testCode, "text body %q has no code", p.Text)
			assert.Contains(t, p.HTML, testCode, "html body %q has no code", p.HTML)
			assert.Contains(t, p.Text, tt.wantText, "got text body %q, want it to contain %q", p.Text, tt.wantText)
			assert.Contains(t, p.HTML, tt.wantHTML, "got html body %q, want it to contain %q", p.HTML, tt.wantHTML)
			assert.NotContains(t, p.Subject, testCode, "subject %q reveals the code", p.Subject)
		})
	}
}

func TestSendSTARTTLSAuth(t *testing.T) {
	cert, roots := newCert(t)
	authConfig := func(port int, password string) email.Config {
		return email.Config{
			Host: "127.0.0.1", Port: port, Username: testUser, Password: password,
			From: testFrom, TLS: email.TLSMandatory,
		}
	}

	t.Run("delivers over TLS", func(t *testing.T) {
		be := &backend{user: testUser, pass: testPassword}
		port := startServer(t, be, startTLS, cert)
		s := newSender(t, authConfig(port, testPassword), email.WithTLSConfig(&tls.Config{RootCAs: roots}))
		require.NoError(t, s.Send(context.Background(), message("pt-BR")))
		_, msgs := be.counts()
		require.Len(t, msgs, 1, "got %d messages, want 1", len(msgs))
		assert.True(t, msgs[0].TLS, "got a message over clear text, want TLS")
		assert.Contains(t, parse(t, msgs[0].Data).Text, testCode)
	})

	t.Run("AUTH LOGIN is refused by a PLAIN-only server", func(t *testing.T) {
		be := &backend{user: testUser, pass: testPassword}
		port := startServer(t, be, startTLS, cert)
		s := newSender(t, authConfig(port, testPassword), email.WithTLSConfig(&tls.Config{RootCAs: roots}), email.WithAuth(email.AuthLogin))
		err := s.Send(context.Background(), message("pt-BR"))
		assert.ErrorIs(t, err, otpcode.ErrPermanent, "got %v, want permanent", err)
		_, msgs := be.counts()
		assert.Empty(t, msgs, "got %d messages, want none", len(msgs))
	})

	t.Run("wrong password", func(t *testing.T) {
		be := &backend{user: testUser, pass: testPassword}
		port := startServer(t, be, startTLS, cert)
		const wrong = "wrong-Pa55word-xyz"
		s := newSender(t, authConfig(port, wrong), email.WithTLSConfig(&tls.Config{RootCAs: roots}))
		err := s.Send(context.Background(), message("pt-BR"))
		require.Error(t, err)
		assert.ErrorIs(t, err, otpcode.ErrPermanent, "got %v, want permanent", err)
		var se *otpcode.SendError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 535, se.Status, "got status %d, want 535", se.Status)
		assert.Equal(t, "535: authentication rejected", se.Reason, "got reason %q", se.Reason)
		assertClean(t, err, wrong)
		_, msgs := be.counts()
		assert.Empty(t, msgs, "got %d messages, want none", len(msgs))
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		be := &backend{user: testUser, pass: testPassword}
		port := startServer(t, be, startTLS, cert)
		s := newSender(t, authConfig(port, testPassword)) // system roots only
		err := s.Send(context.Background(), message("pt-BR"))
		assert.ErrorIs(t, err, otpcode.ErrPermanent, "got %v, want permanent", err)
		var se *otpcode.SendError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "tls certificate rejected", se.Reason, "got reason %q", se.Reason)
		assertClean(t, err, testPassword)
		_, msgs := be.counts()
		assert.Empty(t, msgs, "got %d messages, want none", len(msgs))
	})

	t.Run("mandatory STARTTLS missing", func(t *testing.T) {
		be := &backend{}
		port := startServer(t, be, noTLS, tls.Certificate{})
		cfg := plainConfig(port)
		cfg.TLS = email.TLSMandatory
		s := newSender(t, cfg)
		err := s.Send(context.Background(), message("pt-BR"))
		assert.ErrorIs(t, err, otpcode.ErrPermanent, "got %v, want permanent", err)
		_, msgs := be.counts()
		assert.Empty(t, msgs, "got %d messages, want none in clear text", len(msgs))
	})

	t.Run("opportunistic uses STARTTLS when offered", func(t *testing.T) {
		be := &backend{}
		port := startServer(t, be, startTLS, cert)
		cfg := plainConfig(port)
		cfg.TLS = email.TLSOpportunistic
		s := newSender(t, cfg, email.WithTLSConfig(&tls.Config{RootCAs: roots}))
		require.NoError(t, s.Send(context.Background(), message("en")))
		_, msgs := be.counts()
		require.Len(t, msgs, 1)
		assert.True(t, msgs[0].TLS, "got clear text, want STARTTLS")
	})
}

func TestSendConcurrent(t *testing.T) {
	cert, roots := newCert(t)
	be := &backend{user: testUser, pass: testPassword}
	port := startServer(t, be, startTLS, cert)
	s := newSender(t, email.Config{
		Host: "127.0.0.1", Port: port, Username: testUser, Password: testPassword, From: testFrom,
	}, email.WithTLSConfig(&tls.Config{RootCAs: roots}))

	const n = 8
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			m := message([]string{"pt-BR", "en"}[i%2])
			m.To = "cliente" + strconv.Itoa(i) + "@example.com"
			errc <- s.Send(context.Background(), m)
		}()
	}
	for i := 0; i < n; i++ {
		assert.NoError(t, <-errc)
	}
	_, msgs := be.counts()
	assert.Len(t, msgs, n, "got %d messages, want %d", len(msgs), n)
	seen := map[string]bool{}
	for _, m := range msgs {
		require.Len(t, m.To, 1)
		seen[m.To[0]] = true
	}
	assert.Len(t, seen, n, "got %d distinct recipients, want %d", len(seen), n)
}

func TestSendImplicitTLS(t *testing.T) {
	cert, roots := newCert(t)
	be := &backend{user: testUser, pass: testPassword}
	port := startServer(t, be, implicitTLS, cert)
	s := newSender(t, email.Config{
		Host: "127.0.0.1", Port: port, Username: testUser, Password: testPassword,
		From: testFrom, TLS: email.TLSImplicit,
	}, email.WithTLSConfig(&tls.Config{RootCAs: roots}))
	require.NoError(t, s.Send(context.Background(), message("en")))
	_, msgs := be.counts()
	require.Len(t, msgs, 1, "got %d messages, want 1", len(msgs))
	assert.True(t, msgs[0].TLS, "got clear text, want TLS")
}

// assertClean checks that err's text leaks neither the code nor secret.
func assertClean(t *testing.T, err error, secret string) {
	t.Helper()
	msg := err.Error()
	assert.NotContains(t, msg, testCode, "error %q contains the code", msg)
	assert.NotContains(t, msg, secret, "error %q contains a secret", msg)
}

func TestSendRecipientRefused(t *testing.T) {
	tests := []struct {
		name       string
		rcptErr    error
		wantKind   error
		wantStatus int
	}{
		{"550 no such user", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user " + testCode}, otpcode.ErrPermanent, 550},
		{"451 try later", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}, otpcode.ErrRetryable, 451},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &backend{rcptErr: tt.rcptErr}
			port := startServer(t, be, noTLS, tls.Certificate{})
			s := newSender(t, plainConfig(port))
			err := s.Send(context.Background(), message("pt-BR"))
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.wantKind, "got %v, want %v", err, tt.wantKind)
			var se *otpcode.SendError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, otpcode.ChannelEmail, se.Channel, "got channel %s", se.Channel)
			assert.Equal(t, tt.wantStatus, se.Status, "got status %d, want %d", se.Status, tt.wantStatus)
			want := strconv.Itoa(tt.wantStatus) + ": recipient rejected"
			assert.Equal(t, want, se.Reason, "got reason %q, want %q", se.Reason, want)
			assertClean(t, err, testPassword)
			_, msgs := be.counts()
			assert.Empty(t, msgs, "got %d messages, want none", len(msgs))
		})
	}
}

func TestSendUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())

	s := newSender(t, plainConfig(port))
	err = s.Send(context.Background(), message("pt-BR"))
	require.Error(t, err)
	assert.ErrorIs(t, err, otpcode.ErrRetryable, "got %v, want retryable", err)
	var se *otpcode.SendError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "connection failed", se.Reason, "got reason %q", se.Reason)
}

func TestSendHeaderInjection(t *testing.T) {
	subjectWithPurpose := email.WithTemplates("pt-BR", "Código para {{.Purpose}}", "{{.Code}}", "<p>{{.Code}}</p>")
	tests := []struct {
		name   string
		edit   func(*otpcode.Message)
		opts   []email.Option
		reason string
	}{
		{"CRLF in recipient", func(m *otpcode.Message) { m.To = testTo + "\r\nBcc: evil@example.net" }, nil, "invalid recipient address"},
		{"LF in recipient", func(m *otpcode.Message) { m.To = testTo + "\nBcc: evil@example.net" }, nil, "invalid recipient address"},
		{"display name in recipient", func(m *otpcode.Message) { m.To = "Ana <" + testTo + ">" }, nil, "invalid recipient address"},
		{"two recipients", func(m *otpcode.Message) { m.To = testTo + ", evil@example.net" }, nil, "invalid recipient address"},
		{"CRLF in name", func(m *otpcode.Message) { m.Name = "Ana\r\nBcc: evil@example.net" }, nil, "invalid customer name: control characters"},
		{"LF in name", func(m *otpcode.Message) { m.Name = "Ana\nBcc: evil@example.net" }, nil, "invalid customer name: control characters"},
		{"NEL in name", func(m *otpcode.Message) { m.Name = "Ana\u0085Bcc: evil@example.net" }, nil, "invalid customer name: control characters"},
		{"CRLF in subject", func(m *otpcode.Message) { m.Purpose = "login\r\nBcc: evil@example.net" }, []email.Option{subjectWithPurpose}, "render templates"},
		{"NUL in subject", func(m *otpcode.Message) { m.Purpose = "login\x00" }, []email.Option{subjectWithPurpose}, "render templates"},
		{"empty code", func(m *otpcode.Message) { m.Code = "" }, nil, "empty code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &backend{}
			port := startServer(t, be, noTLS, tls.Certificate{})
			s := newSender(t, plainConfig(port), tt.opts...)
			m := message("pt-BR")
			tt.edit(&m)
			err := s.Send(context.Background(), m)
			require.Error(t, err)
			assert.ErrorIs(t, err, otpcode.ErrPermanent, "got %v, want permanent", err)
			var se *otpcode.SendError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.reason, se.Reason, "got reason %q, want %q", se.Reason, tt.reason)
			assert.NotContains(t, err.Error(), "evil@", "error %q echoes the injected text", err)
			sessions, msgs := be.counts()
			assert.Zero(t, sessions, "got %d SMTP sessions, want none", sessions)
			assert.Empty(t, msgs, "got %d messages, want none", len(msgs))
		})
	}

	// Header-like text without a line break stays inside the body.
	t.Run("header-like name stays in the body", func(t *testing.T) {
		be := &backend{}
		port := startServer(t, be, noTLS, tls.Certificate{})
		cfg := plainConfig(port)
		cfg.FromName = `Loja "Exemplo" Bcc: evil@example.net`
		s := newSender(t, cfg)
		m := message("pt-BR")
		m.Name = "Ana Bcc: evil@example.net"
		require.NoError(t, s.Send(context.Background(), m))
		_, msgs := be.counts()
		require.Len(t, msgs, 1)
		assert.Equal(t, []string{testTo}, msgs[0].To, "got RCPT TO %v, want only %s", msgs[0].To, testTo)
		p := parse(t, msgs[0].Data)
		assert.Empty(t, p.Header["Bcc"], "got a Bcc header %v", p.Header["Bcc"])
		assert.Empty(t, p.Header["Cc"], "got a Cc header %v", p.Header["Cc"])
		from, err := p.Header.AddressList("From")
		require.NoError(t, err)
		require.Len(t, from, 1)
		assert.Equal(t, cfg.FromName, from[0].Name, "got From name %q, want %q", from[0].Name, cfg.FromName)
		assert.Contains(t, p.Text, "Olá, Ana Bcc: evil@example.net!", "got text %q", p.Text)
	})
}

func TestNewValidation(t *testing.T) {
	valid := email.Config{Host: "smtp.example.com", From: testFrom}
	edit := func(f func(*email.Config)) email.Config {
		c := valid
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  email.Config
		opts []email.Option
	}{
		{"no host", edit(func(c *email.Config) { c.Host = "" }), nil},
		{"host with CRLF", edit(func(c *email.Config) { c.Host = "smtp.example.com\r\n" }), nil},
		{"no from", edit(func(c *email.Config) { c.From = "" }), nil},
		{"CRLF in from", edit(func(c *email.Config) { c.From = testFrom + "\r\nBcc: evil@example.net" }), nil},
		{"from with display name", edit(func(c *email.Config) { c.From = "Loja <" + testFrom + ">" }), nil},
		{"CRLF in from name", edit(func(c *email.Config) { c.FromName = "Loja\r\nBcc: evil@example.net" }), nil},
		{"unknown TLS mode", edit(func(c *email.Config) { c.TLS = "sometimes" }), nil},
		{"port out of range", edit(func(c *email.Config) { c.Port = 70000 }), nil},
		{"credentials in clear text", edit(func(c *email.Config) {
			c.TLS, c.Username, c.Password = email.TLSNone, testUser, testPassword
		}), nil},
		{"unknown auth", edit(func(c *email.Config) { c.Username, c.Password = testUser, testPassword }), []email.Option{email.WithAuth("CRAM-MD5")}},
		{"zero timeout", valid, []email.Option{email.WithTimeout(0)}},
		{"broken template", valid, []email.Option{email.WithTemplates("es", "{{.Code", "x", "y")}},
		{"unknown field", valid, []email.Option{email.WithTemplates("es", "x", "{{.Password}}", "y")}},
		{"static CRLF subject", valid, []email.Option{email.WithTemplates("es", "x\r\nBcc: evil@example.net", "x", "y")}},
		{"default locale without templates", valid, []email.Option{email.WithDefaultLocale("fr")}},
		{"HELO with space", valid, []email.Option{email.WithHELO("bad helo")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := email.New(tt.cfg, tt.opts...)
			assert.Nil(t, s, "got a sender, want nil")
			require.ErrorIs(t, err, email.ErrInvalidConfig, "got %v, want ErrInvalidConfig", err)
			assert.NotContains(t, err.Error(), testPassword, "error %q contains the password", err)
		})
	}

	_, err := email.New(edit(func(c *email.Config) {
		c.Host, c.TLS, c.Username, c.Password = "127.0.0.1", email.TLSNone, testUser, testPassword
	}))
	assert.NoError(t, err, "got %v, want clear-text credentials allowed to a loopback relay", err)
}

func TestSendCanceled(t *testing.T) {
	t.Run("before sending", func(t *testing.T) {
		be := &backend{}
		port := startServer(t, be, noTLS, tls.Certificate{})
		s := newSender(t, plainConfig(port))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := s.Send(ctx, message("pt-BR"))
		assert.ErrorIs(t, err, context.Canceled, "got %v, want context.Canceled", err)
		var se *otpcode.SendError
		assert.ErrorAs(t, err, &se, "got %T, want *otpcode.SendError", err)
		sessions, _ := be.counts()
		assert.Zero(t, sessions, "got %d sessions, want none", sessions)
	})

	t.Run("during the session", func(t *testing.T) {
		entered := make(chan struct{}, 1)
		release := make(chan struct{})
		be := &backend{onMail: func() {
			entered <- struct{}{}
			<-release
		}}
		port := startServer(t, be, noTLS, tls.Certificate{})
		t.Cleanup(func() { close(release) }) // runs before the server's cleanup
		s := newSender(t, plainConfig(port))

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- s.Send(ctx, message("pt-BR")) }()
		<-entered
		cancel()
		select {
		case err := <-errc:
			assert.ErrorIs(t, err, context.Canceled, "got %v, want context.Canceled", err)
		case <-time.After(2 * time.Second):
			t.Fatal("Send did not return after the caller's context was canceled")
		}
		_, msgs := be.counts()
		assert.Empty(t, msgs, "got %d messages, want none", len(msgs))
	})
}

func TestSendTimeout(t *testing.T) {
	t.Run("server stalls in MAIL FROM", func(t *testing.T) {
		release := make(chan struct{})
		be := &backend{onMail: func() { <-release }}
		port := startServer(t, be, noTLS, tls.Certificate{})
		t.Cleanup(func() { close(release) })
		s := newSender(t, plainConfig(port), email.WithTimeout(200*time.Millisecond))
		start := time.Now()
		err := s.Send(context.Background(), message("pt-BR"))
		elapsed := time.Since(start)
		assert.ErrorIs(t, err, otpcode.ErrRetryable, "got %v, want retryable", err)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "got %v, want DeadlineExceeded", err)
		assert.Less(t, elapsed, 2*time.Second, "got %v, want about the 200ms timeout", elapsed)
	})

	t.Run("server never greets", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = ln.Close() })
		var (
			mu    sync.Mutex
			conns []net.Conn
		)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c) // held open, silent
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				_ = c.Close()
			}
		})
		s := newSender(t, plainConfig(ln.Addr().(*net.TCPAddr).Port), email.WithTimeout(200*time.Millisecond))
		start := time.Now()
		err = s.Send(context.Background(), message("pt-BR"))
		elapsed := time.Since(start)
		assert.ErrorIs(t, err, otpcode.ErrRetryable, "got %v, want retryable", err)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "got %v, want DeadlineExceeded", err)
		assert.Less(t, elapsed, 2*time.Second, "got %v, want about the 200ms timeout", elapsed)
	})
}

func TestRender(t *testing.T) {
	s := newSender(t, email.Config{Host: "smtp.example.com", From: testFrom})
	tests := []struct {
		name     string
		m        otpcode.Message
		wantText string
	}{
		{"one minute", otpcode.Message{Code: testCode, TTL: time.Minute, Locale: "pt-BR"}, "Ele expira em 1 minuto."},
		{"rounds up", otpcode.Message{Code: testCode, TTL: 61 * time.Second, Locale: "en"}, "It expires in 2 minutes."},
		{"from ExpiresAt", otpcode.Message{Code: testCode, ExpiresAt: testNow.Add(10 * time.Minute), Locale: "en"}, "It expires in 10 minutes."},
		{"no name", otpcode.Message{Code: testCode, Locale: "en"}, "Hello,\n"},
		{"name", otpcode.Message{Code: testCode, Locale: "en", Name: "  Bob  "}, "Hello Bob,\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := s.Render(tt.m)
			require.NoError(t, err)
			assert.Contains(t, c.Text, tt.wantText, "got text %q, want it to contain %q", c.Text, tt.wantText)
			assert.Contains(t, c.HTML, testCode, "got html %q, want the code", c.HTML)
		})
	}

	c, err := s.Render(otpcode.Message{Code: testCode, Locale: "en", Name: `<script>alert(1)</script>`})
	require.NoError(t, err)
	assert.NotContains(t, c.HTML, "<script>", "got unescaped name in html %q", c.HTML)
	assert.Equal(t, "en", s.Locale("EN-gb"), "got locale %s, want en", s.Locale("EN-gb"))
	assert.Equal(t, "pt-br", s.Locale("fr"), "got locale %s, want pt-br", s.Locale("fr"))
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name          string
		err           error
		wantRetryable bool
		wantStatus    int
	}{
		{"421 closing", &textproto.Error{Code: 421, Msg: "service not available"}, true, 421},
		{"554 refused", &textproto.Error{Code: 554, Msg: "no service"}, false, 554},
		{"535 wrapped", errors.Join(errors.New("dial failed"), &textproto.Error{Code: 535, Msg: "bad credentials"}), false, 535},
		{"EOF", io.EOF, true, 0},
		{"net error", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")}, true, 0},
		{"unknown", errors.New("something odd"), false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			retryable, status, reason := email.Classify(tt.err)
			assert.Equal(t, tt.wantRetryable, retryable, "got retryable %v, want %v (%s)", retryable, tt.wantRetryable, reason)
			assert.Equal(t, tt.wantStatus, status, "got status %d, want %d", status, tt.wantStatus)
			assert.NotContains(t, reason, "credentials", "reason %q quotes the server", reason)
		})
	}
}

func BenchmarkRender(b *testing.B) {
	s, err := email.New(email.Config{Host: "smtp.example.com", From: testFrom})
	if err != nil {
		b.Fatal(err)
	}
	m := message("pt-BR")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Render(m); err != nil {
			b.Fatal(err)
		}
	}
}
