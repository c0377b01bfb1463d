package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// MaxFileSize is the largest policy file, in bytes, that [Load] accepts.
const MaxFileSize = 1 << 20

// LoadError reports a problem in a policy file and where it is. Err wraps the
// problem's sentinel ([ErrUnknownTrustLevel], [ErrUnknownField], ...), so
// errors.Is works on a LoadError.
type LoadError struct {
	// File is the name given to [Load], or the path given to [LoadFile].
	File string
	// Line and Column locate the problem, both counted from 1 (columns in
	// characters); they are 0 when the problem has no single place, such as
	// an empty file.
	Line, Column int
	// Path is the JSON path of the offending member, such as
	// "integrations.goomer.level"; it is empty for the top-level object.
	Path string
	// Err is the problem.
	Err error
}

// Error returns "policy: FILE:LINE:COLUMN: PATH: PROBLEM", leaving out the
// parts that are unknown.
func (e *LoadError) Error() string {
	var b bytes.Buffer
	b.WriteString("policy: ")
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Column))
	}
	if e.Path != "" {
		b.WriteString(": " + e.Path)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the problem.
func (e *LoadError) Unwrap() error { return e.Err }

// LoadOption configures [Load] and [LoadFile].
type LoadOption func(*loadConfig) error

type loadConfig struct {
	catalog *Catalog
}

// WithCatalog sets the catalogue that the action names of single_use and
// max_age must be in, so that a file may name the actions a host registered.
// Default: [NewCatalog], the built-in actions. Pass the catalogue the guard
// decides with, with every host action registered before loading. A nil c is
// an error.
func WithCatalog(c *Catalog) LoadOption {
	return func(cfg *loadConfig) error {
		if c == nil {
			return errors.New("nil catalog")
		}
		cfg.catalog = c
		return nil
	}
}

func newLoadConfig(name string, opts []LoadOption) (*loadConfig, error) {
	cfg := &loadConfig{}
	for _, opt := range opts {
		if err := opt(cfg); err != nil {
			return nil, fmt.Errorf("policy: load %s: %w", name, err)
		}
	}
	if cfg.catalog == nil {
		cfg.catalog = NewCatalog()
	}
	return cfg, nil
}

// LoadFile reads the policy file at path (see the package documentation for
// the format) and returns its policies as a [Static]. Problems in the file are
// [*LoadError] values naming path, the line and column, and the JSON path.
// The options are those of [Load].
func LoadFile(path string, opts ...LoadOption) (*Static, error) {
	cfg, err := newLoadConfig(path, opts)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: load file: %w", err)
	}
	defer f.Close()
	return load(f, path, cfg)
}

// Load reads a policy file from r (see the package documentation for the
// format) and returns its policies as a [Static]. name identifies the input
// in errors, typically its file name. Problems in the input are [*LoadError]
// values naming name, the line and column, and the JSON path; a read error is
// wrapped as is. Inputs larger than [MaxFileSize] are refused. The actions
// named in single_use and max_age must be in the built-in catalogue, or in
// the one given with [WithCatalog].
func Load(r io.Reader, name string, opts ...LoadOption) (*Static, error) {
	cfg, err := newLoadConfig(name, opts)
	if err != nil {
		return nil, err
	}
	return load(r, name, cfg)
}

func load(r io.Reader, name string, cfg *loadConfig) (*Static, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy: read %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, &LoadError{File: name, Err: fmt.Errorf("%w: more than %d bytes", ErrFileTooLarge, MaxFileSize)}
	}
	l := &loader{name: name, data: data, dec: json.NewDecoder(bytes.NewReader(data)), cat: cfg.catalog}
	return l.load()
}

// loader walks a policy file token by token, so that every error can name
// its position and JSON path.
type loader struct {
	name string
	data []byte
	dec  *json.Decoder
	cat  *Catalog // the actions single_use and max_age may name
}

// fail returns a LoadError at byte offset off (negative for no position).
func (l *loader) fail(off int, path string, err error) error {
	e := &LoadError{File: l.name, Path: path, Err: err}
	if off >= 0 {
		e.Line, e.Column = l.lineCol(off)
	}
	return e
}

func (l *loader) failf(off int, path string, sentinel error, format string, args ...any) error {
	return l.fail(off, path, fmt.Errorf("%w"+format, append([]any{sentinel}, args...)...))
}

// lineCol converts a byte offset to a 1-based line and character column.
func (l *loader) lineCol(off int) (line, col int) {
	if off > len(l.data) {
		off = len(l.data)
	}
	before := l.data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, 1 + utf8.RuneCount(before[start:])
}

// next returns the offset where the next token starts, skipping white space
// and the separators the decoder consumes lazily.
func (l *loader) next() int {
	off := int(l.dec.InputOffset())
	for off < len(l.data) {
		switch l.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
		default:
			return off
		}
	}
	return off
}

// token reads the next token and the offset where it starts.
func (l *loader) token(path string) (json.Token, int, error) {
	off := l.next()
	tok, err := l.dec.Token()
	if err != nil {
		return nil, off, l.syntax(path, err)
	}
	return tok, off, nil
}

// syntax turns a decoder error into a LoadError. The decoder's own offsets
// are relative to its buffer, so the position comes from rescanning the whole
// input, which meets the same first error.
func (l *loader) syntax(path string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return l.failf(len(l.data), path, ErrSyntax, ": unexpected end of file")
	}
	var se *json.SyntaxError
	var raw json.RawMessage
	if uerr := json.Unmarshal(l.data, &raw); errors.As(uerr, &se) {
		off := int(se.Offset) - 1
		if off < 0 {
			off = 0
		}
		return l.failf(off, path, ErrSyntax, ": %s", se.Error())
	}
	return l.failf(-1, path, ErrSyntax, ": %s", err.Error())
}

// kind names the JSON type of a token.
func kind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "array"
		}
		return "object"
	case bool:
		return "boolean"
	case string:
		return "string"
	case nil:
		return "null"
	default:
		return "number"
	}
}

// member joins a JSON path and an object key.
func member(path, key string) string {
	simple := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			simple = false
			break
		}
	}
	switch {
	case !simple:
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	default:
		return path + "." + key
	}
}

// object reads the opening brace of an object at path and returns its offset.
func (l *loader) object(path string) (int, error) {
	tok, off, err := l.token(path)
	if err != nil {
		return off, err
	}
	if tok != json.Delim('{') {
		return off, l.failf(off, path, ErrWrongType, ": got %s, want object", kind(tok))
	}
	return off, nil
}

// key reads the next member name of the current object.
func (l *loader) key(path string) (string, int, error) {
	tok, off, err := l.token(path)
	if err != nil {
		return "", off, err
	}
	return tok.(string), off, nil // the decoder only yields strings as keys
}

// closeObject reads the closing brace of the current object.
func (l *loader) closeObject(path string) error {
	_, _, err := l.token(path)
	return err
}

func (l *loader) str(path string) (string, int, error) {
	tok, off, err := l.token(path)
	if err != nil {
		return "", off, err
	}
	s, ok := tok.(string)
	if !ok {
		return "", off, l.failf(off, path, ErrWrongType, ": got %s, want string", kind(tok))
	}
	return s, off, nil
}

func (l *loader) boolean(path string) (bool, error) {
	tok, off, err := l.token(path)
	if err != nil {
		return false, err
	}
	b, ok := tok.(bool)
	if !ok {
		return false, l.failf(off, path, ErrWrongType, ": got %s, want true or false", kind(tok))
	}
	return b, nil
}

// level reads a trust level name.
func (l *loader) level(path string) (TrustLevel, error) {
	s, off, err := l.str(path)
	if err != nil {
		return Strict, err
	}
	return l.levelName(s, off, path)
}

// levelName checks the trust level name s read at offset off.
func (l *loader) levelName(s string, off int, path string) (TrustLevel, error) {
	if s == "" {
		return Strict, l.failf(off, path, ErrMissingLevel, ": empty (want strict, relaxed or trusted)")
	}
	lv, ok := parseLevel(s)
	if !ok {
		return Strict, l.failf(off, path, ErrUnknownTrustLevel, " %q (want strict, relaxed or trusted)", s)
	}
	return lv, nil
}

func (l *loader) load() (*Static, error) {
	if len(bytes.TrimSpace(l.data)) == 0 {
		return nil, l.fail(-1, "", ErrEmptyFile)
	}
	if _, err := l.object(""); err != nil {
		return nil, err
	}
	def := Integration{Name: "default", Level: Strict, Policy: levels[Strict].policy}
	var list []Integration
	seen := map[string]bool{}
	for l.dec.More() {
		k, off, err := l.key("")
		if err != nil {
			return nil, err
		}
		path := member("", k)
		if seen[k] {
			return nil, l.failf(off, path, ErrDuplicateField, "")
		}
		seen[k] = true
		switch k {
		case "default":
			if def, err = l.defaultEntry(path); err != nil {
				return nil, err
			}
		case "integrations":
			if list, err = l.integrations(path); err != nil {
				return nil, err
			}
		default:
			return nil, l.failf(off, path, ErrUnknownField, " (want default or integrations)")
		}
	}
	if err := l.closeObject(""); err != nil {
		return nil, err
	}
	if rest := bytes.TrimLeft(l.data[l.dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, l.fail(len(l.data)-len(rest), "", ErrTrailingData)
	}
	s, err := newStatic(def, list)
	if err != nil {
		// Every policy was validated with its position already.
		return nil, l.fail(-1, "", err)
	}
	return s, nil
}

func (l *loader) integrations(path string) ([]Integration, error) {
	if _, err := l.object(path); err != nil {
		return nil, err
	}
	var list []Integration
	seen := map[string]bool{}
	for l.dec.More() {
		id, off, err := l.key(path)
		if err != nil {
			return nil, err
		}
		ipath := member(path, id)
		if len(bytes.TrimSpace([]byte(id))) == 0 {
			return nil, l.failf(off, ipath, ErrEmptyIntegrationID, "")
		}
		if seen[id] {
			return nil, l.failf(off, ipath, ErrDuplicateIntegration, " %q", id)
		}
		seen[id] = true
		in, err := l.integration(id, ipath)
		if err != nil {
			return nil, err
		}
		list = append(list, in)
	}
	return list, l.closeObject(path)
}

// flagFields maps the override members to the require flags and trust.
var flagFields = map[string]func(*Policy) *bool{
	"require_otp_for_enrollment":   func(p *Policy) *bool { return &p.RequireOTPForEnrollment },
	"require_otp_for_redemption":   func(p *Policy) *bool { return &p.RequireOTPForRedemption },
	"require_otp_for_coupon_usage": func(p *Policy) *bool { return &p.RequireOTPForCouponUsage },
	"trust_partner_validation":     func(p *Policy) *bool { return &p.TrustPartnerValidation },
}

// defaultEntry reads "default": a trust level name, or an object shaped as
// an integration entry without "name".
func (l *loader) defaultEntry(path string) (Integration, error) {
	tok, off, err := l.token(path)
	if err != nil {
		return Integration{}, err
	}
	switch v := tok.(type) {
	case string:
		lv, err := l.levelName(v, off, path)
		if err != nil {
			return Integration{}, err
		}
		return Integration{Name: "default", Level: lv, Policy: levels[lv].policy}, nil
	case json.Delim:
		if v == '{' {
			return l.entry("", path, off)
		}
	}
	return Integration{}, l.failf(off, path, ErrWrongType, ": got %s, want string or object", kind(tok))
}

func (l *loader) integration(id, path string) (Integration, error) {
	start, err := l.object(path)
	if err != nil {
		return Integration{}, err
	}
	return l.entry(id, path, start)
}

// entry reads the members of integration id's object, or of the default's
// object when id is "", whose opening brace at offset start has been read.
func (l *loader) entry(id, path string, start int) (Integration, error) {
	in := Integration{ID: id, Name: id}
	want := " (want name, level, require_otp_for_enrollment, require_otp_for_redemption, require_otp_for_coupon_usage, trust_partner_validation, single_use or max_age)"
	if id == "" {
		in.Name = "default"
		want = " (want level, require_otp_for_enrollment, require_otp_for_redemption, require_otp_for_coupon_usage, trust_partner_validation, single_use or max_age)"
	}
	hasLevel := false
	var overrides Policy
	var set []func(*Policy) *bool
	seen := map[string]bool{}
	for l.dec.More() {
		k, off, err := l.key(path)
		if err != nil {
			return in, err
		}
		fpath := member(path, k)
		if seen[k] {
			return in, l.failf(off, fpath, ErrDuplicateField, "")
		}
		seen[k] = true
		switch {
		case k == "name" && id != "":
			name, _, err := l.str(fpath)
			if err != nil {
				return in, err
			}
			if name != "" {
				in.Name = name
			}
		case k == "level":
			if in.Level, err = l.level(fpath); err != nil {
				return in, err
			}
			hasLevel = true
		case k == "single_use":
			if overrides.SingleUse, err = l.singleUse(fpath); err != nil {
				return in, err
			}
		case k == "max_age":
			if overrides.MaxAge, err = l.maxAge(fpath); err != nil {
				return in, err
			}
		default:
			field, ok := flagFields[k]
			if !ok {
				return in, l.failf(off, fpath, ErrUnknownField, want)
			}
			if *field(&overrides), err = l.boolean(fpath); err != nil {
				return in, err
			}
			set = append(set, field)
		}
	}
	if err := l.closeObject(path); err != nil {
		return in, err
	}
	if !hasLevel {
		return in, l.failf(start, member(path, "level"), ErrMissingLevel, " (want strict, relaxed or trusted)")
	}
	in.Policy = levels[in.Level].policy
	for _, field := range set {
		*field(&in.Policy) = *field(&overrides)
	}
	in.Policy.SingleUse, in.Policy.MaxAge = overrides.SingleUse, overrides.MaxAge
	if err := in.Policy.validate(); err != nil {
		if id == "" {
			return in, l.fail(start, path, fmt.Errorf("default policy: %w", err))
		}
		return in, l.fail(start, path, fmt.Errorf("integration %q: %w", id, err))
	}
	return in, nil
}

// action checks that a, read at offset off, is catalogued and may require
// OTP.
func (l *loader) action(a Action, off int, path string) error {
	f, ok := l.cat.Lookup(a)
	if !ok {
		return l.failf(off, path, ErrUnknownAction, " %q (not in the catalogue)", a)
	}
	if f == Never {
		return l.failf(off, path, ErrNeverRequired, " (%q is bound to never)", a)
	}
	return nil
}

// singleUse reads a single_use array of distinct action names; an empty
// array is nil.
func (l *loader) singleUse(path string) ([]Action, error) {
	tok, off, err := l.token(path)
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('[') {
		return nil, l.failf(off, path, ErrWrongType, ": got %s, want array of action names", kind(tok))
	}
	var list []Action
	for i := 0; l.dec.More(); i++ {
		epath := path + "[" + strconv.Itoa(i) + "]"
		s, off, err := l.str(epath)
		if err != nil {
			return nil, err
		}
		a := Action(s)
		if err := l.action(a, off, epath); err != nil {
			return nil, err
		}
		if slices.Contains(list, a) {
			return nil, l.failf(off, epath, ErrDuplicateAction, " %q", a)
		}
		list = append(list, a)
	}
	_, _, err = l.token(path) // the closing bracket
	return list, err
}

// maxAge reads a max_age object from action names to positive durations;
// an empty object is nil.
func (l *loader) maxAge(path string) (map[Action]time.Duration, error) {
	if _, err := l.object(path); err != nil {
		return nil, err
	}
	var ages map[Action]time.Duration
	for l.dec.More() {
		k, off, err := l.key(path)
		if err != nil {
			return nil, err
		}
		kpath := member(path, k)
		a := Action(k)
		if _, dup := ages[a]; dup {
			return nil, l.failf(off, kpath, ErrDuplicateField, "")
		}
		if err := l.action(a, off, kpath); err != nil {
			return nil, err
		}
		tok, voff, err := l.token(kpath)
		if err != nil {
			return nil, err
		}
		s, ok := tok.(string)
		if !ok {
			return nil, l.failf(voff, kpath, ErrWrongType, `: got %s, want a duration string such as "5m"`, kind(tok))
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, l.failf(voff, kpath, ErrInvalidMaxAge, `: %q is not a duration (want one such as "90s", "5m" or "1h30m")`, s)
		}
		if d <= 0 {
			return nil, l.failf(voff, kpath, ErrInvalidMaxAge, ": %q is not positive", s)
		}
		if ages == nil {
			ages = map[Action]time.Duration{}
		}
		ages[a] = d
	}
	return ages, l.closeObject(path)
}
