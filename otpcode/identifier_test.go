package otpcode_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/otpcode"
)

// The fixed reasons Parser.Parse gives.
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
)

var allReasons = map[string]bool{
	reasonEmpty: true, reasonUnknown: true, reasonPhoneNoPlus: true, reasonPhoneInvalid: true,
	reasonEmailInvalid: true, reasonEmailControl: true, reasonEmailASCII: true, reasonEmailTooLong: true,
	reasonEmailLocalLong: true, reasonEmailName: true, reasonEmailNotBare: true, reasonEmailDomain: true,
	reasonCPFLength: true, reasonCPFCheckDigits: true, reasonCPFSameDigit: true,
	reasonAmbiguous: true, reasonPhoneOrCPF: true, reasonCPFFormat: true,
}

type identifierCase struct {
	name  string
	in    string
	kind  otpcode.Kind
	value string // canonical value; empty when the input is rejected
	// reason is the IdentifierError reason when the input is rejected.
	reason string
}

var identifierCases = []identifierCase{
	// Phones.
	{"phone E.164", "+5511987654321", otpcode.KindPhone, "+5511987654321", ""},
	{"phone spaces and dash", "+55 11 98765-4321", otpcode.KindPhone, "+5511987654321", ""},
	{"phone parentheses", "+55 (11) 98765-4321", otpcode.KindPhone, "+5511987654321", ""},
	{"phone dots", "+55.11.98765.4321", otpcode.KindPhone, "+5511987654321", ""},
	{"phone surrounding space", " \t+5511987654321\r\n", otpcode.KindPhone, "+5511987654321", ""},
	{"phone Brazilian landline", "+55 11 3456-7890", otpcode.KindPhone, "+551134567890", ""},
	{"phone US", "+1 (650) 253-0000", otpcode.KindPhone, "+16502530000", ""},
	{"phone UK", "+44 20 7031 3000", otpcode.KindPhone, "+442070313000", ""},
	{"phone too short", "+55 11 9876", otpcode.KindPhone, "", reasonPhoneInvalid},
	{"phone one digit short", "+55 11 98765-432", otpcode.KindPhone, "", reasonPhoneInvalid},
	{"phone too long", "+55 11 98765-43210", otpcode.KindPhone, "", reasonPhoneInvalid},
	{"phone letters", "+55 11 9876A-4321", otpcode.KindPhone, "", reasonPhoneInvalid},
	{"phone vanity letters", "+1 800 FLOWERS", otpcode.KindPhone, "", reasonPhoneInvalid},
	{"phone extension", "+1 650 253 0000 ext 12", otpcode.KindPhone, "", reasonPhoneInvalid},
	{"phone unknown country code", "+999 1234 5678", otpcode.KindPhone, "", reasonPhoneInvalid},
	{"phone plus only", "+", otpcode.KindPhone, "", reasonPhoneInvalid},
	{"phone double plus", "++5511987654321", otpcode.KindPhone, "", reasonPhoneInvalid},
	{"phone US area code 0", "+1 055 555 0123", otpcode.KindPhone, "", reasonPhoneInvalid},
	{"phone no plus, country code", "5511987654321", otpcode.KindPhone, "", reasonPhoneNoPlus},
	{"phone no plus, parentheses", "(11) 98765-4321", otpcode.KindPhone, "", reasonPhoneNoPlus},
	{"phone no plus, 00 prefix", "00 55 11 98765 4321", otpcode.KindPhone, "", reasonPhoneNoPlus},
	// Emails.
	{"email plain", "maria@example.com", otpcode.KindEmail, "maria@example.com", ""},
	{"email lower-cased", "Maria.Silva@Example.COM", otpcode.KindEmail, "maria.silva@example.com", ""},
	{"email surrounding space", "  m@x.com.br ", otpcode.KindEmail, "m@x.com.br", ""},
	{"email plus tag and subdomain", "m+otp@mail.example.com.br", otpcode.KindEmail, "m+otp@mail.example.com.br", ""},
	{"email hyphenated domain", "m@my-shop.example", otpcode.KindEmail, "m@my-shop.example", ""},
	{"email display name", "Maria <m@x.com>", otpcode.KindEmail, "", reasonEmailName},
	{"email quoted display name", `"Maria Silva" <m@x.com>`, otpcode.KindEmail, "", reasonEmailName},
	{"email angle brackets", "<m@x.com>", otpcode.KindEmail, "", reasonEmailNotBare},
	{"email quoted local part", `"m x"@x.com`, otpcode.KindEmail, "", reasonEmailNotBare},
	{"email CRLF header injection", "m@x.com\r\nBcc: y@z.com", otpcode.KindEmail, "", reasonEmailControl},
	{"email inner LF", "m@x\n.com", otpcode.KindEmail, "", reasonEmailControl},
	{"email NUL", "m\x00@x.com", otpcode.KindEmail, "", reasonEmailControl},
	{"email missing local part", "@x.com", otpcode.KindEmail, "", reasonEmailInvalid},
	{"email missing domain", "m@", otpcode.KindEmail, "", reasonEmailInvalid},
	{"email two ats", "m@@x.com", otpcode.KindEmail, "", reasonEmailInvalid},
	{"email at only", "@", otpcode.KindEmail, "", reasonEmailInvalid},
	{"email domain without dot", "m@localhost", otpcode.KindEmail, "", reasonEmailDomain},
	{"email domain underscore", "m@x_y.com", otpcode.KindEmail, "", reasonEmailDomain},
	{"email domain leading hyphen", "m@-x.com", otpcode.KindEmail, "", reasonEmailDomain},
	{"email domain IP address", "m@10.0.0.1", otpcode.KindEmail, "", reasonEmailDomain},
	{"email non-ASCII", "joão@x.com", otpcode.KindEmail, "", reasonEmailASCII},
	{"email local part 65", strings.Repeat("a", 65) + "@x.com", otpcode.KindEmail, "", reasonEmailLocalLong},
	{"email local part 64", strings.Repeat("a", 64) + "@x.com", otpcode.KindEmail, strings.Repeat("a", 64) + "@x.com", ""},
	{"email 255 chars", "m@" + longDomain(57), otpcode.KindEmail, "", reasonEmailTooLong},
	{"email 254 chars", "m@" + longDomain(56), otpcode.KindEmail, "m@" + longDomain(56), ""},
	// CPFs.
	{"cpf plain", "12345678909", otpcode.KindCPF, "12345678909", ""},
	{"cpf punctuated", "123.456.789-09", otpcode.KindCPF, "12345678909", ""},
	{"cpf spaces", " 123 456 789 09 ", otpcode.KindCPF, "12345678909", ""},
	{"cpf other valid", "529.982.247-25", otpcode.KindCPF, "52998224725", ""},
	{"cpf check digit remainder below 2", "111.444.777-35", otpcode.KindCPF, "11144477735", ""},
	{"cpf first check digit wrong", "123.456.789-19", otpcode.KindCPF, "", reasonCPFCheckDigits},
	{"cpf second check digit wrong", "123.456.789-08", otpcode.KindCPF, "", reasonCPFCheckDigits},
	{"cpf digits swapped", "213.456.789-09", otpcode.KindCPF, "", reasonCPFCheckDigits},
	{"cpf all zeros", "000.000.000-00", otpcode.KindCPF, "", reasonCPFSameDigit},
	{"cpf all ones", "11111111111", otpcode.KindCPF, "", reasonCPFSameDigit},
	{"cpf all nines", "999.999.999-99", otpcode.KindCPF, "", reasonCPFSameDigit},
	{"cpf ten digits", "1234567890", otpcode.KindCPF, "", reasonCPFLength},
	{"cpf ten digits punctuated", "123.456.789-0", otpcode.KindCPF, "", reasonCPFLength},
	{"cpf twelve digits punctuated", "123.456.789-091", otpcode.KindCPF, "", reasonCPFLength},
	// Neither.
	{"empty", "", otpcode.KindUnknown, "", reasonEmpty},
	{"blank", " \t\r\n", otpcode.KindUnknown, "", reasonEmpty},
	{"word", "maria", otpcode.KindUnknown, "", reasonUnknown},
	{"digits and letters", "123.456.789-0X", otpcode.KindUnknown, "", reasonUnknown},
	{"separators only", "..--", otpcode.KindUnknown, "", reasonUnknown},
	{"plus inside", "55+11987654321", otpcode.KindUnknown, "", reasonUnknown},
	{"full-width digits", "１２３４５６７８９０９", otpcode.KindUnknown, "", reasonUnknown},
}

// longDomain returns a valid domain of 196+n bytes: three 63-byte labels,
// one of n bytes, and "com".
func longDomain(n int) string {
	return strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", n) + ".com"
}

// checkParse parses tt.in with p and checks the result against tt: the
// identifier and its fixed point, or the IdentifierError.
func checkParse(t *testing.T, p otpcode.Parser, tt identifierCase) {
	t.Helper()
	id, err := p.Parse(tt.in)
	if tt.reason != "" {
		require.Error(t, err, "got %+v, want an error", id)
		assert.Equal(t, otpcode.Identifier{}, id)
		assert.ErrorIs(t, err, otpcode.ErrInvalidIdentifier)
		var ie *otpcode.IdentifierError
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, tt.kind, ie.Kind, "got kind %v, want %v", ie.Kind, tt.kind)
		assert.Equal(t, tt.reason, ie.Reason, "got reason %q, want %q", ie.Reason, tt.reason)
		want := tt.reason == reasonAmbiguous
		got := errors.Is(err, otpcode.ErrAmbiguousIdentifier)
		assert.Equal(t, want, got, "got errors.Is(err, ErrAmbiguousIdentifier) %v, want %v", got, want)
		return
	}
	require.NoError(t, err)
	assert.Equal(t, tt.kind, id.Kind, "got kind %v, want %v", id.Kind, tt.kind)
	assert.Equal(t, tt.value, id.Value, "got %q, want %q", id.Value, tt.value)
	assert.Equal(t, tt.kind.String()+":"+tt.value, id.Subject())
	assert.Equal(t, tt.value, id.String())
	again, err := otpcode.Parser{Region: p.Region, Kind: id.Kind}.Parse(id.Value)
	require.NoError(t, err, "canonical %q rejected as a %v", id.Value, id.Kind)
	assert.Equal(t, id, again, "got %+v re-parsing the canonical form, want %+v", again, id)
}

func TestParse(t *testing.T) {
	for _, tt := range identifierCases {
		t.Run(tt.name, func(t *testing.T) {
			checkParse(t, otpcode.Parser{}, tt)
			// Without a region the zero Parser infers the kind and the
			// canonical form is its own fixed point, CPFs included.
			if tt.reason == "" {
				again, err := otpcode.Parser{}.Parse(tt.value)
				require.NoError(t, err)
				assert.Equal(t, tt.kind, again.Kind)
			}
		})
	}
}

// regionCases are parsed with Region "BR" and no Kind.
var regionCases = []identifierCase{
	// 11 bare digits: whichever is valid, or ambiguous when both are.
	{"bare mobile, not a CPF", "11987654321", otpcode.KindPhone, "+5511987654321", ""},
	{"bare mobile with spaces around", " 11987654321\n", otpcode.KindPhone, "+5511987654321", ""},
	{"bare CPF, not a phone", "52998224725", otpcode.KindCPF, "52998224725", ""},
	{"bare CPF, area code 12 landline length", "12345678909", otpcode.KindCPF, "12345678909", ""},
	{"bare digits, CPF and mobile", "11987650034", otpcode.KindUnknown, "", reasonAmbiguous},
	{"bare digits, CPF and trunk-prefixed landline", "01134567863", otpcode.KindUnknown, "", reasonAmbiguous},
	{"bare digits, neither", "12345678900", otpcode.KindUnknown, "", reasonPhoneOrCPF},
	{"bare digits, all the same", "11111111111", otpcode.KindUnknown, "", reasonPhoneOrCPF},
	// Other bare digits are phone numbers.
	{"bare landline", "1134567890", otpcode.KindPhone, "+551134567890", ""},
	{"bare with trunk prefix", "011987654321", otpcode.KindPhone, "+5511987654321", ""},
	{"bare with country code", "5511987654321", otpcode.KindPhone, "+5511987654321", ""},
	{"bare too short", "987654321", otpcode.KindPhone, "", reasonPhoneInvalid},
	{"bare very long", strings.Repeat("1", 100), otpcode.KindPhone, "", reasonPhoneInvalid},
	// Phone formatting.
	{"parentheses", "(11) 98765-4321", otpcode.KindPhone, "+5511987654321", ""},
	{"parentheses, no space", "(11)98765-4321", otpcode.KindPhone, "+5511987654321", ""},
	{"parentheses, CPF digits", "(11) 98765-0034", otpcode.KindPhone, "+5511987650034", ""},
	{"spaces and dash", "11 98765-4321", otpcode.KindPhone, "+5511987654321", ""},
	{"spaces and dash, CPF digits", "11 98765-0034", otpcode.KindPhone, "+5511987650034", ""},
	{"dashes", "11-98765-4321", otpcode.KindPhone, "+5511987654321", ""},
	{"landline with dash", "11 3456-7890", otpcode.KindPhone, "+551134567890", ""},
	{"trunk prefix with spaces", "0 11 98765-4321", otpcode.KindPhone, "+5511987654321", ""},
	{"international", "+55 11 98765-4321", otpcode.KindPhone, "+5511987654321", ""},
	{"international, CPF digits", "+55 11 98765-0034", otpcode.KindPhone, "+5511987650034", ""},
	{"international, other country", "+1 (650) 253-0000", otpcode.KindPhone, "+16502530000", ""},
	{"no area code", "98765-4321", otpcode.KindPhone, "", reasonPhoneInvalid},
	{"one digit short", "(11) 98765-432", otpcode.KindPhone, "", reasonPhoneInvalid},
	{"00 prefix", "00 55 11 98765 4321", otpcode.KindPhone, "", reasonPhoneInvalid},
	{"international invalid", "+55 11 98765-432", otpcode.KindPhone, "", reasonPhoneInvalid},
	// CPF formatting.
	{"cpf punctuated", "529.982.247-25", otpcode.KindCPF, "52998224725", ""},
	{"cpf punctuated, phone digits", "119.876.500-34", otpcode.KindCPF, "11987650034", ""},
	{"cpf in spaced groups, phone digits", "119 876 500 34", otpcode.KindCPF, "11987650034", ""},
	{"cpf 9 and 2, phone digits", "119876500-34", otpcode.KindCPF, "11987650034", ""},
	{"cpf dashed groups", "529-982-247-25", otpcode.KindCPF, "52998224725", ""},
	{"cpf check digits", "123.456.789-19", otpcode.KindCPF, "", reasonCPFCheckDigits},
	{"cpf check digits, phone digits", "119.876.543-21", otpcode.KindCPF, "", reasonCPFCheckDigits},
	{"cpf ten digits", "123.456.789-0", otpcode.KindCPF, "", reasonCPFLength},
	{"cpf all zeros", "000.000.000-00", otpcode.KindCPF, "", reasonCPFSameDigit},
	// Neither.
	{"email", "Maria@Example.COM", otpcode.KindEmail, "maria@example.com", ""},
	{"empty", "", otpcode.KindUnknown, "", reasonEmpty},
	{"letters", "11 98765-4321 ramal 2", otpcode.KindUnknown, "", reasonUnknown},
	{"plus inside", "55+11987654321", otpcode.KindUnknown, "", reasonUnknown},
	{"separators only", "(--)", otpcode.KindUnknown, "", reasonUnknown},
}

func TestParseRegion(t *testing.T) {
	for _, tt := range regionCases {
		t.Run(tt.name, func(t *testing.T) {
			checkParse(t, otpcode.Parser{Region: "BR"}, tt)
		})
	}
}

func TestParseOtherRegion(t *testing.T) {
	us := otpcode.Parser{Region: "US"}
	for _, tt := range []identifierCase{
		{"national", "(650) 253-0000", otpcode.KindPhone, "+16502530000", ""},
		{"national with 1", "1 650 253 0000", otpcode.KindPhone, "+16502530000", ""},
		{"international prefix", "011 55 11 98765 4321", otpcode.KindPhone, "+5511987654321", ""},
		{"cpf", "529.982.247-25", otpcode.KindCPF, "52998224725", ""},
		{"Brazilian digits", "11 98765-4321", otpcode.KindPhone, "", reasonPhoneInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) { checkParse(t, us, tt) })
	}
}

func TestParseKind(t *testing.T) {
	phone, email, cpf := otpcode.KindPhone, otpcode.KindEmail, otpcode.KindCPF
	tests := []struct {
		region string
		as     otpcode.Kind
		identifierCase
	}{
		// An ambiguous input is whatever the caller says it is.
		{"BR", phone, identifierCase{"ambiguous as phone", "11987650034", phone, "+5511987650034", ""}},
		{"BR", cpf, identifierCase{"ambiguous as cpf", "11987650034", cpf, "11987650034", ""}},
		{"BR", phone, identifierCase{"formatted as phone", "(11) 98765-4321", phone, "+5511987654321", ""}},
		{"BR", phone, identifierCase{"international as phone", "+5511987654321", phone, "+5511987654321", ""}},
		{"BR", phone, identifierCase{"cpf look as phone", "119.876.500-34", phone, "+5511987650034", ""}},
		{"BR", phone, identifierCase{"cpf as phone", "529.982.247-25", phone, "", reasonPhoneInvalid}},
		{"BR", phone, identifierCase{"email as phone", "maria@example.com", phone, "", reasonPhoneInvalid}},
		{"BR", phone, identifierCase{"empty as phone", " ", phone, "", reasonEmpty}},
		{"BR", cpf, identifierCase{"punctuated cpf", "529.982.247-25", cpf, "52998224725", ""}},
		{"BR", cpf, identifierCase{"phone look as cpf", "119 8765 0034", cpf, "11987650034", ""}},
		{"BR", cpf, identifierCase{"phone as cpf", "11987654321", cpf, "", reasonCPFCheckDigits}},
		{"BR", cpf, identifierCase{"parentheses as cpf", "(11) 98765-0034", cpf, "", reasonCPFFormat}},
		{"BR", cpf, identifierCase{"international as cpf", "+5511987650034", cpf, "", reasonCPFFormat}},
		{"BR", cpf, identifierCase{"email as cpf", "maria@example.com", cpf, "", reasonCPFFormat}},
		{"BR", cpf, identifierCase{"separators as cpf", "...", cpf, "", reasonCPFFormat}},
		{"BR", cpf, identifierCase{"ten digits as cpf", "1198765003", cpf, "", reasonCPFLength}},
		{"BR", email, identifierCase{"email", "Maria@Example.COM", email, "maria@example.com", ""}},
		{"BR", email, identifierCase{"digits as email", "11987654321", email, "", reasonEmailInvalid}},
		// Without a region a phone number needs its '+' all the same.
		{"", phone, identifierCase{"no region, national", "11987650034", phone, "", reasonPhoneNoPlus}},
		{"", phone, identifierCase{"no region, parentheses", "(11) 98765-4321", phone, "", reasonPhoneNoPlus}},
		{"", phone, identifierCase{"no region, international", "+55 11 98765-0034", phone, "+5511987650034", ""}},
		{"", phone, identifierCase{"no region, letters", "maria", phone, "", reasonPhoneInvalid}},
		{"", cpf, identifierCase{"no region, cpf", "11987650034", cpf, "11987650034", ""}},
		{"", cpf, identifierCase{"no region, cpf check digits", "11987654321", cpf, "", reasonCPFCheckDigits}},
		{"", email, identifierCase{"no region, email", "m@x.com", email, "m@x.com", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkParse(t, otpcode.Parser{Region: tt.region, Kind: tt.as}, tt.identifierCase)
		})
	}
}

func TestParseAmbiguous(t *testing.T) {
	_, err := otpcode.Parser{Region: "BR"}.Parse("11987650034")
	require.ErrorIs(t, err, otpcode.ErrAmbiguousIdentifier)
	assert.ErrorIs(t, err, otpcode.ErrInvalidIdentifier)
	assert.NotErrorIs(t, err, otpcode.ErrInvalidInput, "a Parser's error is not a request field's")
	var ie *otpcode.IdentifierError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, otpcode.KindUnknown, ie.Kind)
	assert.Equal(t, "otpcode: invalid identifier: identifier names both a CPF and a phone number", err.Error())

	// The sentinel is itself an invalid identifier.
	assert.ErrorIs(t, otpcode.ErrAmbiguousIdentifier, otpcode.ErrInvalidIdentifier)
	assert.NotErrorIs(t, otpcode.ErrInvalidIdentifier, otpcode.ErrAmbiguousIdentifier)

	// Without a region, the same digits are a CPF.
	id, err := otpcode.Parser{}.Parse("11987650034")
	require.NoError(t, err)
	assert.Equal(t, otpcode.Identifier{Kind: otpcode.KindCPF, Value: "11987650034"}, id)
}

// TestParseRegionOnlyAdds checks that a region changes nothing for the
// inputs the zero Parser reads as a phone number or an email address.
func TestParseRegionOnlyAdds(t *testing.T) {
	for _, tt := range identifierCases {
		if tt.reason != "" || tt.kind == otpcode.KindCPF {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			id, err := otpcode.Parser{Region: "BR"}.Parse(tt.in)
			require.NoError(t, err)
			assert.Equal(t, otpcode.Identifier{Kind: tt.kind, Value: tt.value}, id)
		})
	}
}

func TestParserMisconfigured(t *testing.T) {
	for name, p := range map[string]otpcode.Parser{
		"unknown region":    {Region: "ZZ"},
		"lower-case region": {Region: "br"},
		"alpha-3 region":    {Region: "BRA"},
		"non-geographic":    {Region: "001"},
		"unknown kind":      {Kind: otpcode.KindCPF + 1},
	} {
		t.Run(name, func(t *testing.T) {
			// Even a valid input is refused: the Parser is wrong, not it.
			_, err := p.Parse("+5511987654321")
			require.Error(t, err)
			assert.NotErrorIs(t, err, otpcode.ErrInvalidIdentifier)
			var ie *otpcode.IdentifierError
			assert.False(t, errors.As(err, &ie), "got an *IdentifierError, want a configuration error")
		})
	}
}

func TestParseKindNames(t *testing.T) {
	for _, k := range []otpcode.Kind{otpcode.KindPhone, otpcode.KindEmail, otpcode.KindCPF} {
		got, err := otpcode.ParseKind(k.String())
		require.NoError(t, err)
		assert.Equal(t, k, got, "got %v, want %v", got, k)
	}
	for _, name := range []string{"", "unknown", "Phone", "PHONE", " phone", "sms", "e-mail", "CPF"} {
		t.Run(name, func(t *testing.T) {
			k, err := otpcode.ParseKind(name)
			assert.Equal(t, otpcode.KindUnknown, k)
			require.ErrorIs(t, err, otpcode.ErrInvalidInput)
			var fe *otpcode.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "identifier_type", fe.Field)
			assert.Equal(t, "invalid_format", fe.Code)
			if name != "" {
				assert.NotContains(t, fe.Message, name)
			}
		})
	}
}

func TestParsePhoneCacheKeysByRegion(t *testing.T) {
	// The same digits are a landline in Brasília and a number in
	// Minneapolis; the cache must not hand one region's answer to another.
	br, err := otpcode.Parser{Region: "BR"}.Parse("6123456789")
	require.NoError(t, err)
	assert.Equal(t, "+556123456789", br.Value)
	us, err := otpcode.Parser{Region: "US"}.Parse("6123456789")
	require.NoError(t, err)
	assert.Equal(t, "+16123456789", us.Value)
	_, err = otpcode.Parser{}.Parse("6123456789")
	assert.ErrorIs(t, err, otpcode.ErrInvalidIdentifier, "no region: national digits are refused even when cached for a region")
}

func TestParseSubjects(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+55 (11) 98765-4321", "phone:+5511987654321"},
		{"Maria@Example.com", "email:maria@example.com"},
		{"123.456.789-09", "cpf:12345678909"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			id, err := otpcode.Parser{}.Parse(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, id.Subject(), "got %q, want %q", id.Subject(), tt.want)
		})
	}
}

func TestIdentifierErrorMessage(t *testing.T) {
	tests := []struct {
		err  *otpcode.IdentifierError
		want string
	}{
		{&otpcode.IdentifierError{Kind: otpcode.KindCPF, Reason: reasonCPFCheckDigits}, "otpcode: invalid cpf: CPF check digits do not match"},
		{&otpcode.IdentifierError{Kind: otpcode.KindUnknown, Reason: reasonEmpty}, "otpcode: invalid identifier: identifier is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.err.Error())
			assert.True(t, errors.Is(tt.err, otpcode.ErrInvalidIdentifier), "got errors.Is false, want true")
		})
	}
}

// TestParseDoesNotEchoInput feeds long or hostile inputs of each kind to
// parsers with and without a region and kind, and checks that the error
// says nothing of them.
func TestParseDoesNotEchoInput(t *testing.T) {
	secret := "SECRETSECRET"
	inputs := []string{
		strings.Repeat(secret, 1000),
		secret + "@" + strings.Repeat("x", 300) + ".com",
		secret + "@x.com\r\nBcc: y@z.com",
		"+55 " + secret,
		"(11) " + secret,
		"Maria " + secret + " <m@x.com>",
		"+" + strings.Repeat("1", 10000),
		strings.Repeat("1", 10000),
		strings.Repeat("1.", 10000),
	}
	for _, p := range fuzzParsers {
		for i, in := range inputs {
			t.Run(fmt.Sprintf("%s/%v/%d", p.Region, p.Kind, i), func(t *testing.T) {
				_, err := p.Parse(in)
				require.Error(t, err)
				assert.NotContains(t, err.Error(), secret)
				assert.Less(t, len(err.Error()), 120, "got a %d-byte error, want a short fixed sentence", len(err.Error()))
			})
		}
	}
}

// fuzzParsers are the parsers FuzzParse checks.
var fuzzParsers = []otpcode.Parser{
	{},
	{Region: "BR"},
	{Region: "US"},
	{Region: "BR", Kind: otpcode.KindPhone},
	{Region: "BR", Kind: otpcode.KindEmail},
	{Region: "BR", Kind: otpcode.KindCPF},
	{Kind: otpcode.KindPhone},
}

func FuzzParse(f *testing.F) {
	for _, cases := range [][]identifierCase{identifierCases, regionCases} {
		for _, tt := range cases {
			f.Add(tt.in)
		}
	}
	for _, s := range []string{
		"+39 06 6988 0000", "+44 7911 123456", "+49 30 901820", "+61 2 9876 5432",
		"+7 495 123 45 67", "+86 10 1234 5678", "+225 01 23 45 67 89", "+599 9 123 4567",
		"+55 0 11 98765-4321", "+352 12 34", "+1 242 357 1234", "+800 1234 5678",
		"a.b-c_d+e@sub-1.example.co.uk", "m@x.com.", "m.@x.com", ".m@x.com", "m..x@x.com",
		"m@[127.0.0.1]", "m@x.com (comment)", "=?utf-8?q?m?=@x.com",
		"(11) 9.8765-4321", "0xx11 98765-4321", "0015 11 98765 4321", "(650) 253-0000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range fuzzParsers {
			id, err := p.Parse(s)
			if err != nil {
				if !errors.Is(err, otpcode.ErrInvalidIdentifier) {
					t.Fatalf("%+v.Parse(%q): got %v, want an error wrapping ErrInvalidIdentifier", p, s, err)
				}
				var ie *otpcode.IdentifierError
				if !errors.As(err, &ie) {
					t.Fatalf("%+v.Parse(%q): got %T, want *IdentifierError", p, s, err)
				}
				if !allReasons[ie.Reason] {
					t.Fatalf("%+v.Parse(%q): got reason %q, want one of the fixed reasons", p, s, ie.Reason)
				}
				if id != (otpcode.Identifier{}) {
					t.Fatalf("%+v.Parse(%q): got %+v with an error, want the zero Identifier", p, s, id)
				}
				if errors.Is(err, otpcode.ErrAmbiguousIdentifier) {
					checkAmbiguous(t, p, s)
				}
				continue
			}
			switch id.Kind {
			case otpcode.KindPhone, otpcode.KindEmail, otpcode.KindCPF:
			default:
				t.Fatalf("%+v.Parse(%q): got kind %v, want phone, email or cpf", p, s, id.Kind)
			}
			if p.Kind != otpcode.KindUnknown && id.Kind != p.Kind {
				t.Fatalf("%+v.Parse(%q): got kind %v, want %v", p, s, id.Kind, p.Kind)
			}
			if id.Value == "" || strings.TrimSpace(id.Value) != id.Value || !utf8.ValidString(id.Value) {
				t.Fatalf("%+v.Parse(%q): got value %q, want a trimmed non-empty UTF-8 value", p, s, id.Value)
			}
			again, err := otpcode.Parser{Region: p.Region, Kind: id.Kind}.Parse(id.Value)
			if err != nil {
				t.Fatalf("%+v.Parse(%q) = %+v, but its value is rejected: %v", p, s, id, err)
			}
			if again != id {
				t.Fatalf("%+v.Parse(%q) = %+v, but its value parses to %+v", p, s, id, again)
			}
		}
	})
}

// checkAmbiguous checks that p, which found s ambiguous, has a region and
// no kind, that s is 11 bare digits, and that s is both a CPF and a phone
// number when the kind is given.
func checkAmbiguous(t *testing.T, p otpcode.Parser, s string) {
	t.Helper()
	if p.Region == "" || p.Kind != otpcode.KindUnknown {
		t.Fatalf("%+v.Parse(%q): got ambiguous, want ambiguity only with a region and no kind", p, s)
	}
	if d := strings.TrimSpace(s); len(d) != 11 || strings.Trim(d, "0123456789") != "" {
		t.Fatalf("%+v.Parse(%q): got ambiguous, want ambiguity only for 11 bare digits", p, s)
	}
	for _, k := range []otpcode.Kind{otpcode.KindPhone, otpcode.KindCPF} {
		if _, err := (otpcode.Parser{Region: p.Region, Kind: k}).Parse(s); err != nil {
			t.Fatalf("%+v.Parse(%q): got ambiguous, but as a %v: %v", p, s, k, err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    otpcode.Parser
		in   string
	}{
		{"phone", otpcode.Parser{}, "+55 (11) 98765-4321"},
		{"email", otpcode.Parser{}, "Maria.Silva@Example.COM"},
		{"cpf", otpcode.Parser{}, "123.456.789-09"},
		{"region/phone", otpcode.Parser{Region: "BR"}, "(11) 98765-4321"},
		{"region/bare-phone", otpcode.Parser{Region: "BR"}, "11987654321"},
		{"region/cpf", otpcode.Parser{Region: "BR"}, "123.456.789-09"},
		// 11 bare digits that are a CPF are also tried as a phone number;
		// the cache keeps that they are not one.
		{"region/bare-cpf", otpcode.Parser{Region: "BR"}, "12345678909"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.p.Parse(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func ExampleParser() {
	for _, s := range []string{
		"+55 (11) 98765-4321",
		"Maria.Silva@Example.COM",
		"123.456.789-09",
		"123.456.789-19",
		"11 98765-4321",
	} {
		id, err := otpcode.Parser{}.Parse(s)
		if err != nil {
			var ie *otpcode.IdentifierError
			if errors.As(err, &ie) {
				fmt.Printf("%-25q rejected (%v): %s\n", s, ie.Kind, ie.Reason)
			}
			continue
		}
		fmt.Printf("%-25q %-5v %s\n", s, id.Kind, id.Subject())
	}
	// Output:
	// "+55 (11) 98765-4321"     phone phone:+5511987654321
	// "Maria.Silva@Example.COM" email email:maria.silva@example.com
	// "123.456.789-09"          cpf   cpf:12345678909
	// "123.456.789-19"          rejected (cpf): CPF check digits do not match
	// "11 98765-4321"           rejected (cpf): CPF check digits do not match
}

// With a region, national phone formats are read too. Bare digits that are
// both a CPF and a phone number need their kind.
func ExampleParser_region() {
	br := otpcode.Parser{Region: "BR"}
	for _, s := range []string{
		"(11) 98765-4321",
		"11987654321",
		"529.982.247-25",
		"52998224725",
		"11987650034",
	} {
		id, err := br.Parse(s)
		switch {
		case errors.Is(err, otpcode.ErrAmbiguousIdentifier):
			fmt.Printf("%-17q ambiguous\n", s)
		case err != nil:
			fmt.Printf("%-17q %v\n", s, err)
		default:
			fmt.Printf("%-17q %s\n", s, id.Subject())
		}
	}
	asPhone := otpcode.Parser{Region: "BR", Kind: otpcode.KindPhone}
	id, _ := asPhone.Parse("11987650034")
	fmt.Printf("%-17q %s (as a phone)\n", "11987650034", id.Subject())
	// Output:
	// "(11) 98765-4321" phone:+5511987654321
	// "11987654321"     phone:+5511987654321
	// "529.982.247-25"  cpf:52998224725
	// "52998224725"     cpf:52998224725
	// "11987650034"     ambiguous
	// "11987650034"     phone:+5511987650034 (as a phone)
}

func TestParsePhoneCacheKeepsResults(t *testing.T) {
	// The second parse of each input comes from the cache and must agree
	// with the first, for acceptances and rejections alike.
	for _, p := range []otpcode.Parser{{}, {Region: "BR"}} {
		for _, in := range []string{"+55 11 98765-4321", "+5511987654321", "+1 (415) 555-2671"} {
			first, err := p.Parse(in)
			require.NoError(t, err)
			second, err := p.Parse(in)
			require.NoError(t, err)
			assert.Equal(t, first, second, in)
		}
		for i := 0; i < 2; i++ {
			_, err := p.Parse("+55 11 0000-0000")
			assert.ErrorIs(t, err, otpcode.ErrInvalidIdentifier, "attempt %d", i)
		}
	}
}
