package otpcode

// Kind is the kind of a customer identifier.
type Kind uint8

// The identifier kinds.
const (
	KindUnknown Kind = iota
	KindPhone        // E.164 phone number, canonical "+5511987654321"
	KindEmail        // email address, canonical with the domain lower-cased
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

// ParseIdentifier parses a phone number (E.164, common formatting such as
// spaces, dashes and parentheses accepted), an email address or a CPF
// (11 digits, punctuation "123.456.789-09" accepted) into its canonical
// form. A malformed input returns an *IdentifierError.
func ParseIdentifier(s string) (Identifier, error) {
	panic("otpcode: ParseIdentifier is being written")
}
