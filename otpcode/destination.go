package otpcode

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Destinations: which phone numbers a code may go to. A code is a message
// the service pays for and a customer must be able to receive, so numbers
// of the types below are refused whatever the directory or the request
// says; an attacker holding a partner key would otherwise turn the service
// into a premium-rate or satellite dialler (SMS pumping).
//
//	refused types: premium rate, shared cost, toll free, VoIP, UAN, pager,
//	               voicemail, unknown, and every non-geographic number
//	               (+800, +870 and +881 satellite, +882/+883 global
//	               networks, +979 international premium rate)
//
// WithAllowedRegions narrows the rest to a list of countries. Every phone
// channel (WhatsApp, SMS, and a host's Route with Phone set) also needs a
// number that can be a mobile.

// nonGeographic is phonenumbers' region code of numbers that belong to no
// country.
const nonGeographic = "001"

// phoneClass is what the service knows about a phone number's destination.
type phoneClass struct {
	region string // ISO 3166-1 alpha-2, or nonGeographic
	mobile bool   // the number can be a mobile (MOBILE, FIXED_LINE_OR_MOBILE)
	// refused is why no code may go to the number whatever the region, ""
	// when one may.
	refused string
}

// refusedTypes names the number types no code goes to.
var refusedTypes = map[phonenumbers.PhoneNumberType]string{
	phonenumbers.PREMIUM_RATE: "premium-rate",
	phonenumbers.SHARED_COST:  "shared-cost",
	phonenumbers.TOLL_FREE:    "toll-free",
	phonenumbers.VOIP:         "VoIP",
	phonenumbers.UAN:          "universal access (UAN)",
	phonenumbers.PAGER:        "pager",
	phonenumbers.VOICEMAIL:    "voicemail",
	phonenumbers.UNKNOWN:      "unknown-type",
}

// classifyPhone returns the class of e164, a canonical phone number.
func classifyPhone(e164 string) phoneClass {
	if c, ok := classCache.Get(e164); ok {
		return c
	}
	var c phoneClass
	num, err := phonenumbers.Parse(e164, "")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		c.refused = "invalid"
	} else {
		c.region = phonenumbers.GetRegionCodeForNumber(num)
		typ := phonenumbers.GetNumberType(num)
		c.mobile = typ == phonenumbers.MOBILE || typ == phonenumbers.FIXED_LINE_OR_MOBILE
		switch why, bad := refusedTypes[typ]; {
		case c.region == nonGeographic:
			c.refused = "satellite, global-network and other non-geographic"
		case bad:
			c.refused = why
		}
	}
	classCache.Add(e164, c)
	return c
}

// classCache remembers phone classes: a class costs as much to compute as a
// parse.
var classCache = mustLRU[string, phoneClass](phoneCacheSize)

// WithAllowedRegions limits phone destinations to the given countries (ISO
// 3166-1 alpha-2 codes, upper case, such as "BR"): a request for a phone
// number of another country is refused with a *FieldError for
// "identifier", code "not_permitted", wrapping ErrDestinationNotPermitted,
// and a directory contact of another country is not used. No regions (the
// default) allows every country; number types no code should reach
// (premium rate, satellite, ...) are refused either way. NewService
// refuses a region phonenumbers does not know.
func WithAllowedRegions(regions ...string) Option {
	return func(s *Service) error {
		set := make(map[string]bool, len(regions))
		for _, r := range regions {
			if err := (Parser{Region: r}).check(); err != nil || r == "" {
				return fmt.Errorf("otpcode: allowed region %q is not a region phonenumbers knows", r)
			}
			set[r] = true
		}
		s.allowedRegions = set
		return nil
	}
}

// destinationError returns why no code may be sent to the phone number
// e164, or nil when one may.
func (s *Service) destinationError(e164 string) error {
	c := classifyPhone(e164)
	var msg string
	switch {
	case c.refused != "":
		msg = "codes are not sent to " + c.refused + " numbers"
	case len(s.allowedRegions) > 0 && !s.allowedRegions[c.region]:
		msg = "codes are not sent to numbers of " + c.region + " (allowed: " + s.regionList() + ")"
	default:
		return nil
	}
	return &FieldError{Field: "identifier", Code: "not_permitted", Message: msg, Err: ErrDestinationNotPermitted}
}

// regionList returns the allowed regions, sorted, comma-separated.
func (s *Service) regionList() string {
	out := make([]string, 0, len(s.allowedRegions))
	for r := range s.allowedRegions {
		out = append(out, r)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// phoneUsable reports whether a code may go to e164 over a phone channel:
// the number can be a mobile and the destination rules allow it. A number
// not in international form ("+" and a country code) is refused.
func (s *Service) phoneUsable(e164 string) bool {
	c := classifyPhone(e164)
	return c.refused == "" && c.mobile && (len(s.allowedRegions) == 0 || s.allowedRegions[c.region])
}

// reaches reports whether the chain's route for ch finds an address in to
// that a code may go to: any address on a channel that is not a phone
// channel, a usable phone number (phoneUsable) on a phone channel.
func (s *Service) reaches(ch Channel, to Contacts) bool {
	r, ok := s.chain.route(ch)
	if !ok {
		return false
	}
	addr := r.Contact(to)
	return addr != "" && (!r.Phone || s.phoneUsable(addr))
}
