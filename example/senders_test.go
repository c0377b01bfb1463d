package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otpcode/email"
	"github.com/otpguard/otpguard/otpcode/whatsapp"
)

const (
	testToken    = "wa-secret-token-123"
	testPassword = "smtp-secret-pw"
)

func TestBuildSenders(t *testing.T) {
	wa := map[string]string{envWhatsAppToken: testToken, envWhatsAppPhoneID: "106540352242922"}
	smtp := map[string]string{envSMTPHost: "smtp.example.com", envSMTPFrom: "no-reply@example.com"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name      string
		flags     senderFlags
		env       map[string]string
		wantWA    bool
		wantEmail bool
		wantLines []string // substrings of the banner lines, in order whatsapp, email
		wantErr   string   // substring of the error; "" for none
		wantIs    error    // a sentinel the error wraps, or nil
	}{
		{name: "nothing set", env: nil,
			wantLines: []string{"whatsapp: development sender", "email: development sender"}},
		{name: "whatsapp from the environment", env: wa, wantWA: true,
			wantLines: []string{"whatsapp: WhatsApp Cloud API, phone number ID 106540352242922, template otp_code", "email: off"}},
		{name: "whatsapp flags override the environment", env: with(wa, envWhatsAppTmpl, "env_template"),
			flags:  senderFlags{waPhoneID: "999", waTemplate: "flag_template", waBaseURL: "http://127.0.0.1:9"},
			wantWA: true, wantLines: []string{"phone number ID 999, base URL http://127.0.0.1:9, template flag_template"}},
		{name: "whatsapp token only", env: map[string]string{envWhatsAppToken: testToken},
			wantErr: envWhatsAppPhoneID},
		{name: "whatsapp phone number ID only", flags: senderFlags{waPhoneID: "106540352242922"},
			wantErr: envWhatsAppToken + " is not set"},
		{name: "whatsapp template without credentials", env: map[string]string{envWhatsAppTmpl: "otp_code"},
			wantErr: envWhatsAppToken},
		{name: "whatsapp plain http to another host", env: with(wa, envWhatsAppBaseURL, "http://graph.example.com"),
			wantErr: "whatsapp sender", wantIs: whatsapp.ErrInvalidConfig},
		{name: "whatsapp bad template name", env: with(wa, envWhatsAppTmpl, "Bad-Name"),
			wantErr: "whatsapp sender", wantIs: whatsapp.ErrInvalidConfig},
		{name: "smtp from the environment", env: smtp, wantEmail: true,
			wantLines: []string{"whatsapp: off", "email: SMTP smtp.example.com, from no-reply@example.com, TLS mandatory"}},
		{name: "smtp with login and port", env: with(smtp, envSMTPUser, "otp@example.com", envSMTPPassword, testPassword, envSMTPPort, "2525", envSMTPTLS, "opportunistic"),
			wantEmail: true, wantLines: []string{"", "email: SMTP smtp.example.com:2525, from no-reply@example.com, TLS opportunistic, user otp@example.com"}},
		{name: "smtp flags override the environment", env: with(smtp, envSMTPPort, "2525"),
			flags:     senderFlags{smtpHost: "127.0.0.1", smtpPort: 1025, smtpTLS: "none", smtpFrom: "otp@zupy.example"},
			wantEmail: true, wantLines: []string{"", "email: SMTP 127.0.0.1:1025, from otp@zupy.example, TLS none"}},
		{name: "smtp implicit TLS", env: with(smtp, envSMTPTLS, "implicit"), wantEmail: true,
			wantLines: []string{"", "TLS implicit"}},
		{name: "smtp unknown TLS mode", env: with(smtp, envSMTPTLS, "sometimes"),
			wantErr: "unknown TLS mode", wantIs: email.ErrInvalidConfig},
		{name: "smtp port not a number", env: with(smtp, envSMTPPort, "smtp"),
			wantErr: envSMTPPort + ` "smtp" is not a port number`},
		{name: "smtp port out of range", flags: senderFlags{smtpPort: 70000}, env: smtp,
			wantErr: "out of range", wantIs: email.ErrInvalidConfig},
		{name: "smtp without host", env: map[string]string{envSMTPFrom: "no-reply@example.com"},
			wantErr: envSMTPHost},
		{name: "smtp without from", env: map[string]string{envSMTPHost: "smtp.example.com"},
			wantErr: envSMTPFrom},
		{name: "smtp password without user", env: with(smtp, envSMTPPassword, testPassword),
			wantErr: envSMTPUser},
		{name: "smtp user without password", env: with(smtp, envSMTPUser, "otp@example.com"),
			wantErr: envSMTPPassword + " is not"},
		{name: "smtp login in clear text to a remote host", env: with(smtp, envSMTPUser, "otp@example.com", envSMTPPassword, testPassword, envSMTPTLS, "none"),
			wantErr: "credentials need TLS", wantIs: email.ErrInvalidConfig},
		{name: "both", env: with(wa, envSMTPHost, "smtp.example.com", envSMTPFrom, "no-reply@example.com"), wantWA: true, wantEmail: true,
			wantLines: []string{"whatsapp: WhatsApp Cloud API", "email: SMTP smtp.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, lines, err := buildSenders(tt.flags, envOf(tt.env))
			if tt.wantErr != "" {
				require.Error(t, err, "got no error, want one containing %q", tt.wantErr)
				assert.Contains(t, err.Error(), tt.wantErr)
				if tt.wantIs != nil {
					assert.ErrorIs(t, err, tt.wantIs)
				}
				assert.NotContains(t, err.Error(), testToken)
				assert.NotContains(t, err.Error(), testPassword)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantWA, s.WhatsApp != nil, "got WhatsApp sender %v, want one: %v", s.WhatsApp, tt.wantWA)
			assert.Equal(t, tt.wantEmail, s.Email != nil, "got email sender %v, want one: %v", s.Email, tt.wantEmail)
			require.Len(t, lines, 2)
			for i, want := range tt.wantLines {
				assert.Contains(t, lines[i], want)
			}
			joined := strings.Join(lines, "\n")
			assert.NotContains(t, joined, testToken)
			assert.NotContains(t, joined, testPassword)
		})
	}
}

// TestBuildSendersWhatsAppWiring sends through the sender the environment
// builds, to a fake Graph API on loopback: the token, the phone number ID
// and the template reach the request.
func TestBuildSendersWhatsAppWiring(t *testing.T) {
	type seen struct {
		auth, path, template string
	}
	got := make(chan seen, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var msg struct {
			Template struct{ Name string } `json:"template"`
		}
		_ = json.Unmarshal(b, &msg)
		got <- seen{auth: r.Header.Get("Authorization"), path: r.URL.Path, template: msg.Template.Name}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"messaging_product": "whatsapp", "messages": [{"id": "wamid.1"}]}`)
	}))
	defer ts.Close()

	s, _, err := buildSenders(senderFlags{waTemplate: "loja_otp"}, envOf(map[string]string{
		envWhatsAppToken: testToken, envWhatsAppPhoneID: "106540352242922", envWhatsAppBaseURL: ts.URL,
	}))
	require.NoError(t, err)
	require.NotNil(t, s.WhatsApp)
	err = s.WhatsApp.Send(context.Background(), otpcode.Message{
		Channel: otpcode.ChannelWhatsApp, To: "+5511987654321", Code: "493021",
		TTL: 5 * time.Minute, ExpiresAt: time.Now().Add(5 * time.Minute), Locale: "pt-BR",
	})
	require.NoError(t, err)
	select {
	case r := <-got:
		assert.Equal(t, "Bearer "+testToken, r.auth)
		assert.True(t, strings.HasSuffix(r.path, "/106540352242922/messages"), "got path %s, want it to end in /106540352242922/messages", r.path)
		assert.Equal(t, "loja_otp", r.template)
	default:
		t.Fatal("the fake Graph API got no request")
	}
}

func TestSendersOnlyFromEnvironment(t *testing.T) {
	var stdout, stderr strings.Builder
	err := run(context.Background(), []string{"-whatsapp-token", testToken}, noEnv, &stdout, &stderr)
	require.Error(t, err, "got no error for -whatsapp-token, want the flag not to exist")
	assert.Contains(t, err.Error(), "flag provided but not defined")
	err = run(context.Background(), []string{"-smtp-password", testPassword}, noEnv, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "flag provided but not defined")
}
