package otphttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otphttp"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/telemetry"
)

// auditSender keeps the last code it was given.
type auditSender struct {
	mu   sync.Mutex
	code string
}

func (s *auditSender) Send(_ context.Context, m otpcode.Message) error {
	s.mu.Lock()
	s.code = m.Code
	s.mu.Unlock()
	return nil
}

// TestAuditCustomerRef checks that the verify-otp audit lines of a wrong
// code and of a lock name the customer by the same pseudonymous reference
// as the service's lock event, and never by its identifier.
func TestAuditCustomerRef(t *testing.T) {
	const phone = "+5511987654321"
	mem := memory.New()
	t.Cleanup(mem.Close)
	keys, err := keyring.New(bytes.Repeat([]byte{5}, 32))
	require.NoError(t, err)
	sender := &auditSender{}
	chain, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: sender})
	require.NoError(t, err)
	var events []telemetry.Event
	tel, err := telemetry.New(telemetry.WithEvents(func(_ context.Context, e telemetry.Event) { events = append(events, e) }))
	require.NoError(t, err)
	limits := otpcode.DefaultLimits()
	limits.LockAfter = 2
	svc, err := otpcode.NewService(mem, keys, chain, otpcode.WithLimits(limits), otpcode.WithTelemetry(tel))
	require.NoError(t, err)
	var logs bytes.Buffer
	web, err := middleware.NewHTTP(
		middleware.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
		middleware.WithIntegrationFunc(func(*http.Request) (string, bool) { return "goomer", true }),
	)
	require.NoError(t, err)
	h, err := otphttp.New(web, svc)
	require.NoError(t, err)

	post := func(handler http.Handler, body string) int {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		return w.Code
	}
	require.Equal(t, http.StatusOK, post(h.RequestOTP(), `{"identifier":"`+phone+`"}`))
	wrong := "000000"
	if sender.code == wrong {
		wrong = "000001"
	}
	verify := `{"identifier":"` + phone + `","otp_code":"` + wrong + `"}`
	assert.Equal(t, http.StatusUnauthorized, post(h.VerifyOTP(), verify))
	assert.Equal(t, http.StatusTooManyRequests, post(h.VerifyOTP(), verify))

	require.Len(t, events, 1)
	require.Equal(t, telemetry.EventLocked, events[0].Kind)
	ref := events[0].Customer
	require.NotEmpty(t, ref)
	var refs []string
	for _, line := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
		var e struct {
			Msg         string `json:"msg"`
			CustomerRef string `json:"customer_ref"`
		}
		require.NoError(t, json.Unmarshal(line, &e))
		if e.Msg == "otp.verify" {
			refs = append(refs, e.CustomerRef)
		}
	}
	assert.Equal(t, []string{ref, ref}, refs, "got customer references %q, want the lock event's %q on both verify lines", refs, ref)
	assert.NotContains(t, logs.String(), phone)
	assert.NotContains(t, logs.String(), strings.TrimPrefix(phone, "+"))
}
