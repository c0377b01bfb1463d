package otpcode_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/memory"
)

// The request and verify flow: a code is sent (here to a function that
// keeps it, standing in for the customer's phone), verified, and becomes a
// session stored only under its hash and sealed with the keys. Without a
// directory, a phone number is its own customer, known to the store only by
// a keyed pseudonym.
func ExampleService() {
	st := memory.New()
	defer st.Close()
	keys, err := keyring.New(bytes.Repeat([]byte{7}, keyring.MinKeyBytes)) // load the pepper from your secret store
	if err != nil {
		fmt.Println(err)
		return
	}
	var phone otpcode.Message
	chain, _ := otpcode.NewChain(otpcode.Route{
		Channel: otpcode.ChannelWhatsApp,
		Sender: otpcode.SenderFunc(func(_ context.Context, m otpcode.Message) error {
			phone = m
			return nil
		}),
	})
	svc, err := otpcode.NewService(st, keys, chain)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()

	sent, err := svc.Request(ctx, otpcode.RequestInput{Integration: "goomer", Identifier: "+55 11 98765-4321"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sent via", sent.Channel, "to", phone.To, "expires in", sent.ExpiresIn)

	v, err := svc.Verify(ctx, otpcode.VerifyInput{Integration: "goomer", Identifier: "+5511987654321", Code: phone.Code})
	if err != nil {
		fmt.Println(err)
		return
	}
	hash := store.HashToken(v.Session)
	s, found, _ := st.GetSession(ctx, hash)
	fmt.Println("session found:", found, "sealed:", store.Sealed(keys, hash, &s), "lifetime:", v.ExpiresIn)
	fmt.Println("customer:", s.CustomerID == v.Customer.ID, "names the phone:", strings.Contains(s.CustomerID, "987654321"))

	_, err = svc.Verify(ctx, otpcode.VerifyInput{Integration: "goomer", Identifier: "+5511987654321", Code: phone.Code})
	fmt.Println("second use:", err)
	// Output:
	// sent via whatsapp to +5511987654321 expires in 5m0s
	// session found: true sealed: true lifetime: 30m0s
	// customer: true names the phone: false
	// second use: otpcode: no code was requested for this identifier
}

// With a default region, customers can type their phone number as they
// know it. Eleven bare digits that are both a CPF and a phone number of the
// region are refused until the request says which it means.
func ExampleWithRegion() {
	st := memory.New()
	defer st.Close()
	keys, err := keyring.New(bytes.Repeat([]byte{7}, keyring.MinKeyBytes)) // load the pepper from your secret store
	if err != nil {
		fmt.Println(err)
		return
	}
	chain, _ := otpcode.NewChain(otpcode.Route{
		Channel: otpcode.ChannelWhatsApp,
		Sender: otpcode.SenderFunc(func(_ context.Context, m otpcode.Message) error {
			fmt.Println("code sent to", m.To)
			return nil
		}),
	})
	svc, err := otpcode.NewService(st, keys, chain, otpcode.WithRegion("BR"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()

	_, err = svc.Request(ctx, otpcode.RequestInput{Integration: "goomer", Identifier: "(11) 98765-4321"})
	if err != nil {
		fmt.Println(err)
	}

	_, err = svc.Request(ctx, otpcode.RequestInput{Integration: "goomer", Identifier: "11987650034"})
	var fe *otpcode.FieldError
	if errors.As(err, &fe) {
		fmt.Println(fe.Field, fe.Code+":", fe.Message)
	}

	kind, err := otpcode.ParseKind("phone") // the request's identifier_type
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = svc.Request(ctx, otpcode.RequestInput{Integration: "goomer", Identifier: "11987650034", IdentifierType: kind})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// code sent to +5511987654321
	// identifier ambiguous: identifier names both a CPF and a phone number; send identifier_type "phone" or "cpf"
	// code sent to +5511987650034
}
