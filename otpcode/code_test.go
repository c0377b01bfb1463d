package otpcode

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// uint64Reader yields the given values as 8 big-endian bytes each, then
// io.EOF.
type uint64Reader struct {
	vals []uint64
	buf  []byte
}

func newUint64Reader(vals ...uint64) *uint64Reader { return &uint64Reader{vals: vals} }

func (r *uint64Reader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if len(r.vals) == 0 {
			return 0, io.EOF
		}
		r.buf = binary.BigEndian.AppendUint64(r.buf[:0], r.vals[0])
		r.vals = r.vals[1:]
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// constReader yields b forever.
type constReader byte

func (r constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func TestGenerateCodeDigits(t *testing.T) {
	for _, digits := range []int{-1, 0, 5, 11, 64} {
		t.Run(fmt.Sprintf("digits=%d rejected", digits), func(t *testing.T) {
			code, err := GenerateCode(rand.Reader, digits)
			require.Error(t, err)
			assert.Empty(t, code)
			assert.Contains(t, err.Error(), "want 6 to 10")
		})
	}
	allDigits := regexp.MustCompile(`^[0-9]+$`)
	for digits := minCodeDigits; digits <= maxCodeDigits; digits++ {
		t.Run(fmt.Sprintf("digits=%d", digits), func(t *testing.T) {
			for range 100 {
				code, err := GenerateCode(rand.Reader, digits)
				require.NoError(t, err)
				require.Len(t, code, digits, "got %q, want %d digits", code, digits)
				require.Regexp(t, allDigits, code)
			}
		})
	}
}

// TestCodeLimits checks the acceptance bounds against an independent
// computation with math/big: the largest multiple of 10^d not above 2^64.
func TestCodeLimits(t *testing.T) {
	two64 := new(big.Int).Lsh(big.NewInt(1), 64)
	for d := minCodeDigits; d <= maxCodeDigits; d++ {
		n := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil)
		want := new(big.Int).Sub(two64, new(big.Int).Mod(two64, n))
		got := new(big.Int).SetUint64(codeLimits[d])
		assert.Equal(t, 0, got.Cmp(want), "digits %d: got limit %v, want %v", d, got, want)
		assert.Equal(t, n.Uint64(), pow10[d], "digits %d: got 10^d %d, want %v", d, pow10[d], n)
	}
}

// TestCodeSampleBelowFullCycle feeds the rejection sampler every sample of a
// narrow width in turn (a counter over the whole cycle of 2^bits inputs):
// every code 0..10^6-1 must come out exactly 2^bits div 10^6 times, and
// exactly the samples at or above the limit must be rejected. The 64-bit
// sampler is the same function with the 64-bit limit.
func TestCodeSampleBelowFullCycle(t *testing.T) {
	const n = 1_000_000
	for _, bits := range []uint{20, 21, 22} {
		t.Run(fmt.Sprintf("bits=%d", bits), func(t *testing.T) {
			span := uint64(1) << bits
			limit := acceptLimit(n, bits)
			require.Equal(t, span-span%n, limit)
			counts := make([]uint8, n)
			var rejected uint64
			for v := range span {
				code, ok := sampleBelow(v, n, limit)
				if !ok {
					if v < limit {
						t.Fatalf("sample %d below limit %d rejected", v, limit)
					}
					rejected++
					continue
				}
				if v >= limit {
					t.Fatalf("sample %d at or above limit %d accepted", v, limit)
				}
				counts[code]++
			}
			want := uint8(span / n)
			for code, c := range counts {
				if c != want {
					t.Fatalf("code %06d came out %d times, want %d", code, c, want)
				}
			}
			assert.Equal(t, span%n, rejected, "got %d rejected samples, want %d", rejected, span%n)
		})
	}
}

// TestCodeSampleBelow64BitCycle runs the production 64-bit sampler for six
// digits over a counter spanning the last two full blocks below the
// limit and the whole rejected tail above it (2^64 mod n samples): every
// code must come out exactly twice and every tail sample be rejected.
// With the first block (TestGenerateCodeCounter) and the width-generic
// full cycles above, this covers both ends of the 64-bit range.
func TestCodeSampleBelow64BitCycle(t *testing.T) {
	for _, digits := range []int{6} {
		t.Run(fmt.Sprintf("digits=%d", digits), func(t *testing.T) {
			n, limit := pow10[digits], codeLimits[digits]
			counts := make([]uint8, n)
			var rejected uint64
			v := limit - 2*n
			for {
				code, ok := sampleBelow(v, n, limit)
				if ok != (v < limit) {
					t.Fatalf("sample %d: got accepted %v, want %v", v, ok, v < limit)
				}
				if ok {
					counts[code]++
				} else {
					rejected++
				}
				if v == math.MaxUint64 {
					break
				}
				v++
			}
			for code, c := range counts {
				if c != 2 {
					t.Fatalf("code %d came out %d times, want 2", code, c)
				}
			}
			tail := -limit // 2^64 - limit
			assert.Equal(t, tail, rejected, "got %d rejected samples, want %d", rejected, tail)
			assert.Less(t, tail, n, "got a tail of %d, want less than one block", tail)
		})
	}
}

// counterReader is a counter-based source: it yields the samples first,
// first+1, ..., each preceded by one sample of the rejected tail
// reject, reject+1, ... while they last (rejects of them), as 8 big-endian
// bytes each.
type counterReader struct {
	next, reject, rejects uint64
	rejectDue             bool
	buf                   [8]byte
	pending               []byte
}

func (r *counterReader) Read(p []byte) (int, error) {
	if len(r.pending) == 0 {
		r.rejectDue = !r.rejectDue && r.rejects > 0
		if r.rejectDue {
			binary.BigEndian.PutUint64(r.buf[:], r.reject)
			r.reject++
			r.rejects--
		} else {
			binary.BigEndian.PutUint64(r.buf[:], r.next)
			r.next++
		}
		r.pending = r.buf[:]
	}
	c := copy(p, r.pending)
	r.pending = r.pending[c:]
	return c, nil
}

// TestGenerateCodeCounter drives the public GenerateCode with a counter:
// the first block (samples 0 .. n-1) must give the codes 0 .. n-1 in order,
// and the last block below the limit, with a rejected tail sample read
// before each of its samples, must give them again while consuming every
// rejected sample.
func TestGenerateCodeCounter(t *testing.T) {
	const digits, n = 6, 1_000_000
	limit := codeLimits[digits]
	const checked = 1 << 16 // codes checked per block; the core tests cover the full cycle
	tests := []struct {
		name string
		r    *counterReader
	}{
		{"first block", &counterReader{next: 0}},
		{"last block with rejected tail", &counterReader{next: limit - n, reject: limit, rejects: checked}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range checked {
				code, err := GenerateCode(tt.r, digits)
				if err != nil {
					t.Fatalf("code %d: %v", i, err)
				}
				if want := fmt.Sprintf("%06d", i); code != want {
					t.Fatalf("code %d: got %q, want %q", i, code, want)
				}
			}
			assert.Zero(t, tt.r.rejects, "got %d rejected samples unread, want 0", tt.r.rejects)
		})
	}
	assert.Less(t, uint64(checked), -limit, "the tail must hold a rejected sample for every code checked")
}

func TestGenerateCodeExtremes(t *testing.T) {
	for d := minCodeDigits; d <= maxCodeDigits; d++ {
		zeros, nines := strings.Repeat("0", d), strings.Repeat("9", d)
		t.Run(fmt.Sprintf("digits=%d", d), func(t *testing.T) {
			code, err := GenerateCode(newUint64Reader(0), d)
			require.NoError(t, err)
			assert.Equal(t, zeros, code, "got %q, want %q", code, zeros)

			code, err = GenerateCode(newUint64Reader(codeLimits[d]-1), d)
			require.NoError(t, err)
			assert.Equal(t, nines, code, "got %q, want %q", code, nines)

			// 10^d itself wraps to zero: the code is v mod 10^d.
			code, err = GenerateCode(newUint64Reader(pow10[d]+42), d)
			require.NoError(t, err)
			want := strings.Repeat("0", d-2) + "42"
			assert.Equal(t, want, code, "got %q, want %q", code, want)
		})
	}
}

func TestGenerateCodeRejectsSamplesAtOrAboveLimit(t *testing.T) {
	limit := codeLimits[6]
	tests := []struct {
		name    string
		samples []uint64
		want    string
	}{
		{"limit then good", []uint64{limit, 42}, "000042"},
		{"max then good", []uint64{math.MaxUint64, 999999}, "999999"},
		{"several rejected", []uint64{limit + 1, math.MaxUint64, limit, 123456}, "123456"},
		{"just below limit accepted", []uint64{limit - 1, 1}, "999999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newUint64Reader(tt.samples...)
			code, err := GenerateCode(r, 6)
			require.NoError(t, err)
			assert.Equal(t, tt.want, code, "got %q, want %q", code, tt.want)
		})
	}
	t.Run("rejected sample is consumed", func(t *testing.T) {
		r := newUint64Reader(limit, 7, 8)
		code, err := GenerateCode(r, 6)
		require.NoError(t, err)
		assert.Equal(t, "000007", code)
		code, err = GenerateCode(r, 6)
		require.NoError(t, err)
		assert.Equal(t, "000008", code, "got %q, want the sample after the one used", code)
	})
}

func TestGenerateCodeBrokenSource(t *testing.T) {
	// All 0xff bytes: every sample is 2^64-1, always rejected.
	code, err := GenerateCode(constReader(0xff), 6)
	require.Error(t, err, "got code %q, want an error", code)
	assert.Contains(t, err.Error(), "rejected samples")
}

func TestGenerateCodeReadError(t *testing.T) {
	errBoom := errors.New("boom")
	_, err := GenerateCode(errReader{errBoom}, 6)
	assert.ErrorIs(t, err, errBoom)
	assert.Contains(t, err.Error(), "otpcode: generate code")

	_, err = GenerateCode(bytes.NewReader([]byte{1, 2, 3}), 6)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)

	_, err = GenerateCode(newUint64Reader(codeLimits[6]), 6)
	assert.ErrorIs(t, err, io.EOF, "got %v, want EOF after a rejected sample", err)
}

// chiSquareSurvival returns P(X >= x) for X chi-square with df degrees of
// freedom: the regularised upper incomplete gamma function Q(df/2, x/2),
// by its series (x < a+1) or its continued fraction (Numerical Recipes,
// 6.2). TestCodeChiSquareSurvival checks it against values from mpmath.
func chiSquareSurvival(df int, x float64) float64 {
	a, x := float64(df)/2, x/2
	if x <= 0 {
		return 1
	}
	lg, _ := math.Lgamma(a)
	front := math.Exp(-x + a*math.Log(x) - lg)
	if x < a+1 {
		sum, del := 1/a, 1/a
		for ap := a + 1; math.Abs(del) > math.Abs(sum)*1e-16; ap++ {
			del *= x / ap
			sum += del
		}
		return 1 - front*sum
	}
	const tiny = 1e-300
	b := x + 1 - a
	c, d := 1/tiny, 1/b
	h := d
	for i := 1.0; i < 1e5; i++ {
		an := -i * (i - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-16 {
			break
		}
	}
	return front * h
}

func TestCodeChiSquareSurvival(t *testing.T) {
	// Reference values: mpmath 1.3, gammainc(df/2, x/2, inf,
	// regularized=True) at 30 digits. The first point of each df is the
	// critical value for p = 1e-6: chi2(9) 44.811, chi2(999) 1226.046 (the
	// often quoted 48.0 and 1235 are approximations on the lenient side).
	tests := []struct {
		df   int
		x, p float64
	}{
		{9, 44.8109378706878, 1.00000000000001e-6},
		{9, 16.918977604620448, 0.05},
		{9, 3.0, 0.964294972685089},
		{9, 100.0, 1.57351763037539e-17},
		{999, 1226.04618901216, 1.00000000000018e-6},
		{999, 999.0, 0.494049877958528},
		{999, 1100.0, 0.0138184675255324},
		{999, 900.0, 0.988621187083419},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("df=%d x=%g", tt.df, tt.x), func(t *testing.T) {
			got := chiSquareSurvival(tt.df, tt.x)
			assert.InEpsilon(t, tt.p, got, 1e-9, "got p %g, want %g", got, tt.p)
		})
	}
}

// codeUniformity draws count six-digit codes from gen and returns the
// chi-square p-values of the leading digit (9 degrees of freedom) and of
// the code mod 1000 (999 degrees of freedom) against uniformity.
func codeUniformity(t *testing.T, count int, gen func() string) (pLeading, pMod1000 float64) {
	t.Helper()
	var leading [10]int
	var mod1000 [1000]int
	for range count {
		code := gen()
		if len(code) != 6 {
			t.Fatalf("got code %q, want 6 digits", code)
		}
		leading[code[0]-'0']++
		mod1000[int(code[3]-'0')*100+int(code[4]-'0')*10+int(code[5]-'0')]++
	}
	return chiSquareP(leading[:], count), chiSquareP(mod1000[:], count)
}

// chiSquareP returns the p-value of the chi-square statistic of counts,
// which total total, against equal expected counts.
func chiSquareP(counts []int, total int) float64 {
	expected := float64(total) / float64(len(counts))
	var stat float64
	for _, c := range counts {
		d := float64(c) - expected
		stat += d * d / expected
	}
	return chiSquareSurvival(len(counts)-1, stat)
}

// pThreshold is the significance level of the uniformity tests: a correct
// generator fails one of them once in a million runs.
const pThreshold = 1e-6

func TestGenerateCodeUniformCryptoRand(t *testing.T) {
	const count = 1_000_000
	var genErr error
	pLeading, pMod := codeUniformity(t, count, func() string {
		code, err := GenerateCode(rand.Reader, 6)
		if err != nil && genErr == nil {
			genErr = err
		}
		return code
	})
	require.NoError(t, genErr)
	t.Logf("p(leading digit) = %.4g, p(mod 1000) = %.4g", pLeading, pMod)
	assert.Greater(t, pLeading, pThreshold, "leading digit: got p %g, want > %g", pLeading, pThreshold)
	assert.Greater(t, pMod, pThreshold, "mod 1000: got p %g, want > %g", pMod, pThreshold)
}

// TestCodeChiSquareDetectsBias runs the same statistics on deliberately biased
// generators, fed by a seeded PRNG so the test is deterministic, to show
// that the uniformity test can fail.
func TestCodeChiSquareDetectsBias(t *testing.T) {
	const count = 1_000_000
	tests := []struct {
		name string
		// gen makes a biased code from the PRNG.
		gen           func(*mrand.ChaCha8) string
		leadingBiased bool
		mod1000Biased bool
	}{
		{
			// Each digit is a random byte mod 10: 0-5 come out 26 times in
			// 256, 6-9 only 25 times.
			name: "byte mod 10 per digit",
			gen: func(r *mrand.ChaCha8) string {
				var b [6]byte
				for i := range b {
					var x [1]byte
					_, _ = r.Read(x[:])
					b[i] = '0' + x[0]%10
				}
				return string(b[:])
			},
			leadingBiased: true,
		},
		{
			// The low three digits are a 10-bit sample mod 1000: 0-23 come
			// out twice as often as the rest.
			name: "10 bits mod 1000 for the low digits",
			gen: func(r *mrand.ChaCha8) string {
				hi := r.Uint64() % 1000 // unbiased enough at this size: 2^64 mod 1000 is tiny
				lo := (r.Uint64() & 0x3ff) % 1000
				return formatCode(hi*1000+lo, 6)
			},
			mod1000Biased: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := mrand.NewChaCha8([32]byte{1, 2, 3})
			pLeading, pMod := codeUniformity(t, count, func() string { return tt.gen(src) })
			t.Logf("p(leading digit) = %.4g, p(mod 1000) = %.4g", pLeading, pMod)
			if tt.leadingBiased {
				assert.Less(t, pLeading, pThreshold, "leading digit: got p %g, want the bias detected (< %g)", pLeading, pThreshold)
			}
			if tt.mod1000Biased {
				assert.Less(t, pMod, pThreshold, "mod 1000: got p %g, want the bias detected (< %g)", pMod, pThreshold)
			}
		})
	}
}

var tokenAlphabet = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestNewToken(t *testing.T) {
	t.Run("encodes 32 bytes of the source", func(t *testing.T) {
		src := bytes.Repeat([]byte{0xfb, 0xff, 0x00, 0x3e}, 8)
		tok, err := NewToken(bytes.NewReader(src))
		require.NoError(t, err)
		assert.Len(t, tok, 43)
		assert.Regexp(t, tokenAlphabet, tok)
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		require.NoError(t, err)
		assert.Equal(t, src, raw, "got %x, want %x", raw, src)
		assert.True(t, strings.ContainsAny(tok, "-_"), "got %q, want the URL-safe characters for 0xfb 0xff", tok)
	})
	t.Run("crypto/rand tokens differ", func(t *testing.T) {
		seen := map[string]bool{}
		for range 1000 {
			tok, err := NewToken(rand.Reader)
			require.NoError(t, err)
			require.Regexp(t, tokenAlphabet, tok)
			require.False(t, seen[tok], "got token %q twice", tok)
			seen[tok] = true
		}
	})
	t.Run("read error", func(t *testing.T) {
		errBoom := errors.New("boom")
		tok, err := NewToken(errReader{errBoom})
		assert.ErrorIs(t, err, errBoom)
		assert.Empty(t, tok)
		assert.Contains(t, err.Error(), "otpcode: new token")
	})
	t.Run("short source", func(t *testing.T) {
		_, err := NewToken(bytes.NewReader(make([]byte, 31)))
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
}

// raceEnabled reports whether the test binary was built with -race, under
// which sync.Pool drops a quarter of what is put back, on purpose.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// TestCodeAllocations pins the allocations per call: the result only, the
// pooled buffers being reused. Under -race, where the pool drops objects at
// random, each call may also allocate one fresh buffer. The keyring's
// allocations are pinned in package keyring.
func TestCodeAllocations(t *testing.T) {
	race := raceEnabled()
	freshBuf := testing.AllocsPerRun(10, func() { randBufPool.Put(randBufPool.New()) })
	tests := []struct {
		name  string
		max   float64
		fresh float64 // allocations of the pooled objects one call gets
		f     func()
	}{
		{"GenerateCode", 1, freshBuf, func() { _, _ = GenerateCode(rand.Reader, 6) }},
		{"NewToken", 1, freshBuf, func() { _, _ = NewToken(rand.Reader) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := testing.AllocsPerRun(200, tt.f)
			want := tt.max
			if race {
				want += tt.fresh
			}
			t.Logf("%v allocations per call (race %v)", got, race)
			assert.LessOrEqual(t, got, want, "got %v allocations per call, want at most %v", got, want)
		})
	}
}

func BenchmarkGenerateCode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := GenerateCode(rand.Reader, 6); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewToken(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewToken(rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePhoneUncached measures a phone number that is not in the
// parse cache: libphonenumber's full validation.
func BenchmarkParsePhoneUncached(b *testing.B) {
	const in = "+55 11 98765-4321"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		phoneCache.Remove(phoneKey{input: in})
		if _, err := (Parser{}).Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}
