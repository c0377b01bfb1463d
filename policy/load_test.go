package policy_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/policy"
)

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr error
		pos     string // "line:column", or "" when the problem has no single place
		path    string
		msg     []string
	}{
		{name: "unknown level", wantErr: policy.ErrUnknownTrustLevel,
			in:  "{\n  \"integrations\": {\n    \"goomer\": {\"level\": \"ultra\"}\n  }\n}\n",
			pos: "3:25", path: "integrations.goomer.level", msg: []string{`unknown trust level "ultra"`, "strict, relaxed or trusted"}},
		{name: "unknown default level", wantErr: policy.ErrUnknownTrustLevel,
			in: `{"default": "paranoid"}`, pos: "1:13", path: "default", msg: []string{`"paranoid"`}},
		{name: "empty default level", wantErr: policy.ErrMissingLevel,
			in: `{"default": ""}`, pos: "1:13", path: "default", msg: []string{"missing trust level: empty"}},
		{name: "unknown top-level field", wantErr: policy.ErrUnknownField,
			in: `{"default": "strict", "defualt": "x"}`, pos: "1:23", path: "defualt", msg: []string{"unknown field", "want default or integrations"}},
		{name: "unknown integration field", wantErr: policy.ErrUnknownField,
			in:  "{\"integrations\": {\n  \"goomer\": {\"level\": \"relaxed\", \"require_otp_for_enrolment\": true}\n}}",
			pos: "2:34", path: "integrations.goomer.require_otp_for_enrolment", msg: []string{"unknown field", "require_otp_for_enrollment"}},
		{name: "trusted level with a require flag", wantErr: policy.ErrContradictoryPolicy,
			in:  "{\"integrations\": {\n  \"repediu\": {\"level\": \"trusted\", \"require_otp_for_enrollment\": true}\n}}",
			pos: "2:14", path: "integrations.repediu",
			msg: []string{`integration "repediu"`, "contradictory policy", "trust_partner_validation", "require_otp_for_enrollment"}},
		{name: "relaxed level with trust", wantErr: policy.ErrContradictoryPolicy,
			in:  `{"integrations": {"saipos": {"level": "relaxed", "trust_partner_validation": true}}}`,
			pos: "1:29", path: "integrations.saipos",
			msg: []string{`integration "saipos"`, "trust_partner_validation", "require_otp_for_redemption, require_otp_for_coupon_usage"}},
		{name: "level is a number", wantErr: policy.ErrWrongType,
			in: `{"integrations": {"goomer": {"level": 2}}}`, pos: "1:39", path: "integrations.goomer.level", msg: []string{"got number, want string"}},
		{name: "flag is a string", wantErr: policy.ErrWrongType,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "require_otp_for_enrollment": "yes"}}}`,
			pos: "1:80", path: "integrations.goomer.require_otp_for_enrollment", msg: []string{"got string, want true or false"}},
		{name: "flag is null", wantErr: policy.ErrWrongType,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "trust_partner_validation": null}}}`,
			pos: "1:78", path: "integrations.goomer.trust_partner_validation", msg: []string{"got null, want true or false"}},
		{name: "name is a number", wantErr: policy.ErrWrongType,
			in: `{"integrations": {"goomer": {"name": 7, "level": "relaxed"}}}`, pos: "1:38", path: "integrations.goomer.name", msg: []string{"got number, want string"}},
		{name: "default is a number", wantErr: policy.ErrWrongType,
			in: `{"default": 1}`, pos: "1:13", path: "default", msg: []string{"got number, want string"}},
		{name: "integrations is an array", wantErr: policy.ErrWrongType,
			in: `{"integrations": []}`, pos: "1:18", path: "integrations", msg: []string{"got array, want object"}},
		{name: "integration is a string", wantErr: policy.ErrWrongType,
			in: `{"integrations": {"goomer": "relaxed"}}`, pos: "1:29", path: "integrations.goomer", msg: []string{"got string, want object"}},
		{name: "top level is an array", wantErr: policy.ErrWrongType,
			in: "[]", pos: "1:1", msg: []string{"got array, want object"}},
		{name: "empty integration ID", wantErr: policy.ErrEmptyIntegrationID,
			in: `{"integrations": {"": {"level": "strict"}}}`, pos: "1:19", path: `integrations[""]`, msg: []string{"empty integration ID"}},
		{name: "blank integration ID", wantErr: policy.ErrEmptyIntegrationID,
			in: `{"integrations": {"  ": {"level": "strict"}}}`, pos: "1:19", path: `integrations["  "]`, msg: []string{"empty integration ID"}},
		{name: "missing level", wantErr: policy.ErrMissingLevel,
			in: `{"integrations": {"goomer": {"name": "Goomer"}}}`, pos: "1:29", path: "integrations.goomer.level", msg: []string{"missing trust level"}},
		{name: "empty level", wantErr: policy.ErrMissingLevel,
			in: `{"integrations": {"goomer": {"level": ""}}}`, pos: "1:39", path: "integrations.goomer.level", msg: []string{"missing trust level: empty"}},
		{name: "trailing object", wantErr: policy.ErrTrailingData,
			in: "{\"default\": \"strict\"}\n{\"default\": \"relaxed\"}\n", pos: "2:1", msg: []string{"trailing data"}},
		{name: "trailing bracket", wantErr: policy.ErrTrailingData,
			in: "{} ]", pos: "1:4", msg: []string{"trailing data"}},
		{name: "empty file", wantErr: policy.ErrEmptyFile, in: "", msg: []string{"empty policy file"}},
		{name: "blank file", wantErr: policy.ErrEmptyFile, in: " \n\t\n", msg: []string{"empty policy file"}},
		{name: "trailing comma", wantErr: policy.ErrSyntax,
			in: `{"default": "strict",}`, pos: "1:22", msg: []string{"invalid JSON", "invalid character '}'"}},
		{name: "missing comma", wantErr: policy.ErrSyntax,
			in: "{\n  \"default\": \"strict\"\n  \"integrations\": {}\n}", pos: "3:3", msg: []string{"invalid JSON", `invalid character '"'`}},
		{name: "bad literal", wantErr: policy.ErrSyntax,
			in: `{"integrations": {"goomer": {"level": "relaxed", "trust_partner_validation": tru}}}`, pos: "1:81", path: "integrations.goomer.trust_partner_validation",
			msg: []string{"invalid JSON", "literal true"}},
		{name: "unterminated", wantErr: policy.ErrSyntax,
			in: `{"default": "strict"`, pos: "1:21", msg: []string{"unexpected end of file"}},
		{name: "duplicate integration", wantErr: policy.ErrDuplicateIntegration,
			in: `{"integrations": {"goomer": {"level": "relaxed"}, "goomer": {"level": "strict"}}}`, pos: "1:51", path: "integrations.goomer",
			msg: []string{`duplicate integration "goomer"`}},
		{name: "duplicate integration field", wantErr: policy.ErrDuplicateField,
			in: `{"integrations": {"goomer": {"level": "relaxed", "level": "strict"}}}`, pos: "1:50", path: "integrations.goomer.level",
			msg: []string{"duplicate field"}},
		{name: "duplicate top-level field", wantErr: policy.ErrDuplicateField,
			in: `{"default": "strict", "default": "relaxed"}`, pos: "1:23", path: "default", msg: []string{"duplicate field"}},
		{name: "ID that needs quoting", wantErr: policy.ErrWrongType,
			in: `{"integrations": {"a.b": {"level": 3}}}`, pos: "1:36", path: `integrations["a.b"].level`, msg: []string{"got number"}},
		{name: "columns count characters", wantErr: policy.ErrUnknownTrustLevel,
			in: `{"integrations": {"café": {"level": "x"}}}`, pos: "1:37", path: `integrations["café"].level`, msg: []string{`"x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := policy.Load(strings.NewReader(tc.in), "f.json")
			require.Error(t, err)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, tc.wantErr)

			var le *policy.LoadError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, "f.json", le.File)
			assert.Equal(t, tc.path, le.Path, "got path %q, want %q", le.Path, tc.path)

			msg := err.Error()
			place := "policy: f.json: "
			if tc.pos != "" {
				place = "policy: f.json:" + tc.pos + ": "
			}
			if tc.path != "" {
				place += tc.path + ": "
			}
			assert.True(t, strings.HasPrefix(msg, place), "got %q, want it to start with %q", msg, place)
			for _, m := range tc.msg {
				assert.Contains(t, msg, m)
			}
		})
	}
}

func TestLoadTooLarge(t *testing.T) {
	in := strings.Repeat(" ", policy.MaxFileSize) + "{}"
	_, err := policy.Load(strings.NewReader(in), "big.json")
	require.ErrorIs(t, err, policy.ErrFileTooLarge)
	assert.Contains(t, err.Error(), "big.json")
}

func TestLoadReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := policy.Load(iotest.ErrReader(boom), "f.json")
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "f.json")
	var le *policy.LoadError
	assert.False(t, errors.As(err, &le), "a read error is not a problem in the file")
}

func TestLoadFileErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.json")
	_, err := policy.LoadFile(missing)
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), missing)

	bad := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte("{\n  \"default\": \"lenient\"\n}\n"), 0o600))
	_, err = policy.LoadFile(bad)
	require.ErrorIs(t, err, policy.ErrUnknownTrustLevel)
	assert.Contains(t, err.Error(), bad+":2:14: default: ")
}

func TestLoad(t *testing.T) {
	in := `{
	  "default": "relaxed",
	  "integrations": {
	    "repediu": {"name": "Repediu", "level": "trusted"},
	    "goomer":  {"name": "Goomer", "level": "relaxed", "require_otp_for_enrollment": true},
	    "kiosk":   {"level": "trusted", "trust_partner_validation": false},
	    "pos":     {"level": "Strict", "require_otp_for_enrollment": false, "name": ""}
	  }
	}`
	s, err := policy.Load(strings.NewReader(in), "f.json")
	require.NoError(t, err)
	assert.Equal(t, []string{"goomer", "kiosk", "pos", "repediu"}, s.Integrations())

	tests := []struct {
		id         string
		want       policy.Integration
		overridden bool
	}{
		{"repediu", policy.Integration{ID: "repediu", Name: "Repediu", Level: policy.Trusted,
			Policy: policy.Policy{TrustPartnerValidation: true}}, false},
		{"goomer", policy.Integration{ID: "goomer", Name: "Goomer", Level: policy.Relaxed,
			Policy: policy.Policy{RequireOTPForEnrollment: true, RequireOTPForRedemption: true, RequireOTPForCouponUsage: true}}, true},
		{"kiosk", policy.Integration{ID: "kiosk", Name: "kiosk", Level: policy.Trusted,
			Policy: policy.Policy{}}, true},
		{"pos", policy.Integration{ID: "pos", Name: "pos", Level: policy.Strict,
			Policy: policy.Policy{RequireOTPForRedemption: true, RequireOTPForCouponUsage: true}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			in, ok := s.Integration(tc.id)
			require.True(t, ok)
			assert.Equal(t, tc.want, in, "got %+v, want %+v", in, tc.want)
			assert.Equal(t, tc.overridden, in.Overridden())
			p, err := s.Policy(context.Background(), tc.id)
			require.NoError(t, err)
			assert.Equal(t, tc.want.Policy, p)
		})
	}

	p, err := s.Policy(context.Background(), "stranger")
	require.NoError(t, err)
	assert.Equal(t, preset(t, policy.Relaxed), p, "unknown integrations get the file's default")
	assert.Equal(t, policy.Relaxed, s.Default().Level)
}

func TestLoadDefaultsToStrict(t *testing.T) {
	for _, in := range []string{`{}`, `{"integrations": {}}`} {
		t.Run(in, func(t *testing.T) {
			s, err := policy.Load(strings.NewReader(in), "f.json")
			require.NoError(t, err)
			p, err := s.Policy(context.Background(), "anyone")
			require.NoError(t, err)
			assert.Equal(t, preset(t, policy.Strict), p, "got %+v, want strict", p)
			assert.Empty(t, s.Integrations())
		})
	}
}

// TestExamplePolicyFile pins example/loyalty/policies.json to the seed's partners.
func TestExamplePolicyFile(t *testing.T) {
	s, err := policy.LoadFile(filepath.Join("..", "example", "loyalty", "policies.json"))
	require.NoError(t, err)
	assert.Equal(t, []string{"goomer", "repediu", "saipos"}, s.Integrations())
	assert.Equal(t, policy.Strict, s.Default().Level)
	assert.False(t, s.Default().Overridden())

	tests := []struct {
		id, name string
		level    policy.TrustLevel
	}{
		{"repediu", "Repediu", policy.Trusted},
		{"goomer", "Goomer", policy.Relaxed},
		{"saipos", "Saipos", policy.Relaxed},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			in, ok := s.Integration(tc.id)
			require.True(t, ok)
			assert.Equal(t, tc.name, in.Name)
			assert.Equal(t, tc.level, in.Level, "got %s, want %s", in.Level, tc.level)
			assert.Equal(t, preset(t, tc.level), in.Policy, "the seed's partners use plain presets")
		})
	}
}
