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

// The fixed reasons ParseIdentifier gives.
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
)

var allReasons = map[string]bool{
	reasonEmpty: true, reasonUnknown: true, reasonPhoneNoPlus: true, reasonPhoneInvalid: true,
	reasonEmailInvalid: true, reasonEmailControl: true, reasonEmailASCII: true, reasonEmailTooLong: true,
	reasonEmailLocalLong: true, reasonEmailName: true, reasonEmailNotBare: true, reasonEmailDomain: true,
	reasonCPFLength: true, reasonCPFCheckDigits: true, reasonCPFSameDigit: true,
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

func TestParseIdentifier(t *testing.T) {
	for _, tt := range identifierCases {
		t.Run(tt.name, func(t *testing.T) {
			id, err := otpcode.ParseIdentifier(tt.in)
			if tt.reason != "" {
				require.Error(t, err, "got %+v, want an error", id)
				assert.Equal(t, otpcode.Identifier{}, id)
				assert.ErrorIs(t, err, otpcode.ErrInvalidIdentifier)
				var ie *otpcode.IdentifierError
				require.ErrorAs(t, err, &ie)
				assert.Equal(t, tt.kind, ie.Kind, "got kind %v, want %v", ie.Kind, tt.kind)
				assert.Equal(t, tt.reason, ie.Reason, "got reason %q, want %q", ie.Reason, tt.reason)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.kind, id.Kind, "got kind %v, want %v", id.Kind, tt.kind)
			assert.Equal(t, tt.value, id.Value, "got %q, want %q", id.Value, tt.value)
			assert.Equal(t, tt.kind.String()+":"+tt.value, id.Subject())
			assert.Equal(t, tt.value, id.String())
			again, err := otpcode.ParseIdentifier(id.Value)
			require.NoError(t, err, "canonical %q rejected", id.Value)
			assert.Equal(t, id, again, "got %+v re-parsing the canonical form, want %+v", again, id)
		})
	}
}

func TestParseIdentifierSubjects(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+55 (11) 98765-4321", "phone:+5511987654321"},
		{"Maria@Example.com", "email:maria@example.com"},
		{"123.456.789-09", "cpf:12345678909"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			id, err := otpcode.ParseIdentifier(tt.in)
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

// TestParseIdentifierDoesNotEchoInput feeds long or hostile inputs of each
// kind and checks that the error says nothing of them.
func TestParseIdentifierDoesNotEchoInput(t *testing.T) {
	secret := "SECRETSECRET"
	inputs := []string{
		strings.Repeat(secret, 1000),
		secret + "@" + strings.Repeat("x", 300) + ".com",
		secret + "@x.com\r\nBcc: y@z.com",
		"+55 " + secret,
		"Maria " + secret + " <m@x.com>",
		"+" + strings.Repeat("1", 10000),
		strings.Repeat("1.", 10000),
	}
	for i, in := range inputs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			_, err := otpcode.ParseIdentifier(in)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), secret)
			assert.Less(t, len(err.Error()), 120, "got a %d-byte error, want a short fixed sentence", len(err.Error()))
		})
	}
}

func FuzzParseIdentifier(f *testing.F) {
	for _, tt := range identifierCases {
		f.Add(tt.in)
	}
	for _, s := range []string{
		"+39 06 6988 0000", "+44 7911 123456", "+49 30 901820", "+61 2 9876 5432",
		"+7 495 123 45 67", "+86 10 1234 5678", "+225 01 23 45 67 89", "+599 9 123 4567",
		"+55 0 11 98765-4321", "+352 12 34", "+1 242 357 1234", "+800 1234 5678",
		"a.b-c_d+e@sub-1.example.co.uk", "m@x.com.", "m.@x.com", ".m@x.com", "m..x@x.com",
		"m@[127.0.0.1]", "m@x.com (comment)", "=?utf-8?q?m?=@x.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := otpcode.ParseIdentifier(s)
		if err != nil {
			if !errors.Is(err, otpcode.ErrInvalidIdentifier) {
				t.Fatalf("ParseIdentifier(%q): got %v, want an error wrapping ErrInvalidIdentifier", s, err)
			}
			var ie *otpcode.IdentifierError
			if !errors.As(err, &ie) {
				t.Fatalf("ParseIdentifier(%q): got %T, want *IdentifierError", s, err)
			}
			if !allReasons[ie.Reason] {
				t.Fatalf("ParseIdentifier(%q): got reason %q, want one of the fixed reasons", s, ie.Reason)
			}
			if id != (otpcode.Identifier{}) {
				t.Fatalf("ParseIdentifier(%q): got %+v with an error, want the zero Identifier", s, id)
			}
			return
		}
		switch id.Kind {
		case otpcode.KindPhone, otpcode.KindEmail, otpcode.KindCPF:
		default:
			t.Fatalf("ParseIdentifier(%q): got kind %v, want phone, email or cpf", s, id.Kind)
		}
		if id.Value == "" || strings.TrimSpace(id.Value) != id.Value || !utf8.ValidString(id.Value) {
			t.Fatalf("ParseIdentifier(%q): got value %q, want a trimmed non-empty UTF-8 value", s, id.Value)
		}
		again, err := otpcode.ParseIdentifier(id.Value)
		if err != nil {
			t.Fatalf("ParseIdentifier(%q) = %+v, but its value is rejected: %v", s, id, err)
		}
		if again != id {
			t.Fatalf("ParseIdentifier(%q) = %+v, but its value parses to %+v", s, id, again)
		}
	})
}

func BenchmarkParseIdentifier(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"phone", "+55 (11) 98765-4321"},
		{"email", "Maria.Silva@Example.COM"},
		{"cpf", "123.456.789-09"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := otpcode.ParseIdentifier(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func ExampleParseIdentifier() {
	for _, s := range []string{
		"+55 (11) 98765-4321",
		"Maria.Silva@Example.COM",
		"123.456.789-09",
		"123.456.789-19",
		"11 98765-4321",
	} {
		id, err := otpcode.ParseIdentifier(s)
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

func TestParsePhoneCacheKeepsResults(t *testing.T) {
	// The second parse of each input comes from the cache and must agree
	// with the first; rejections are never cached.
	for _, in := range []string{"+55 11 98765-4321", "+5511987654321", "+1 (415) 555-2671"} {
		first, err := otpcode.ParseIdentifier(in)
		require.NoError(t, err)
		second, err := otpcode.ParseIdentifier(in)
		require.NoError(t, err)
		assert.Equal(t, first, second, in)
	}
	for i := 0; i < 2; i++ {
		_, err := otpcode.ParseIdentifier("+55 11 0000-0000")
		assert.ErrorIs(t, err, otpcode.ErrInvalidIdentifier, "attempt %d", i)
	}
}
