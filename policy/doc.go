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
// A [Policy] holds the four flags of one integration —
// require_otp_for_enrollment, require_otp_for_redemption,
// require_otp_for_coupon_usage and trust_partner_validation — and two
// per-action session settings, single_use and max_age (see "Single use and
// freshness" below). Three [TrustLevel] presets ([Preset]) reproduce the
// seed's Trust Levels table: [Strict] (all three required; the default for new
// or unknown integrations), [Relaxed] (enrollment not required; redemption and
// coupons required) and [Trusted] (nothing required; the partner's own
// verification is trusted). The presets carry no session settings.
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
// per-request decision does no catalogue lookup and allocates nothing.
//
// # Single use and freshness
//
// When an action requires OTP, the policy can also say what the session must
// satisfy for it:
//
//   - [Policy.SingleUse] (single_use in a file) lists actions on which a
//     session is single use: the request consumes the session for that
//     action, and a second request with the same session is refused for it.
//   - [Policy.MaxAge] (max_age in a file) gives actions a freshness bound: the
//     session must have been verified within that duration, however long it
//     has left before it expires.
//
// The decision carries them: when Decide returns a Required decision,
// [Decision.SingleUse] and [Decision.MaxAge] hold the policy's settings for
// the action; the guard enforces them. A decision that is not required carries
// neither, so the settings matter only where OTP is required: a trusted
// integration may carry them, and they take effect only if its policy ever
// requires OTP for the action.
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
//	    "goomer":  {"name": "Goomer", "level": "relaxed", "require_otp_for_enrollment": true},
//	    "saipos":  {
//	      "name": "Saipos", "level": "relaxed",
//	      "single_use": ["redeem_reward", "use_coupon"],
//	      "max_age": {"redeem_reward": "5m"}
//	    }
//	  }
//	}
//
// "integrations" maps each integration ID to an object with a required
// "level" (strict, relaxed or trusted), an optional display "name" (the ID
// when absent), optional overrides of the four flags
// (require_otp_for_enrollment, require_otp_for_redemption,
// require_otp_for_coupon_usage, trust_partner_validation), applied on top of
// the level's preset, and the optional session settings:
//
//   - "single_use": an array of distinct action names;
//   - "max_age": an object from action names to positive durations in
//     [time.ParseDuration] syntax, such as "90s", "5m" or "1h30m".
//
// Every action they name must be catalogued — in [NewCatalog], or in the
// catalogue given to [Load] with [WithCatalog] — and must not be bound to
// [Never] (it never requires OTP, so the setting could never apply).
//
// "default" is the policy of integrations the file does not list; it is the
// strict preset when absent. It is either a trust level name, as above, or an
// object with the members of an integration entry except "name", so that the
// default can carry overrides and session settings too:
//
//	"default": {"level": "strict", "single_use": ["redeem_reward"], "max_age": {"redeem_reward": "10m"}}
//
// Unknown fields, duplicate keys, wrong types, empty integration IDs, missing
// or unknown levels, contradictory flags, unknown, never-bound or repeated
// actions, durations that do not parse or are not positive, trailing data and
// empty files are errors; each is a [*LoadError] naming the file, the line and
// column, and the JSON path (for example integrations.goomer.level or
// integrations.saipos.single_use[1]).
//
// # Matrices
//
// [NewMatrix] computes the decision of every catalogued action under a set of
// columns — the presets ([PresetColumns]) or the integrations of a Static
// ([IntegrationColumns]) — and renders it as aligned text or Markdown, so a host
// can pin its matrix in a unit test and print it in its documentation. A
// required cell names its session settings, as in "required, single use,
// max age 5m".
// [NewPresetTable] renders the Trust Levels table itself.
//
// # Concurrency
//
// Rule, Decision, TrustLevel, Flag and Reason are plain values. Policy is a
// value whose SingleUse and MaxAge are shared between copies: build it, then
// treat it as read-only, and any number of goroutines may read it. A Catalog
// may be read from any number of goroutines, also while another goroutine
// registers actions; registration is meant for set-up. Static, Matrix and
// PresetTable are immutable after construction and safe for concurrent use.
package policy
