package loyalty

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/policy"
)

// wantMatrix is the example's policy matrix, pinned: the seed's action
// table under each partner's policy.
const wantMatrix = `action            governed by                   Repediu (trusted)               Goomer (relaxed)  Saipos (relaxed)  Balcão Local (strict, default)
search_customers  never                         —                               —                 —                 —
view_balance      never                         —                               —                 —                 —
view_history      never                         —                               —                 —                 —
award_points      never                         —                               —                 —                 —
list_rewards      never                         —                               —                 —                 —
list_coupons      never                         —                               —                 —                 —
view_programs     never                         —                               —                 —                 —
send_webhook      never                         —                               —                 —                 —
redeem_reward     require_otp_for_redemption    not required (trusted partner)  required          required          required
validate_coupon   require_otp_for_coupon_usage  not required (trusted partner)  required          required          required
use_coupon        require_otp_for_coupon_usage  not required (trusted partner)  required          required          required
enroll_customer   require_otp_for_enrollment    not required (trusted partner)  not required      not required      required
`

func TestBanner(t *testing.T) {
	var b bytes.Buffer
	PrintBanner(&b, ":8080", "policies.json", testPolicies(t))
	out := b.String()
	assert.True(t, strings.HasPrefix(out, "otpguard example loyalty API on :8080 (policies: policies.json)\n"), "got banner %q", out)
	for _, p := range Partners {
		assert.Contains(t, out, p.Key)
		assert.Contains(t, out, p.Name)
	}
	assert.Regexp(t, `Repediu\s+CRM\s+trusted\s+zupy_pk_test_repediu_`, out)
	assert.Regexp(t, `Goomer\s+tablet\s+relaxed\s+zupy_pk_test_goomer_`, out)
	assert.Regexp(t, `Balcão Local\s+counter\s+strict\s+zupy_pk_test_balcao_`, out)
	assert.Contains(t, out, wantMatrix, "got banner\n%s\nwant it to hold the matrix\n%s", out, wantMatrix)
}

func TestBannerOverridesAndNilPolicies(t *testing.T) {
	pol, err := policy.Load(strings.NewReader(`{"default": "relaxed", "integrations": {
		"goomer": {"level": "relaxed", "require_otp_for_redemption": false}}}`), "custom.json")
	require.NoError(t, err)

	var b bytes.Buffer
	PrintBanner(&b, ":9090", "custom.json", pol)
	out := b.String()
	assert.Regexp(t, `Goomer\s+tablet\s+relaxed\*\s+zupy_pk_test_goomer_`, out, "an overridden level is marked *")
	assert.Regexp(t, `Repediu\s+CRM\s+relaxed\s+zupy_pk_test_repediu_`, out, "an unlisted partner has the default")
	assert.Regexp(t, `(?m)^action\s+governed by\s+Repediu \(relaxed, default\)\s+Goomer \(relaxed\*\)\s+Saipos \(relaxed, default\)\s+Balcão Local \(relaxed, default\)$`, out)
	assert.Regexp(t, `(?m)^redeem_reward\s+require_otp_for_redemption\s+required\s+not required\s+required\s+required$`, out)

	b.Reset()
	PrintBanner(&b, ":9090", "none", nil)
	assert.Contains(t, b.String(), "Repediu (strict, default)", "a nil Static is strict for everyone")
	assert.Regexp(t, `(?m)^enroll_customer\s+require_otp_for_enrollment\s+required\s+required\s+required\s+required$`, b.String())
}
