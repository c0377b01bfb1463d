package otpcode

import (
	"net/mail"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/nyaruka/phonenumbers"
)

// Kind is the kind of a customer identifier.
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

// Identifier is a parsed customer identifier in canonical form.
type Identifier struct {
	Kind  Kind
	Value string // canonical form; ParseIdentifier(Value) returns the same Identifier
}

// Subject returns the key under which the identifier's codes and counters
// are stored: kind, a colon, and the canonical value ("phone:+5511987654321").
func (id Identifier) Subject() string { return id.Kind.String() + ":" + id.Value }

// String returns the canonical value.
func (id Identifier) String() string { return id.Value }

// IdentifierError says why an identifier was rejected. It wraps
// ErrInvalidIdentifier.
type IdentifierError struct {
	// Kind is the kind the input looked like, KindUnknown when none.
	Kind Kind
	// Reason says what is wrong, for people ("CPF check digits do not match").
	Reason string
}

// Error implements error.
func (e *IdentifierError) Error() string {
	if e.Kind == KindUnknown {
		return "otpcode: invalid identifier: " + e.Reason
	}
	return "otpcode: invalid " + e.Kind.String() + ": " + e.Reason
}

// Unwrap returns ErrInvalidIdentifier.
func (e *IdentifierError) Unwrap() error { return ErrInvalidIdentifier }

// The reasons of an IdentifierError. They are fixed sentences: none repeats
// the input, so an error can be logged or shown without echoing it.
const (
	reasonEmpty          = "identifier is empty"
	reasonUnknown        = "not a phone number (+55...), an email address or a CPF"
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

// ParseIdentifier parses a phone number (E.164, common formatting such as
// spaces, dashes and parentheses accepted), an email address or a CPF
// (11 digits, punctuation "123.456.789-09" accepted) into its canonical
// form. A malformed input returns an *IdentifierError, which wraps
// ErrInvalidIdentifier and whose Reason is a fixed sentence that never
// repeats the input.
//
// Surrounding white space is ignored. Then the input is:
//   - an email address when it contains '@': it must be a bare ASCII
//     address (no display name, comment, quoting or angle brackets, no
//     control characters) of at most 254 bytes with a local part of at most
//     64 bytes and a domain that is a host name with at least one dot. The
//     canonical form is lower-case ("Maria@Example.COM" becomes
//     "maria@example.com"), so one mailbox is one identity.
//   - a CPF when, once '.', '-' and ' ' are removed, it is exactly 11
//     digits and has no '+' or '(': both check digits must match and the
//     digits must not all be the same. The canonical form is the 11 digits.
//   - a phone number when it starts with '+': digits after the country
//     code, with spaces, dashes, dots and parentheses allowed between them.
//     The number must be valid for its country; the canonical form is
//     E.164 ("+55 (11) 98765-4321" becomes "+5511987654321"). Numbers
//     without '+' are refused: no default region is assumed.
//
// Phone numbers are checked with github.com/nyaruka/phonenumbers, a port of
// Google's libphonenumber, rather than a regular expression: its metadata
// knows, per country, which lengths and leading digits are assigned (so
// "+55 11 98765-432" or "+1 055 555 0123" fail, though they fit any
// "+ and 8 to 15 digits" pattern), and its parser normalises the formatting
// people type into one E.164 form, so the same phone always maps to the same
// subject.
//
// Every accepted Identifier is a fixed point: ParseIdentifier(id.Value)
// returns id again.
func ParseIdentifier(s string) (Identifier, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Identifier{}, &IdentifierError{Kind: KindUnknown, Reason: reasonEmpty}
	case strings.IndexByte(s, '@') >= 0:
		return parseEmail(s)
	case s[0] == '+':
		return parsePhone(s)
	}
	return parseDigits(s)
}

// parseEmail parses s, which contains '@', as a bare email address.
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

// parsePhone parses s, which starts with '+', as an international number.
func parsePhone(s string) (Identifier, error) {
	if len(s) > maxPhoneInputLen {
		return phoneError(reasonPhoneInvalid)
	}
	// phonenumbers is lenient: it maps letters to keypad digits, reads
	// extensions and skips text around the number. Allow only digits and
	// the usual separators so that what is accepted is a phone number as
	// typed, nothing more.
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == ' ', c == '-', c == '.', c == '(', c == ')':
		default:
			return phoneError(reasonPhoneInvalid)
		}
	}
	if canonical, ok := phoneCache.Get(s); ok {
		return Identifier{Kind: KindPhone, Value: canonical}, nil
	}
	num, err := phonenumbers.Parse(s, "")
	if err != nil || num.GetExtension() != "" || !phonenumbers.IsValidNumber(num) {
		return phoneError(reasonPhoneInvalid)
	}
	canonical := phonenumbers.Format(num, phonenumbers.E164)
	phoneCache.Add(s, canonical)
	return Identifier{Kind: KindPhone, Value: canonical}, nil
}

// phoneCache remembers the canonical form of phone inputs that parsed as
// valid. libphonenumber's rules are regular-expression heavy (tens of
// microseconds a number), and a verification almost always repeats the
// input of the request before it, so the cache takes phone parsing off the
// verify path. It is bounded (least recently used entries go first), holds
// only inputs that passed the character check above, and caches no
// rejection, so it cannot change what is accepted.
var phoneCache = mustLRU(phoneCacheSize)

const phoneCacheSize = 1 << 14

func mustLRU(size int) *lru.Cache[string, string] {
	c, err := lru.New[string, string](size)
	if err != nil {
		panic(err) // only for a non-positive size, a programming error
	}
	return c
}

func phoneError(reason string) (Identifier, error) {
	return Identifier{}, &IdentifierError{Kind: KindPhone, Reason: reason}
}

// parseDigits parses s, which has no '@' and does not start with '+', as a
// CPF, or says why it is not one. Input made of digits and separators that
// is not a CPF is told apart by its look: parentheses or 12 digits and more
// make a phone number missing its '+'; dots, or fewer digits, a CPF of the
// wrong length.
func parseDigits(s string) (Identifier, error) {
	var ds [cpfLen]byte
	n := 0
	dot, paren := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if n < cpfLen {
				ds[n] = c
			}
			n++
		case c == '.':
			dot = true
		case c == '-', c == ' ':
		case c == '(', c == ')':
			paren = true
		default:
			return Identifier{}, &IdentifierError{Kind: KindUnknown, Reason: reasonUnknown}
		}
	}
	switch {
	case n == 0:
		return Identifier{}, &IdentifierError{Kind: KindUnknown, Reason: reasonUnknown}
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

// parseCPF checks the 11 ASCII digits of a CPF.
func parseCPF(ds [cpfLen]byte) (Identifier, error) {
	same := true
	for _, c := range ds[1:] {
		same = same && c == ds[0]
	}
	if same {
		return cpfError(reasonCPFSameDigit)
	}
	if cpfCheckDigit(ds[:9]) != ds[9] || cpfCheckDigit(ds[:10]) != ds[10] {
		return cpfError(reasonCPFCheckDigits)
	}
	return Identifier{Kind: KindCPF, Value: string(ds[:])}, nil
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
