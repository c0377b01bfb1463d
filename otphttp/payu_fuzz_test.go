package otphttp_test

import (
	"testing"

	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otphttp"
)

// FuzzPayUHandlers sends arbitrary bodies and content types to both
// handlers of PayU's contract over a real service. No input may cause a
// panic or a 5xx, and every answer must be one JSON document.
func FuzzPayUHandlers(f *testing.F) {
	seeds := []struct {
		body, ctype string
		verify      bool
	}{
		{"otp%5Bidentity%5D=9044155723&otp%5Btype%5D=SignIn&otp%5Bchannels%5D%5B%5D=sms", "application/x-www-form-urlencoded", false},
		{"otp[identity]=9044155723&otp[email]=merchant@example.com&otp[code]=123456&otp[type]=SignIn", "application/x-www-form-urlencoded", true},
		{"otp[identity]=88027794841&otp[channels][]=email&otp[channels][]=smsq&otp[type]=SignInas", "application/x-www-form-urlencoded; charset=utf-8", true},
		{"otp[identity][]=1&otp[identity]=2&otp[x]=&otp[=1&%zz", "application/x-www-form-urlencoded", false},
		{`{"otp": {"identity": "9044155723", "type": "SignIn", "channels": "sms"}}`, "application/json", false},
		{`{"otp": {"identity": "9044155723", "code": "123456", "type": "SignIn", "scope": "a b"}}`, "application/json", true},
		{`{"otp": [1], "otp": null}`, "application/json", true},
		{`{"otp": {"channels": [null, 1]}}`, "application/json", false},
		{"\xff\xfe{", "application/json", false},
		{"otp[identity]=9044155723", "text/plain", false},
		{``, "", true},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.ctype, s.verify)
	}

	dir := pDirectory()
	svc := fuzzService(f, dir, otpcode.ChannelSMS)
	web, err := middleware.NewHTTP()
	if err != nil {
		f.Fatal(err)
	}
	h, err := otphttp.New(web, svc, otphttp.WithContract(otphttp.PayU(otphttp.PayUConfig{
		Types: []string{"SignIn", "SignUp"},
		Users: knownOnly{dir},
	})))
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte, ctype string, verify bool) {
		w := fuzzServe(t, h, body, ctype, verify)
		if got := w.Header().Get("Content-Type"); got != "application/json" {
			t.Fatalf("got Content-Type %q, want application/json (status %d)", got, w.Code)
		}
	})
}
