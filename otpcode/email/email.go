// Package email delivers one-time codes by SMTP, as a multipart/alternative
// message with a plain-text and an HTML body. It is otpguard's fallback
// channel, used when WhatsApp fails and the customer's email is known.
//
// Configuration:
//
//	s, err := email.New(email.Config{
//		Host:     "smtp.example.com",
//		Port:     587,                     // default: 587, or 465 with TLSImplicit, 25 with TLSNone
//		Username: "otp@example.com",       // optional; AUTH PLAIN by default
//		Password: os.Getenv("SMTP_PASSWORD"),
//		From:     "no-reply@example.com",
//		FromName: "Loja Exemplo",
//		TLS:      email.TLSMandatory,      // STARTTLS required (the default)
//	}, email.WithTimeout(10*time.Second))
//
// Messages come from per-locale templates: "pt-BR" (the default) and "en"
// are built in, and WithTemplates adds or replaces one. Templates receive a
// TemplateData (the code, its lifetime in minutes, the customer's name).
//
// Header injection is impossible by construction: the recipient must be a
// bare address accepted by net/mail, and the recipient, the customer's name,
// the sender's name and the rendered subject are refused when they contain a
// line break or any other control character, before anything is handed to
// the SMTP library or the server.
//
// Failures are *otpcode.SendError values: SMTP 4xx replies, connection
// failures and timeouts are retryable (otpcode.ErrRetryable); 5xx replies
// (a rejected recipient, a rejected credential), TLS verification failures
// and invalid messages are permanent (otpcode.ErrPermanent). Error strings
// carry the SMTP code and this package's own category, never the code, the
// password or the server's reply text.
package email

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"

	mail "github.com/wneessen/go-mail"
	mailsmtp "github.com/wneessen/go-mail/smtp"

	"github.com/otpguard/otpguard/otpcode"
)

// TLSMode says how the connection to the SMTP server is encrypted.
type TLSMode string

// The TLS modes.
const (
	// TLSMandatory requires STARTTLS: the send fails when the server does not
	// offer it or the certificate does not verify. It is the default.
	TLSMandatory TLSMode = "mandatory"
	// TLSOpportunistic uses STARTTLS when the server offers it and sends in
	// clear text otherwise. Authentication still requires TLS.
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSNone never encrypts. It is meant for a relay on the same host;
	// New refuses it with credentials unless the host is loopback.
	TLSNone TLSMode = "none"
	// TLSImplicit connects with TLS from the first byte (SMTPS, port 465).
	TLSImplicit TLSMode = "implicit"
)

// AuthMechanism is the SASL mechanism used when Config.Username is set.
type AuthMechanism string

// The supported mechanisms. Both need TLS (or a loopback server).
const (
	// AuthPlain is SASL PLAIN, the default.
	AuthPlain AuthMechanism = "PLAIN"
	// AuthLogin is the LOGIN mechanism, for servers that lack PLAIN.
	AuthLogin AuthMechanism = "LOGIN"
)

// Defaults used by New when an option does not override them.
const (
	// DefaultTimeout bounds one Send: connection, TLS, authentication and
	// transfer.
	DefaultTimeout = 10 * time.Second
	// DefaultLocale is the locale used when a message's locale has no
	// templates.
	DefaultLocale = "pt-BR"
)

// maxSubjectRunes caps a rendered subject.
const maxSubjectRunes = 250

// ErrInvalidConfig is wrapped by every error New returns for a bad Config,
// option or template.
var ErrInvalidConfig = errors.New("email: invalid configuration")

// Config holds the SMTP server and sender settings.
type Config struct {
	// Host is the SMTP server's host name or IP address. With TLS it must
	// match the server's certificate.
	Host string
	// Port is the server's port; 0 picks 587, or 465 for TLSImplicit and
	// 25 for TLSNone.
	Port int
	// Username and Password are the SMTP credentials; leave Username empty
	// for a server without authentication. The password never appears in
	// an error.
	Username string
	Password string
	// From is the sender's bare address ("no-reply@example.com").
	From string
	// FromName is the sender's display name, or "".
	FromName string
	// TLS is the encryption mode; "" means TLSMandatory.
	TLS TLSMode
}

// TemplateData is what the templates receive.
type TemplateData struct {
	// Code is the one-time code.
	Code string
	// Minutes is the code's lifetime in whole minutes, rounded up, or 0
	// when unknown.
	Minutes int
	// Name is the customer's name, or "".
	Name string
	// Purpose is the purpose the code was requested for, or "".
	Purpose string
	// ExpiresAt is the code's expiry.
	ExpiresAt time.Time
}

// Content is a rendered message.
type Content struct {
	// Subject is the subject line, trimmed, without control characters.
	Subject string
	// Text is the text/plain body.
	Text string
	// HTML is the text/html body.
	HTML string
}

// Option changes a Sender's default settings in New.
type Option func(*Sender)

// WithTLSConfig sets the TLS configuration used for STARTTLS and implicit
// TLS (default: system roots, TLS 1.2 or later, ServerName = Host). The
// config is cloned; an empty ServerName is set to Host and a zero
// MinVersion to TLS 1.2.
func WithTLSConfig(c *tls.Config) Option {
	return func(s *Sender) { s.tlsConfig = c }
}

// WithTimeout bounds each Send (default DefaultTimeout). When it passes,
// Send returns a retryable error wrapping context.DeadlineExceeded.
func WithTimeout(d time.Duration) Option { return func(s *Sender) { s.timeout = d } }

// WithAuth sets the authentication mechanism (default AuthPlain). It
// matters only when Config.Username is set.
func WithAuth(m AuthMechanism) Option { return func(s *Sender) { s.auth = m } }

// WithHELO sets the name the client gives in EHLO (default: the machine's
// host name).
func WithHELO(name string) Option { return func(s *Sender) { s.helo = name } }

// WithDefaultLocale sets the locale used when a message's locale has no
// templates (default DefaultLocale, "pt-BR"). It must have templates.
func WithDefaultLocale(locale string) Option {
	return func(s *Sender) { s.defaultLocale = strings.ToLower(locale) }
}

// WithTemplates adds templates for locale, or replaces the built-in ones
// ("pt-BR", "en"). subject and text are text/template sources, html is an
// html/template source; all receive a TemplateData. New parses them and
// renders them once with sample data, so a broken template is a
// configuration error. A subject rendering to something with a line break
// is refused at Send with a permanent error.
func WithTemplates(locale, subject, text, html string) Option {
	return func(s *Sender) {
		s.sources[strings.ToLower(locale)] = templateSource{subject: subject, text: text, html: html}
	}
}

// WithClock sets the clock used for the Date header and for the lifetime of
// a message without a TTL (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Sender) { s.now = now } }

type templateSource struct{ subject, text, html string }

type templates struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

// Sender sends codes by SMTP. It implements otpcode.Sender and is safe for
// concurrent use once New returns it: every Send opens its own connection.
type Sender struct {
	host, username, password string
	port                     int
	from                     *netmail.Address
	fromDomain               string
	mode                     TLSMode
	tlsConfig                *tls.Config
	timeout                  time.Duration
	auth                     AuthMechanism
	helo                     string
	defaultLocale            string
	sources                  map[string]templateSource
	templates                map[string]templates
	now                      func() time.Time
}

// New returns a Sender for cfg, with opts applied over the defaults. It
// checks the whole configuration, parses and test-renders the templates,
// and returns an error wrapping ErrInvalidConfig when something is wrong;
// the error never contains the password.
func New(cfg Config, opts ...Option) (*Sender, error) {
	s := &Sender{
		host:          cfg.Host,
		port:          cfg.Port,
		username:      cfg.Username,
		password:      cfg.Password,
		mode:          cfg.TLS,
		timeout:       DefaultTimeout,
		auth:          AuthPlain,
		defaultLocale: strings.ToLower(DefaultLocale),
		sources: map[string]templateSource{
			"pt-br": {subject: ptBRSubject, text: ptBRText, html: ptBRHTML},
			"en":    {subject: enSubject, text: enText, html: enHTML},
		},
		now: time.Now,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	if s.mode == "" {
		s.mode = TLSMandatory
	}
	if err := s.validate(cfg); err != nil {
		return nil, err
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sender) validate(cfg Config) error {
	if s.host == "" || strings.ContainsFunc(s.host, func(r rune) bool { return r <= ' ' || unicode.IsControl(r) }) {
		return fmt.Errorf("%w: host %q is empty or has spaces", ErrInvalidConfig, s.host)
	}
	switch s.mode {
	case TLSMandatory, TLSOpportunistic:
		s.setDefaultPort(587)
	case TLSImplicit:
		s.setDefaultPort(465)
	case TLSNone:
		s.setDefaultPort(25)
	default:
		return fmt.Errorf("%w: unknown TLS mode %q", ErrInvalidConfig, s.mode)
	}
	if s.port < 1 || s.port > 65535 {
		return fmt.Errorf("%w: port %d out of range", ErrInvalidConfig, s.port)
	}
	if s.timeout <= 0 {
		return fmt.Errorf("%w: timeout %v must be positive", ErrInvalidConfig, s.timeout)
	}
	from, err := bareAddress(cfg.From)
	if err != nil {
		return fmt.Errorf("%w: from address: %w", ErrInvalidConfig, err)
	}
	if hasControl(cfg.FromName) {
		return fmt.Errorf("%w: from name contains a line break or control character", ErrInvalidConfig)
	}
	s.from = &netmail.Address{Name: strings.TrimSpace(cfg.FromName), Address: from}
	s.fromDomain = from[strings.LastIndexByte(from, '@')+1:]
	if s.username != "" {
		if s.auth != AuthPlain && s.auth != AuthLogin {
			return fmt.Errorf("%w: unknown auth mechanism %q", ErrInvalidConfig, s.auth)
		}
		if s.mode == TLSNone && !isLoopback(s.host) {
			return fmt.Errorf("%w: credentials need TLS (TLS mode is none and %q is not loopback)", ErrInvalidConfig, s.host)
		}
	}
	if hasControl(s.username) || strings.ContainsRune(s.password, 0) {
		return fmt.Errorf("%w: username or password contains control characters", ErrInvalidConfig)
	}
	if s.helo != "" && strings.ContainsFunc(s.helo, func(r rune) bool { return r <= ' ' || unicode.IsControl(r) }) {
		return fmt.Errorf("%w: HELO name %q has spaces or control characters", ErrInvalidConfig, s.helo)
	}
	if s.now == nil {
		return fmt.Errorf("%w: nil clock", ErrInvalidConfig)
	}
	if s.tlsConfig == nil {
		s.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		s.tlsConfig = s.tlsConfig.Clone()
		if s.tlsConfig.MinVersion == 0 {
			s.tlsConfig.MinVersion = tls.VersionTLS12
		}
	}
	if s.tlsConfig.ServerName == "" {
		s.tlsConfig.ServerName = s.host
	}
	return nil
}

func (s *Sender) setDefaultPort(p int) {
	if s.port == 0 {
		s.port = p
	}
}

func (s *Sender) parseTemplates() error {
	if _, ok := s.sources[s.defaultLocale]; !ok {
		return fmt.Errorf("%w: default locale %q has no templates", ErrInvalidConfig, s.defaultLocale)
	}
	sample := TemplateData{Code: "123456", Minutes: 5, Name: "Ana", Purpose: "login", ExpiresAt: time.Unix(0, 0).UTC()}
	s.templates = make(map[string]templates, len(s.sources))
	for locale, src := range s.sources {
		var (
			t   templates
			err error
		)
		if locale == "" {
			return fmt.Errorf("%w: templates for an empty locale", ErrInvalidConfig)
		}
		if t.subject, err = texttemplate.New("subject").Option("missingkey=error").Parse(src.subject); err != nil {
			return fmt.Errorf("%w: %s subject template: %w", ErrInvalidConfig, locale, err)
		}
		if t.text, err = texttemplate.New("text").Option("missingkey=error").Parse(src.text); err != nil {
			return fmt.Errorf("%w: %s text template: %w", ErrInvalidConfig, locale, err)
		}
		if t.html, err = htmltemplate.New("html").Option("missingkey=error").Parse(src.html); err != nil {
			return fmt.Errorf("%w: %s html template: %w", ErrInvalidConfig, locale, err)
		}
		if _, err := render(t, sample); err != nil {
			return fmt.Errorf("%w: %s templates: %w", ErrInvalidConfig, locale, err)
		}
		s.templates[locale] = t
	}
	return nil
}

// Locale returns the locale whose templates a message with locale uses:
// the locale itself (case-insensitively), else its language ("en" for
// "en-GB"), else the default locale.
func (s *Sender) Locale(locale string) string {
	l := strings.ToLower(locale)
	if _, ok := s.templates[l]; ok {
		return l
	}
	if i := strings.IndexAny(l, "-_"); i > 0 {
		if _, ok := s.templates[l[:i]]; ok {
			return l[:i]
		}
	}
	return s.defaultLocale
}

// Render renders m's subject and bodies in m's locale. It returns a
// permanent *otpcode.SendError when the customer's name has control
// characters or the subject renders to something unusable as a header.
func (s *Sender) Render(m otpcode.Message) (Content, error) {
	if hasControl(m.Name) {
		return Content{}, permanent("invalid customer name: control characters", nil)
	}
	data := TemplateData{
		Code:      m.Code,
		Minutes:   lifetimeMinutes(m, s.now()),
		Name:      strings.TrimSpace(m.Name),
		Purpose:   m.Purpose,
		ExpiresAt: m.ExpiresAt,
	}
	c, err := render(s.templates[s.Locale(m.Locale)], data)
	if err != nil {
		return Content{}, permanent("render templates", err)
	}
	return c, nil
}

// errBadSubject is the cause when a rendered subject is refused.
var errBadSubject = errors.New("email: rendered subject is empty, too long, or has a line break or control character")

func render(t templates, data TemplateData) (Content, error) {
	var subj, text, html strings.Builder
	if err := t.subject.Execute(&subj, data); err != nil {
		return Content{}, fmt.Errorf("email: subject: %w", err)
	}
	if err := t.text.Execute(&text, data); err != nil {
		return Content{}, fmt.Errorf("email: text body: %w", err)
	}
	if err := t.html.Execute(&html, data); err != nil {
		return Content{}, fmt.Errorf("email: html body: %w", err)
	}
	c := Content{Subject: strings.TrimSpace(subj.String()), Text: text.String(), HTML: html.String()}
	if c.Subject == "" || hasControl(c.Subject) || utf8.RuneCountInString(c.Subject) > maxSubjectRunes {
		return Content{}, errBadSubject
	}
	return c, nil
}

func lifetimeMinutes(m otpcode.Message, now time.Time) int {
	d := m.TTL
	if d <= 0 && !m.ExpiresAt.IsZero() {
		d = m.ExpiresAt.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return int((d + time.Minute - 1) / time.Minute)
}

// Send delivers m.Code to the address m.To. It returns nil once the server
// accepts the message, and otherwise a *otpcode.SendError. A message that
// cannot be built safely (see the package documentation) is refused before
// any connection is made. When ctx is done first, the connection is closed
// and the error also wraps ctx.Err(); when the Send timeout passes first,
// the error is retryable and wraps context.DeadlineExceeded.
func (s *Sender) Send(ctx context.Context, m otpcode.Message) error {
	if err := ctx.Err(); err != nil {
		return canceled(err)
	}
	msg, err := s.message(m)
	if err != nil {
		return err
	}

	sendCtx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// go-mail bounds only the dial by the context and puts no deadline on
	// the greeting, STARTTLS and AUTH: the guard closes the connection when
	// sendCtx ends, and closes it after a session that failed early.
	var guard connGuard
	stop := context.AfterFunc(sendCtx, guard.close)
	defer stop()
	dial := func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		raw, err := d.DialContext(dialCtx, network, addr)
		if err != nil {
			return nil, err
		}
		if !guard.set(raw) {
			return nil, net.ErrClosed
		}
		if deadline, ok := sendCtx.Deadline(); ok {
			_ = raw.SetDeadline(deadline)
		}
		if s.mode != TLSImplicit {
			return raw, nil
		}
		tc := tls.Client(raw, s.tlsConfig)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			return nil, err
		}
		return tc, nil
	}
	client, err := mail.NewClient(s.host, s.clientOptions(dial)...)
	if err != nil {
		return permanent("smtp client setup", err)
	}
	err = client.DialAndSendWithContext(sendCtx, msg)
	guard.close()
	if msg.IsDelivered() {
		return nil // a failed RSET or QUIT after the server accepted the message
	}
	if err == nil {
		return nil
	}
	return s.sendError(ctx, sendCtx, err)
}

// message validates m and builds the go-mail message.
func (s *Sender) message(m otpcode.Message) (*mail.Msg, error) {
	if m.Code == "" {
		return nil, permanent("empty code", nil)
	}
	to, err := bareAddress(m.To)
	if err != nil {
		return nil, permanent("invalid recipient address", err)
	}
	c, err := s.Render(m)
	if err != nil {
		return nil, err
	}
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	if err := msg.To(to); err != nil {
		return nil, permanent("invalid recipient address", err)
	}
	msg.Subject(c.Subject)
	msg.SetDateWithValue(s.now())
	msg.SetMessageIDWithValue(newMessageID() + "@" + s.fromDomain)
	msg.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(mail.TypeTextPlain, c.Text)
	msg.AddAlternativeString(mail.TypeTextHTML, c.HTML)
	return msg, nil
}

func (s *Sender) clientOptions(dial mail.DialContextFunc) []mail.Option {
	opts := []mail.Option{
		mail.WithPort(s.port),
		mail.WithTimeout(s.timeout),
		mail.WithDialContextFunc(dial),
		mail.WithTLSConfig(s.tlsConfig),
	}
	switch s.mode {
	case TLSImplicit:
		opts = append(opts, mail.WithSSL()) // the handshake is done in dial
	case TLSOpportunistic:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if s.helo != "" {
		opts = append(opts, mail.WithHELO(s.helo))
	}
	if s.username != "" {
		auth := mail.SMTPAuthPlain
		if s.auth == AuthLogin {
			auth = mail.SMTPAuthLogin
		}
		opts = append(opts, mail.WithSMTPAuth(auth), mail.WithUsername(s.username), mail.WithPassword(s.password))
	}
	return opts
}

// sendError maps a failed session to a *otpcode.SendError.
func (s *Sender) sendError(ctx, sendCtx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return canceled(ctxErr)
	}
	if timedOut(sendCtx) {
		return &otpcode.SendError{
			Channel:   otpcode.ChannelEmail,
			Retryable: true,
			Reason:    fmt.Sprintf("timeout after %v", s.timeout),
			Err:       fmt.Errorf("email: send timed out: %w (%w)", context.DeadlineExceeded, err),
		}
	}
	retryable, status, reason := Classify(err)
	return &otpcode.SendError{Channel: otpcode.ChannelEmail, Retryable: retryable, Status: status, Reason: reason, Err: err}
}

// Classify tells whether an error from go-mail is worth retrying, and
// returns the SMTP reply code (or 0) and a short reason made of the code and
// this package's category, never the server's text. SMTP 5xx replies, TLS
// certificate failures and authentication set-up problems are permanent;
// 4xx replies and connection failures are retryable; anything else is
// permanent.
func Classify(err error) (retryable bool, status int, reason string) {
	var se *mail.SendError
	if errors.As(err, &se) {
		status = se.ErrorCode()
		category := stage(se.Reason)
		switch {
		case se.Reason == mail.ErrGetSender || se.Reason == mail.ErrGetRcpts || se.Reason == mail.ErrNoUnencoded:
			retryable = false
		case status >= 500:
			retryable = false
		case status >= 400 || se.IsTemp():
			retryable = true
		default:
			retryable, category = true, "connection lost while "+category
		}
		return retryable, status, withCode(status, category)
	}

	var tpe *textproto.Error
	if errors.As(err, &tpe) {
		status = tpe.Code
		category := "session refused"
		switch status {
		case 530, 534, 535, 538:
			category = "authentication rejected"
		}
		return status >= 400 && status < 500, status, withCode(status, category)
	}

	var (
		unknownCA *x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		verifyErr *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
		netErr    net.Error
	)
	switch {
	case errors.As(err, &verifyErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid):
		return false, 0, "tls certificate rejected"
	case errors.As(err, &recordErr):
		return false, 0, "tls handshake failed"
	case errors.Is(err, mailsmtp.ErrUnencrypted), errors.Is(err, mailsmtp.ErrWrongHostname),
		errors.Is(err, mail.ErrPlainAuthNotSupported), errors.Is(err, mail.ErrLoginAuthNotSupported),
		errors.Is(err, mail.ErrNoSupportedAuthDiscovered):
		return false, 0, "authentication not possible"
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return true, 0, "connection failed"
	}
	return false, 0, "smtp session failed"
}

// timedOut reports whether ctx's deadline has passed; a connection deadline
// set to the same instant can fire before ctx's own timer.
func timedOut(ctx context.Context) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}

func withCode(status int, category string) string {
	if status == 0 {
		return category
	}
	return fmt.Sprintf("%d: %s", status, category)
}

func stage(r mail.SendErrReason) string {
	switch r {
	case mail.ErrSMTPMailFrom:
		return "sender rejected"
	case mail.ErrSMTPRcptTo:
		return "recipient rejected"
	case mail.ErrSMTPData, mail.ErrSMTPDataClose, mail.ErrWriteContent:
		return "message rejected"
	case mail.ErrConnCheck:
		return "connection check failed"
	case mail.ErrSMTPReset:
		return "reset failed"
	case mail.ErrGetSender, mail.ErrGetRcpts:
		return "invalid address"
	case mail.ErrNoUnencoded:
		return "encoding not supported"
	}
	return "delivery failed"
}

func permanent(reason string, err error) *otpcode.SendError {
	return &otpcode.SendError{Channel: otpcode.ChannelEmail, Reason: reason, Err: err}
}

// canceled is the error for a caller's context that is done: it wraps
// ctx.Err() so a chain stops.
func canceled(ctxErr error) error {
	return &otpcode.SendError{
		Channel:   otpcode.ChannelEmail,
		Retryable: true,
		Reason:    "canceled by caller",
		Err:       fmt.Errorf("email: send: %w", ctxErr),
	}
}

// bareAddress accepts only a plain address such as "ana@example.com": no
// display name, no angle brackets, no surrounding spaces, no control
// characters.
func bareAddress(s string) (string, error) {
	if s == "" {
		return "", errors.New("email: empty address")
	}
	if hasControl(s) {
		return "", errors.New("email: address contains a line break or control character")
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("email: parse address: %w", err)
	}
	if a.Name != "" || a.Address != s {
		return "", errors.New("email: not a bare address")
	}
	return a.Address, nil
}

// hasControl reports whether s has a control character (CR, LF, TAB, NUL,
// DEL, C1 controls such as NEL) or a Unicode line or paragraph separator.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
	})
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// connGuard holds a session's raw connection so that it can be closed from
// another goroutine when the send's context ends.
type connGuard struct {
	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

// set records conn; it closes conn and reports false when the guard is
// already closed.
func (g *connGuard) set(conn net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		_ = conn.Close()
		return false
	}
	g.conn = conn
	return true
}

// close closes the recorded connection, if any, and any later one.
func (g *connGuard) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if g.conn != nil {
		_ = g.conn.Close()
	}
}

func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return hex.EncodeToString(b[:])
}
