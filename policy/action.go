package policy

import (
	"fmt"
	"strconv"
)

// Action names what a request does, such as "redeem_reward". Built-in actions
// are the constants below; a host names its own and registers them with
// [Catalog.Register].
type Action string

// The built-in actions of the Zupy action table, in the table's order.
const (
	// SearchCustomers looks customers up. It never requires OTP.
	SearchCustomers Action = "search_customers"
	// ViewBalance reads a customer's points balance. It never requires OTP.
	ViewBalance Action = "view_balance"
	// ViewHistory reads a customer's points history. It never requires OTP.
	ViewHistory Action = "view_history"
	// AwardPoints credits points to a customer, a B2B operation with no
	// customer interaction. It never requires OTP.
	AwardPoints Action = "award_points"
	// ListRewards lists the rewards on offer. It never requires OTP.
	ListRewards Action = "list_rewards"
	// ListCoupons lists a customer's coupons. It never requires OTP.
	ListCoupons Action = "list_coupons"
	// ViewPrograms reads the loyalty programs. It never requires OTP.
	ViewPrograms Action = "view_programs"
	// SendWebhook delivers a partner webhook. It never requires OTP.
	SendWebhook Action = "send_webhook"
	// RedeemReward spends a customer's points on a reward. It is governed by
	// require_otp_for_redemption.
	RedeemReward Action = "redeem_reward"
	// ValidateCoupon checks a coupon before use. It is governed by
	// require_otp_for_coupon_usage.
	ValidateCoupon Action = "validate_coupon"
	// UseCoupon consumes a coupon. It is governed by
	// require_otp_for_coupon_usage.
	UseCoupon Action = "use_coupon"
	// EnrollCustomer enrolls a customer in a loyalty program. It is governed
	// by require_otp_for_enrollment.
	EnrollCustomer Action = "enroll_customer"
)

// builtins is the seed's action table in its order.
var builtins = [...]struct {
	action Action
	flag   Flag
}{
	{SearchCustomers, Never},
	{ViewBalance, Never},
	{ViewHistory, Never},
	{AwardPoints, Never},
	{ListRewards, Never},
	{ListCoupons, Never},
	{ViewPrograms, Never},
	{SendWebhook, Never},
	{RedeemReward, RequireRedemption},
	{ValidateCoupon, RequireCouponUsage},
	{UseCoupon, RequireCouponUsage},
	{EnrollCustomer, RequireEnrollment},
}

// builtinFlag is the builtins table as a switch, which the compiler turns
// into a search on length and content: faster than hashing the name. The
// catalogue tests check that it agrees with builtins.
func builtinFlag(a Action) (Flag, bool) {
	switch a {
	case SearchCustomers, ViewBalance, ViewHistory, AwardPoints,
		ListRewards, ListCoupons, ViewPrograms, SendWebhook:
		return Never, true
	case RedeemReward:
		return RequireRedemption, true
	case ValidateCoupon, UseCoupon:
		return RequireCouponUsage, true
	case EnrollCustomer:
		return RequireEnrollment, true
	}
	return Never, false
}

// Flag names what governs an action: [Never], or one of the three require
// flags of a [Policy]. Its String is the flag's JSON name.
type Flag uint8

const (
	// Never binds an action that never requires OTP, whatever the policy.
	Never Flag = iota
	// RequireEnrollment binds an action to require_otp_for_enrollment.
	RequireEnrollment
	// RequireRedemption binds an action to require_otp_for_redemption.
	RequireRedemption
	// RequireCouponUsage binds an action to require_otp_for_coupon_usage.
	RequireCouponUsage
)

// requireFlags lists the require flags in the order of the Policy fields.
var requireFlags = [...]Flag{RequireEnrollment, RequireRedemption, RequireCouponUsage}

var flagNames = [...]string{
	Never:              "never",
	RequireEnrollment:  "require_otp_for_enrollment",
	RequireRedemption:  "require_otp_for_redemption",
	RequireCouponUsage: "require_otp_for_coupon_usage",
}

// String returns the flag's JSON name ("require_otp_for_redemption"), or
// "never" for [Never].
func (f Flag) String() string {
	if f.valid() {
		return flagNames[f]
	}
	return "Flag(" + strconv.Itoa(int(f)) + ")"
}

func (f Flag) valid() bool { return int(f) < len(flagNames) }

// ParseFlag returns the flag whose String is s: "never" or one of the three
// require_otp_for_* names. Any other string is an error wrapping
// [ErrUnknownFlag].
func ParseFlag(s string) (Flag, error) {
	for f, name := range flagNames {
		if s == name {
			return Flag(f), nil
		}
	}
	return Never, fmt.Errorf("policy: parse flag: %w %q", ErrUnknownFlag, s)
}
