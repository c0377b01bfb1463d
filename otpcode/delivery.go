package otpcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Channel names a way to deliver a code.
type Channel string

// The channels otpguard knows: NewChain needs no Contact function for them.
// WhatsApp and SMS are phone channels; WhatsApp is the usual primary
// channel and email the low-assurance fallback. A host adds channels of
// its own with a Route that says where their contact is.
const (
	ChannelWhatsApp Channel = "whatsapp"
	ChannelSMS      Channel = "sms"
	ChannelEmail    Channel = "email"
)

// Message is one delivery of a code. Its String and LogValue methods redact
// the code, so a Message can be logged safely.
type Message struct {
	// Channel is the channel this message goes through.
	Channel Channel
	// To is the recipient, as the route's Contact function gives it: an
	// E.164 phone number on a phone channel, an email address on email.
	To string
	// Code is the one-time code. Senders must not log it.
	Code string
	// TTL is the code's lifetime and ExpiresAt its expiry.
	TTL       time.Duration
	ExpiresAt time.Time
	// Locale selects the message template ("pt-BR", "en").
	Locale string
	// Name is the customer's name, or "".
	Name string
	// Purpose is the purpose the code was requested for, or "".
	Purpose string
}

// String describes m without its code, and with the recipient masked.
func (m Message) String() string {
	return fmt.Sprintf("otp message via %s to %s (code redacted)", m.Channel, MaskRecipient(m.To))
}

// LogValue implements slog.LogValuer without the code, and with the
// recipient masked.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("channel", string(m.Channel)),
		slog.String("to", MaskRecipient(m.To)),
		slog.Time("expires_at", m.ExpiresAt),
	)
}

// MaskRecipient hides most of a phone number or email address, for logs:
// "+5511987654321" becomes "+55*******4321" and "maria@example.com" becomes
// "m****@example.com".
func MaskRecipient(to string) string {
	if at := strings.LastIndexByte(to, '@'); at >= 0 {
		if at <= 1 {
			return strings.Repeat("*", at) + to[at:]
		}
		return to[:1] + strings.Repeat("*", at-1) + to[at:]
	}
	if len(to) <= 7 {
		return strings.Repeat("*", len(to))
	}
	return to[:3] + strings.Repeat("*", len(to)-7) + to[len(to)-4:]
}

// Sender delivers messages over one channel. Implementations must be safe
// for concurrent use, respect ctx, and return a *SendError (or an error
// wrapping one) when they fail.
type Sender interface {
	// Send delivers m to m.To over m.Channel, or returns why it could not.
	Send(ctx context.Context, m Message) error
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, m Message) error

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

// Sentinels for delivery failures, matched with errors.Is on a *SendError.
var (
	// ErrRetryable marks a failure that may succeed later: rate limiting,
	// a 5xx, a timeout, an unreachable server.
	ErrRetryable = errors.New("otpcode: retryable delivery failure")
	// ErrPermanent marks a failure that will not succeed by retrying: an
	// invalid recipient, a template problem, a rejected credential.
	ErrPermanent = errors.New("otpcode: permanent delivery failure")
)

// SendError is a failed delivery. Its message never contains the code or a
// credential.
type SendError struct {
	// Channel is the channel that failed.
	Channel Channel
	// Retryable tells ErrRetryable from ErrPermanent.
	Retryable bool
	// Status is the provider's status (an HTTP status or an SMTP code), or 0.
	Status int
	// Reason is a short description from the provider, free of secrets.
	Reason string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error.
func (e *SendError) Error() string {
	kind := "permanent"
	if e.Retryable {
		kind = "retryable"
	}
	s := fmt.Sprintf("otpcode: %s delivery failed (%s", e.Channel, kind)
	if e.Status != 0 {
		s += fmt.Sprintf(", status %d", e.Status)
	}
	s += ")"
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap returns ErrRetryable or ErrPermanent, and Err.
func (e *SendError) Unwrap() []error {
	kind := ErrPermanent
	if e.Retryable {
		kind = ErrRetryable
	}
	if e.Err == nil {
		return []error{kind}
	}
	return []error{kind, e.Err}
}

// Route binds a Sender to the channel it serves, and says where a
// customer's address on that channel is.
type Route struct {
	// Channel is the channel Sender delivers over: a built-in channel
	// (ChannelWhatsApp, ChannelSMS, ChannelEmail) or one of the host's, named
	// by 1 to 32 lower-case ASCII letters, digits, '-' or '_'.
	Channel Channel
	// Sender delivers the messages of Channel. Required.
	Sender Sender
	// Contact returns the customer's address on Channel, "" when the
	// customer has none there; it must be fast, safe for concurrent use and
	// free of side effects. Default: Contacts.Phone on a phone channel,
	// Contacts.Email on email. Required for a channel of the host's that is
	// not a phone channel.
	Contact func(Contacts) string
	// Phone makes Channel a phone channel: Contact gives an E.164 number,
	// and a code goes to it only when the number can be a mobile and the
	// destination rules allow it (see WithAllowedRegions), as on WhatsApp
	// and SMS, which are phone channels whatever Phone says. Email cannot
	// be one.
	Phone bool
}

// Chain delivers a message over the first channel that works, in the order
// of its routes (WhatsApp, then SMS, then email, say). A channel is tried
// only when the customer has a contact for it. A Chain is safe for
// concurrent use once built.
type Chain struct {
	routes []Route // Contact set, Phone set on every phone channel
}

// NewChain returns a chain over routes, tried in order. Each channel may
// appear once, every route needs a sender, and a channel of the host's
// needs a valid name and, unless it is a phone channel, a Contact
// function; otherwise NewChain returns an error naming the channel.
func NewChain(routes ...Route) (*Chain, error) {
	if len(routes) == 0 {
		return nil, errors.New("otpcode: a chain needs at least one route")
	}
	out := make([]Route, len(routes))
	for i, r := range routes {
		if err := checkChannelName(r.Channel); err != nil {
			return nil, err
		}
		if r.Sender == nil {
			return nil, fmt.Errorf("otpcode: channel %q has no sender", r.Channel)
		}
		if slices.ContainsFunc(out[:i], func(o Route) bool { return o.Channel == r.Channel }) {
			return nil, fmt.Errorf("otpcode: channel %q appears twice", r.Channel)
		}
		switch r.Channel {
		case ChannelWhatsApp, ChannelSMS:
			r.Phone = true
		case ChannelEmail:
			if r.Phone {
				return nil, errors.New(`otpcode: channel "email" cannot be a phone channel`)
			}
			if r.Contact == nil {
				r.Contact = emailContact
			}
		}
		if r.Contact == nil {
			if !r.Phone {
				return nil, fmt.Errorf("otpcode: channel %q needs a Contact function (or Phone, for a phone channel)", r.Channel)
			}
			r.Contact = phoneContact
		}
		out[i] = r
	}
	return &Chain{routes: out}, nil
}

func phoneContact(c Contacts) string { return c.Phone }
func emailContact(c Contacts) string { return c.Email }

// checkChannelName reports whether ch can name a channel: 1 to 32
// lower-case ASCII letters, digits, '-' or '_'. Channel names appear in
// requests, answers, logs and metrics.
func checkChannelName(ch Channel) error {
	ok := len(ch) > 0 && len(ch) <= 32
	for i := 0; ok && i < len(ch); i++ {
		c := ch[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
	}
	if !ok {
		return fmt.Errorf("otpcode: channel %q is not 1 to 32 lower-case letters, digits, '-' or '_'", ch)
	}
	return nil
}

// Channels returns the chain's channels in order.
func (c *Chain) Channels() []Channel {
	out := make([]Channel, len(c.routes))
	for i, r := range c.routes {
		out[i] = r.Channel
	}
	return out
}

// route returns the chain's route for ch.
func (c *Chain) route(ch Channel) (Route, bool) {
	for _, r := range c.routes {
		if r.Channel == ch {
			return r, true
		}
	}
	return Route{}, false
}

// has reports whether the chain has a route for ch.
func (c *Chain) has(ch Channel) bool {
	_, ok := c.route(ch)
	return ok
}

// Offers reports whether the chain can deliver to contacts over ch: it has
// a route for ch and the route's Contact finds an address in contacts.
// The Service's destination rules are not applied.
func (c *Chain) Offers(ch Channel, to Contacts) bool {
	r, ok := c.route(ch)
	return ok && r.Contact(to) != ""
}

// Deliver sends m to the first channel of the chain that has a contact in
// to, is allowed by allow (nil allows every channel), and succeeds. It
// returns the channel that delivered. When every channel fails it returns an
// error wrapping ErrDelivery and each channel's error. It stops, with
// ctx.Err(), as soon as ctx is done. Deliver applies no destination rules
// to phone channels; Service.Request does before it delivers.
func (c *Chain) Deliver(ctx context.Context, to Contacts, m Message, allow func(Channel) bool) (Channel, error) {
	return c.deliver(ctx, to, m, allow, nil)
}

// deliver is Deliver, reporting each attempt to report (nil for none).
func (c *Chain) deliver(ctx context.Context, to Contacts, m Message, allow func(Channel) bool, report *delivery) (Channel, error) {
	defer report.done(ctx)
	var errs []error
	for i, r := range c.routes {
		if allow != nil && !allow(r.Channel) {
			continue
		}
		addr := r.Contact(to)
		if addr == "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
		m.Channel, m.To = r.Channel, addr
		actx, span, start := report.begin(ctx, i, r.Channel)
		err := r.Sender.Send(actx, m)
		report.end(actx, span, i, r.Channel, start, err)
		if err == nil {
			return r.Channel, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", ctxErr
		}
		errs = append(errs, fmt.Errorf("%s: %w", r.Channel, err))
	}
	if len(errs) == 0 {
		return "", fmt.Errorf("%w: no channel can reach this customer", ErrDelivery)
	}
	return "", fmt.Errorf("%w: %w", ErrDelivery, errors.Join(errs...))
}

// DevSender is the development sender: it writes each delivery as one JSON
// line {"channel","to","code","expires_at"} to an io.Writer, so a person or
// a script can read the code. It prints codes by design: never use it in
// production. It is safe for concurrent use.
type DevSender struct {
	mu sync.Mutex
	w  io.Writer
}

// NewDevSender returns a DevSender writing to w.
func NewDevSender(w io.Writer) *DevSender { return &DevSender{w: w} }

type devLine struct {
	Channel   Channel   `json:"channel"`
	To        string    `json:"to"`
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Send writes m as one JSON line.
func (d *DevSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(devLine{Channel: m.Channel, To: m.To, Code: m.Code, ExpiresAt: m.ExpiresAt.UTC()})
	if err != nil {
		return &SendError{Channel: m.Channel, Reason: "encode", Err: err}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.w.Write(append(b, '\n')); err != nil {
		return &SendError{Channel: m.Channel, Retryable: true, Reason: "write", Err: err}
	}
	return nil
}
