package sms_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/internal/httpsend/httpsendtest"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otpcode/sms"
)

const (
	testAccountSID = "AC0123456789abcdef0123456789abcdef"
	testServiceSID = "MGfedcba9876543210fedcba9876543210"
	testToken      = "f3a9c0d2e1b4a5968778695a4b3c2d1e"
	testFrom       = "+15017122661"
	testTo         = "+5511987654321"
	testCode       = "493817"
)

// captured is one request the fake API received.
type captured struct {
	Method, Path, ContentType, Accept string
	User, Password                    string
	BasicAuth                         bool
	Form                              url.Values
}

// fakeAPI is an httptest server that records requests and answers with a
// fixed status and body.
type fakeAPI struct {
	srv      *httptest.Server
	mu       sync.Mutex
	requests []captured
}

func newFakeAPI(t testing.TB, status int, body string) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := captured{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Accept: r.Header.Get("Accept")}
		c.User, c.Password, c.BasicAuth = r.BasicAuth()
		if err := r.ParseForm(); err == nil {
			c.Form = r.PostForm
		}
		f.mu.Lock()
		f.requests = append(f.requests, c)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) got() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]captured(nil), f.requests...)
}

func config() sms.Config {
	return sms.Config{AccountSID: testAccountSID, AuthToken: testToken, From: testFrom}
}

func newSender(t testing.TB, baseURL string, opts ...sms.Option) *sms.Sender {
	t.Helper()
	opts = append([]sms.Option{sms.WithBaseURL(baseURL)}, opts...)
	s, err := sms.New(config(), opts...)
	require.NoError(t, err)
	return s
}

func message(locale string) otpcode.Message {
	return otpcode.Message{
		Channel:   otpcode.ChannelSMS,
		To:        testTo,
		Code:      testCode,
		TTL:       5 * time.Minute,
		ExpiresAt: time.Date(2025, 1, 2, 3, 9, 5, 0, time.UTC),
		Locale:    locale,
	}
}

// okBody is a Twilio message resource as the create call returns it.
const okBody = `{"account_sid":"` + testAccountSID + `","api_version":"2010-04-01","body":"` + testCode + ` is your verification code",
"date_created":"Thu, 02 Jan 2025 03:04:05 +0000","date_sent":null,"date_updated":"Thu, 02 Jan 2025 03:04:05 +0000",
"direction":"outbound-api","error_code":null,"error_message":null,"from":"` + testFrom + `","messaging_service_sid":null,
"num_media":"0","num_segments":"1","price":null,"price_unit":"USD","sid":"SM0123456789abcdef0123456789abcdef","status":"queued",
"to":"` + testTo + `","uri":"/2010-04-01/Accounts/` + testAccountSID + `/Messages/SM0123456789abcdef0123456789abcdef.json"}`

func TestSendRequest(t *testing.T) {
	api := newFakeAPI(t, http.StatusCreated, okBody)
	s := newSender(t, api.srv.URL)
	require.NoError(t, s.Send(context.Background(), message("en")))

	reqs := api.got()
	require.Len(t, reqs, 1, "got %d requests, want 1", len(reqs))
	r := reqs[0]
	assert.Equal(t, http.MethodPost, r.Method, "got method %s, want POST", r.Method)
	assert.Equal(t, "/2010-04-01/Accounts/"+testAccountSID+"/Messages.json", r.Path, "got path %s", r.Path)
	assert.True(t, r.BasicAuth, "got no basic auth, want AccountSID:AuthToken")
	assert.Equal(t, testAccountSID, r.User, "got basic-auth user %q, want the account SID", r.User)
	assert.Equal(t, testToken, r.Password, "got basic-auth password %q, want the auth token", r.Password)
	assert.Equal(t, "application/x-www-form-urlencoded", r.ContentType, "got Content-Type %q", r.ContentType)
	assert.Equal(t, "application/json", r.Accept, "got Accept %q", r.Accept)
	want := url.Values{
		"To":   {testTo},
		"From": {testFrom},
		"Body": {testCode + " is your verification code"},
	}
	assert.Equal(t, want, r.Form, "got form %v, want %v", r.Form, want)
}

func TestSendMessagingService(t *testing.T) {
	api := newFakeAPI(t, http.StatusCreated, okBody)
	s, err := sms.New(sms.Config{AccountSID: testAccountSID, AuthToken: testToken, MessagingServiceSID: testServiceSID},
		sms.WithBaseURL(api.srv.URL+"/"), sms.WithHTTPClient(&http.Client{}))
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), message("en")))

	reqs := api.got()
	require.Len(t, reqs, 1)
	f := reqs[0].Form
	assert.Equal(t, testServiceSID, f.Get("MessagingServiceSid"), "got MessagingServiceSid %q", f.Get("MessagingServiceSid"))
	assert.NotContains(t, f, "From", "got a From field %q, want none with a Messaging Service", f.Get("From"))
	assert.Equal(t, testTo, f.Get("To"), "got To %q", f.Get("To"))
}

func TestSendBody(t *testing.T) {
	const (
		en = testCode + " is your verification code"
		pt = testCode + " é o seu código de verificação"
	)
	webOTP := "\n\n@loja.example.com.br #" + testCode
	tests := []struct {
		locale, domain, want string
	}{
		{"pt-BR", "", pt},
		{"PT-br", "", pt},
		{"pt_BR", "", pt},
		{"pt", "", pt},
		{"pt-PT", "", pt},
		{"en", "", en},
		{"en-GB", "", en},
		{"", "", en},
		{"fr", "", en},
		{"ptx", "", en},
		{"pt-BR", "loja.example.com.br", pt + webOTP},
		{"en", "loja.example.com.br", en + webOTP},
		{"", "Loja.Example.COM.br", en + webOTP},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("locale=%s,domain=%s", tt.locale, tt.domain), func(t *testing.T) {
			api := newFakeAPI(t, http.StatusCreated, okBody)
			s := newSender(t, api.srv.URL, sms.WithDomain(tt.domain))
			require.NoError(t, s.Send(context.Background(), message(tt.locale)))
			reqs := api.got()
			require.Len(t, reqs, 1)
			got := reqs[0].Form.Get("Body")
			assert.Equal(t, tt.want, got, "got body %q, want %q", got, tt.want)
			if tt.domain != "" {
				lines := strings.Split(got, "\n")
				last := lines[len(lines)-1]
				assert.Equal(t, "@loja.example.com.br #"+testCode, last, "got last line %q, want the origin-bound line", last)
			}
		})
	}
}

func TestSendSuccess(t *testing.T) {
	for _, status := range []int{http.StatusCreated, http.StatusOK} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			api := newFakeAPI(t, status, okBody)
			s := newSender(t, api.srv.URL)
			err := s.Send(context.Background(), message("pt-BR"))
			assert.NoError(t, err, "got %v, want nil for status %d", err, status)
		})
	}
}

// assertClean checks that text leaks neither the code, nor the token, nor
// the full recipient.
func assertClean(t *testing.T, text string) {
	t.Helper()
	assert.NotContains(t, text, testCode, "%q contains the code", text)
	assert.NotContains(t, text, testToken, "%q contains the auth token", text)
	assert.NotContains(t, text, testTo, "%q contains the recipient", text)
	assert.NotContains(t, text, strings.TrimPrefix(testTo, "+"), "%q contains the recipient", text)
}

// twilioError is an error body as Twilio writes it; its message quotes the
// recipient, and here also the code and the token, which must not leak.
func twilioError(status, code int) string {
	return fmt.Sprintf(`{"code":%d,"message":"The 'To' number %s is not valid (%s, %s).","more_info":"https://www.twilio.com/docs/errors/%d","status":%d}`,
		code, testTo, testCode, testToken, code, status)
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantKind   error
		wantReason string
		wantCode   int
	}{
		{"too many requests", 429, twilioError(429, 20429), otpcode.ErrRetryable, "20429: rate limited", 20429},
		{"429 without body", 429, ``, otpcode.ErrRetryable, "http 429: rate limited", 0},
		{"20429 on 400", 400, twilioError(400, 20429), otpcode.ErrRetryable, "20429: rate limited", 20429},
		{"internal error", 500, twilioError(500, 20500), otpcode.ErrRetryable, "20500: provider error", 20500},
		{"plain 502", 502, `<html>Bad Gateway</html>`, otpcode.ErrRetryable, "http 502: provider error", 0},
		{"plain 503", 503, ``, otpcode.ErrRetryable, "http 503: provider error", 0},
		{"invalid To", 400, twilioError(400, 21211), otpcode.ErrPermanent, "21211: invalid recipient", 21211},
		{"not a mobile", 400, twilioError(400, 21614), otpcode.ErrPermanent, "21614: recipient is not a mobile number", 21614},
		{"unsubscribed", 400, twilioError(400, 21610), otpcode.ErrPermanent, "21610: recipient unsubscribed", 21610},
		{"region", 400, twilioError(400, 21408), otpcode.ErrPermanent, "21408: region not enabled", 21408},
		{"unreachable from sender", 400, twilioError(400, 21612), otpcode.ErrPermanent, "21612: recipient not reachable from this sender", 21612},
		{"unreachable handset", 400, twilioError(400, 30003), otpcode.ErrPermanent, "30003: recipient unreachable", 30003},
		{"unknown handset", 400, twilioError(400, 30005), otpcode.ErrPermanent, "30005: recipient unknown", 30005},
		{"landline", 400, twilioError(400, 30006), otpcode.ErrPermanent, "30006: recipient is a landline or unreachable carrier", 30006},
		{"authenticate", 401, twilioError(401, 20003), otpcode.ErrPermanent, "20003: invalid credential", 20003},
		{"plain 401", 401, ``, otpcode.ErrPermanent, "http 401: invalid credential", 0},
		{"forbidden", 403, `{"message":"forbidden"}`, otpcode.ErrPermanent, "http 403: invalid credential", 0},
		{"not found", 404, twilioError(404, 20404), otpcode.ErrPermanent, "20404: account or resource not found", 20404},
		{"unknown code", 400, twilioError(400, 29999), otpcode.ErrPermanent, "29999: request rejected", 29999},
		{"not JSON", 400, `Bad Request ` + testCode, otpcode.ErrPermanent, "http 400: request rejected", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, tt.status, tt.body)
			s := newSender(t, api.srv.URL)
			err := s.Send(context.Background(), message("pt-BR"))
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.wantKind, "got %v, want %v", err, tt.wantKind)

			var se *otpcode.SendError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, otpcode.ChannelSMS, se.Channel, "got channel %s, want %s", se.Channel, otpcode.ChannelSMS)
			assert.Equal(t, tt.status, se.Status, "got status %d, want %d", se.Status, tt.status)
			assert.Equal(t, tt.wantReason, se.Reason, "got reason %q, want %q", se.Reason, tt.wantReason)

			var ae *sms.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.Status, "got API status %d, want %d", ae.Status, tt.status)
			assert.Equal(t, tt.wantCode, ae.Code, "got API code %d, want %d", ae.Code, tt.wantCode)
			if tt.wantCode != 0 && strings.Contains(tt.body, "more_info") {
				want := fmt.Sprintf("https://www.twilio.com/docs/errors/%d", tt.wantCode)
				assert.Equal(t, want, ae.MoreInfo, "got MoreInfo %q, want %q", ae.MoreInfo, want)
			}
			assertClean(t, err.Error())
			assertClean(t, fmt.Sprintf("%+v", err))
			assertClean(t, fmt.Sprintf("%#v", ae))
		})
	}
}

func TestSendMoreInfoFiltered(t *testing.T) {
	api := newFakeAPI(t, 400, `{"code":21211,"message":"x","more_info":"https://evil.example/?code=`+testCode+`","status":400}`)
	s := newSender(t, api.srv.URL)
	err := s.Send(context.Background(), message("en"))
	var ae *sms.APIError
	require.ErrorAs(t, err, &ae)
	assert.Empty(t, ae.MoreInfo, "got MoreInfo %q, want it dropped", ae.MoreInfo)
}

func TestSendTimeout(t *testing.T) {
	s := newSender(t, httpsendtest.Stall(t, nil), sms.WithTimeout(50*time.Millisecond))

	start := time.Now()
	err := s.Send(context.Background(), message("pt-BR"))
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.ErrorIs(t, err, otpcode.ErrRetryable, "got %v, want retryable", err)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "got %v, want DeadlineExceeded", err)
	assert.Less(t, elapsed, time.Second, "got %v, want about the 50ms timeout", elapsed)
	var se *otpcode.SendError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "timeout after 50ms", se.Reason, "got reason %q", se.Reason)
	assertClean(t, err.Error())
}

func TestSendCallerCanceled(t *testing.T) {
	started := make(chan struct{})
	s := newSender(t, httpsendtest.Stall(t, started))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Send(ctx, message("pt-BR")) }()
	<-started
	cancel()
	select {
	case err := <-errc:
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled, "got %v, want context.Canceled", err)
		assert.ErrorIs(t, err, otpcode.ErrRetryable, "got %v, want retryable", err)
		var se *otpcode.SendError
		assert.ErrorAs(t, err, &se, "got %T, want *otpcode.SendError", err)
		assertClean(t, err.Error())
	case <-time.After(2 * time.Second):
		t.Fatal("Send did not return after the caller's context was canceled")
	}

	// Already canceled: nothing is sent.
	api := newFakeAPI(t, http.StatusCreated, okBody)
	s = newSender(t, api.srv.URL)
	err := s.Send(ctx, message("pt-BR"))
	assert.ErrorIs(t, err, context.Canceled, "got %v, want context.Canceled", err)
	assert.Empty(t, api.got(), "got requests after a canceled context, want none")
}

func TestSendNetworkError(t *testing.T) {
	s := newSender(t, httpsendtest.Closed())
	err := s.Send(context.Background(), message("pt-BR"))
	require.Error(t, err)
	assert.ErrorIs(t, err, otpcode.ErrRetryable, "got %v, want retryable", err)
	var se *otpcode.SendError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "network error", se.Reason, "got reason %q, want network error", se.Reason)
	assertClean(t, err.Error())
}

func TestSendInvalidMessage(t *testing.T) {
	tests := []struct {
		name string
		to   string
		code string
	}{
		{"email recipient", "ana@example.com", testCode},
		{"no plus", "5511987654321", testCode},
		{"too short", "+12345", testCode},
		{"too long", "+1234567890123456", testCode},
		{"letters", "+5511abc654321", testCode},
		{"spaces", "+55 11 98765 4321", testCode},
		{"empty code", testTo, ""},
		{"code with newline", testTo, "1234\n@evil.example #1234"},
		{"code with space", testTo, "12 34"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, http.StatusCreated, okBody)
			s := newSender(t, api.srv.URL)
			m := message("pt-BR")
			m.To, m.Code = tt.to, tt.code
			err := s.Send(context.Background(), m)
			assert.ErrorIs(t, err, otpcode.ErrPermanent, "got %v, want permanent", err)
			var se *otpcode.SendError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, otpcode.ChannelSMS, se.Channel, "got channel %s", se.Channel)
			assert.NotContains(t, err.Error(), tt.to, "error %q contains the recipient", err)
			assert.Empty(t, api.got(), "got requests for an invalid message, want none")
		})
	}
}

func TestNewValidation(t *testing.T) {
	valid := config()
	with := func(f func(*sms.Config)) sms.Config {
		c := valid
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  sms.Config
		opts []sms.Option
	}{
		{"zero config", sms.Config{}, nil},
		{"no account SID", with(func(c *sms.Config) { c.AccountSID = "" }), nil},
		{"account SID wrong prefix", with(func(c *sms.Config) { c.AccountSID = "MG" + testAccountSID[2:] }), nil},
		{"account SID short", with(func(c *sms.Config) { c.AccountSID = testAccountSID[:33] }), nil},
		{"account SID uppercase hex", with(func(c *sms.Config) { c.AccountSID = "AC" + strings.ToUpper(testAccountSID[2:]) }), nil},
		{"account SID with path", with(func(c *sms.Config) { c.AccountSID = "AC0123456789abcdef0123456789abc/.." }), nil},
		{"token in account SID", with(func(c *sms.Config) { c.AccountSID = testToken }), nil},
		{"no token", with(func(c *sms.Config) { c.AuthToken = "" }), nil},
		{"token with newline", with(func(c *sms.Config) { c.AuthToken = testToken + "\r\nX: y" }), nil},
		{"token with space", with(func(c *sms.Config) { c.AuthToken = testToken + " " }), nil},
		{"no sender", with(func(c *sms.Config) { c.From = "" }), nil},
		{"both senders", with(func(c *sms.Config) { c.MessagingServiceSID = testServiceSID }), nil},
		{"From without plus", with(func(c *sms.Config) { c.From = "15017122661" }), nil},
		{"From national", with(func(c *sms.Config) { c.From = "(501) 712-2661" }), nil},
		{"From too long", with(func(c *sms.Config) { c.From = "+1501712266112345" }), nil},
		{"token in From", with(func(c *sms.Config) { c.From = testToken }), nil},
		{"service SID wrong prefix", sms.Config{AccountSID: testAccountSID, AuthToken: testToken, MessagingServiceSID: testAccountSID}, nil},
		{"service SID short", sms.Config{AccountSID: testAccountSID, AuthToken: testToken, MessagingServiceSID: "MG123"}, nil},
		{"token in service SID", sms.Config{AccountSID: testAccountSID, AuthToken: testToken, MessagingServiceSID: testToken}, nil},
		{"http to remote host", valid, []sms.Option{sms.WithBaseURL("http://api.twilio.com")}},
		{"credentials in URL", valid, []sms.Option{sms.WithBaseURL("https://u:" + testToken + "@api.twilio.com")}},
		{"path in URL", valid, []sms.Option{sms.WithBaseURL("https://api.twilio.com/2010-04-01")}},
		{"query in URL", valid, []sms.Option{sms.WithBaseURL("https://api.twilio.com?x=1")}},
		{"no host", valid, []sms.Option{sms.WithBaseURL("https://")}},
		{"not a URL", valid, []sms.Option{sms.WithBaseURL("://x")}},
		{"empty base URL", valid, []sms.Option{sms.WithBaseURL("")}},
		{"zero timeout", valid, []sms.Option{sms.WithTimeout(0)}},
		{"negative timeout", valid, []sms.Option{sms.WithTimeout(-time.Second)}},
		{"domain with scheme", valid, []sms.Option{sms.WithDomain("https://example.com")}},
		{"domain with port", valid, []sms.Option{sms.WithDomain("example.com:443")}},
		{"domain with path", valid, []sms.Option{sms.WithDomain("example.com/login")}},
		{"domain with space", valid, []sms.Option{sms.WithDomain("example.com #1")}},
		{"domain with newline", valid, []sms.Option{sms.WithDomain("example.com\n@evil.example")}},
		{"domain trailing dot", valid, []sms.Option{sms.WithDomain("example.com.")}},
		{"domain empty label", valid, []sms.Option{sms.WithDomain("example..com")}},
		{"domain underscore", valid, []sms.Option{sms.WithDomain("my_shop.example.com")}},
		{"domain hyphen edge", valid, []sms.Option{sms.WithDomain("-shop.example.com")}},
		{"domain IP", valid, []sms.Option{sms.WithDomain("192.0.2.1")}},
		{"domain unicode", valid, []sms.Option{sms.WithDomain("loja.exemplo.com.br\u00e7")}},
		{"domain label too long", valid, []sms.Option{sms.WithDomain(strings.Repeat("a", 64) + ".com")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sms.New(tt.cfg, tt.opts...)
			assert.Nil(t, s, "got a sender, want nil")
			require.ErrorIs(t, err, sms.ErrInvalidConfig, "got %v, want ErrInvalidConfig", err)
			assert.NotContains(t, err.Error(), testToken, "error %q contains the auth token", err)
		})
	}

	okTests := []struct {
		name string
		cfg  sms.Config
		opts []sms.Option
	}{
		{"defaults", valid, nil},
		{"messaging service", sms.Config{AccountSID: testAccountSID, AuthToken: testToken, MessagingServiceSID: testServiceSID}, nil},
		{"nil option", valid, []sms.Option{nil}},
		{"nil client keeps default", valid, []sms.Option{sms.WithHTTPClient(nil)}},
		{"https with slash", valid, []sms.Option{sms.WithBaseURL("https://api.twilio.com/")}},
		{"http on 127.0.0.1", valid, []sms.Option{sms.WithBaseURL("http://127.0.0.1:8080")}},
		{"http on ::1", valid, []sms.Option{sms.WithBaseURL("http://[::1]:8080")}},
		{"http on localhost", valid, []sms.Option{sms.WithBaseURL("http://localhost:8080")}},
		{"domain", valid, []sms.Option{sms.WithDomain("loja.example.com.br")}},
		{"punycode domain", valid, []sms.Option{sms.WithDomain("xn--lja-qla.example")}},
		{"single-label domain", valid, []sms.Option{sms.WithDomain("localhost")}},
		{"empty domain", valid, []sms.Option{sms.WithDomain("")}},
	}
	for _, tt := range okTests {
		t.Run("ok/"+tt.name, func(t *testing.T) {
			s, err := sms.New(tt.cfg, tt.opts...)
			require.NoError(t, err, "got %v, want a valid configuration", err)
			assert.NotNil(t, s, "got nil sender")
		})
	}
}

// TestNoSecretInErrorsOrLogs runs every kind of Send outcome with the
// standard loggers captured, then formats and logs the sender, the message
// and the errors the way an application would, and checks that neither the
// auth token nor the code appears anywhere, nor the full recipient in an
// error.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	var stdLog, slogText, slogJSON bytes.Buffer
	prevFlags, prevWriter := log.Flags(), log.Writer()
	prevSlog := slog.Default()
	// slog.SetDefault routes the log package into slog; set log's output
	// after it to keep the two apart.
	slog.SetDefault(slog.New(slog.NewTextHandler(&slogText, nil)))
	log.SetOutput(&stdLog)
	t.Cleanup(func() {
		slog.SetDefault(prevSlog)
		log.SetOutput(prevWriter)
		log.SetFlags(prevFlags)
	})
	jsonLogger := slog.New(slog.NewJSONHandler(&slogJSON, nil))

	blocking := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(blocking.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	var errs []error
	for _, tt := range []struct {
		status int
		body   string
	}{
		{201, okBody},
		{400, twilioError(400, 21211)},
		{401, twilioError(401, 20003)},
		{429, twilioError(429, 20429)},
		{500, `internal error ` + testCode + ` ` + testToken},
	} {
		api := newFakeAPI(t, tt.status, tt.body)
		errs = append(errs, newSender(t, api.srv.URL, sms.WithDomain("example.com")).Send(context.Background(), message("pt-BR")))
	}
	s := newSender(t, blocking.URL, sms.WithTimeout(20*time.Millisecond))
	errs = append(errs, s.Send(context.Background(), message("en")))
	errs = append(errs, newSender(t, closed.URL).Send(context.Background(), message("en")))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	errs = append(errs, s.Send(ctx, message("en")))
	_, err := sms.New(sms.Config{AccountSID: testToken, AuthToken: testToken, From: testToken})
	errs = append(errs, err)

	m := message("pt-BR")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		text := fmt.Sprintf(verb, s)
		assert.NotContains(t, text, testToken, "Sprintf(%q, sender) = %q contains the auth token", verb, text)
	}
	slog.Info("sender", "sender", s, "message", m)
	jsonLogger.Info("sender", "sender", s, "message", m)
	log.Printf("sender %v message %v", s, m)

	for i, err := range errs {
		if i == 0 {
			assert.NoError(t, err, "got %v for a 201, want nil", err)
			continue
		}
		require.Error(t, err, "outcome %d: got nil, want an error", i)
		assertClean(t, err.Error())
		assertClean(t, fmt.Sprintf("%+v", err))
		var se *otpcode.SendError
		if errors.As(err, &se) {
			assertClean(t, fmt.Sprintf("%#v", *se))
		}
		slog.Error("send failed", "err", err)
		jsonLogger.Error("send failed", "err", err)
		log.Printf("send failed: %v", err)
	}
	for name, out := range map[string]string{"log": stdLog.String(), "slog text": slogText.String(), "slog JSON": slogJSON.String()} {
		assert.NotEmpty(t, out, "%s: got no output, want the test's own lines", name)
		assert.NotContains(t, out, testToken, "%s output contains the auth token:\n%s", name, out)
		assert.NotContains(t, out, testCode, "%s output contains the code:\n%s", name, out)
	}
}

func TestSendConcurrent(t *testing.T) {
	api := newFakeAPI(t, http.StatusCreated, okBody)
	s := newSender(t, api.srv.URL, sms.WithDomain("example.com"))
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			locale := "en"
			if i%2 == 0 {
				locale = "pt-BR"
			}
			errs[i] = s.Send(context.Background(), message(locale))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "send %d: got %v, want nil", i, err)
	}
	assert.Len(t, api.got(), n, "got %d requests, want %d", len(api.got()), n)
}

func TestClassify(t *testing.T) {
	tests := []struct {
		status, code  int
		wantRetryable bool
		wantReason    string
	}{
		{429, 0, true, "http 429: rate limited"},
		{429, 20429, true, "20429: rate limited"},
		{400, 20429, true, "20429: rate limited"},
		{500, 0, true, "http 500: provider error"},
		{503, 20503, true, "20503: provider error"},
		{503, 21211, true, "21211: invalid recipient"},
		{401, 0, false, "http 401: invalid credential"},
		{401, 20003, false, "20003: invalid credential"},
		{403, 0, false, "http 403: invalid credential"},
		{400, 21211, false, "21211: invalid recipient"},
		{400, 21614, false, "21614: recipient is not a mobile number"},
		{400, 21606, false, "21606: invalid sender"},
		{404, 21211, false, "21211: invalid recipient"},
		{404, 0, false, "http 404: request rejected"},
		{400, 12345, false, "12345: request rejected"},
		{302, 0, false, "http 302: unexpected redirect"},
	}
	for _, tt := range tests {
		retryable, reason := sms.Classify(tt.status, tt.code)
		assert.Equal(t, tt.wantRetryable, retryable, "Classify(%d, %d): got retryable %v, want %v", tt.status, tt.code, retryable, tt.wantRetryable)
		assert.Equal(t, tt.wantReason, reason, "Classify(%d, %d): got reason %q, want %q", tt.status, tt.code, reason, tt.wantReason)
	}
}

func TestSendRedirectNotFollowed(t *testing.T) {
	var hits sync.Map
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store("target", r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(target.Close)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(api.Close)
	s := newSender(t, api.URL)
	err := s.Send(context.Background(), message("en"))
	assert.ErrorIs(t, err, otpcode.ErrPermanent, "got %v, want permanent", err)
	_, followed := hits.Load("target")
	assert.False(t, followed, "got the redirect followed, want it refused")
}

func TestSenderString(t *testing.T) {
	s := newSender(t, "https://api.twilio.com", sms.WithDomain("example.com"))
	want := "sms.Sender(twilio account " + testAccountSID + ", from " + testFrom + ", webotp @example.com)"
	assert.Equal(t, want, s.String(), "got %q, want %q", s.String(), want)
	assert.Equal(t, want, fmt.Sprintf("%#v", s), "got %#v, want %q", s, want)
	var nilSender *sms.Sender
	assert.Equal(t, "sms.Sender(nil)", nilSender.String(), "got %q for a nil sender", nilSender.String())
}

func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, okBody)
	}))
	defer srv.Close()
	s := newSender(b, srv.URL, sms.WithDomain("example.com"))
	m := message("pt-BR")
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Send(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
}
