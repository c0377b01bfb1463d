package sms_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otpcode/sms"
)

// Send a code through a Twilio stand-in: the server prints what Twilio
// would receive. In production, leave out WithBaseURL and read the account
// SID and auth token from the environment.
func ExampleSender_Send() {
	twilio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _, _ := r.BasicAuth()
		fmt.Println(r.Method, r.URL.Path, "as", user)
		fmt.Println("To:", r.PostFormValue("To"), "From:", r.PostFormValue("From"))
		fmt.Printf("Body:\n%s\n", r.PostFormValue("Body"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}`)
	}))
	defer twilio.Close()

	s, err := sms.New(sms.Config{
		AccountSID: "AC0123456789abcdef0123456789abcdef",
		AuthToken:  "your_auth_token",
		From:       "+15017122661",
	},
		sms.WithDomain("loja.example.com"), // the site where the code is typed
		sms.WithBaseURL(twilio.URL),
	)
	if err != nil {
		log.Fatal(err)
	}
	err = s.Send(context.Background(), otpcode.Message{
		Channel: otpcode.ChannelSMS,
		To:      "+5511987654321",
		Code:    "493817",
		Locale:  "pt-BR",
	})
	fmt.Println("error:", err)
	// Output:
	// POST /2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json as AC0123456789abcdef0123456789abcdef
	// To: +5511987654321 From: +15017122661
	// Body:
	// 493817 é o seu código de verificação
	//
	// @loja.example.com #493817
	// error: <nil>
}

// A refused request is a *otpcode.SendError, retryable or permanent, whose
// text carries Twilio's error code but not its message.
func ExampleSender_Send_refused() {
	twilio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"code":21614,"message":"'To' number +551133334444 is not a valid mobile number","more_info":"https://www.twilio.com/docs/errors/21614","status":400}`)
	}))
	defer twilio.Close()

	s, err := sms.New(sms.Config{
		AccountSID:          "AC0123456789abcdef0123456789abcdef",
		AuthToken:           "your_auth_token",
		MessagingServiceSID: "MGfedcba9876543210fedcba9876543210",
	}, sms.WithBaseURL(twilio.URL))
	if err != nil {
		log.Fatal(err)
	}
	err = s.Send(context.Background(), otpcode.Message{To: "+551133334444", Code: "493817", Locale: "en"})
	fmt.Println(err)
	fmt.Println("permanent:", errors.Is(err, otpcode.ErrPermanent))
	var apiErr *sms.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Code, apiErr.MoreInfo)
	}
	fmt.Println("mentions the number:", strings.Contains(err.Error(), "33334444"))
	// Output:
	// otpcode: sms delivery failed (permanent, status 400): 21614: recipient is not a mobile number
	// permanent: true
	// 21614 https://www.twilio.com/docs/errors/21614
	// mentions the number: false
}

// Classify maps a refused request to retryable or permanent, with a reason
// that never quotes Twilio's message.
func ExampleClassify() {
	fmt.Println(sms.Classify(429, 20429))
	fmt.Println(sms.Classify(400, 21211))
	fmt.Println(sms.Classify(503, 0))
	// Output:
	// true 20429: rate limited
	// false 21211: invalid recipient
	// true http 503: provider error
}
