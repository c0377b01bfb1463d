package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Policy holds one integration's OTP settings, with the field names of the
// seed. The zero Policy requires OTP for nothing; use [Preset] with [Strict]
// for the safe default. A Policy is a plain comparable value.
type Policy struct {
	// RequireOTPForEnrollment requires OTP before enrolling a customer in a
	// loyalty program.
	RequireOTPForEnrollment bool `json:"require_otp_for_enrollment"`
	// RequireOTPForRedemption requires OTP before redeeming rewards.
	RequireOTPForRedemption bool `json:"require_otp_for_redemption"`
	// RequireOTPForCouponUsage requires OTP before validating or using
	// coupons.
	RequireOTPForCouponUsage bool `json:"require_otp_for_coupon_usage"`
	// TrustPartnerValidation trusts that the partner already verified the
	// customer: no action requires OTP. It contradicts every require flag.
	TrustPartnerValidation bool `json:"trust_partner_validation"`
}

// Requires reports whether p sets the require flag f. It is false for
// [Never] and for unknown flags, and it does not look at
// TrustPartnerValidation; use [Catalog.Decide] or [Rule.Decide] for the
// decision itself.
func (p Policy) Requires(f Flag) bool {
	switch f {
	case RequireEnrollment:
		return p.RequireOTPForEnrollment
	case RequireRedemption:
		return p.RequireOTPForRedemption
	case RequireCouponUsage:
		return p.RequireOTPForCouponUsage
	default:
		return false
	}
}

// Validate reports whether p is consistent. Setting trust_partner_validation
// together with any require flag is contradictory: the error wraps
// [ErrContradictoryPolicy] and names the flags.
func (p Policy) Validate() error {
	if err := p.validate(); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	return nil
}

// validate is Validate without the package prefix, for callers that add
// their own context.
func (p Policy) validate() error {
	if !p.TrustPartnerValidation {
		return nil
	}
	var set []string
	for _, f := range requireFlags {
		if p.Requires(f) {
			set = append(set, f.String())
		}
	}
	if len(set) == 0 {
		return nil
	}
	return fmt.Errorf("%w: trust_partner_validation is set together with %s", ErrContradictoryPolicy, strings.Join(set, ", "))
}

// TrustLevel names one of the seed's three policy presets. The zero
// TrustLevel is [Strict], the default for new or unknown integrations.
type TrustLevel uint8

const (
	// Strict requires OTP for enrollment, redemption and coupons, and does
	// not trust the partner. It is the default for new or unknown partners.
	Strict TrustLevel = iota
	// Relaxed requires OTP for redemption and coupons but not for
	// enrollment, and does not trust the partner (tablet and kiosk
	// integrations such as Goomer).
	Relaxed
	// Trusted requires no OTP and trusts the partner's own verification
	// (verified CRMs with existing identity checks, such as Repediu).
	Trusted
)

var levels = [...]struct {
	name, title, useCase string
	policy               Policy
}{
	Strict: {"strict", "Strict", "New or unknown partners (default)",
		Policy{RequireOTPForEnrollment: true, RequireOTPForRedemption: true, RequireOTPForCouponUsage: true}},
	Relaxed: {"relaxed", "Relaxed", "Tablet/kiosk integrations (e.g., Goomer)",
		Policy{RequireOTPForRedemption: true, RequireOTPForCouponUsage: true}},
	Trusted: {"trusted", "Trusted", "Verified CRMs with existing identity checks (e.g., Repediu)",
		Policy{TrustPartnerValidation: true}},
}

// TrustLevels returns the three trust levels in the seed's order: Strict,
// Relaxed, Trusted.
func TrustLevels() []TrustLevel { return []TrustLevel{Strict, Relaxed, Trusted} }

// String returns the level's name as written in policy files: "strict",
// "relaxed" or "trusted".
func (l TrustLevel) String() string {
	if l.valid() {
		return levels[l].name
	}
	return "TrustLevel(" + strconv.Itoa(int(l)) + ")"
}

// UseCase returns the seed's "Use Case" text for the level, or "" for an
// unknown level.
func (l TrustLevel) UseCase() string {
	if l.valid() {
		return levels[l].useCase
	}
	return ""
}

func (l TrustLevel) valid() bool { return int(l) < len(levels) }

func (l TrustLevel) title() string {
	if l.valid() {
		return levels[l].title
	}
	return l.String()
}

// MarshalText encodes the level as its name. An unknown level is an error
// wrapping [ErrUnknownTrustLevel].
func (l TrustLevel) MarshalText() ([]byte, error) {
	if !l.valid() {
		return nil, fmt.Errorf("policy: marshal trust level: %w %d", ErrUnknownTrustLevel, l)
	}
	return []byte(levels[l].name), nil
}

// UnmarshalText decodes a level name as [ParseTrustLevel] does.
func (l *TrustLevel) UnmarshalText(text []byte) error {
	v, err := ParseTrustLevel(string(text))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// ParseTrustLevel returns the level named s: "strict", "relaxed" or
// "trusted", in any letter case. Any other string is an error wrapping
// [ErrUnknownTrustLevel].
func ParseTrustLevel(s string) (TrustLevel, error) {
	l, ok := parseLevel(s)
	if !ok {
		return Strict, fmt.Errorf("policy: %w %q (want strict, relaxed or trusted)", ErrUnknownTrustLevel, s)
	}
	return l, nil
}

func parseLevel(s string) (TrustLevel, bool) {
	for i, lv := range levels {
		if strings.EqualFold(s, lv.name) {
			return TrustLevel(i), true
		}
	}
	return Strict, false
}

// Preset returns the policy of trust level l, exactly as the seed's Trust
// Levels table: Strict requires all three, Relaxed requires redemption and
// coupons, Trusted requires nothing and trusts the partner. An unknown level
// is an error wrapping [ErrUnknownTrustLevel].
func Preset(l TrustLevel) (Policy, error) {
	if !l.valid() {
		return Policy{}, fmt.Errorf("policy: preset: %w %d", ErrUnknownTrustLevel, l)
	}
	return levels[l].policy, nil
}

// LevelOf returns the trust level whose preset equals p, and whether there is
// one.
func LevelOf(p Policy) (TrustLevel, bool) {
	for i, lv := range levels {
		if lv.policy == p {
			return TrustLevel(i), true
		}
	}
	return Strict, false
}
