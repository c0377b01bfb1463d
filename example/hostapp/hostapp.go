// Package hostapp is the README's "Using otpguard in your API" as compiled
// code: a host API that embeds otpguard on one guarded route, with a
// minimal customer directory. The README's blocks are cut from this file
// between the "README:begin NAME" and "README:end NAME" comments, and a
// test fails when the two drift apart.
package hostapp

import (
	"context"
	"encoding/hex"
	"net/http"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otphttp"
	"github.com/otpguard/otpguard/policy"
	"github.com/otpguard/otpguard/store/memory"
)

// README:begin directory

// Customers is the host's customer lookup, an otpcode.Directory: here a
// fixed map by phone, email and CPF (Identifier.Subject()); yours queries
// your database.
type Customers map[string]otpcode.Customer

// Lookup finds the customer an identifier names when a code is requested.
func (c Customers) Lookup(_ context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	cust, ok := c[id.Subject()]
	return cust, ok, nil
}

// Resolve returns the customer whose identifier was just verified; a host
// that enrolls new customers creates one here and sets IsNew.
func (c Customers) Resolve(ctx context.Context, id otpcode.Identifier) (otpcode.Customer, bool, error) {
	return c.Lookup(ctx, id)
}

// README:end directory

// New builds the host API: request-otp and verify-otp, and one guarded
// route, POST /api/v2/customers/{id}/rewards/{rid}/redeem/, served by
// redeem. getenv reads the configuration (os.Getenv in a real program);
// whatsappSender and emailSender deliver the codes. The returned function
// releases the store.
func New(getenv func(string) string, customers otpcode.Directory, whatsappSender, emailSender otpcode.Sender, redeem http.Handler) (http.Handler, func(), error) {
	// README:begin setup
	st := memory.New() // or redisstore.New(client) for several instances
	policies, err := policy.LoadFile("policies.json")
	if err != nil {
		return nil, st.Close, err
	}
	// 32 or more random bytes in hex (openssl rand -hex 32), the same on
	// every instance; several, comma-separated, to rotate.
	pepper, err := hex.DecodeString(getenv("OTPGUARD_PEPPER"))
	if err != nil {
		return nil, st.Close, err
	}
	keys, err := keyring.New(pepper)
	if err != nil {
		return nil, st.Close, err
	}
	chain, err := otpcode.NewChain( // WhatsApp first, email as the fallback
		otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: whatsappSender},
		otpcode.Route{Channel: otpcode.ChannelEmail, Sender: emailSender},
	)
	if err != nil {
		return nil, st.Close, err
	}
	svc, err := otpcode.NewService(st, keys, chain,
		otpcode.WithDirectory(customers),
		otpcode.WithRegion("BR"), // customers may type "(11) 98765-4321"
	)
	if err != nil {
		return nil, st.Close, err
	}

	// One set of HTTP settings for every piece: one problem base.
	web, err := middleware.NewHTTP(middleware.WithProblemBase("https://api.example.com/errors/"))
	if err != nil {
		return nil, st.Close, err
	}
	auth, err := middleware.APIKeys(web, map[string]string{getenv("GOOMER_API_KEY"): "goomer"})
	if err != nil {
		return nil, st.Close, err
	}
	otp, err := otphttp.New(web, svc)
	if err != nil {
		return nil, st.Close, err
	}
	guard, err := middleware.NewGuard(web,
		middleware.WithPolicies(policies),
		middleware.WithSessions(st),
		middleware.WithSessionKeys(keys),
		// Routes act on the customer of their {id}, unless they say otherwise.
		middleware.WithCustomer(middleware.CustomerFromPath("id")),
	)
	if err != nil {
		return nil, st.Close, err
	}

	mux := http.NewServeMux()
	// No method in these two patterns: the handlers answer other methods
	// with a 405 problem themselves.
	mux.Handle("/api/v2/auth/request-otp/", auth(otp.RequestOTP()))
	mux.Handle("/api/v2/auth/verify-otp/", auth(otp.VerifyOTP()))
	mux.Handle("POST /api/v2/customers/{id}/rewards/{rid}/redeem/",
		auth(guard.Require(policy.RedeemReward)(redeem)))
	// README:end setup
	return mux, st.Close, nil
}
