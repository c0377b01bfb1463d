package whatsapp_test

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otpcode/whatsapp"
)

// Configure a WhatsApp sender and use it as the first route of a delivery
// chain (add an email route after it as the fallback).
func ExampleNew() {
	wa, err := whatsapp.New(whatsapp.Config{
		Token:         os.Getenv("WHATSAPP_TOKEN"),
		PhoneNumberID: os.Getenv("WHATSAPP_PHONE_NUMBER_ID"),
	},
		whatsapp.WithTemplate("otp_code"),   // an approved AUTHENTICATION template
		whatsapp.WithLanguage("es", "es"),   // add a locale; pt-BR and en are mapped already
		whatsapp.WithTimeout(5*time.Second), // per send
	)
	if err != nil {
		log.Fatal(err)
	}
	chain, err := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: wa})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(chain.Channels())
}

// Classify maps a refused request to retryable or permanent, with a reason
// that never quotes the provider's message.
func ExampleClassify() {
	fmt.Println(whatsapp.Classify(429, 130429))
	fmt.Println(whatsapp.Classify(400, 131026))
	fmt.Println(whatsapp.Classify(503, 0))
	// Output:
	// true 130429: rate limited
	// false 131026: recipient cannot receive messages
	// true http 503: provider error
}

// Language shows which template language a message locale selects.
func ExampleSender_Language() {
	s, err := whatsapp.New(whatsapp.Config{Token: "token", PhoneNumberID: "106540352242922"})
	if err != nil {
		log.Fatal(err)
	}
	for _, locale := range []string{"pt-BR", "en", "en-GB", "fr"} {
		fmt.Println(locale, "→", s.Language(locale))
	}
	// Output:
	// pt-BR → pt_BR
	// en → en_US
	// en-GB → en_US
	// fr → pt_BR
}
