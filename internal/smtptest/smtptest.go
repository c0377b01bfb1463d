// Package smtptest runs a real SMTP server on loopback for otpguard's own
// tests: it records every message it accepts and, by option, offers
// STARTTLS or implicit TLS with a freshly generated self-signed certificate,
// requires AUTH PLAIN with one user, refuses recipients with a chosen SMTP
// reply, or calls a hook in MAIL FROM. It also takes received messages apart
// (Parse) and finds a loopback port nobody listens on (ClosedPort).
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Host is the address every Server listens on.
const Host = "127.0.0.1"

// Timeout bounds each read and write of the server on a connection.
const Timeout = 5 * time.Second

// MailboxUnavailable is the reply of a server that refuses a recipient:
// 550 5.1.1 mailbox unavailable.
var MailboxUnavailable = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}

// Message is one message the server accepted.
type Message struct {
	From string   // MAIL FROM
	To   []string // RCPT TO, in order
	Data []byte   // the raw message after DATA
	TLS  bool     // whether the connection was encrypted when DATA came
}

// tlsMode is how a Server offers TLS.
type tlsMode int

const (
	noTLS tlsMode = iota
	startTLS
	implicitTLS
)

// config is what the options set.
type config struct {
	tls        tlsMode
	user, pass string
	refuseAll  error
	refuse     map[string]error
	onMail     func()
}

// Option configures a Server.
type Option func(*config)

// WithSTARTTLS makes the server offer STARTTLS with a generated self-signed
// certificate; clients trust it through Server.ClientTLSConfig. AUTH is then
// offered only after STARTTLS.
func WithSTARTTLS() Option {
	return func(c *config) { c.tls = startTLS }
}

// WithImplicitTLS makes the server speak TLS from the first byte (SMTPS)
// with a generated self-signed certificate; clients trust it through
// Server.ClientTLSConfig.
func WithImplicitTLS() Option {
	return func(c *config) { c.tls = implicitTLS }
}

// WithAuth makes the server require AUTH PLAIN with user and pass before
// MAIL FROM. Without TLS the server offers AUTH in clear text (it is on
// loopback); with TLS only over the encrypted connection.
func WithAuth(user, pass string) Option {
	return func(c *config) { c.user, c.pass = user, pass }
}

// WithRefusal makes RCPT TO fail with err for each of addrs, or for every
// recipient when no address is given; a nil err refuses nothing. A refusal of every recipient takes
// precedence over refusals of single addresses.
func WithRefusal(err *smtp.SMTPError, addrs ...string) Option {
	return func(c *config) {
		if err == nil {
			return
		}
		if len(addrs) == 0 {
			c.refuseAll = err
			return
		}
		if c.refuse == nil {
			c.refuse = make(map[string]error, len(addrs))
		}
		for _, a := range addrs {
			c.refuse[a] = err
		}
	}
}

// WithMailHook makes the server call f in every MAIL FROM, after the AUTH
// check and before accepting the sender. f may block, to stall the
// session; a test that blocks it must release it before the test ends
// (a t.Cleanup registered after Start runs before the server closes).
func WithMailHook(f func()) Option {
	return func(c *config) { c.onMail = f }
}

// Server is a recording SMTP server on a loopback port. Its methods are
// safe for concurrent use.
type Server struct {
	cfg   config
	port  int
	roots *x509.CertPool

	mu       sync.Mutex // guards what follows
	sessions int
	logins   int
	messages []Message
}

// Start serves SMTP on a free loopback port until the test ends (the
// server closes in tb.Cleanup) and returns the server. It fails the test
// when the port cannot be opened or the certificate cannot be made.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{}
	for _, o := range opts {
		o(&s.cfg)
	}
	srv := smtp.NewServer(&backend{s: s})
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = Timeout
	srv.WriteTimeout = Timeout
	var (
		ln  net.Listener
		err error
	)
	switch s.cfg.tls {
	case startTLS:
		var cert tls.Certificate
		cert, s.roots = newCert(tb)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln, err = net.Listen("tcp", net.JoinHostPort(Host, "0"))
	case implicitTLS:
		var cert tls.Certificate
		cert, s.roots = newCert(tb)
		ln, err = tls.Listen("tcp", net.JoinHostPort(Host, "0"), &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	default:
		// Loopback, and no TLS to wait for: offer AUTH in clear text when
		// a login is required (and no bare AUTH line when it is not).
		srv.AllowInsecureAuth = s.cfg.user != ""
		ln, err = net.Listen("tcp", net.JoinHostPort(Host, "0"))
	}
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return s
}

// Host returns the server's IP address, 127.0.0.1.
func (s *Server) Host() string { return Host }

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.port }

// Addr returns the server's address as host:port.
func (s *Server) Addr() string { return net.JoinHostPort(Host, strconv.Itoa(s.port)) }

// RootCAs returns a pool that trusts the server's certificate, or nil when
// the server has no TLS.
func (s *Server) RootCAs() *x509.CertPool { return s.roots }

// ClientTLSConfig returns a new client configuration that trusts the
// server's certificate and nothing else. Without TLS its RootCAs is nil
// (the system roots).
func (s *Server) ClientTLSConfig() *tls.Config { return &tls.Config{RootCAs: s.roots} }

// Sessions returns how many SMTP sessions were opened: one a connection,
// and one more on a connection after STARTTLS (go-smtp starts over).
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Logins returns how many AUTH PLAIN logins succeeded.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// Messages returns a copy of the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// ClosedPort returns a loopback port nobody listens on (it was free a
// moment ago), for tests of an unreachable server.
func ClosedPort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(Host, "0"))
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		tb.Fatalf("smtptest: close listener: %v", err)
	}
	return port
}

// newCert returns a self-signed certificate for 127.0.0.1 and localhost,
// valid for an hour either side of now, and a pool that trusts it.
func newCert(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("smtptest: generate key: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "otpguard test SMTP"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP(Host)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("smtptest: create certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("smtptest: parse certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// backend is the go-smtp backend of a Server.
type backend struct{ s *Server }

// NewSession implements smtp.Backend.
func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.s.mu.Lock()
	b.s.sessions++
	b.s.mu.Unlock()
	return &session{s: b.s, conn: c}, nil
}

// session is one SMTP session; go-smtp calls it from one goroutine.
type session struct {
	s      *Server
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

// AuthMechanisms implements smtp.AuthSession: PLAIN when a user is set.
func (ss *session) AuthMechanisms() []string {
	if ss.s.cfg.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth implements smtp.AuthSession.
func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.s.cfg.user || pass != ss.s.cfg.pass {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		ss.s.mu.Lock()
		ss.s.logins++
		ss.s.mu.Unlock()
		return nil
	}), nil
}

// Mail implements smtp.Session.
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.cfg.user != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	if ss.s.cfg.onMail != nil {
		ss.s.cfg.onMail()
	}
	ss.from = from
	return nil
}

// Rcpt implements smtp.Session.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.cfg.refuseAll != nil {
		return ss.s.cfg.refuseAll
	}
	if err := ss.s.cfg.refuse[to]; err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

// Data implements smtp.Session.
func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("smtptest: read DATA: %w", err)
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.s.mu.Lock()
	ss.s.messages = append(ss.s.messages, Message{From: ss.from, To: append([]string(nil), ss.to...), Data: data, TLS: isTLS})
	ss.s.mu.Unlock()
	return nil
}

// Reset implements smtp.Session.
func (ss *session) Reset() { ss.from, ss.to = "", nil }

// Logout implements smtp.Session.
func (ss *session) Logout() error { return nil }
