package otpcode

import (
	"fmt"
	"net/mail"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/nyaruka/phonenumbers"
)

// Kind is the kind of a customer identifier. The zero value, KindUnknown,
// means "not known yet": a Parser with no Kind infers it from the input.
type Kind uint8

// The identifier kinds.
const (
	KindUnknown Kind = iota
	KindPhone        // E.164 phone number, canonical "+5511987654321"
	KindEmail        // email address, canonical in lower case
	KindCPF          // Brazilian CPF, canonical as 11 digits
)

// String returns "phone", "email", "cpf" or "unknown".
func (k Kind) String() string {
	switch k {
	case KindPhone:
		return "phone"
	case KindEmail:
		return "email"
	case KindCPF:
		return "cpf"
	}
	return "unknown"
}

// ParseKind returns the kind named "phone", "email" or "cpf", as
// Kind.String spells it, for a request's identifier_type. Any other name,
// "" and "unknown" included, returns a *FieldError for the field
// "identifier_type" with code "invalid_format", which wraps ErrInvalidInput
// and does not repeat the name. A request with no type leaves the Kind
// zero rather than calling ParseKind.
func ParseKind(name string) (Kind, error) {
	switch name {
	case "phone":
		return KindPhone, nil
	case "email":
		return KindEmail, nil
	case "cpf":
		return KindCPF, nil
	}
	return KindUnknown, errKindInvalid()
}

func errKindInvalid() error {
	return &FieldError{Field: "identifier_type", Code: "invalid_format", Message: `identifier_type must be "phone", "email" or "cpf"`}
}

// Identifier is a parsed customer identifier in canonical form.
type Identifier struct {
	Kind Kind
	// Value is the canonical form: Parser{Kind: Kind}.Parse(Value), in any
	// Region, returns the same Identifier.
	Value string
}

// Subject returns the key under which the identifier's codes and counters
// are stored: kind, a colon, and the canonical value ("phone:+5511987654321").
func (id Identifier) Subject() string { return id.Kind.String() + ":" + id.Value }

// String returns the canonical value.
func (id Identifier) String() string { return id.Value }

// IdentifierError says why an identifier was rejected. It wraps
// ErrInvalidIdentifier; for digits that name both a CPF and a phone number
// it wraps ErrAmbiguousIdentifier, which wraps ErrInvalidIdentifier.
type IdentifierError struct {
	// Kind is the kind the input looked like or was parsed as, KindUnknown
	// when none.
	Kind Kind
	// Reason says what is wrong, for people ("CPF check digits do not match").
	Reason string

	err error // the sentinel wrapped; nil means ErrInvalidIdentifier
}

// Error implements error.
func (e *IdentifierError) Error() string {
	if e.Kind == KindUnknown {
		return "otpcode: invalid identifier: " + e.Reason
	}
	return "otpcode: invalid " + e.Kind.String() + ": " + e.Reason
}

// Unwrap returns ErrAmbiguousIdentifier for an ambiguous input and
// ErrInvalidIdentifier for any other.
func (e *IdentifierError) Unwrap() error {
	if e.err == nil {
		return ErrInvalidIdentifier
	}
	return e.err
}

// The reasons of an IdentifierError. They are fixed sentences: none repeats
// the input, so an error can be logged or shown without echoing it.
const (
	reasonEmpty          = "identifier is empty"
	reasonUnknown        = "not a phone number (+55...), an email address or a CPF"
	reasonAmbiguous      = "identifier names both a CPF and a phone number"
	reasonPhoneOrCPF     = "neither a valid phone number nor a valid CPF"
	reasonPhoneNoPlus    = "phone numbers must start with + and a country code"
	reasonPhoneInvalid   = "not a valid phone number"
	reasonEmailInvalid   = "not a valid email address"
	reasonEmailControl   = "email address contains control characters"
	reasonEmailASCII     = "email address must be plain ASCII"
	reasonEmailTooLong   = "email address is longer than 254 characters"
	reasonEmailLocalLong = "email local part is longer than 64 characters"
	reasonEmailName      = "email address must not have a display name"
	reasonEmailNotBare   = "email address must be bare, as in name@example.com"
	reasonEmailDomain    = "email domain is not a valid host name"
	reasonCPFFormat      = "CPF must be 11 digits, as in 123.456.789-09"
	reasonCPFLength      = "CPF must have 11 digits"
	reasonCPFCheckDigits = "CPF check digits do not match"
	reasonCPFSameDigit   = "CPF cannot be all the same digit"
	maxEmailLen          = 254 // RFC 5321 path limit less the angle brackets
	maxEmailLocalLen     = 64  // RFC 5321
	maxPhoneInputLen     = 64  // far above any formatted E.164 number
	cpfLen               = 11
	maxHostLabelLen      = 63
	maxHostLen           = 253
)

// Parser parses customer identifiers as people type them: a phone number,
// an email address or a CPF. Its zero value accepts phone numbers only in
// international form (+ and a country code) and infers the kind of each
// input. A Parser is a plain value, safe for concurrent use.
type Parser struct {
	// Region is the ISO 3166-1 alpha-2 code, upper case, of the country
	// whose national phone formats are accepted, as
	// github.com/nyaruka/phonenumbers knows it: "BR" reads
	// "(11) 98765-4321" as +5511987654321. "" accepts none.
	Region string
	// Kind, when set, parses every input as that kind only; KindUnknown
	// infers the kind from the input.
	Kind Kind
}

// Parse parses s into its canonical form. A malformed input returns an
// *IdentifierError, which wraps ErrInvalidIdentifier and whose Reason is a
// fixed sentence that never repeats the input. A Region that phonenumbers
// does not know, or a Kind that is not one of the constants, is a
// programming error: Parse then returns an error that is not an
// *IdentifierError, whatever s is.
//
// Surrounding white space is ignored. The kinds are read as follows:
//   - an email address must be a bare ASCII address (no display name,
//     comment, quoting or angle brackets, no control characters) of at most
//     254 bytes with a local part of at most 64 bytes and a domain that is
//     a host name with at least one dot. The canonical form is lower-case
//     ("Maria@Example.COM" becomes "maria@example.com"), so one mailbox is
//     one identity.
//   - a phone number is digits with spaces, dashes, dots and parentheses
//     allowed between them: after '+' and a country code, or, with a
//     Region, in the national format of the region as someone there would
//     dial it, trunk and international prefixes included. It must be valid
//     for its country; the canonical form is E.164 ("+55 (11) 98765-4321",
//     and "(11) 98765-4321" in region "BR", become "+5511987654321").
//   - a CPF is 11 digits with '.', '-' and ' ' allowed between them: both
//     check digits must match and the digits must not all be the same. The
//     canonical form is the 11 digits.
//
// With a Kind, the input is read as that kind and nothing else (in region
// "BR", "11987650034" is the phone number +5511987650034 with KindPhone and
// the CPF 11987650034 with KindCPF). Without one, the kind is inferred:
//   - '@' makes an email address, and a leading '+' a phone number.
//   - without a Region, anything else is a CPF. Input that is not one is
//     told apart by its look, for the error: parentheses or 12 digits and
//     more make a phone number missing its '+'; dots or fewer digits, a CPF
//     of the wrong length.
//   - with a Region, exactly 11 digits and nothing else are a CPF when only
//     the CPF is valid, a phone number when only the phone number is, and
//     ambiguous when both are: the error then wraps ErrAmbiguousIdentifier,
//     and the caller must give the Kind (in region "BR", "11987654321" is a
//     phone number, "52998224725" a CPF, "11987650034" both). Formatted
//     input is never ambiguous: with parentheses it is a phone number
//     ("(11) 98765-4321"); with dots, or in groups of 3, 3, 3 and 2 digits
//     or of 9 and 2, a CPF ("529.982.247-25", "529 982 247 25",
//     "529982247-25"); any other digits, spaces and dashes are a phone
//     number ("11 98765-4321", "1134567890").
//
// Phone numbers are checked with github.com/nyaruka/phonenumbers, a port of
// Google's libphonenumber, rather than a regular expression: its metadata
// knows, per country, which lengths and leading digits are assigned (so
// "+55 11 98765-432" or "+1 055 555 0123" fail, though they fit any
// "+ and 8 to 15 digits" pattern), and its parser normalises the formatting
// people type into one E.164 form, so the same phone always maps to the same
// subject.
//
// Every accepted Identifier is a fixed point: Parser{Kind: id.Kind}.Parse
// of its Value, with or without a Region, returns it again. So does
// p.Parse(id.Value), except that with a Region and no Kind a CPF whose
// digits are also a phone number of the region is ambiguous.
func (p Parser) Parse(s string) (Identifier, error) {
	if err := p.check(); err != nil {
		return Identifier{}, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return Identifier{}, &IdentifierError{Kind: p.Kind, Reason: reasonEmpty}
	}
	switch p.Kind {
	case KindPhone:
		return parsePhone(s, p.Region)
	case KindEmail:
		return parseEmail(s)
	case KindCPF:
		return parseCPFInput(s)
	}
	switch {
	case strings.IndexByte(s, '@') >= 0:
		return parseEmail(s)
	case s[0] == '+':
		return parsePhone(s, p.Region)
	}
	return parseDigits(s, p.Region)
}

// check reports a Region or Kind that is not valid.
func (p Parser) check() error {
	if p.Region != "" && !validRegion(p.Region) {
		return fmt.Errorf("otpcode: unknown region %q (want an ISO 3166-1 alpha-2 code such as \"BR\")", p.Region)
	}
	if p.Kind > KindCPF {
		return fmt.Errorf("otpcode: unknown identifier kind %d", p.Kind)
	}
	return nil
}

// validRegion reports whether phonenumbers has metadata for region.
func validRegion(region string) bool {
	return phonenumbers.GetSupportedRegions()[region]
}

// parseEmail parses s as a bare email address.
func parseEmail(s string) (Identifier, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return emailError(reasonEmailControl)
		}
	}
	if len(s) > maxEmailLen {
		return emailError(reasonEmailTooLong)
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return emailError(reasonEmailASCII)
		}
	}
	addr, err := mail.ParseAddress(s)
	switch {
	case err != nil:
		return emailError(reasonEmailInvalid)
	case addr.Name != "":
		return emailError(reasonEmailName)
	case addr.Address != s:
		// Angle brackets, comments or a quoted local part: accepting them
		// would make the canonical form differ from what was parsed.
		return emailError(reasonEmailNotBare)
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if len(local) > maxEmailLocalLen {
		return emailError(reasonEmailLocalLong)
	}
	if !isHostName(domain) {
		return emailError(reasonEmailDomain)
	}
	// The whole address is lower-cased. RFC 5321 lets a server treat the
	// local part as case-sensitive, but no mainstream mailbox does, and
	// keeping its case would give one mailbox several identities, each with
	// its own cooldown and failure budget.
	return Identifier{Kind: KindEmail, Value: strings.ToLower(local) + "@" + strings.ToLower(domain)}, nil
}

func emailError(reason string) (Identifier, error) {
	return Identifier{}, &IdentifierError{Kind: KindEmail, Reason: reason}
}

// isHostName reports whether d is an ASCII host name of at least two labels,
// each 1 to 63 letters, digits and inner hyphens, with a top-level label
// that is not all digits (so no IP address).
func isHostName(d string) bool {
	if len(d) > maxHostLen {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > maxHostLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

// parsePhone parses s as a phone number: international when it starts with
// '+', else in the national format of region (refused when region is "").
func parsePhone(s, region string) (Identifier, error) {
	canonical, reason := canonicalPhone(s, region)
	if reason != "" {
		return phoneError(reason)
	}
	return Identifier{Kind: KindPhone, Value: canonical}, nil
}

// canonicalPhone returns the E.164 form of the phone number s, or the
// reason it is not one.
func canonicalPhone(s, region string) (canonical, reason string) {
	if len(s) > maxPhoneInputLen {
		return "", reasonPhoneInvalid
	}
	// phonenumbers is lenient: it maps letters to keypad digits, reads
	// extensions and skips text around the number. Allow only digits and
	// the usual separators so that what is accepted is a phone number as
	// typed, nothing more.
	national := s[0] != '+'
	start := 1
	if national {
		start = 0
	}
	for i := start; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == ' ', c == '-', c == '.', c == '(', c == ')':
		default:
			return "", reasonPhoneInvalid
		}
	}
	if national && region == "" {
		return "", reasonPhoneNoPlus
	}
	key := phoneKey{region: region, input: s}
	if canonical, ok := phoneCache.Get(key); ok {
		if canonical == "" {
			return "", reasonPhoneInvalid
		}
		return canonical, ""
	}
	num, err := phonenumbers.Parse(s, region)
	if err == nil && num.GetExtension() == "" && phonenumbers.IsValidNumber(num) {
		canonical = phonenumbers.Format(num, phonenumbers.E164)
	}
	phoneCache.Add(key, canonical)
	if canonical == "" {
		return "", reasonPhoneInvalid
	}
	return canonical, ""
}

// phoneKey is the key of phoneCache: the same digits are different numbers
// in different regions.
type phoneKey struct {
	region string // the Parser's Region, "" for none
	input  string // the input as typed, trimmed
}

// phoneCache remembers the canonical form of phone inputs, "" for those
// libphonenumber found invalid. Its rules are regular-expression heavy
// (tens of microseconds a number), and a verification almost always
// repeats the input of the request before it, so the cache takes phone
// parsing off the verify path: for phone numbers, and for 11 bare digits
// that are a CPF, which a Parser with a Region also tries as a phone
// number (BenchmarkParse/region/bare-cpf: 10 µs and 51 allocations without
// the cache, 0.2 µs and none with it). It is bounded (least recently used
// entries go first) and holds only inputs that passed the character check
// above; parsing is deterministic, so it cannot change what is accepted.
var phoneCache = mustLRU[phoneKey, string](phoneCacheSize)

const phoneCacheSize = 1 << 14

func mustLRU[K comparable, V any](size int) *lru.Cache[K, V] {
	c, err := lru.New[K, V](size)
	if err != nil {
		panic(err) // only for a non-positive size, a programming error
	}
	return c
}

func phoneError(reason string) (Identifier, error) {
	return Identifier{}, &IdentifierError{Kind: KindPhone, Reason: reason}
}

// parseDigits parses s, which has no '@' and does not start with '+', as
// Parser.Parse describes: without a region as a CPF, or says why it is not
// one; with a region as a CPF or a phone number of the region, by its look.
func parseDigits(s, region string) (Identifier, error) {
	var ds [cpfLen]byte
	n := 0
	dot, paren, sep := false, false, false
	// groups holds the lengths of the first runs of digits, ng the number
	// of runs, for the look of a CPF: 3, 3, 3 and 2, or 9 and 2.
	var groups [4]int
	ng, inRun := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if n < cpfLen {
				ds[n] = c
			}
			n++
			if !inRun {
				ng++
				inRun = true
			}
			if ng <= len(groups) {
				groups[ng-1]++
			}
		case c == '.':
			dot, sep, inRun = true, true, false
		case c == '-', c == ' ':
			sep, inRun = true, false
		case c == '(', c == ')':
			paren, sep, inRun = true, true, false
		default:
			return Identifier{}, &IdentifierError{Kind: KindUnknown, Reason: reasonUnknown}
		}
	}
	if n == 0 {
		return Identifier{}, &IdentifierError{Kind: KindUnknown, Reason: reasonUnknown}
	}
	if region == "" {
		// Input that is not a CPF is told apart by its look: parentheses
		// or 12 digits and more make a phone number missing its '+'; dots,
		// or fewer digits, a CPF of the wrong length.
		switch {
		case paren:
			return phoneError(reasonPhoneNoPlus)
		case n == cpfLen:
			return parseCPF(ds)
		case dot || n < cpfLen:
			return cpfError(reasonCPFLength)
		default:
			return phoneError(reasonPhoneNoPlus)
		}
	}
	cpfLook := ng == 4 && groups == [4]int{3, 3, 3, 2} || ng == 2 && groups[0] == 9 && groups[1] == 2
	switch {
	case !sep && n == cpfLen:
		return parseBareDigits(ds, s, region)
	case paren:
		return parsePhone(s, region)
	case dot || cpfLook:
		if n != cpfLen {
			return cpfError(reasonCPFLength)
		}
		return parseCPF(ds)
	default:
		return parsePhone(s, region)
	}
}

// parseBareDigits parses s, exactly 11 digits (ds) and nothing else, as a
// CPF or a phone number of region, and refuses it as ambiguous when it is
// both: guessing would give either a CPF's owner or the phone's a code
// meant for the other.
func parseBareDigits(ds [cpfLen]byte, s, region string) (Identifier, error) {
	isCPF := cpfFault(ds) == ""
	phone, phoneFault := canonicalPhone(s, region)
	isPhone := phoneFault == ""
	switch {
	case isCPF && isPhone:
		return Identifier{}, &IdentifierError{Kind: KindUnknown, Reason: reasonAmbiguous, err: ErrAmbiguousIdentifier}
	case isCPF:
		return Identifier{Kind: KindCPF, Value: s}, nil
	case isPhone:
		return Identifier{Kind: KindPhone, Value: phone}, nil
	}
	return Identifier{}, &IdentifierError{Kind: KindUnknown, Reason: reasonPhoneOrCPF}
}

// parseCPFInput parses s as a CPF only: 11 digits, with '.', '-' and ' '
// allowed between them.
func parseCPFInput(s string) (Identifier, error) {
	var ds [cpfLen]byte
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if n < cpfLen {
				ds[n] = c
			}
			n++
		case c == '.', c == '-', c == ' ':
		default:
			return cpfError(reasonCPFFormat)
		}
	}
	switch {
	case n == 0:
		return cpfError(reasonCPFFormat)
	case n != cpfLen:
		return cpfError(reasonCPFLength)
	}
	return parseCPF(ds)
}

// parseCPF checks the 11 ASCII digits of a CPF.
func parseCPF(ds [cpfLen]byte) (Identifier, error) {
	if reason := cpfFault(ds); reason != "" {
		return cpfError(reason)
	}
	return Identifier{Kind: KindCPF, Value: string(ds[:])}, nil
}

// cpfFault returns why the 11 ASCII digits ds are not a CPF, "" when they
// are one.
func cpfFault(ds [cpfLen]byte) string {
	same := true
	for _, c := range ds[1:] {
		same = same && c == ds[0]
	}
	if same {
		return reasonCPFSameDigit
	}
	if cpfCheckDigit(ds[:9]) != ds[9] || cpfCheckDigit(ds[:10]) != ds[10] {
		return reasonCPFCheckDigits
	}
	return ""
}

// cpfCheckDigit returns the check digit, as an ASCII digit, that follows
// ds: the digits weighted len(ds)+1 down to 2, summed; the remainder r of
// the sum by 11 gives 0 when r < 2 and 11-r otherwise.
func cpfCheckDigit(ds []byte) byte {
	sum := 0
	for i, c := range ds {
		sum += int(c-'0') * (len(ds) + 1 - i)
	}
	r := sum % 11
	if r < 2 {
		return '0'
	}
	return byte('0' + 11 - r)
}

func cpfError(reason string) (Identifier, error) {
	return Identifier{}, &IdentifierError{Kind: KindCPF, Reason: reason}
}
