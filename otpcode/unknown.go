package otpcode

import (
	"errors"
	"fmt"
)

// UnknownRecipients says what Request does with an identifier the
// directory does not know (Directory.Lookup finds no customer).
type UnknownRecipients uint8

const (
	// UnknownAllow sends a code to an unknown phone number or email
	// address, which becomes a customer when verified (Directory.Resolve);
	// the Zupy seed's enrollment flow needs it. The default.
	UnknownAllow UnknownRecipients = iota
	// UnknownEnroll sends a code to an unknown identifier only for a
	// request whose Purpose is EnrollPurpose, and refuses the others with
	// ErrUnknownCustomer.
	UnknownEnroll
	// UnknownDeny refuses every unknown identifier with ErrUnknownCustomer
	// (404 not-found over HTTP, as for an unknown CPF): codes go only to
	// customers the host knows.
	UnknownDeny
)

// EnrollPurpose is the purpose of a request that enrolls a new customer,
// the catalogue's enrollment action (policy.EnrollCustomer).
const EnrollPurpose = "enroll_customer"

// ParseUnknownRecipients returns the policy named "allow", "enroll" or
// "deny", as String spells it.
func ParseUnknownRecipients(name string) (UnknownRecipients, error) {
	for u := UnknownAllow; u <= UnknownDeny; u++ {
		if u.String() == name {
			return u, nil
		}
	}
	return 0, fmt.Errorf("otpcode: unknown-recipients policy %q: want allow, enroll or deny", name)
}

// String returns "allow", "enroll" or "deny".
func (u UnknownRecipients) String() string {
	switch u {
	case UnknownAllow:
		return "allow"
	case UnknownEnroll:
		return "enroll"
	case UnknownDeny:
		return "deny"
	}
	return fmt.Sprintf("UnknownRecipients(%d)", uint8(u))
}

// allows reports whether a request with purpose may reach an unknown
// identifier.
func (u UnknownRecipients) allows(purpose string) bool {
	switch u {
	case UnknownAllow:
		return true
	case UnknownEnroll:
		return purpose == EnrollPurpose
	}
	return false
}

// WithUnknownRecipients sets what Request does with identifiers the
// directory does not know. Default UnknownAllow.
func WithUnknownRecipients(u UnknownRecipients) Option {
	return func(s *Service) error {
		if u > UnknownDeny {
			return errors.New("otpcode: invalid unknown-recipients policy")
		}
		s.unknown = u
		return nil
	}
}
