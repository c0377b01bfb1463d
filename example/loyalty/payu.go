package loyalty

import (
	"context"
	"fmt"
	"net/http"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otphttp"
)

// This file is the example's second contract: PayU's partner OTP API,
//
//	POST /api/v1/otps/send_otp    otp[identity]=9044155723&otp[type]=SignIn
//	POST /api/v1/otps/verify_otp  otp[identity]=9044155723&otp[code]=...&otp[type]=SignIn
//
// with the partner's key as "Authorization: Bearer <key>", for the
// merchants of a PayU-style directory. It runs on the same OTP service as
// Zupy's endpoints: one store, one set of limits, so a merchant locked
// through one contract is locked on the other.

// OTPScope is the scope a partner key needs on the OTP endpoints of both
// contracts. Every key of Partners has it; NoOTPPartner's has not.
const OTPScope = "otp"

// NoOTPPartner is a partner whose key lacks OTPScope, a reporting tool: it
// may call every loyalty endpoint its policy allows (it has none in
// policies.json, so the default, strict), and the OTP endpoints of both
// contracts refuse it with 401. The slice of keys is built when New runs.
var NoOTPPartner = Partner{ID: "painel", Name: "Painel BI", Kind: "reports", Key: "zupy_pk_test_painel_3e8b1f7a2c"}

// noOTPScopes are NoOTPPartner's scopes: the loyalty endpoints only.
var noOTPScopes = []string{"loyalty"}

// partnerKeys returns the example's API keys: each of Partners with every
// scope, and NoOTPPartner's without OTPScope.
func partnerKeys() []middleware.APIKey {
	keys := make([]middleware.APIKey, 0, len(Partners)+1)
	for _, p := range Partners {
		keys = append(keys, middleware.APIKey{Key: p.Key, Integration: p.ID})
	}
	return append(keys, middleware.APIKey{Key: NoOTPPartner.Key, Integration: NoOTPPartner.ID, Scopes: noOTPScopes})
}

// PayUMerchant is a merchant of the example's PayU directory, as PayU's
// seed shows it.
type PayUMerchant struct {
	// Identity is the merchant's mobile number as PayU's partners type it:
	// national, region IN.
	Identity string
	// Email is the merchant's email address, or "".
	Email string
	// UserUUID is the merchant's user ID, the customer ID of its sessions.
	UserUUID string
	// MID is the merchant ID.
	MID string
	// MerchantUUID is the merchant's UUID.
	MerchantUUID string
}

// PayUMerchants are the merchants of the example's PayU directory: the
// seed's, and the one its locked-account sample names. Neither has a
// reseller.
var PayUMerchants = []PayUMerchant{
	{Identity: "9044155723", Email: "merchant@example.com", UserUUID: "11ea-bf7f-3063406a-85a0-02f413145cce",
		MID: "7060011", MerchantUUID: "11ea-bf7f-2db8ef5e-9363-0acb18027a2a"},
	{Identity: "8802779484", UserUUID: "11ea-c12a-5a3e6f10-85a0-02f413145cce",
		MID: "7060012", MerchantUUID: "11ea-c12a-4f1d2b7c-9363-0acb18027a2a"},
}

// merchants is the PayU directory: fixed configuration, like the rewards,
// the same on every instance. It knows merchants by phone and email and
// never creates one. It is safe for concurrent use.
type merchants struct {
	bySubject map[string]otpcode.Customer // by Identifier.Subject()
}

var _ otpcode.Directory = (*merchants)(nil)

// newMerchants returns the directory of PayUMerchants.
func newMerchants() (*merchants, error) {
	m := &merchants{bySubject: make(map[string]otpcode.Customer, 2*len(PayUMerchants))}
	for _, pm := range PayUMerchants {
		phone, err := otpcode.Parser{Region: otphttp.DefaultPayURegion, Kind: otpcode.KindPhone}.Parse(pm.Identity)
		if err != nil {
			return nil, fmt.Errorf("loyalty: merchant %s: %w", pm.MID, err)
		}
		c := otpcode.Customer{
			ID:       pm.UserUUID,
			Locale:   "en",
			Contacts: otpcode.Contacts{Phone: phone.Value, Email: pm.Email},
			// What verify_otp returns beside the token, as in PayU's sample.
			Profile: map[string]any{
				"user_uuid":     pm.UserUUID,
				"reseller_uuid": nil,
				"mid":           pm.MID,
				"merchant_uuid": pm.MerchantUUID,
			},
		}
		m.bySubject[phone.Subject()] = c
		if pm.Email != "" {
			email, err := otpcode.Parser{Kind: otpcode.KindEmail}.Parse(pm.Email)
			if err != nil {
				return nil, fmt.Errorf("loyalty: merchant %s: %w", pm.MID, err)
			}
			m.bySubject[email.Subject()] = c
		}
	}
	return m, nil
}

// Lookup finds the merchant an identifier names (otpcode.Directory).
func (m *merchants) Lookup(_ context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	c, ok := m.bySubject[id.Subject()]
	return c, ok, nil
}

// Resolve returns the merchant of a verified identifier; it never creates
// one (otpcode.Directory).
func (m *merchants) Resolve(ctx context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	return m.Lookup(ctx, id)
}

// directory is the OTP service's directory: the merchants first, then the
// loyalty programme, so that both contracts find every customer and a
// merchant's limits are the same whichever endpoint is called.
type directory struct {
	merchants *merchants
	club      *club
}

var _ otpcode.Directory = (*directory)(nil)

// newDirectory returns the merchants and the club as one directory.
func newDirectory(shop *club) (*directory, error) {
	m, err := newMerchants()
	if err != nil {
		return nil, err
	}
	return &directory{merchants: m, club: shop}, nil
}

// Lookup finds a merchant, or else a member of the programme.
func (d *directory) Lookup(ctx context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	if c, ok, _ := d.merchants.Lookup(ctx, id); ok {
		return c, true, nil
	}
	return d.club.Lookup(ctx, id)
}

// Resolve returns a merchant, or else the programme's member, made when
// the programme makes one.
func (d *directory) Resolve(ctx context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	if c, ok, _ := d.merchants.Lookup(ctx, id); ok {
		return c, true, nil
	}
	return d.club.Resolve(ctx, id)
}

// zupyChannels is the channel policy of Zupy's endpoints: WhatsApp and
// email, as in the Zupy documentation; SMS is PayU's.
func zupyChannels(_ string, ch otpcode.Channel) bool { return ch != otpcode.ChannelSMS }

// mountPayU mounts PayU's endpoints on mux, over svc: otp[type] SignIn or
// SignUp, identities of region IN, the SMS and email channels of the
// service (all of its channels when it has neither), the merchants as the
// users, and the keys accepted as bearer credentials (or X-API-Key) with
// OTPScope, a refusal answered as PayU does.
func mountPayU(mux *http.ServeMux, web *middleware.HTTP, svc *otpcode.Service, merchants otpcode.Directory, keys []middleware.APIKey) error {
	var channels []otpcode.Channel
	for _, ch := range svc.Channels() {
		if ch == otpcode.ChannelSMS || ch == otpcode.ChannelEmail {
			channels = append(channels, ch)
		}
	}
	// README:begin payu
	payu, err := otphttp.New(web, svc, otphttp.WithContract(otphttp.PayU(otphttp.PayUConfig{
		Types:    []string{"SignIn", "SignUp"}, // otp[type]: the codes' purposes
		Region:   "IN",                         // otp[identity]=9044155723 is +919044155723
		Channels: channels,                     // otp[channels]: SMS and email
		Users:    merchants,                    // anyone else: errors.user ["not_found"]
	})))
	if err != nil {
		return err
	}
	// The same keys as Zupy's endpoints, also as bearer credentials; PayU's
	// 401 for a missing or unknown key, or one without the OTP scope.
	auth, err := middleware.APIKeys(web, keys, middleware.WithBearer(),
		middleware.WithUnauthorizedHandler(otphttp.PayUUnauthorized))
	if err != nil {
		return err
	}
	mux.Handle("/api/v1/otps/send_otp", auth.Require(OTPScope)(payu.RequestOTP()))
	mux.Handle("/api/v1/otps/verify_otp", auth.Require(OTPScope)(payu.VerifyOTP()))
	// README:end payu
	return nil
}
