// Package sms delivers one-time codes by SMS through Twilio's Programmable
// Messaging REST API.
//
// A Sender posts, for every code, one form-encoded request
//
//	POST {BaseURL}/2010-04-01/Accounts/{AccountSID}/Messages.json
//	Authorization: Basic base64({AccountSID}:{AuthToken})
//	Content-Type: application/x-www-form-urlencoded
//
//	To={Message.To}&From={From}&Body={text}
//
// with MessagingServiceSid={MessagingServiceSID} in place of From when the
// Config names a Messaging Service. Twilio answers 201 Created with the
// message resource; any 2xx is a success.
//
// Configuration:
//
//	s, err := sms.New(sms.Config{
//		AccountSID: os.Getenv("TWILIO_ACCOUNT_SID"), // "AC" + 32 hex digits
//		AuthToken:  os.Getenv("TWILIO_AUTH_TOKEN"),
//		From:       "+15017122661", // or MessagingServiceSID: "MG…"
//	},
//		sms.WithDomain("loja.example.com"), // adds the WebOTP line
//		sms.WithTimeout(5*time.Second),
//	)
//
// New checks the whole configuration and returns an error wrapping
// ErrInvalidConfig for anything missing or malformed; its errors never
// quote the auth token, nor the SIDs (a token pasted into the wrong field
// stays out of the error too).
//
// # Message text
//
// The body is one line, in Portuguese for a Portuguese locale ("pt-BR",
// "pt", "pt-PT", case-insensitive, "-" or "_") and in English for any other
// locale, including "":
//
//	493817 é o seu código de verificação
//	493817 is your verification code
//
// With WithDomain, a blank line and the origin-bound line of the SMS
// one-time code format (https://wicg.github.io/sms-one-time-codes/) follow,
// so browsers (WebOTP) and phones can fill the code in for that site:
//
//	493817 is your verification code
//
//	@loja.example.com #493817
//
// The English text fits in one GSM-7 segment (160 characters) for domains
// of up to 117 characters. The Portuguese text has
// characters outside GSM-7 (ó, ç, ã), so it is sent as UCS-2, whose single
// segment holds 70 characters: with a 6-digit code and the WebOTP line it
// stays in one segment for domains of up to 23 characters.
//
// The body carries the code: the package never logs it, nor anything else.
// A Sender printed with fmt or slog shows neither the token nor the code.
//
// # Errors
//
// Every Send failure is a *otpcode.SendError on otpcode.ChannelSMS, which
// errors.Is matches with otpcode.ErrRetryable or otpcode.ErrPermanent:
//
//   - retryable: HTTP 429 and 5xx, whatever the Twilio code; Twilio code
//     20429 (too many requests) on any other status; network errors; the
//     Send timeout (the error also wraps context.DeadlineExceeded); the
//     caller's context ending (the error also wraps ctx.Err()).
//   - permanent: HTTP 401 and 403 (a rejected credential); 4xx responses
//     with Twilio codes 21211 (invalid To number), 21614 (not a mobile
//     number), 21610 (recipient unsubscribed), 21408 (region not enabled),
//     21612 (not reachable from this sender), 30003, 30005 and 30006
//     (unreachable, unknown or landline handset), 21212, 21606, 21659 and
//     21660 (a From number the account cannot send from), 21608 (a trial
//     account's unverified recipient), and any other 4xx or redirect;
//     a recipient that is not an E.164 number or a code with spaces, which
//     Send refuses before any request.
//
// A refused request's SendError has Status set to the HTTP status, Reason
// "<Twilio code>: <category>" ("21211: invalid recipient"), or
// "http <status>: <category>" when the body has no code, and wraps an
// *APIError with the numbers. Reasons use this package's own category names
// and never Twilio's message text, which quotes the recipient's number; no
// error string contains the auth token, the code or the recipient's number.
// Classify is the mapping, exported for tests and dashboards.
package sms
