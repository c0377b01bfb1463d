package policy

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Column is one column of a [Matrix]: a heading and the policy decided under
// it.
type Column struct {
	// Header is the column's heading; headers within a matrix are unique.
	Header string
	// Policy is the policy the column's decisions use.
	Policy Policy
}

// PresetColumns returns one column per trust level, headed "strict",
// "relaxed" and "trusted", in that order.
func PresetColumns() []Column {
	cols := make([]Column, 0, len(levels))
	for _, l := range TrustLevels() {
		cols = append(cols, Column{Header: l.String(), Policy: levels[l].policy})
	}
	return cols
}

// IntegrationColumns returns a column for s's default, headed
// "default (LEVEL)", then one per listed integration in ID order, headed by
// [Integration.Label] such as "Goomer (relaxed)".
func IntegrationColumns(s *Static) []Column {
	def := s.Default()
	cols := []Column{{Header: def.Label(), Policy: def.Policy}}
	for _, id := range s.Integrations() {
		in, _ := s.Integration(id)
		cols = append(cols, Column{Header: in.Label(), Policy: in.Policy})
	}
	return cols
}

// Matrix holds the decision of every catalogued action under each of a set of
// columns. It is immutable and safe for concurrent use.
type Matrix struct {
	actions []Action
	flags   []Flag
	cols    []Column
	cells   [][]Decision // [action][column]
	row     map[Action]int
	col     map[string]int
}

// NewMatrix decides every action of cat, in [Catalog.Actions] order, under
// every column. It is an error to pass a nil catalogue, no column, an empty
// or repeated header, or a column whose policy is contradictory (wrapping
// [ErrContradictoryPolicy]).
func NewMatrix(cat *Catalog, cols ...Column) (*Matrix, error) {
	if cat == nil {
		return nil, fmt.Errorf("policy: new matrix: nil catalog")
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("policy: new matrix: no columns")
	}
	m := &Matrix{
		actions: cat.Actions(),
		cols:    make([]Column, len(cols)),
		row:     map[Action]int{},
		col:     make(map[string]int, len(cols)),
	}
	for i, c := range cols {
		c.Policy = c.Policy.clone()
		m.cols[i] = c
		if c.Header == "" {
			return nil, fmt.Errorf("policy: new matrix: column %d: empty header", i)
		}
		if _, dup := m.col[c.Header]; dup {
			return nil, fmt.Errorf("policy: new matrix: column %q: repeated header", c.Header)
		}
		if err := c.Policy.validate(); err != nil {
			return nil, fmt.Errorf("policy: new matrix: column %q: %w", c.Header, err)
		}
		m.col[c.Header] = i
	}
	for i, a := range m.actions {
		f, _ := cat.Lookup(a) // listed by Actions, so present
		m.flags = append(m.flags, f)
		m.row[a] = i
		r := make([]Decision, len(m.cols))
		for j := range m.cols {
			r[j].decide(a, f, &m.cols[j].Policy)
		}
		m.cells = append(m.cells, r)
	}
	return m, nil
}

// Actions returns the matrix's rows, in order. The slice is a fresh copy.
func (m *Matrix) Actions() []Action { return append([]Action(nil), m.actions...) }

// Columns returns the matrix's columns, in order. The slice is a fresh copy;
// the policies' SingleUse and MaxAge are shared with m and must not be
// modified.
func (m *Matrix) Columns() []Column { return append([]Column(nil), m.cols...) }

// Cell returns the decision for action a under the column headed column, and
// reports whether the matrix has both.
func (m *Matrix) Cell(a Action, column string) (Decision, bool) {
	i, ok := m.row[a]
	if !ok {
		return Decision{}, false
	}
	j, ok := m.col[column]
	if !ok {
		return Decision{}, false
	}
	return m.cells[i][j], true
}

// CellText returns how a matrix shows decision d: "required", "not
// required", "not required (trusted partner)", or "—" for an action that
// never requires OTP. A required cell names the session settings the decision
// carries, as in "required, single use", "required, max age 5m" or
// "required, single use, max age 1h30m".
func CellText(d Decision) string {
	switch {
	case d.Required:
		return "required" + d.sessionText()
	case d.Reason == ReasonNever:
		return "—"
	case d.Reason == ReasonTrustedPartner:
		return "not required (trusted partner)"
	default:
		return "not required"
	}
}

func (m *Matrix) table() table {
	t := table{header: []string{"action", "governed by"}}
	for _, c := range m.cols {
		t.header = append(t.header, c.Header)
	}
	for i, a := range m.actions {
		r := []string{string(a), m.flags[i].String()}
		for _, d := range m.cells[i] {
			r = append(r, CellText(d))
		}
		t.rows = append(t.rows, r)
	}
	return t
}

// Markdown renders the matrix as an aligned Markdown table: one row per
// action, a "governed by" column naming its flag, then one column per matrix
// column with cells as [CellText] shows them.
func (m *Matrix) Markdown() string { return m.table().markdown() }

// Text renders the matrix as plain text in aligned columns, with the same
// content as Markdown.
func (m *Matrix) Text() string { return m.table().text() }

// PresetRow is one row of a [PresetTable]: a trust level, its preset policy
// and the seed's use case for it.
type PresetRow struct {
	// Level is the trust level.
	Level TrustLevel
	// Policy is the level's preset.
	Policy Policy
	// UseCase is the seed's "Use Case" text for the level.
	UseCase string
}

// PresetTable is the seed's Trust Levels table: the three levels against
// Enrollment OTP, Redemption OTP, Coupon OTP, Trust Partner and Use Case.
type PresetTable struct {
	// Rows holds Strict, Relaxed and Trusted, in that order.
	Rows []PresetRow
}

// NewPresetTable returns the Trust Levels table computed from the presets.
func NewPresetTable() PresetTable {
	var t PresetTable
	for _, l := range TrustLevels() {
		t.Rows = append(t.Rows, PresetRow{Level: l, Policy: levels[l].policy, UseCase: l.UseCase()})
	}
	return t
}

func (t PresetTable) table() table {
	req := func(b bool) string {
		if b {
			return "Required"
		}
		return "Not required"
	}
	yes := func(b bool) string {
		if b {
			return "Yes"
		}
		return "No"
	}
	out := table{header: []string{"Level", "Enrollment OTP", "Redemption OTP", "Coupon OTP", "Trust Partner", "Use Case"}}
	for _, r := range t.Rows {
		p := r.Policy
		out.rows = append(out.rows, []string{
			r.Level.title(),
			req(p.RequireOTPForEnrollment),
			req(p.RequireOTPForRedemption),
			req(p.RequireOTPForCouponUsage),
			yes(p.TrustPartnerValidation),
			r.UseCase,
		})
	}
	return out
}

// Markdown renders the table in Markdown with the seed's values: Required or
// Not required, Yes or No, and the use case.
func (t PresetTable) Markdown() string { return t.table().markdown() }

// Text renders the table as plain text in aligned columns.
func (t PresetTable) Text() string { return t.table().text() }

// table is a header and rows of cells, rendered with aligned columns.
type table struct {
	header []string
	rows   [][]string
}

func (t table) widths(cell func(string) string) []int {
	w := make([]int, len(t.header))
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			w[i] = max(w[i], utf8.RuneCountInString(cell(c)))
		}
	}
	return w
}

func pad(s string, w int) string {
	return s + strings.Repeat(" ", w-utf8.RuneCountInString(s))
}

func (t table) markdown() string {
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	w := t.widths(esc)
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			b.WriteString(" " + pad(esc(c), w[i]) + " |")
		}
		b.WriteString("\n")
	}
	line(t.header)
	b.WriteString("|")
	for _, n := range w {
		b.WriteString(strings.Repeat("-", n+2) + "|")
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		line(r)
	}
	return b.String()
}

func (t table) text() string {
	w := t.widths(func(s string) string { return s })
	var b strings.Builder
	for _, r := range append([][]string{t.header}, t.rows...) {
		var l strings.Builder
		for i, c := range r {
			if i > 0 {
				l.WriteString("  ")
			}
			l.WriteString(pad(c, w[i]))
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	return b.String()
}
