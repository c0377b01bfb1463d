package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/otpguard/otpguard/internal/httpsend"
	"github.com/otpguard/otpguard/otpcode"
)

// Defaults used by New when an option does not override them.
const (
	// DefaultBaseURL is Twilio's REST API host.
	DefaultBaseURL = "https://api.twilio.com"
	// DefaultTimeout bounds one Send, from the request to the last byte of
	// the response read.
	DefaultTimeout = 10 * time.Second
)

// maxResponseBody is how much of a response body Send reads.
const maxResponseBody = 64 << 10

// ErrInvalidConfig is wrapped by every error New returns for a bad Config or
// option.
var ErrInvalidConfig = errors.New("sms: invalid configuration")

// Config holds the Twilio account and the sender a Sender cannot work
// without. Exactly one of From and MessagingServiceSID must be set.
type Config struct {
	// AccountSID is the Twilio account SID, "AC" followed by 32 lowercase
	// hex digits. It is the basic-auth user name and part of the URL.
	AccountSID string
	// AuthToken is the account's auth token, the basic-auth password. It is
	// never logged nor quoted in an error.
	AuthToken string
	// From is the Twilio phone number the messages come from, in E.164
	// format ("+15017122661").
	From string
	// MessagingServiceSID is the SID of a Messaging Service, "MG" followed
	// by 32 lowercase hex digits, which picks the sending number itself.
	MessagingServiceSID string
}

// Option changes a Sender's default settings in New.
type Option func(*Sender)

// WithBaseURL sets the API's base URL (default DefaultBaseURL). It must be
// an https URL without a path other than "/", credentials, query or
// fragment; plain http is accepted only for a loopback host, which is meant
// for tests.
func WithBaseURL(u string) Option { return func(s *Sender) { s.baseURL = u } }

// WithHTTPClient sets the HTTP client (default: a client with a timeout of
// the Send timeout that does not follow redirects). The client must be safe
// for concurrent use; it should not follow redirects either, since the
// request carries the auth token. A nil client keeps the default.
func WithHTTPClient(c *http.Client) Option { return func(s *Sender) { s.client = c } }

// WithTimeout bounds each Send (default DefaultTimeout). It must be
// positive. When it passes, Send returns a retryable error wrapping
// context.DeadlineExceeded.
func WithTimeout(d time.Duration) Option { return func(s *Sender) { s.timeout = d } }

// WithDomain adds the origin-bound line "@<domain> #<code>" of the SMS
// one-time code format at the end of every message, so a browser (WebOTP)
// or a phone can offer the code to that site only (default "": no such
// line). The domain is the host name of the site where the code is typed,
// in ASCII (punycode) form, without scheme, port or path; it is matched
// case-insensitively and sent in lowercase.
func WithDomain(domain string) Option { return func(s *Sender) { s.domain = domain } }

// Sender sends codes by SMS through Twilio. It implements otpcode.Sender
// and is safe for concurrent use once New returns it. Formatted with fmt
// (any verb) or logged, it shows its account and sender, never its token.
type Sender struct {
	accountSID string
	token      string
	from       string
	serviceSID string
	baseURL    string
	domain     string
	client     *http.Client
	timeout    time.Duration
	endpoint   string
}

var (
	accountSIDPattern = regexp.MustCompile(`^AC[0-9a-f]{32}$`)
	serviceSIDPattern = regexp.MustCompile(`^MG[0-9a-f]{32}$`)
	e164Pattern       = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	labelPattern      = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// New returns a Sender for cfg, with opts applied over the defaults. It
// checks the whole configuration and returns an error wrapping
// ErrInvalidConfig when something is missing or malformed; the error never
// contains the auth token or a SID.
func New(cfg Config, opts ...Option) (*Sender, error) {
	s := &Sender{
		accountSID: cfg.AccountSID,
		token:      cfg.AuthToken,
		from:       cfg.From,
		serviceSID: cfg.MessagingServiceSID,
		baseURL:    DefaultBaseURL,
		timeout:    DefaultTimeout,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	if s.client == nil {
		s.client = httpsend.Client(s.timeout)
	}
	return s, nil
}

func (s *Sender) validate() error {
	switch {
	case !accountSIDPattern.MatchString(s.accountSID):
		return fmt.Errorf("%w: account SID must be \"AC\" followed by 32 lowercase hex digits", ErrInvalidConfig)
	case s.token == "":
		return fmt.Errorf("%w: auth token is empty", ErrInvalidConfig)
	case httpsend.BadCredential(s.token):
		return fmt.Errorf("%w: auth token contains spaces or control characters", ErrInvalidConfig)
	case s.from == "" && s.serviceSID == "":
		return fmt.Errorf("%w: set From or MessagingServiceSID", ErrInvalidConfig)
	case s.from != "" && s.serviceSID != "":
		return fmt.Errorf("%w: set From or MessagingServiceSID, not both", ErrInvalidConfig)
	case s.from != "" && !e164Pattern.MatchString(s.from):
		return fmt.Errorf("%w: From must be an E.164 phone number such as +15017122661", ErrInvalidConfig)
	case s.serviceSID != "" && !serviceSIDPattern.MatchString(s.serviceSID):
		return fmt.Errorf("%w: messaging service SID must be \"MG\" followed by 32 lowercase hex digits", ErrInvalidConfig)
	case s.timeout <= 0:
		return fmt.Errorf("%w: timeout %v must be positive", ErrInvalidConfig, s.timeout)
	}
	if s.domain != "" {
		d, err := checkDomain(s.domain)
		if err != nil {
			return err
		}
		s.domain = d
	}
	base, err := httpsend.BaseURL(s.baseURL, ErrInvalidConfig)
	if err != nil {
		return err
	}
	s.endpoint = base + "/2010-04-01/Accounts/" + s.accountSID + "/Messages.json"
	return nil
}

// checkDomain validates a WebOTP domain and returns it in lowercase.
func checkDomain(domain string) (string, error) {
	d := strings.ToLower(domain)
	labels := strings.Split(d, ".")
	ok := len(d) <= 253
	for _, l := range labels {
		ok = ok && labelPattern.MatchString(l)
	}
	if last := labels[len(labels)-1]; ok && strings.Trim(last, "0123456789") == "" {
		ok = false // an IP address, not a host name
	}
	if !ok {
		return "", fmt.Errorf("%w: domain %q must be a host name such as example.com, without scheme, port or path", ErrInvalidConfig, domain)
	}
	return d, nil
}

// String describes s without its auth token.
func (s *Sender) String() string {
	if s == nil {
		return "sms.Sender(nil)"
	}
	from := "from " + s.from
	if s.serviceSID != "" {
		from = "messaging service " + s.serviceSID
	}
	webOTP := ""
	if s.domain != "" {
		webOTP = ", webotp @" + s.domain
	}
	return fmt.Sprintf("sms.Sender(twilio account %s, %s%s)", s.accountSID, from, webOTP)
}

// Format implements fmt.Formatter: every verb, %#v and %+v included, prints
// String, so formatting a Sender cannot reveal its token.
func (s *Sender) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// text is the message body for m.
func (s *Sender) text(m otpcode.Message) string {
	var b strings.Builder
	b.WriteString(m.Code)
	if portuguese(m.Locale) {
		b.WriteString(" é o seu código de verificação")
	} else {
		b.WriteString(" is your verification code")
	}
	if s.domain != "" {
		b.WriteString("\n\n@")
		b.WriteString(s.domain)
		b.WriteString(" #")
		b.WriteString(m.Code)
	}
	return b.String()
}

// portuguese reports whether locale is Portuguese ("pt-BR", "pt", "pt_PT").
func portuguese(locale string) bool {
	l := strings.ToLower(locale)
	if i := strings.IndexAny(l, "-_"); i > 0 {
		l = l[:i]
	}
	return l == "pt"
}

// twilioError is Twilio's REST error body.
type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"` // quotes the request (the To number): never used
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// Send delivers m.Code by SMS to the phone number m.To (E.164,
// "+5511987654321"), in the language picked from m.Locale. It returns nil
// once Twilio accepts the message (any 2xx), and otherwise a
// *otpcode.SendError. When ctx is done before Twilio answers, the error
// also wraps ctx.Err(); when the Send timeout passes first, it is
// retryable and wraps context.DeadlineExceeded. Acceptance is not
// delivery: Twilio may still fail to deliver the message later.
func (s *Sender) Send(ctx context.Context, m otpcode.Message) error {
	if err := ctx.Err(); err != nil {
		return httpsend.Canceled(otpcode.ChannelSMS, "sms", err)
	}
	if !e164Pattern.MatchString(m.To) {
		return &otpcode.SendError{Channel: otpcode.ChannelSMS, Reason: "invalid recipient: not an E.164 phone number"}
	}
	if m.Code == "" || strings.ContainsFunc(m.Code, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return &otpcode.SendError{Channel: otpcode.ChannelSMS, Reason: "invalid code: empty or contains spaces"}
	}
	form := url.Values{"To": {m.To}, "Body": {s.text(m)}}
	if s.serviceSID != "" {
		form.Set("MessagingServiceSid", s.serviceSID)
	} else {
		form.Set("From", s.from)
	}

	sendCtx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(sendCtx, http.MethodPost, s.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return &otpcode.SendError{Channel: otpcode.ChannelSMS, Reason: "build request", Err: err}
	}
	req.SetBasicAuth(s.accountSID, s.token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")

	resp, err := s.client.Do(req)
	if err != nil {
		return httpsend.Transport(otpcode.ChannelSMS, "sms", ctx, sendCtx, s.timeout, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	if err != nil && len(raw) == 0 {
		return httpsend.Transport(otpcode.ChannelSMS, "sms", ctx, sendCtx, s.timeout, err)
	}
	var te twilioError
	_ = json.Unmarshal(raw, &te) // a body that is not Twilio's shape leaves the code at 0
	retryable, reason := Classify(resp.StatusCode, te.Code)
	return &otpcode.SendError{
		Channel:   otpcode.ChannelSMS,
		Retryable: retryable,
		Status:    resp.StatusCode,
		Reason:    reason,
		Err:       &APIError{Status: resp.StatusCode, Code: te.Code, MoreInfo: moreInfo(te.MoreInfo, te.Code)},
	}
}

// moreInfo keeps Twilio's more_info link only when it is the documentation
// page of code, so nothing else the provider echoes reaches an APIError.
func moreInfo(link string, code int) string {
	const docs = "https://www.twilio.com/docs/errors/"
	if code == 0 || link != fmt.Sprintf("%s%d", docs, code) {
		return ""
	}
	return link
}

// APIError is the provider detail of a refused request, available with
// errors.As on a Send error. It carries Twilio's numbers, never its message
// text, which quotes the recipient.
type APIError struct {
	// Status is the HTTP status.
	Status int
	// Code is Twilio's error code, or 0 when the body had none.
	Code int
	// MoreInfo is Twilio's documentation link for Code, or "".
	MoreInfo string
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("sms: twilio error: http %d, code %d", e.Status, e.Code)
}

// Classify tells whether a refused request with HTTP status and Twilio
// error code (0 when unknown) is worth retrying, and returns a short reason
// "<code>: <category>" (or "http <status>: <category>" without a code).
// 429 and 5xx are retryable whatever the code, 401 and 403 permanent; on
// other statuses a code it knows decides, and anything else is permanent.
func Classify(status, code int) (retryable bool, reason string) {
	codeRetryable, category, known := classifyCode(code)
	switch {
	case status == http.StatusTooManyRequests:
		retryable = true
		if !known {
			category = "rate limited"
		}
	case status >= 500:
		retryable = true
		if !known {
			category = "provider error"
		}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		if !known {
			category = "invalid credential"
		}
	case known:
		retryable = codeRetryable
	case status >= 300 && status < 400:
		category = "unexpected redirect"
	default:
		category = "request rejected"
	}
	if code == 0 {
		return retryable, fmt.Sprintf("http %d: %s", status, category)
	}
	return retryable, fmt.Sprintf("%d: %s", code, category)
}

// classifyCode knows the Twilio error codes that matter when sending an SMS.
func classifyCode(code int) (retryable bool, category string, known bool) {
	switch code {
	case 20429:
		return true, "rate limited", true
	case 20500, 20503:
		return true, "provider error", true
	case 20003:
		return false, "invalid credential", true
	case 20404:
		return false, "account or resource not found", true
	case 21211:
		return false, "invalid recipient", true
	case 21614:
		return false, "recipient is not a mobile number", true
	case 21610:
		return false, "recipient unsubscribed", true
	case 21408:
		return false, "region not enabled", true
	case 21612:
		return false, "recipient not reachable from this sender", true
	case 21608:
		return false, "trial account: recipient not verified", true
	case 21212, 21606, 21659, 21660:
		return false, "invalid sender", true
	case 30003:
		return false, "recipient unreachable", true
	case 30005:
		return false, "recipient unknown", true
	case 30006:
		return false, "recipient is a landline or unreachable carrier", true
	}
	return false, "", false
}
