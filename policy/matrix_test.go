package policy_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otpguard/otpguard/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got, "got output different from %s (run go test -update to accept)", path)
}

func TestPresetTableGolden(t *testing.T) {
	golden(t, "preset_table.golden.md", policy.NewPresetTable().Markdown())
}

// TestPresetTableValues checks the rendered table cell by cell against the
// seed's Trust Levels table, independent of the golden file.
func TestPresetTableValues(t *testing.T) {
	want := [][]string{
		{"Level", "Enrollment OTP", "Redemption OTP", "Coupon OTP", "Trust Partner", "Use Case"},
		{"Strict", "Required", "Required", "Required", "No", "New or unknown partners (default)"},
		{"Relaxed", "Not required", "Required", "Required", "No", "Tablet/kiosk integrations (e.g., Goomer)"},
		{"Trusted", "Not required", "Not required", "Not required", "Yes", "Verified CRMs with existing identity checks (e.g., Repediu)"},
	}
	lines := strings.Split(strings.TrimSuffix(policy.NewPresetTable().Markdown(), "\n"), "\n")
	require.Len(t, lines, len(want)+1, "header, separator and three rows")
	lines = append(lines[:1], lines[2:]...) // drop the separator
	for i, line := range lines {
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		assert.Equal(t, want[i], cells, "row %d", i)
	}
}

func TestPresetMatrixGolden(t *testing.T) {
	m, err := policy.NewMatrix(policy.NewCatalog(), policy.PresetColumns()...)
	require.NoError(t, err)
	golden(t, "preset_matrix.golden.md", m.Markdown())
	golden(t, "preset_matrix.golden.txt", m.Text())
}

func TestIntegrationMatrix(t *testing.T) {
	s, err := policy.Load(strings.NewReader(`{"integrations": {
		"repediu": {"name": "Repediu", "level": "trusted"},
		"goomer": {"name": "Goomer", "level": "relaxed", "require_otp_for_enrollment": true}}}`), "f.json")
	require.NoError(t, err)
	cat := policy.NewCatalog()
	require.NoError(t, cat.Register("transfer_points", policy.RequireRedemption))

	cols := policy.IntegrationColumns(s)
	var headers []string
	for _, c := range cols {
		headers = append(headers, c.Header)
	}
	assert.Equal(t, []string{"default (strict)", "Goomer (relaxed + overrides)", "Repediu (trusted)"}, headers)

	m, err := policy.NewMatrix(cat, cols...)
	require.NoError(t, err)
	assert.Equal(t, cat.Actions(), m.Actions())
	assert.Equal(t, cols, m.Columns())

	tests := []struct {
		action policy.Action
		column string
		want   policy.Decision
	}{
		{policy.EnrollCustomer, "Goomer (relaxed + overrides)", policy.Decision{Action: policy.EnrollCustomer, Required: true, Reason: policy.ReasonEnrollment}},
		{policy.EnrollCustomer, "Repediu (trusted)", policy.Decision{Action: policy.EnrollCustomer, Reason: policy.ReasonTrustedPartner}},
		{"transfer_points", "default (strict)", policy.Decision{Action: "transfer_points", Required: true, Reason: policy.ReasonRedemption}},
		{policy.SendWebhook, "default (strict)", policy.Decision{Action: policy.SendWebhook, Reason: policy.ReasonNever}},
	}
	for _, tc := range tests {
		t.Run(string(tc.action)+"/"+tc.column, func(t *testing.T) {
			got, ok := m.Cell(tc.action, tc.column)
			require.True(t, ok)
			assert.Equal(t, tc.want, got, "got %v, want %v", got, tc.want)
		})
	}

	_, ok := m.Cell("nope", "default (strict)")
	assert.False(t, ok, "unknown action")
	_, ok = m.Cell(policy.UseCoupon, "nope")
	assert.False(t, ok, "unknown column")

	text := m.Text()
	assert.Contains(t, text, "transfer_points")
	assert.Contains(t, text, "Goomer (relaxed + overrides)")
}

func TestMatrixRenderingIsAligned(t *testing.T) {
	m, err := policy.NewMatrix(policy.NewCatalog(), policy.PresetColumns()...)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(m.Markdown(), "\n"), "\n")
	width := len([]rune(lines[0]))
	for i, l := range lines {
		assert.Equal(t, width, len([]rune(l)), "markdown line %d: got width %d, want %d", i, len([]rune(l)), width)
	}
	for _, l := range strings.Split(m.Text(), "\n") {
		assert.Equal(t, strings.TrimRight(l, " "), l, "text lines carry no trailing spaces")
	}
}

func TestMarkdownEscapesPipes(t *testing.T) {
	m, err := policy.NewMatrix(policy.NewCatalog(), policy.Column{Header: "a|b", Policy: policy.Policy{}})
	require.NoError(t, err)
	assert.Contains(t, m.Markdown(), `a\|b`)
}

func TestNewMatrixErrors(t *testing.T) {
	contradictory := policy.Policy{TrustPartnerValidation: true, RequireOTPForRedemption: true}
	tests := []struct {
		name    string
		cat     *policy.Catalog
		cols    []policy.Column
		wantMsg string
		wantErr error
	}{
		{name: "nil catalog", cols: policy.PresetColumns(), wantMsg: "nil catalog"},
		{name: "no columns", cat: policy.NewCatalog(), wantMsg: "no columns"},
		{name: "empty header", cat: policy.NewCatalog(), cols: []policy.Column{{}}, wantMsg: "empty header"},
		{name: "repeated header", cat: policy.NewCatalog(), cols: []policy.Column{{Header: "x"}, {Header: "x"}}, wantMsg: `"x": repeated header`},
		{name: "contradictory column", cat: policy.NewCatalog(), cols: []policy.Column{{Header: "bad", Policy: contradictory}},
			wantMsg: `"bad"`, wantErr: policy.ErrContradictoryPolicy},
		{name: "column with a zero max age", cat: policy.NewCatalog(),
			cols:    []policy.Column{{Header: "stale", Policy: policy.Policy{MaxAge: map[policy.Action]time.Duration{policy.UseCoupon: 0}}}},
			wantMsg: `"stale"`, wantErr: policy.ErrInvalidMaxAge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := policy.NewMatrix(tc.cat, tc.cols...)
			require.Error(t, err)
			assert.Nil(t, m)
			assert.Contains(t, err.Error(), tc.wantMsg)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
			}
		})
	}
}

func TestCellText(t *testing.T) {
	tests := []struct {
		d    policy.Decision
		want string
	}{
		{policy.Decision{Required: true, Reason: policy.ReasonRedemption}, "required"},
		{policy.Decision{Reason: policy.ReasonEnrollment}, "not required"},
		{policy.Decision{Reason: policy.ReasonTrustedPartner}, "not required (trusted partner)"},
		{policy.Decision{Reason: policy.ReasonNever}, "—"},
		{policy.Decision{Required: true, Reason: policy.ReasonRedemption, SingleUse: true}, "required, single use"},
		{policy.Decision{Required: true, Reason: policy.ReasonRedemption, MaxAge: 5 * time.Minute}, "required, max age 5m"},
		{policy.Decision{Required: true, Reason: policy.ReasonRedemption, SingleUse: true, MaxAge: time.Hour}, "required, single use, max age 1h"},
		{policy.Decision{Required: true, Reason: policy.ReasonRedemption, MaxAge: 90 * time.Second}, "required, max age 1m30s"},
		{policy.Decision{Required: true, Reason: policy.ReasonRedemption, MaxAge: 1500 * time.Millisecond}, "required, max age 1.5s"},
		{policy.Decision{Required: true, Reason: policy.ReasonRedemption, MaxAge: 2*time.Hour + 5*time.Second}, "required, max age 2h0m5s"},
		{policy.Decision{Required: true, Reason: policy.ReasonRedemption, MaxAge: 25 * time.Hour}, "required, max age 25h"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			assert.Equal(t, tc.want, policy.CellText(tc.d))
		})
	}
}

// sessionPolicies is a file whose partners use single_use and max_age, on a
// catalogue with a host action.
const sessionPolicies = `{
  "default": {"level": "strict", "max_age": {"enroll_customer": "10m"}},
  "integrations": {
    "repediu": {"name": "Repediu", "level": "trusted", "single_use": ["redeem_reward"]},
    "goomer":  {"name": "Goomer", "level": "relaxed",
                "single_use": ["redeem_reward", "use_coupon", "transfer_points"],
                "max_age": {"redeem_reward": "5m", "enroll_customer": "1m"}},
    "saipos":  {"name": "Saipos", "level": "relaxed", "max_age": {"validate_coupon": "1h30m"}}
  }
}`

func TestSessionMatrixGolden(t *testing.T) {
	cat := policy.NewCatalog()
	require.NoError(t, cat.Register("transfer_points", policy.RequireRedemption))
	s, err := policy.Load(strings.NewReader(sessionPolicies), "f.json", policy.WithCatalog(cat))
	require.NoError(t, err)
	m, err := policy.NewMatrix(cat, policy.IntegrationColumns(s)...)
	require.NoError(t, err)

	tests := []struct {
		action policy.Action
		column string
		want   string
	}{
		{policy.RedeemReward, "Goomer (relaxed + overrides)", "required, single use, max age 5m"},
		{policy.UseCoupon, "Goomer (relaxed + overrides)", "required, single use"},
		{"transfer_points", "Goomer (relaxed + overrides)", "required, single use"},
		{policy.EnrollCustomer, "Goomer (relaxed + overrides)", "not required"},
		{policy.ValidateCoupon, "Saipos (relaxed + overrides)", "required, max age 1h30m"},
		{policy.EnrollCustomer, "default (strict + overrides)", "required, max age 10m"},
		{policy.RedeemReward, "Repediu (trusted + overrides)", "not required (trusted partner)"},
	}
	for _, tc := range tests {
		t.Run(string(tc.action)+"/"+tc.column, func(t *testing.T) {
			d, ok := m.Cell(tc.action, tc.column)
			require.True(t, ok)
			assert.Equal(t, tc.want, policy.CellText(d), "got %q, want %q", policy.CellText(d), tc.want)
		})
	}
	golden(t, "session_matrix.golden.md", m.Markdown())
	golden(t, "session_matrix.golden.txt", m.Text())
}

func TestMatrixCopiesColumnPolicies(t *testing.T) {
	p := policy.Policy{RequireOTPForRedemption: true, SingleUse: []policy.Action{policy.RedeemReward}}
	m, err := policy.NewMatrix(policy.NewCatalog(), policy.Column{Header: "x", Policy: p})
	require.NoError(t, err)
	p.SingleUse[0] = policy.UseCoupon
	assert.Equal(t, []policy.Action{policy.RedeemReward}, m.Columns()[0].Policy.SingleUse, "got the caller's change, want the matrix's copy")
	d, _ := m.Cell(policy.RedeemReward, "x")
	assert.True(t, d.SingleUse)
}
