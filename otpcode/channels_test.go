package otpcode_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/store/memory"
)

const (
	// chFixedLine is a São Paulo fixed line: no WhatsApp, no SMS.
	chFixedLine = "+551134567890"
	// chPortugal is a Portuguese mobile, outside WithAllowedRegions("BR").
	chPortugal = "+351912345678"
	// chPremium is a UK premium-rate number: no code goes to it.
	chPremium = "+449098790879"
)

// chDirectory knows its customers by the canonical value of any of their
// identifiers.
type chDirectory map[string]otpcode.Customer

func (d chDirectory) Lookup(_ context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	c, ok := d[id.Value]
	return c, ok, nil
}

func (d chDirectory) Resolve(ctx context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	return d.Lookup(ctx, id)
}

// newChannelService returns a service over chain and dir, on a memory
// store, with no resend cooldown and send limits out of the way.
func newChannelService(t *testing.T, chain *otpcode.Chain, dir otpcode.Directory, opts ...otpcode.Option) *otpcode.Service {
	t.Helper()
	st := memory.New()
	t.Cleanup(st.Close)
	limits := otpcode.DefaultLimits()
	limits.ResendCooldown = 0
	limits.SendLimit, limits.CustomerSendLimit = 100, 100
	manyRequests(&limits)
	opts = append([]otpcode.Option{otpcode.WithLimits(limits), otpcode.WithDirectory(dir)}, opts...)
	svc, err := otpcode.NewService(st, mustKeys(t), chain, opts...)
	require.NoError(t, err)
	return svc
}

// A chain WhatsApp → SMS → email falls back one channel at a time, each to
// the address its route picks.
func TestChainWhatsAppSMSEmail(t *testing.T) {
	wa, sms, mail := &outbox{}, &outbox{}, &outbox{}
	chain, err := otpcode.NewChain(
		otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: wa},
		otpcode.Route{Channel: otpcode.ChannelSMS, Sender: sms},
		otpcode.Route{Channel: otpcode.ChannelEmail, Sender: mail},
	)
	require.NoError(t, err)
	assert.Equal(t, []otpcode.Channel{otpcode.ChannelWhatsApp, otpcode.ChannelSMS, otpcode.ChannelEmail}, chain.Channels())
	svc := newChannelService(t, chain, directory{})
	ctx := context.Background()
	request := func(in otpcode.RequestInput) (otpcode.RequestResult, error) {
		in.Integration, in.Identifier = goomer, maria
		return svc.Request(ctx, in)
	}

	tests := []struct {
		name               string
		waFails, smsFails  bool
		in                 otpcode.RequestInput
		want               otpcode.Channel
		wantTo             string
		wantWA, wantSMS    int // messages kept by each outbox so far
		wantMail           int
		wantDeliveryFailed bool
	}{
		{name: "whatsapp works", want: otpcode.ChannelWhatsApp, wantTo: maria, wantWA: 1},
		{name: "whatsapp fails: sms", waFails: true, want: otpcode.ChannelSMS, wantTo: maria, wantWA: 1, wantSMS: 1},
		{name: "both phone channels fail: email", waFails: true, smsFails: true, want: otpcode.ChannelEmail, wantTo: mariaEmail, wantWA: 1, wantSMS: 1, wantMail: 1},
		{name: "sms asked for", in: otpcode.RequestInput{Channel: otpcode.ChannelSMS}, want: otpcode.ChannelSMS, wantTo: maria, wantWA: 1, wantSMS: 2, wantMail: 1},
		{name: "sms asked for, and failing: no fallback", smsFails: true, in: otpcode.RequestInput{Channel: otpcode.ChannelSMS}, wantWA: 1, wantSMS: 2, wantMail: 1, wantDeliveryFailed: true},
		{name: "policy forbids sms", waFails: true, in: otpcode.RequestInput{Allow: func(c otpcode.Channel) bool { return c != otpcode.ChannelSMS }}, want: otpcode.ChannelEmail, wantTo: mariaEmail, wantWA: 1, wantSMS: 2, wantMail: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wa.fail, sms.fail = nil, nil
			if tt.waFails {
				wa.fail = &otpcode.SendError{Channel: otpcode.ChannelWhatsApp, Retryable: true}
			}
			if tt.smsFails {
				sms.fail = &otpcode.SendError{Channel: otpcode.ChannelSMS, Status: 400, Reason: "21614: recipient is not a mobile number"}
			}
			res, err := request(tt.in)
			if tt.wantDeliveryFailed {
				require.ErrorIs(t, err, otpcode.ErrDelivery)
				assert.ErrorIs(t, err, otpcode.ErrPermanent)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.want, res.Channel, "got channel %s, want %s", res.Channel, tt.want)
			}
			assert.Equal(t, tt.wantWA, wa.count(), "got %d whatsapp messages, want %d", wa.count(), tt.wantWA)
			assert.Equal(t, tt.wantSMS, sms.count(), "got %d sms messages, want %d", sms.count(), tt.wantSMS)
			assert.Equal(t, tt.wantMail, mail.count(), "got %d emails, want %d", mail.count(), tt.wantMail)
			if tt.wantDeliveryFailed {
				return
			}
			var last otpcode.Message
			switch tt.want {
			case otpcode.ChannelWhatsApp:
				last = wa.last(t)
			case otpcode.ChannelSMS:
				last = sms.last(t)
			case otpcode.ChannelEmail:
				last = mail.last(t)
			}
			assert.Equal(t, tt.want, last.Channel, "got message channel %s, want %s", last.Channel, tt.want)
			assert.Equal(t, tt.wantTo, last.To, "got recipient %s, want %s", last.To, tt.wantTo)
		})
	}
}

// SMS, like WhatsApp, goes only to numbers that can be mobiles and that the
// destination rules allow.
func TestSMSOnlyToMobiles(t *testing.T) {
	office := otpcode.Customer{ID: "office", Contacts: otpcode.Contacts{Phone: chFixedLine, Email: "office@example.com"}}
	lisbon := otpcode.Customer{ID: "lisbon", Contacts: otpcode.Contacts{Phone: chPortugal, Email: "lisbon@example.com"}}
	dir := chDirectory{
		chFixedLine: office, "office@example.com": office,
		"lisbon@example.com": lisbon,
		maria:                {ID: "maria", Contacts: otpcode.Contacts{Phone: maria}},
	}
	sms, mail := &outbox{}, &outbox{}
	chain, err := otpcode.NewChain(
		otpcode.Route{Channel: otpcode.ChannelSMS, Sender: sms},
		otpcode.Route{Channel: otpcode.ChannelEmail, Sender: mail},
	)
	require.NoError(t, err)
	assert.True(t, chain.Offers(otpcode.ChannelSMS, otpcode.Contacts{Phone: chFixedLine}), "Offers applies no destination rule")
	svc := newChannelService(t, chain, dir, otpcode.WithAllowedRegions("BR"))
	ctx := context.Background()

	tests := []struct {
		name       string
		identifier string
		channel    otpcode.Channel
		want       otpcode.Channel // "" for a refusal
		wantErr    error
	}{
		{"fixed line falls back to email", chFixedLine, "", otpcode.ChannelEmail, nil},
		{"fixed line asked for sms", chFixedLine, otpcode.ChannelSMS, "", otpcode.ErrChannelNotPermitted},
		{"fixed line by email: sms skipped", "office@example.com", "", otpcode.ChannelEmail, nil},
		{"other country's mobile in the directory: email", "lisbon@example.com", "", otpcode.ChannelEmail, nil},
		{"other country's mobile asked for sms", "lisbon@example.com", otpcode.ChannelSMS, "", otpcode.ErrChannelNotPermitted},
		{"mobile", maria, "", otpcode.ChannelSMS, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := sms.count()
			res, err := svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: tt.identifier, Channel: tt.channel})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Equal(t, before, sms.count(), "got an SMS sent for a refused request")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, res.Channel, "got channel %s, want %s", res.Channel, tt.want)
			if tt.want != otpcode.ChannelSMS {
				assert.Equal(t, before, sms.count(), "got an SMS sent to a number it may not go to")
			}
		})
	}

	// A fixed line no directory knows has nothing to reach it by.
	smsOnly, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelSMS, Sender: sms})
	require.NoError(t, err)
	before := sms.count()
	_, err = newChannelService(t, smsOnly, directory{}).Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: chFixedLine})
	assert.ErrorIs(t, err, otpcode.ErrUnknownCustomer)
	assert.Equal(t, before, sms.count(), "got an SMS sent to a fixed line")
}

// A host's channel says where its contact is; a phone channel of the host's
// obeys the same destination rules as WhatsApp and SMS.
func TestCustomChannels(t *testing.T) {
	const (
		slack otpcode.Channel = "slack"
		viber otpcode.Channel = "viber"
		line  otpcode.Channel = "line"
	)
	// The host's Slack members, by email; its LINE numbers, by customer
	// email too (a number other than Contacts.Phone).
	members := map[string]string{mariaEmail: "U024BE7LH"}
	lineNumbers := map[string]string{"premium@example.com": chPremium, "pedro@example.com": "+5521912345678"}
	dir := chDirectory{
		maria:                 {ID: "maria", Contacts: otpcode.Contacts{Phone: maria, Email: mariaEmail}},
		mariaEmail:            {ID: "maria", Contacts: otpcode.Contacts{Phone: maria, Email: mariaEmail}},
		chFixedLine:           {ID: "office", Contacts: otpcode.Contacts{Phone: chFixedLine, Email: "office@example.com"}},
		"premium@example.com": {ID: "premium", Contacts: otpcode.Contacts{Email: "premium@example.com"}},
		"pedro@example.com":   {ID: "pedro", Contacts: otpcode.Contacts{Email: "pedro@example.com"}},
	}
	sl, vb, ln, mail := &outbox{}, &outbox{}, &outbox{}, &outbox{}
	chain, err := otpcode.NewChain(
		otpcode.Route{Channel: slack, Sender: sl, Contact: func(c otpcode.Contacts) string { return members[c.Email] }},
		otpcode.Route{Channel: viber, Sender: vb, Phone: true}, // Contacts.Phone
		otpcode.Route{Channel: line, Sender: ln, Phone: true, Contact: func(c otpcode.Contacts) string { return lineNumbers[c.Email] }},
		otpcode.Route{Channel: otpcode.ChannelEmail, Sender: mail},
	)
	require.NoError(t, err)
	assert.True(t, chain.Offers(slack, otpcode.Contacts{Email: mariaEmail}))
	assert.False(t, chain.Offers(slack, otpcode.Contacts{Email: "office@example.com"}))
	svc := newChannelService(t, chain, dir)
	ctx := context.Background()

	tests := []struct {
		name       string
		identifier string
		channel    otpcode.Channel
		want       otpcode.Channel
		wantTo     string
		box        *outbox
	}{
		{"custom contact function", maria, "", slack, "U024BE7LH", sl},
		{"custom phone channel, asked for", mariaEmail, viber, viber, maria, vb},
		{"custom phone channel skips a fixed line", chFixedLine, "", otpcode.ChannelEmail, "office@example.com", mail},
		{"custom phone contact is checked as a destination", "premium@example.com", "", otpcode.ChannelEmail, "premium@example.com", mail},
		{"custom phone contact", "pedro@example.com", "", line, "+5521912345678", ln},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := svc.Request(ctx, otpcode.RequestInput{Integration: goomer, Identifier: tt.identifier, Channel: tt.channel})
			require.NoError(t, err)
			assert.Equal(t, tt.want, res.Channel, "got channel %s, want %s", res.Channel, tt.want)
			m := tt.box.last(t)
			assert.Equal(t, tt.want, m.Channel, "got message channel %s, want %s", m.Channel, tt.want)
			assert.Equal(t, tt.wantTo, m.To, "got recipient %s, want %s", m.To, tt.wantTo)
		})
	}
	assert.Equal(t, 1, vb.count(), "got %d viber messages, want 1 (fixed lines are skipped)", vb.count())
	assert.Equal(t, 1, ln.count(), "got %d LINE messages, want 1 (premium rate is skipped)", ln.count())
}

func TestNewChainErrors(t *testing.T) {
	s := &outbox{}
	contact := func(c otpcode.Contacts) string { return c.Email }
	tests := []struct {
		name    string
		routes  []otpcode.Route
		wantErr string // "" for success
	}{
		{"built-ins", []otpcode.Route{{Channel: otpcode.ChannelWhatsApp, Sender: s}, {Channel: otpcode.ChannelSMS, Sender: s}, {Channel: otpcode.ChannelEmail, Sender: s}}, ""},
		{"custom with contact", []otpcode.Route{{Channel: "push_v2", Sender: s, Contact: contact}}, ""},
		{"custom phone channel", []otpcode.Route{{Channel: "viber", Sender: s, Phone: true}}, ""},
		{"built-in with its own contact", []otpcode.Route{{Channel: otpcode.ChannelEmail, Sender: s, Contact: contact}}, ""},
		{"no routes", nil, "at least one route"},
		{"duplicate", []otpcode.Route{{Channel: otpcode.ChannelSMS, Sender: s}, {Channel: otpcode.ChannelEmail, Sender: s}, {Channel: otpcode.ChannelSMS, Sender: s}}, `channel "sms" appears twice`},
		{"duplicate custom", []otpcode.Route{{Channel: "slack", Sender: s, Contact: contact}, {Channel: "slack", Sender: s, Contact: contact}}, `channel "slack" appears twice`},
		{"missing sender", []otpcode.Route{{Channel: otpcode.ChannelSMS}}, `channel "sms" has no sender`},
		{"custom without contact", []otpcode.Route{{Channel: "slack", Sender: s}}, `channel "slack" needs a Contact function`},
		{"email as a phone channel", []otpcode.Route{{Channel: otpcode.ChannelEmail, Sender: s, Phone: true}}, "cannot be a phone channel"},
		{"empty channel", []otpcode.Route{{Sender: s, Contact: contact}}, `channel "" is not`},
		{"upper-case channel", []otpcode.Route{{Channel: "SMS", Sender: s}}, `channel "SMS" is not`},
		{"channel with a space", []otpcode.Route{{Channel: "my channel", Sender: s, Contact: contact}}, "is not 1 to 32"},
		{"long channel", []otpcode.Route{{Channel: otpcode.Channel(strings.Repeat("x", 33)), Sender: s, Contact: contact}}, "is not 1 to 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := otpcode.NewChain(tt.routes...)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Len(t, c.Channels(), len(tt.routes))
				return
			}
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), tt.wantErr, "got error %q, want it to mention %q", err, tt.wantErr)
		})
	}
}

// NewChain copies its routes: changing the caller's slice later changes
// nothing.
func TestNewChainCopiesRoutes(t *testing.T) {
	routes := []otpcode.Route{{Channel: otpcode.ChannelSMS, Sender: &outbox{}}}
	c, err := otpcode.NewChain(routes...)
	require.NoError(t, err)
	routes[0].Channel = "other"
	assert.Equal(t, []otpcode.Channel{otpcode.ChannelSMS}, c.Channels())
}

// The development sender prints SMS deliveries as it prints any other.
func TestDevSenderPrintsSMS(t *testing.T) {
	var out bytes.Buffer
	chain, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelSMS, Sender: otpcode.NewDevSender(&out)})
	require.NoError(t, err)
	res, err := newChannelService(t, chain, directory{}).Request(context.Background(), otpcode.RequestInput{Integration: goomer, Identifier: maria})
	require.NoError(t, err)
	assert.Equal(t, otpcode.ChannelSMS, res.Channel)
	var line struct{ Channel, To, Code string }
	require.NoError(t, json.Unmarshal(out.Bytes(), &line), "got %q", out.String())
	assert.Equal(t, "sms", line.Channel)
	assert.Equal(t, maria, line.To)
	assert.Len(t, line.Code, 6)
}

// A chain of WhatsApp, then SMS, then a channel of the host's (its Slack
// workspace, whose member IDs it finds by email), then email. WhatsApp is
// down, so a mobile gets its code by SMS; an address with a Slack member
// gets it on Slack; a fixed line can receive neither WhatsApp nor SMS.
func ExampleNewChain() {
	st := memory.New()
	defer st.Close()
	keys, err := keyring.New(bytes.Repeat([]byte{7}, keyring.MinKeyBytes)) // load the pepper from your secret store
	if err != nil {
		fmt.Println(err)
		return
	}
	// show stands in for the senders (sms.New, email.New, the host's own).
	show := otpcode.SenderFunc(func(_ context.Context, m otpcode.Message) error {
		fmt.Println(m.Channel, "to", m.To)
		return nil
	})
	whatsappDown := otpcode.SenderFunc(func(context.Context, otpcode.Message) error {
		return &otpcode.SendError{Channel: otpcode.ChannelWhatsApp, Retryable: true, Status: 503}
	})
	slackMembers := map[string]string{"office@example.com": "U024BE7LH"}
	chain, err := otpcode.NewChain(
		otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: whatsappDown},
		otpcode.Route{Channel: otpcode.ChannelSMS, Sender: show},
		otpcode.Route{Channel: "slack", Sender: show,
			Contact: func(c otpcode.Contacts) string { return slackMembers[c.Email] }},
		otpcode.Route{Channel: otpcode.ChannelEmail, Sender: show},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	svc, err := otpcode.NewService(st, keys, chain)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, id := range []string{"+5511987654321", "office@example.com", "+551134567890"} {
		res, err := svc.Request(context.Background(), otpcode.RequestInput{Integration: "goomer", Identifier: id})
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println("delivered by", res.Channel)
	}
	// Output:
	// sms to +5511987654321
	// delivered by sms
	// slack to U024BE7LH
	// delivered by slack
	// otpcode: unknown customer: no channel reaches this phone
}
