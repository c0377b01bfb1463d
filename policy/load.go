package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
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

// LoadFile reads the policy file at path (see the package documentation for
// the format) and returns its policies as a [Static]. Problems in the file are
// [*LoadError] values naming path, the line and column, and the JSON path.
func LoadFile(path string) (*Static, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: load file: %w", err)
	}
	defer f.Close()
	return Load(f, path)
}

// Load reads a policy file from r (see the package documentation for the
// format) and returns its policies as a [Static]. name identifies the input
// in errors, typically its file name. Problems in the input are [*LoadError]
// values naming name, the line and column, and the JSON path; a read error is
// wrapped as is. Inputs larger than [MaxFileSize] are refused.
func Load(r io.Reader, name string) (*Static, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy: read %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, &LoadError{File: name, Err: fmt.Errorf("%w: more than %d bytes", ErrFileTooLarge, MaxFileSize)}
	}
	l := &loader{name: name, data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	return l.load()
}

// loader walks a policy file token by token, so that every error can name
// its position and JSON path.
type loader struct {
	name string
	data []byte
	dec  *json.Decoder
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
	def := Strict
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
			if def, err = l.level(path); err != nil {
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
	s, err := newStatic(Integration{Name: "default", Level: def, Policy: levels[def].policy}, list)
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

func (l *loader) integration(id, path string) (Integration, error) {
	start, err := l.object(path)
	if err != nil {
		return Integration{}, err
	}
	in := Integration{ID: id, Name: id}
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
		switch k {
		case "name":
			name, _, err := l.str(fpath)
			if err != nil {
				return in, err
			}
			if name != "" {
				in.Name = name
			}
		case "level":
			if in.Level, err = l.level(fpath); err != nil {
				return in, err
			}
			hasLevel = true
		default:
			field, ok := flagFields[k]
			if !ok {
				return in, l.failf(off, fpath, ErrUnknownField,
					" (want name, level, require_otp_for_enrollment, require_otp_for_redemption, require_otp_for_coupon_usage or trust_partner_validation)")
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
	if err := in.Policy.validate(); err != nil {
		return in, l.fail(start, path, fmt.Errorf("integration %q: %w", id, err))
	}
	return in, nil
}
