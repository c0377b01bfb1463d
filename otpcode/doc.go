// Package otpcode is otpguard's one-time code machinery: generation,
// keyed hashing, customer identifiers, delivery, and the Service that runs
// the request and verify flow with every limit.
//
//   - GenerateCode draws codes from crypto/rand, uniform over the whole
//     range (rejection sampling, no modulo bias).
//   - A Keyring signs codes with HMAC-SHA-256 under a server secret, bound to
//     integration, subject and purpose; only the MAC is ever stored. Several
//     keys allow rotation: the first signs, every key verifies, in constant
//     time.
//   - A Parser turns a phone number, an email address or a CPF, as people
//     type them, into its canonical form, or says what is wrong with it;
//     its Region reads national phone formats (WithRegion for a Service).
//   - A Chain delivers a code over the first channel that works (WhatsApp,
//     then email); the subpackages whatsapp and email are the real senders,
//     DevSender prints codes for development.
//   - Service.Request validates, rate limits, generates, stores and sends a
//     code; Service.Verify counts the attempt atomically before comparing,
//     consumes the code once and creates a session stored only under the
//     hash of its token. Every refusal is a typed error (LimitError,
//     FieldError) wrapping a sentinel, for errors.Is and errors.As.
//
// Time comes from an injectable clock (WithClock), so tests move time
// instead of sleeping.
package otpcode
