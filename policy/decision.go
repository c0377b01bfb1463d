package policy

import "strconv"

// Reason says why a [Decision] came out as it did. It is a small comparable
// value, so decisions allocate nothing; its String is the name shown in logs
// and matrices.
type Reason uint8

const (
	// ReasonUnknown marks a fail-closed decision for an action no catalogue
	// knows (or a zero [Rule]); such decisions are always Required.
	ReasonUnknown Reason = iota
	// ReasonNever means the action is bound to [Never] and never requires OTP.
	ReasonNever
	// ReasonEnrollment means require_otp_for_enrollment decided.
	ReasonEnrollment
	// ReasonRedemption means require_otp_for_redemption decided.
	ReasonRedemption
	// ReasonCouponUsage means require_otp_for_coupon_usage decided.
	ReasonCouponUsage
	// ReasonTrustedPartner means trust_partner_validation waived the action's
	// flag.
	ReasonTrustedPartner
)

var reasonNames = [...]string{
	ReasonUnknown:        "unknown action",
	ReasonNever:          "never",
	ReasonEnrollment:     "require_otp_for_enrollment",
	ReasonRedemption:     "require_otp_for_redemption",
	ReasonCouponUsage:    "require_otp_for_coupon_usage",
	ReasonTrustedPartner: "trusted partner",
}

// String returns the reason's name: a flag's JSON name, "never", "trusted
// partner" or "unknown action".
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Flag returns the flag a reason names: [Never] for ReasonNever, the require
// flag for the three flag reasons. It reports false for ReasonTrustedPartner
// and ReasonUnknown.
func (r Reason) Flag() (Flag, bool) {
	if r >= ReasonNever && r <= ReasonCouponUsage {
		return Flag(r - ReasonNever), true
	}
	return Never, false
}

// reasonOf returns the reason that names flag f.
func reasonOf(f Flag) Reason { return ReasonNever + Reason(f) }

// Decision is the outcome of deciding one action under one policy: whether
// the request needs a verified OTP session, and why.
type Decision struct {
	// Action is the action decided.
	Action Action
	// Required reports whether the request must carry a valid OTP session.
	Required bool
	// Reason says why.
	Reason Reason
}

// String formats the decision for logs, as in
// "redeem_reward: required (require_otp_for_redemption)".
func (d Decision) String() string {
	verdict := "not required"
	if d.Required {
		verdict = "required"
	}
	return string(d.Action) + ": " + verdict + " (" + d.Reason.String() + ")"
}

// decide applies the decision rules; f must be a valid flag.
func decide(a Action, f Flag, p Policy) Decision {
	d := Decision{Action: a, Reason: reasonOf(f)}
	switch {
	case f == Never:
	case p.Requires(f):
		// A require flag wins over trust, so a contradictory policy fails
		// closed.
		d.Required = true
	case p.TrustPartnerValidation:
		d.Reason = ReasonTrustedPartner
	}
	return d
}

// Rule is an action resolved against a [Catalog] by [Catalog.Rule]: it
// decides without a map lookup and without allocating. A Rule is a small
// value, safe to copy and to use from many goroutines. The zero Rule is not
// resolved and decides every policy as Required with [ReasonUnknown] (fail
// closed).
type Rule struct {
	action Action
	flag   Flag
	known  bool
}

// Action returns the action the rule decides.
func (r Rule) Action() Action { return r.action }

// Flag returns the flag that governs the rule's action ([Never] for a zero
// Rule).
func (r Rule) Flag() Flag { return r.flag }

// Decide returns the decision for the rule's action under policy p, by the
// same rules as [Catalog.Decide].
func (r Rule) Decide(p Policy) Decision {
	if !r.known {
		return Decision{Action: r.action, Required: true, Reason: ReasonUnknown}
	}
	return decide(r.action, r.flag, p)
}
