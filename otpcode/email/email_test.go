package email_test

import (
	"context"
	"errors"
	"io"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/smtptest"
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
			srv := smtptest.Start(t)
			s := newSender(t, plainConfig(srv.Port()))
			require.NoError(t, s.Send(context.Background(), message(tt.locale)))

			msgs := srv.Messages()
			require.Len(t, msgs, 1, "got %d messages, want 1", len(msgs))
			got := msgs[0]
			assert.Equal(t, testFrom, got.From, "got MAIL FROM %s, want %s", got.From, testFrom)
			assert.Equal(t, []string{testTo}, got.To, "got RCPT TO %v, want %s", got.To, testTo)

			p := smtptest.Parse(t, got.Data)
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
	authConfig := func(port int, password string) email.Config {
		return email.Config{
			Host: "127.0.0.1", Port: port, Username: testUser, Password: password,
			From: testFrom, TLS: email.TLSMandatory,
		}
	}

	t.Run("delivers over TLS", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithSTARTTLS(), smtptest.WithAuth(testUser, testPassword))
		s := newSender(t, authConfig(srv.Port(), testPassword), email.WithTLSConfig(srv.ClientTLSConfig()))
		require.NoError(t, s.Send(context.Background(), message("pt-BR")))
		msgs := srv.Messages()
		require.Len(t, msgs, 1, "got %d messages, want 1", len(msgs))
		assert.True(t, msgs[0].TLS, "got a message over clear text, want TLS")
		assert.Contains(t, smtptest.Parse(t, msgs[0].Data).Text, testCode)
	})

	t.Run("AUTH LOGIN is refused by a PLAIN-only server", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithSTARTTLS(), smtptest.WithAuth(testUser, testPassword))
		s := newSender(t, authConfig(srv.Port(), testPassword), email.WithTLSConfig(srv.ClientTLSConfig()), email.WithAuth(email.AuthLogin))
		err := s.Send(context.Background(), message("pt-BR"))
		assert.ErrorIs(t, err, otpcode.ErrPermanent, "got %v, want permanent", err)
		msgs := srv.Messages()
		assert.Empty(t, msgs, "got %d messages, want none", len(msgs))
	})

	t.Run("wrong password", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithSTARTTLS(), smtptest.WithAuth(testUser, testPassword))
		const wrong = "wrong-Pa55word-xyz"
		s := newSender(t, authConfig(srv.Port(), wrong), email.WithTLSConfig(srv.ClientTLSConfig()))
		err := s.Send(context.Background(), message("pt-BR"))
		require.Error(t, err)
		assert.ErrorIs(t, err, otpcode.ErrPermanent, "got %v, want permanent", err)
		var se *otpcode.SendError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 535, se.Status, "got status %d, want 535", se.Status)
		assert.Equal(t, "535: authentication rejected", se.Reason, "got reason %q", se.Reason)
		assertClean(t, err, wrong)
		msgs := srv.Messages()
		assert.Empty(t, msgs, "got %d messages, want none", len(msgs))
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithSTARTTLS(), smtptest.WithAuth(testUser, testPassword))
		s := newSender(t, authConfig(srv.Port(), testPassword)) // system roots only
		err := s.Send(context.Background(), message("pt-BR"))
		assert.ErrorIs(t, err, otpcode.ErrPermanent, "got %v, want permanent", err)
		var se *otpcode.SendError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "tls certificate rejected", se.Reason, "got reason %q", se.Reason)
		assertClean(t, err, testPassword)
		msgs := srv.Messages()
		assert.Empty(t, msgs, "got %d messages, want none", len(msgs))
	})

	t.Run("mandatory STARTTLS missing", func(t *testing.T) {
		srv := smtptest.Start(t)
		cfg := plainConfig(srv.Port())
		cfg.TLS = email.TLSMandatory
		s := newSender(t, cfg)
		err := s.Send(context.Background(), message("pt-BR"))
		assert.ErrorIs(t, err, otpcode.ErrPermanent, "got %v, want permanent", err)
		msgs := srv.Messages()
		assert.Empty(t, msgs, "got %d messages, want none in clear text", len(msgs))
	})

	t.Run("opportunistic uses STARTTLS when offered", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithSTARTTLS())
		cfg := plainConfig(srv.Port())
		cfg.TLS = email.TLSOpportunistic
		s := newSender(t, cfg, email.WithTLSConfig(srv.ClientTLSConfig()))
		require.NoError(t, s.Send(context.Background(), message("en")))
		msgs := srv.Messages()
		require.Len(t, msgs, 1)
		assert.True(t, msgs[0].TLS, "got clear text, want STARTTLS")
	})
}

func TestSendConcurrent(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithSTARTTLS(), smtptest.WithAuth(testUser, testPassword))
	s := newSender(t, email.Config{
		Host: "127.0.0.1", Port: srv.Port(), Username: testUser, Password: testPassword, From: testFrom,
	}, email.WithTLSConfig(srv.ClientTLSConfig()))

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
	msgs := srv.Messages()
	assert.Len(t, msgs, n, "got %d messages, want %d", len(msgs), n)
	seen := map[string]bool{}
	for _, m := range msgs {
		require.Len(t, m.To, 1)
		seen[m.To[0]] = true
	}
	assert.Len(t, seen, n, "got %d distinct recipients, want %d", len(seen), n)
}

func TestSendImplicitTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithImplicitTLS(), smtptest.WithAuth(testUser, testPassword))
	s := newSender(t, email.Config{
		Host: "127.0.0.1", Port: srv.Port(), Username: testUser, Password: testPassword,
		From: testFrom, TLS: email.TLSImplicit,
	}, email.WithTLSConfig(srv.ClientTLSConfig()))
	require.NoError(t, s.Send(context.Background(), message("en")))
	msgs := srv.Messages()
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
		rcptErr    *smtp.SMTPError
		wantKind   error
		wantStatus int
	}{
		{"550 no such user", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user " + testCode}, otpcode.ErrPermanent, 550},
		{"451 try later", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}, otpcode.ErrRetryable, 451},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.WithRefusal(tt.rcptErr))
			s := newSender(t, plainConfig(srv.Port()))
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
			msgs := srv.Messages()
			assert.Empty(t, msgs, "got %d messages, want none", len(msgs))
		})
	}
}

func TestSendUnreachable(t *testing.T) {
	s := newSender(t, plainConfig(smtptest.ClosedPort(t)))
	err := s.Send(context.Background(), message("pt-BR"))
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
			srv := smtptest.Start(t)
			s := newSender(t, plainConfig(srv.Port()), tt.opts...)
			m := message("pt-BR")
			tt.edit(&m)
			err := s.Send(context.Background(), m)
			require.Error(t, err)
			assert.ErrorIs(t, err, otpcode.ErrPermanent, "got %v, want permanent", err)
			var se *otpcode.SendError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.reason, se.Reason, "got reason %q, want %q", se.Reason, tt.reason)
			assert.NotContains(t, err.Error(), "evil@", "error %q echoes the injected text", err)
			sessions, msgs := srv.Sessions(), srv.Messages()
			assert.Zero(t, sessions, "got %d SMTP sessions, want none", sessions)
			assert.Empty(t, msgs, "got %d messages, want none", len(msgs))
		})
	}

	// Header-like text without a line break stays inside the body.
	t.Run("header-like name stays in the body", func(t *testing.T) {
		srv := smtptest.Start(t)
		cfg := plainConfig(srv.Port())
		cfg.FromName = `Loja "Exemplo" Bcc: evil@example.net`
		s := newSender(t, cfg)
		m := message("pt-BR")
		m.Name = "Ana Bcc: evil@example.net"
		require.NoError(t, s.Send(context.Background(), m))
		msgs := srv.Messages()
		require.Len(t, msgs, 1)
		assert.Equal(t, []string{testTo}, msgs[0].To, "got RCPT TO %v, want only %s", msgs[0].To, testTo)
		p := smtptest.Parse(t, msgs[0].Data)
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
		srv := smtptest.Start(t)
		s := newSender(t, plainConfig(srv.Port()))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := s.Send(ctx, message("pt-BR"))
		assert.ErrorIs(t, err, context.Canceled, "got %v, want context.Canceled", err)
		var se *otpcode.SendError
		assert.ErrorAs(t, err, &se, "got %T, want *otpcode.SendError", err)
		sessions := srv.Sessions()
		assert.Zero(t, sessions, "got %d sessions, want none", sessions)
	})

	t.Run("during the session", func(t *testing.T) {
		entered := make(chan struct{}, 1)
		release := make(chan struct{})
		srv := smtptest.Start(t, smtptest.WithMailHook(func() {
			entered <- struct{}{}
			<-release
		}))
		t.Cleanup(func() { close(release) }) // runs before the server's cleanup
		s := newSender(t, plainConfig(srv.Port()))

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
		msgs := srv.Messages()
		assert.Empty(t, msgs, "got %d messages, want none", len(msgs))
	})
}

func TestSendTimeout(t *testing.T) {
	t.Run("server stalls in MAIL FROM", func(t *testing.T) {
		release := make(chan struct{})
		srv := smtptest.Start(t, smtptest.WithMailHook(func() { <-release }))
		t.Cleanup(func() { close(release) })
		s := newSender(t, plainConfig(srv.Port()), email.WithTimeout(200*time.Millisecond))
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
