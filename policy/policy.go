package policy

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Policy holds one integration's OTP settings: the four flags of the seed,
// which decide whether an action requires OTP, and two per-action settings,
// SingleUse and MaxAge, which tighten what an OTP session must satisfy when
// it does. The zero Policy requires OTP for nothing; use [Preset] with
// [Strict] for the safe default. The presets set no SingleUse or MaxAge.
//
// Because SingleUse is a slice and MaxAge a map, a Policy is not comparable
// with ==; use [Policy.Equal]. It is still a value that copies without
// allocating; a copy shares SingleUse and MaxAge with the original. [Static] and [Matrix]
// keep their own copies of both, taken at construction, and the policies they
// hand out share those copies: treat SingleUse and MaxAge of a policy you got
// from them as read-only.
//
// For example, a partner whose redemptions need a session verified in the
// last five minutes and used once:
//
//	p, _ := policy.Preset(policy.Relaxed)
//	p.SingleUse = []policy.Action{policy.RedeemReward}
//	p.MaxAge = map[policy.Action]time.Duration{policy.RedeemReward: 5 * time.Minute}
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
	// SingleUse lists the actions on which a session is single use: a
	// request that performs one of them consumes the session for that action,
	// so a second request with the same session is refused for that action
	// (the guard enforces it; other actions may still use the session). It
	// matters only when the action requires OTP under this policy; no action
	// may be listed twice. Nil means no action.
	SingleUse []Action `json:"single_use,omitempty"`
	// MaxAge bounds, per action, how long ago the session may have been
	// verified: a session verified longer ago than MaxAge[a] does not
	// authorise action a, however long it has left before it expires. It
	// matters only when the action requires OTP under this policy; every
	// duration must be positive. Nil means no action has a bound. (In a
	// policy file the durations are strings such as "5m"; encoding/json
	// writes this field's durations as nanoseconds.)
	MaxAge map[Action]time.Duration `json:"max_age,omitempty"`
}

// flags is the comparable part of a Policy: the four flags.
type flags struct{ enrollment, redemption, coupon, trust bool }

func (p Policy) flags() flags {
	return flags{p.RequireOTPForEnrollment, p.RequireOTPForRedemption, p.RequireOTPForCouponUsage, p.TrustPartnerValidation}
}

// Equal reports whether p and q hold the same settings: the same four flags,
// the same SingleUse actions in any order, and the same MaxAge entries. A nil
// SingleUse or MaxAge equals an empty one.
func (p Policy) Equal(q Policy) bool {
	return p.flags() == q.flags() &&
		sameActions(p.SingleUse, q.SingleUse) && sameActions(q.SingleUse, p.SingleUse) &&
		maps.Equal(p.MaxAge, q.MaxAge)
}

// sameActions reports whether every action of a is in b.
func sameActions(a, b []Action) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// session returns p's SingleUse and MaxAge settings for action a. It does not
// allocate.
func (p *Policy) session(a Action) (singleUse bool, maxAge time.Duration) {
	return slices.Contains(p.SingleUse, a), p.MaxAge[a]
}

// clone returns p with its own copies of SingleUse and MaxAge; empty ones
// become nil.
func (p Policy) clone() Policy {
	p.SingleUse = slices.Clone(p.SingleUse)
	if len(p.SingleUse) == 0 {
		p.SingleUse = nil
	}
	p.MaxAge = maps.Clone(p.MaxAge)
	if len(p.MaxAge) == 0 {
		p.MaxAge = nil
	}
	return p
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
// [ErrContradictoryPolicy] and names the flags. An empty action name in
// SingleUse or MaxAge is an error wrapping [ErrInvalidAction], an action listed
// twice in SingleUse one wrapping [ErrDuplicateAction], and a MaxAge that is
// not positive one wrapping [ErrInvalidMaxAge]. Validate does not check that
// the actions are catalogued; [Load] does.
func (p Policy) Validate() error {
	if err := p.validate(); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	return nil
}

// validate is Validate without the package prefix, for callers that add
// their own context.
func (p Policy) validate() error {
	if err := p.validateFlags(); err != nil {
		return err
	}
	for i, a := range p.SingleUse {
		if a == "" {
			return fmt.Errorf("single_use: %w: empty name", ErrInvalidAction)
		}
		if slices.Contains(p.SingleUse[:i], a) {
			return fmt.Errorf("single_use: %w %q", ErrDuplicateAction, a)
		}
	}
	for _, a := range slices.Sorted(maps.Keys(p.MaxAge)) {
		if a == "" {
			return fmt.Errorf("max_age: %w: empty name", ErrInvalidAction)
		}
		if d := p.MaxAge[a]; d <= 0 {
			return fmt.Errorf("%s: %w: %v is not positive", member("max_age", string(a)), ErrInvalidMaxAge, d)
		}
	}
	return nil
}

// validateFlags reports a contradiction between trust_partner_validation and
// the require flags.
func (p Policy) validateFlags() error {
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

// LevelOf returns the trust level whose preset equals p (see [Policy.Equal]),
// and whether there is one. A policy with SingleUse or MaxAge settings equals
// no preset.
func LevelOf(p Policy) (TrustLevel, bool) {
	for i, lv := range levels {
		if lv.policy.Equal(p) {
			return TrustLevel(i), true
		}
	}
	return Strict, false
}

// levelOf returns the trust level whose preset has p's four flags, ignoring
// SingleUse and MaxAge, or Strict when there is none.
func levelOf(p Policy) TrustLevel {
	for i, lv := range levels {
		if lv.policy.flags() == p.flags() {
			return TrustLevel(i)
		}
	}
	return Strict
}
