package policy_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			assert.Equal(t, tc.want, policy.CellText(tc.d))
		})
	}
}
