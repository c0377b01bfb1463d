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
//   - The limits (Limits) are layered so that abuse of one partner's key
//     stays with that partner: each (integration, customer) pair has its
//     own code, failure budget and lock; a customer-wide run of consecutive
//     failures locks the customer for every integration; an integration's
//     failures across customers trip its breaker (telemetry.EventBreakerTripped,
//     see WithTelemetry); sends are capped per pair, per customer and per
//     integration. Codes never go to premium-rate, satellite and similar
//     numbers, nor outside WithAllowedRegions; WithUnknownRecipients says
//     whether identifiers the directory does not know get codes.
//
// Time comes from an injectable clock (WithClock), so tests move time
// instead of sleeping.
//
// WithTelemetry reports through OpenTelemetry's metrics and trace APIs and
// an event hook: codes sent and delivery time per channel, verifications
// by outcome, locks, rate-limit refusals and store failures; a span per
// Request ("otpguard.request") and Verify ("otpguard.verify") with a child
// span per store call and delivery attempt; and the events locked,
// unlocked, revoked, breaker_tripped and delivery_failed, whose customer is
// a pseudonymous reference (see CustomerRef). Package telemetry documents
// each of them. Without it the service reports nothing and pays nothing.
package otpcode
