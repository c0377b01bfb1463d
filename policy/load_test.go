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
	"time"

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

		// single_use and max_age on an integration.
		{name: "single_use is a string", wantErr: policy.ErrWrongType,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "single_use": "redeem_reward"}}}`,
			pos: "1:64", path: "integrations.goomer.single_use", msg: []string{"got string, want array of action names"}},
		{name: "single_use holds a number", wantErr: policy.ErrWrongType,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "single_use": [1]}}}`,
			pos: "1:65", path: "integrations.goomer.single_use[0]", msg: []string{"got number, want string"}},
		{name: "single_use names an unknown action", wantErr: policy.ErrUnknownAction,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "single_use": ["redeem_reward", "redeem_rewards"]}}}`,
			pos: "1:82", path: "integrations.goomer.single_use[1]", msg: []string{`unknown action "redeem_rewards"`, "not in the catalogue"}},
		{name: "single_use names an action twice", wantErr: policy.ErrDuplicateAction,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "single_use": ["use_coupon", "redeem_reward", "use_coupon"]}}}`,
			pos: "1:96", path: "integrations.goomer.single_use[2]", msg: []string{`duplicate action "use_coupon"`}},
		{name: "single_use names a never action", wantErr: policy.ErrNeverRequired,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "single_use": ["view_balance"]}}}`,
			pos: "1:65", path: "integrations.goomer.single_use[0]", msg: []string{"never requires OTP", `"view_balance"`}},
		{name: "single_use on several lines", wantErr: policy.ErrUnknownAction,
			in:  "{\"integrations\": {\"goomer\": {\n  \"level\": \"relaxed\",\n  \"single_use\": [\n    \"redeem_reward\",\n    \"burn_points\"\n  ]\n}}}",
			pos: "5:5", path: "integrations.goomer.single_use[1]", msg: []string{`"burn_points"`}},
		{name: "max_age is an array", wantErr: policy.ErrWrongType,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "max_age": ["5m"]}}}`,
			pos: "1:61", path: "integrations.goomer.max_age", msg: []string{"got array, want object"}},
		{name: "max_age is a number of seconds", wantErr: policy.ErrWrongType,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "max_age": {"redeem_reward": 300}}}}`,
			pos: "1:79", path: "integrations.goomer.max_age.redeem_reward", msg: []string{`got number, want a duration string such as "5m"`}},
		{name: "max_age does not parse", wantErr: policy.ErrInvalidMaxAge,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "max_age": {"redeem_reward": "5 minutes"}}}}`,
			pos: "1:79", path: "integrations.goomer.max_age.redeem_reward", msg: []string{`invalid max age: "5 minutes" is not a duration`}},
		{name: "max_age is zero", wantErr: policy.ErrInvalidMaxAge,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "max_age": {"redeem_reward": "0s"}}}}`,
			pos: "1:79", path: "integrations.goomer.max_age.redeem_reward", msg: []string{`invalid max age: "0s" is not positive`}},
		{name: "max_age is negative", wantErr: policy.ErrInvalidMaxAge,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "max_age": {"redeem_reward": "-5m"}}}}`,
			pos: "1:79", path: "integrations.goomer.max_age.redeem_reward", msg: []string{`"-5m" is not positive`}},
		{name: "max_age names an unknown action", wantErr: policy.ErrUnknownAction,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "max_age": {"redeem_rewards": "5m"}}}}`,
			pos: "1:62", path: "integrations.goomer.max_age.redeem_rewards", msg: []string{`unknown action "redeem_rewards"`}},
		{name: "max_age names an action twice", wantErr: policy.ErrDuplicateField,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "max_age": {"redeem_reward": "5m", "redeem_reward": "1m"}}}}`,
			pos: "1:85", path: "integrations.goomer.max_age.redeem_reward", msg: []string{"duplicate field"}},
		{name: "max_age names a never action", wantErr: policy.ErrNeverRequired,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "max_age": {"search_customers": "5m"}}}}`,
			pos: "1:62", path: "integrations.goomer.max_age.search_customers", msg: []string{`"search_customers" is bound to never`}},
		{name: "single_use given twice", wantErr: policy.ErrDuplicateField,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "single_use": [], "single_use": []}}}`,
			pos: "1:68", path: "integrations.goomer.single_use", msg: []string{"duplicate field"}},
		{name: "unknown field lists the session settings", wantErr: policy.ErrUnknownField,
			in:  `{"integrations": {"goomer": {"level": "relaxed", "single_uses": []}}}`,
			pos: "1:50", path: "integrations.goomer.single_uses", msg: []string{"unknown field", "single_use or max_age"}},

		// "default" as an object.
		{name: "default is an array", wantErr: policy.ErrWrongType,
			in: `{"default": ["strict"]}`, pos: "1:13", path: "default", msg: []string{"got array, want string or object"}},
		{name: "default object without level", wantErr: policy.ErrMissingLevel,
			in: `{"default": {"single_use": []}}`, pos: "1:13", path: "default.level", msg: []string{"missing trust level"}},
		{name: "default object with unknown level", wantErr: policy.ErrUnknownTrustLevel,
			in: `{"default": {"level": "lax"}}`, pos: "1:23", path: "default.level", msg: []string{`"lax"`}},
		{name: "default object with a name", wantErr: policy.ErrUnknownField,
			in: `{"default": {"level": "strict", "name": "Fallback"}}`, pos: "1:33", path: "default.name",
			msg: []string{"unknown field", "(want level, require_otp_for_enrollment"}},
		{name: "default object with an unknown field", wantErr: policy.ErrUnknownField,
			in: `{"default": {"level": "strict", "singel_use": []}}`, pos: "1:33", path: "default.singel_use", msg: []string{"unknown field", "single_use or max_age"}},
		{name: "default object contradictory", wantErr: policy.ErrContradictoryPolicy,
			in: `{"default": {"level": "trusted", "require_otp_for_redemption": true}}`, pos: "1:13", path: "default",
			msg: []string{"default policy: contradictory policy", "require_otp_for_redemption"}},
		{name: "default single_use is a string", wantErr: policy.ErrWrongType,
			in: `{"default": {"level": "strict", "single_use": "redeem_reward"}}`, pos: "1:47", path: "default.single_use", msg: []string{"want array"}},
		{name: "default single_use names an action twice", wantErr: policy.ErrDuplicateAction,
			in: `{"default": {"level": "strict", "single_use": ["redeem_reward", "redeem_reward"]}}`, pos: "1:65", path: "default.single_use[1]",
			msg: []string{`duplicate action "redeem_reward"`}},
		{name: "default single_use names a host action without its catalogue", wantErr: policy.ErrUnknownAction,
			in: `{"default": {"level": "strict", "single_use": ["transfer_points"]}}`, pos: "1:48", path: "default.single_use[0]",
			msg: []string{`unknown action "transfer_points"`}},
		{name: "default max_age does not parse", wantErr: policy.ErrInvalidMaxAge,
			in: `{"default": {"level": "strict", "max_age": {"use_coupon": "soon"}}}`, pos: "1:59", path: "default.max_age.use_coupon",
			msg: []string{`"soon" is not a duration`}},
		{name: "default max_age is zero", wantErr: policy.ErrInvalidMaxAge,
			in: `{"default": {"level": "strict", "max_age": {"use_coupon": "0"}}}`, pos: "1:59", path: "default.max_age.use_coupon",
			msg: []string{`"0" is not positive`}},
		{name: "default max_age is negative", wantErr: policy.ErrInvalidMaxAge,
			in: `{"default": {"level": "strict", "max_age": {"use_coupon": "-1h"}}}`, pos: "1:59", path: "default.max_age.use_coupon",
			msg: []string{`"-1h" is not positive`}},
		{name: "default max_age is a boolean", wantErr: policy.ErrWrongType,
			in: `{"default": {"level": "strict", "max_age": {"use_coupon": true}}}`, pos: "1:59", path: "default.max_age.use_coupon",
			msg: []string{"got boolean, want a duration string"}},
		{name: "default max_age names an unknown action", wantErr: policy.ErrUnknownAction,
			in: `{"default": {"level": "strict", "max_age": {"use_coupon": "5m", "ttl": "1m"}}}`, pos: "1:65", path: "default.max_age.ttl",
			msg: []string{`unknown action "ttl"`}},
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

func TestLoadSessionSettings(t *testing.T) {
	in := `{
	  "default": {"level": "strict", "require_otp_for_enrollment": false,
	              "single_use": ["redeem_reward"], "max_age": {"redeem_reward": "10m", "use_coupon": "1h30m"}},
	  "integrations": {
	    "saipos":  {"name": "Saipos", "level": "relaxed",
	                "single_use": ["redeem_reward", "use_coupon"], "max_age": {"redeem_reward": "5m"}},
	    "repediu": {"name": "Repediu", "level": "trusted", "single_use": ["redeem_reward"], "max_age": {"enroll_customer": "90s"}},
	    "goomer":  {"level": "relaxed", "single_use": [], "max_age": {}}
	  }
	}`
	s, err := policy.Load(strings.NewReader(in), "f.json")
	require.NoError(t, err)

	tests := []struct {
		id         string
		want       policy.Integration
		overridden bool
	}{
		{"saipos", policy.Integration{ID: "saipos", Name: "Saipos", Level: policy.Relaxed, Policy: policy.Policy{
			RequireOTPForRedemption: true, RequireOTPForCouponUsage: true,
			SingleUse: []policy.Action{policy.RedeemReward, policy.UseCoupon},
			MaxAge:    map[policy.Action]time.Duration{policy.RedeemReward: 5 * time.Minute},
		}}, true},
		{"repediu", policy.Integration{ID: "repediu", Name: "Repediu", Level: policy.Trusted, Policy: policy.Policy{
			TrustPartnerValidation: true,
			SingleUse:              []policy.Action{policy.RedeemReward},
			MaxAge:                 map[policy.Action]time.Duration{policy.EnrollCustomer: 90 * time.Second},
		}}, true},
		{"goomer", policy.Integration{ID: "goomer", Name: "goomer", Level: policy.Relaxed, Policy: preset(t, policy.Relaxed)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			in, ok := s.Integration(tc.id)
			require.True(t, ok)
			assert.Equal(t, tc.want, in, "got %+v, want %+v", in, tc.want)
			assert.Equal(t, tc.overridden, in.Overridden(), "got overridden=%v, want %v", in.Overridden(), tc.overridden)
		})
	}

	wantDef := policy.Integration{Name: "default", Level: policy.Strict, Policy: policy.Policy{
		RequireOTPForRedemption: true, RequireOTPForCouponUsage: true,
		SingleUse: []policy.Action{policy.RedeemReward},
		MaxAge:    map[policy.Action]time.Duration{policy.RedeemReward: 10 * time.Minute, policy.UseCoupon: 90 * time.Minute},
	}}
	assert.Equal(t, wantDef, s.Default())
	assert.Equal(t, "default (strict + overrides)", s.Default().Label())
	p, err := s.Policy(context.Background(), "stranger")
	require.NoError(t, err)
	assert.True(t, wantDef.Policy.Equal(p), "got %+v, want the default object's policy", p)
}

func TestLoadDefaultObjectOfPreset(t *testing.T) {
	s, err := policy.Load(strings.NewReader(`{"default": {"level": "relaxed"}}`), "f.json")
	require.NoError(t, err)
	def := s.Default()
	assert.Equal(t, policy.Integration{Name: "default", Level: policy.Relaxed, Policy: preset(t, policy.Relaxed)}, def)
	assert.False(t, def.Overridden(), "a default object with only a level is the plain preset")
}

func TestLoadWithCatalog(t *testing.T) {
	const in = `{"default": {"level": "strict", "single_use": ["transfer_points"], "max_age": {"transfer_points": "2m"}}}`
	cat := policy.NewCatalog()
	require.NoError(t, cat.Register("transfer_points", policy.RequireRedemption))
	require.NoError(t, cat.Register("view_store_hours", policy.Never))

	_, err := policy.Load(strings.NewReader(in), "f.json")
	require.ErrorIs(t, err, policy.ErrUnknownAction, "the built-in catalogue lacks host actions")

	s, err := policy.Load(strings.NewReader(in), "f.json", policy.WithCatalog(cat))
	require.NoError(t, err)
	p, err := s.Policy(context.Background(), "anyone")
	require.NoError(t, err)
	assert.Equal(t, []policy.Action{"transfer_points"}, p.SingleUse)
	assert.Equal(t, map[policy.Action]time.Duration{"transfer_points": 2 * time.Minute}, p.MaxAge)

	_, err = policy.Load(strings.NewReader(`{"default": {"level": "strict", "single_use": ["view_store_hours"]}}`), "f.json", policy.WithCatalog(cat))
	assert.ErrorIs(t, err, policy.ErrNeverRequired, "a host action bound to never")

	path := filepath.Join(t.TempDir(), "policies.json")
	require.NoError(t, os.WriteFile(path, []byte(in), 0o600))
	_, err = policy.LoadFile(path)
	assert.ErrorIs(t, err, policy.ErrUnknownAction)
	s, err = policy.LoadFile(path, policy.WithCatalog(cat))
	require.NoError(t, err)
	assert.Equal(t, []policy.Action{"transfer_points"}, s.Default().Policy.SingleUse)
}

func TestLoadNilCatalog(t *testing.T) {
	_, err := policy.Load(strings.NewReader(`{}`), "f.json", policy.WithCatalog(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "policy: load f.json: nil catalog")
	var le *policy.LoadError
	assert.False(t, errors.As(err, &le), "a bad option is not a problem in the file")

	_, err = policy.LoadFile(filepath.Join(t.TempDir(), "absent.json"), policy.WithCatalog(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nil catalog", "options are checked before the file is opened")
}
