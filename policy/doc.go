// Package policy decides, for each action a partner integration performs,
// whether the request must also carry a verified customer OTP session.
//
// The package is pure decision logic: it imports only the standard library
// and does no I/O except reading a policy file in [LoadFile].
//
// # Model
//
// An [Action] names what a request does ("redeem_reward", "search_customers").
// A [Catalog] binds every known action to the one [Flag] that governs it, or to
// [Never]. [NewCatalog] returns a catalogue holding the built-in actions of the
// Zupy action table ("When OTP Is Required vs. Not"):
//
//	search_customers, view_balance, view_history, award_points,
//	list_rewards, list_coupons, view_programs, send_webhook   Never
//	redeem_reward                                             require_otp_for_redemption
//	validate_coupon, use_coupon                               require_otp_for_coupon_usage
//	enroll_customer                                           require_otp_for_enrollment
//
// A host adds its own actions with [Catalog.Register], each bound to one flag or
// to Never.
//
// A [Policy] holds the four settings of one integration:
// require_otp_for_enrollment, require_otp_for_redemption,
// require_otp_for_coupon_usage and trust_partner_validation. Three
// [TrustLevel] presets ([Preset]) reproduce the seed's Trust Levels table:
// [Strict] (all three required; the default for new or unknown integrations),
// [Relaxed] (enrollment not required; redemption and coupons required) and
// [Trusted] (nothing required; the partner's own verification is trusted).
//
// # Decisions
//
// [Catalog.Decide], or the precompiled [Rule.Decide], turns a policy and an
// action into a [Decision] that carries its [Reason]:
//
//   - an action bound to Never is not required, reason "never";
//   - an action whose flag is set is required, reason the flag's name;
//   - with trust_partner_validation set, no flag-governed action is required,
//     reason "trusted partner";
//   - otherwise the action is not required, reason the flag's name.
//
// A policy that sets trust_partner_validation together with a require flag is
// contradictory: [Policy.Validate] reports it, and [NewStatic] and [Load]
// refuse it. Should such a policy reach a decision anyway, the require flag
// wins (fail closed).
//
// An action nobody registered is a configuration error ([ErrUnknownAction]),
// never a silent "not required". A guard resolves each action to a [Rule] with
// [Catalog.Rule] when it is built, so the error surfaces at start-up and the
// per-request decision does no map lookup and allocates nothing.
//
// # Per-integration policies
//
// A [Source] returns the policy of an integration. [Static] is an immutable,
// validated map with a default for integrations it does not list; build one
// with [NewStatic] or load one from JSON with [Load] or [LoadFile].
//
// # Policy file format
//
// A policy file is one JSON object:
//
//	{
//	  "default": "strict",
//	  "integrations": {
//	    "repediu": {"name": "Repediu", "level": "trusted"},
//	    "goomer":  {"name": "Goomer", "level": "relaxed", "require_otp_for_enrollment": true}
//	  }
//	}
//
// "default" names the trust level used for integrations the file does not list;
// it is "strict" when absent. "integrations" maps each integration ID to an
// object with a required "level" (strict, relaxed or trusted), an optional
// display "name" (the ID when absent) and optional overrides of the four flags
// (require_otp_for_enrollment, require_otp_for_redemption,
// require_otp_for_coupon_usage, trust_partner_validation), applied on top of
// the level's preset. Unknown fields, duplicate keys, wrong types, empty
// integration IDs, missing or unknown levels, contradictory flags, trailing data
// and empty files are errors; each is a [*LoadError] naming the file, the line
// and column, and the JSON path (for example integrations.goomer.level).
//
// # Matrices
//
// [NewMatrix] computes the decision of every catalogued action under a set of
// columns — the presets ([PresetColumns]) or the integrations of a Static
// ([IntegrationColumns]) — and renders it as aligned text or Markdown, so a host
// can pin its matrix in a unit test and print it in its documentation.
// [NewPresetTable] renders the Trust Levels table itself.
//
// # Concurrency
//
// Policy, Rule, Decision, TrustLevel, Flag and Reason are plain values. A
// Catalog may be read from any number of goroutines, also while another
// goroutine registers actions; registration is meant for set-up. Static, Matrix
// and PresetTable are immutable after construction and safe for concurrent use.
package policy
