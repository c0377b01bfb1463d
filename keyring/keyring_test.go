package keyring

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The domains otpguard uses; the tests use them as realistic inputs.
const (
	codeDomain    = "otpguard/code/v1"
	sessionDomain = "otpguard/session/v1"
	subjectDomain = "otpguard/subject/v1"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, MinKeyBytes) }

func mustNew(tb testing.TB, keys ...[]byte) *Keyring {
	tb.Helper()
	k, err := New(keys...)
	require.NoError(tb, err)
	return k
}

// message is the documented encoding of (domain, fields), built here
// independently of the package: the domain's length as 8 big-endian bytes
// and the domain, then each field as an 8-byte big-endian length and its
// bytes.
func message(domain string, fields ...string) []byte {
	msg := binary.BigEndian.AppendUint64(nil, uint64(len(domain)))
	msg = append(msg, domain...)
	for _, f := range fields {
		msg = binary.BigEndian.AppendUint64(msg, uint64(len(f)))
		msg = append(msg, f...)
	}
	return msg
}

// plainHMAC is HMAC-SHA-256 of the documented encoding with crypto/hmac.
func plainHMAC(key []byte, domain string, fields ...string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(message(domain, fields...))
	return h.Sum(nil)
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		keys    [][]byte
		wantErr string
	}{
		{"no key", nil, "keyring: no key given"},
		{"short key", [][]byte{make([]byte, MinKeyBytes-1)}, "keyring: key 0 is 31 bytes, want at least 32"},
		{"short second key", [][]byte{testKey(1), make([]byte, 8)}, "key 1 is 8 bytes"},
		{"empty key", [][]byte{{}}, "key 0 is 0 bytes"},
		{"nil key", [][]byte{nil}, "key 0 is 0 bytes"},
		{"one key", [][]byte{testKey(1)}, ""},
		{"two keys", [][]byte{testKey(1), make([]byte, 64)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := New(tt.keys...)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Nil(t, k)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, len(tt.keys), k.Len(), "got %d keys, want %d", k.Len(), len(tt.keys))
		})
	}
}

func TestZeroKeyring(t *testing.T) {
	var k Keyring
	assert.Zero(t, k.Len())
	assert.False(t, k.Verify(codeDomain, make([]byte, sha256.Size), "acme"), "got a MAC verified by a keyring without keys")
	assert.False(t, k.Verify(codeDomain, nil), "got a nil MAC verified by a keyring without keys")
	assert.Panics(t, func() { k.Sign(codeDomain, "acme") }, "Sign without a key must panic, not sign with no key")
	assert.Panics(t, func() { k.Pseudonym(subjectDomain, "phone:+5511987654321") })
}

func TestSignVerify(t *testing.T) {
	k := mustNew(t, testKey(1))
	fields := []string{"acme", "phone:+5511987654321", "login", "123456"}
	mac := k.Sign(codeDomain, fields...)
	require.Len(t, mac, sha256.Size)
	assert.True(t, k.Verify(codeDomain, mac, fields...))
	assert.Equal(t, mac, k.Sign(codeDomain, fields...), "got a different MAC for the same input")

	tests := []struct {
		name   string
		domain string
		fields []string
	}{
		{"wrong code", codeDomain, []string{"acme", "phone:+5511987654321", "login", "123457"}},
		{"wrong integration", codeDomain, []string{"acme2", "phone:+5511987654321", "login", "123456"}},
		{"wrong subject", codeDomain, []string{"acme", "phone:+5511987654322", "login", "123456"}},
		{"wrong purpose", codeDomain, []string{"acme", "phone:+5511987654321", "payment", "123456"}},
		{"empty code", codeDomain, []string{"acme", "phone:+5511987654321", "login", ""}},
		{"field missing", codeDomain, []string{"acme", "phone:+5511987654321", "login"}},
		{"field added", codeDomain, []string{"acme", "phone:+5511987654321", "login", "123456", ""}},
		{"no fields", codeDomain, nil},
		{"other domain", sessionDomain, fields},
		{"domain version", "otpguard/code/v2", fields},
		{"empty domain", "", fields},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.False(t, k.Verify(tt.domain, mac, tt.fields...), "got verified, want refused")
		})
	}
	t.Run("other key", func(t *testing.T) {
		other := mustNew(t, testKey(2))
		assert.False(t, other.Verify(codeDomain, mac, fields...))
		assert.NotEqual(t, mac, other.Sign(codeDomain, fields...))
	})
	t.Run("Sign returns a fresh slice", func(t *testing.T) {
		a := k.Sign(codeDomain, fields...)
		b := k.Sign(codeDomain, fields...)
		a[0] ^= 0xff
		assert.True(t, k.Verify(codeDomain, b, fields...), "got one MAC changed by writing to another")
	})
}

// TestDomainSeparation: the same fields under two domains give two MACs,
// and neither verifies under the other domain; so a code MAC can never be
// passed off as a session MAC or a pseudonym, and the reverse.
func TestDomainSeparation(t *testing.T) {
	k := mustNew(t, testKey(1))
	fields := []string{"acme", "cust-1"}
	domains := []string{codeDomain, sessionDomain, subjectDomain, "", "otpguard/code/v1\x00"}
	macs := make([][]byte, len(domains))
	for i, d := range domains {
		macs[i] = k.Sign(d, fields...)
	}
	for i := range domains {
		for j := range domains {
			if i == j {
				continue
			}
			assert.NotEqual(t, macs[i], macs[j], "domains %q and %q gave the same MAC", domains[i], domains[j])
			assert.False(t, k.Verify(domains[j], macs[i], fields...), "MAC under %q verified under %q", domains[i], domains[j])
		}
	}
}

// TestVerifyMACLength: MACs of the wrong length, or tampered in any byte,
// are refused (the constant-time compare reports 0 for a length mismatch).
func TestVerifyMACLength(t *testing.T) {
	k := mustNew(t, testKey(1), testKey(2))
	fields := []string{"acme", "phone:+5511987654321", "login", "123456"}
	mac := k.Sign(codeDomain, fields...)
	for name, bad := range map[string][]byte{
		"nil":       nil,
		"empty":     {},
		"truncated": mac[:sha256.Size-1],
		"half":      mac[:sha256.Size/2],
		"extended":  append(bytes.Clone(mac), 0),
		"doubled":   append(bytes.Clone(mac), mac...),
	} {
		t.Run(name, func(t *testing.T) {
			assert.False(t, k.Verify(codeDomain, bad, fields...), "got a %d-byte MAC verified", len(bad))
		})
	}
	t.Run("each byte tampered", func(t *testing.T) {
		for i := range mac {
			bad := bytes.Clone(mac)
			bad[i] ^= 0x01
			assert.False(t, k.Verify(codeDomain, bad, fields...), "got a MAC verified with byte %d flipped", i)
		}
	})
}

// TestVerifyComputesEveryKey: Verify computes the MAC under every key
// whichever key matches, if any, so that its timing does not tell which
// key signed. Each key's pool of HMAC states is fresh, so its New runs on
// the first use of the key.
func TestVerifyComputesEveryKey(t *testing.T) {
	fields := []string{"acme", "phone:+5511987654321", "login", "123456"}
	signers := []struct {
		name string
		key  []byte
	}{
		{"first key matches", testKey(1)},
		{"last key matches", testKey(3)},
		{"no key matches", testKey(9)},
	}
	for _, s := range signers {
		t.Run(s.name, func(t *testing.T) {
			k := mustNew(t, testKey(1), testKey(2), testKey(3))
			used := make([]int, k.Len())
			for i, mk := range k.keys {
				fresh := mk.pool.New
				mk.pool.New = func() any { used[i]++; return fresh() }
			}
			mac := plainHMAC(s.key, codeDomain, fields...)
			want := !bytes.Equal(s.key, testKey(9))
			assert.Equal(t, want, k.Verify(codeDomain, mac, fields...))
			for i, n := range used {
				assert.Equal(t, 1, n, "key %d: got its MAC computed %d times, want once", i, n)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := testKey(1), testKey(2)
	fields := []string{"acme", "email:m@x.com", "login", "000000"}
	before := mustNew(t, oldKey)
	mac := before.Sign(codeDomain, fields...)

	during := mustNew(t, newKey, oldKey)
	assert.True(t, during.Verify(codeDomain, mac, fields...), "got old MAC refused during rotation, want accepted")
	fresh := during.Sign(codeDomain, fields...)
	assert.NotEqual(t, mac, fresh, "got the old key signing, want the new one")
	assert.Equal(t, plainHMAC(newKey, codeDomain, fields...), fresh, "got a MAC not made with the first key")
	assert.True(t, during.Verify(codeDomain, fresh, fields...))

	after := mustNew(t, newKey)
	assert.False(t, after.Verify(codeDomain, mac, fields...), "got old MAC accepted after the old key was dropped")
	assert.True(t, after.Verify(codeDomain, fresh, fields...))
	assert.False(t, before.Verify(codeDomain, fresh, fields...), "got new MAC accepted by the old key only")
}

func TestFieldBoundaries(t *testing.T) {
	k := mustNew(t, testKey(1))
	type tuple struct {
		domain string
		fields []string
	}
	tuples := []tuple{
		{"d", []string{"ab", "c", "d", "e"}},
		{"d", []string{"a", "bc", "d", "e"}},
		{"d", []string{"a", "b", "cd", "e"}},
		{"d", []string{"a", "b", "c", "de"}},
		{"d", []string{"abc", "", "d", "e"}},
		{"d", []string{"", "abc", "d", "e"}},
		{"d", []string{"a\x00", "bc", "d", "e"}},
		// A field that looks like a length prefix of the next.
		{"d", []string{"a" + string(make([]byte, 7)) + "\x01b", "", "d", "e"}},
		{"d", []string{"a", "b", "d", "e"}},
		// The number of fields counts, empty ones included.
		{"d", []string{"ab"}},
		{"d", []string{"a", "b"}},
		{"d", []string{"a"}},
		{"d", []string{"a", ""}},
		{"d", []string{""}},
		{"d", []string{"", ""}},
		{"d", nil},
		// The domain has a boundary too.
		{"da", []string{"b"}},
		{"", []string{"da", "b"}},
		{"", []string{"d"}},
		{"", nil},
		// A domain that looks like the length prefix of a field.
		{"d" + string(make([]byte, 7)) + "\x01a", nil},
	}
	macs := make([][]byte, len(tuples))
	for i, tu := range tuples {
		macs[i] = k.Sign(tu.domain, tu.fields...)
	}
	for i := range tuples {
		for j := range tuples {
			if i == j {
				continue
			}
			tu := tuples[j]
			assert.False(t, k.Verify(tu.domain, macs[i], tu.fields...), "MAC of %q %q verified for %q %q", tuples[i].domain, tuples[i].fields, tu.domain, tu.fields)
		}
	}
}

// TestKnownAnswer pins the signed encoding: the domain's length as 8
// big-endian bytes and the domain, then each field as an 8-byte big-endian
// length and its bytes. The expected MACs are computed here with
// crypto/hmac over that layout; long fields and domains run through the
// chunked writer's flushes.
func TestKnownAnswer(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	k := mustNew(t, key)

	// One vector pinned as hex, computed outside Go (Python's hmac module
	// over the same layout), so the encoding cannot drift along with the
	// test's own copy of it.
	const pinned = "6e6513a67e367445985d359d19b371f65d235507d88848c6ee315da2f2d31620"
	got := k.Sign(codeDomain, "acme", "cpf:12345678909", "login", "123456")
	assert.Equal(t, pinned, hex.EncodeToString(got))

	tests := []struct {
		name   string
		domain string
		fields []string
	}{
		{"code", codeDomain, []string{"acme", "cpf:12345678909", "login", "123456"}},
		{"session", sessionDomain, []string{strings.Repeat("f", 64), "acme", "cust-1", "redeem_reward", "1795521600000000000", "1795523400000000000"}},
		{"long fields", codeDomain, []string{strings.Repeat("i", 119), strings.Repeat("s", 300), "", strings.Repeat("c", 1000)}},
		{"fields at the buffer's edge", codeDomain, []string{strings.Repeat("a", 128-8-len(codeDomain)-8), strings.Repeat("b", 128-8), strings.Repeat("c", 127)}},
		{"long domain", strings.Repeat("D", 300), []string{"x"}},
		{"empty fields", codeDomain, []string{"", "", "", ""}},
		{"no fields", codeDomain, nil},
		{"empty domain, no fields", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := plainHMAC(key, tt.domain, tt.fields...)
			got := k.Sign(tt.domain, tt.fields...)
			assert.Equal(t, want, got, "got %x, want %x", got, want)
			assert.True(t, k.Verify(tt.domain, want, tt.fields...))
		})
	}
}

func TestCopiesKeys(t *testing.T) {
	key := testKey(7)
	k := mustNew(t, key)
	want := k.Sign("d", "a", "b", "c")
	wantP := k.Pseudonym(subjectDomain, "a")
	clear(key)
	got := k.Sign("d", "a", "b", "c")
	assert.Equal(t, want, got, "got the MAC changed after the caller cleared its key slice")
	assert.Equal(t, wantP, k.Pseudonym(subjectDomain, "a"), "got the pseudonym changed after the caller cleared its key slice")
}

var pseudonymAlphabet = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

func TestPseudonym(t *testing.T) {
	const value = "phone:+5511987654321"
	k := mustNew(t, testKey(1))
	p := k.Pseudonym(subjectDomain, value)

	t.Run("22 characters of base64url", func(t *testing.T) {
		for _, v := range []string{value, "", "customer:cust-1", strings.Repeat("x", 1000), "\x00\xff"} {
			got := k.Pseudonym(subjectDomain, v)
			assert.Regexp(t, pseudonymAlphabet, got, "pseudonym of %q", v)
			raw, err := base64.RawURLEncoding.DecodeString(got)
			require.NoError(t, err)
			assert.Len(t, raw, 16, "got %d bytes, want 128 bits", len(raw))
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		assert.Equal(t, p, k.Pseudonym(subjectDomain, value))
		again := mustNew(t, testKey(1))
		assert.Equal(t, p, again.Pseudonym(subjectDomain, value), "got another pseudonym from another keyring with the same key")
	})
	t.Run("known answer", func(t *testing.T) {
		key := []byte("0123456789abcdef0123456789abcdef")
		k := mustNew(t, key)
		// Computed outside Go, as in TestKnownAnswer.
		assert.Equal(t, "tSBL1wptXckorEIImDoQBQ", k.Pseudonym(subjectDomain, value))
		want := base64.RawURLEncoding.EncodeToString(plainHMAC(key, subjectDomain, value)[:16])
		assert.Equal(t, want, k.Pseudonym(subjectDomain, value))
	})
	t.Run("appended", func(t *testing.T) {
		for _, v := range []string{value, "", strings.Repeat("x", 300)} {
			got := k.AppendPseudonym([]byte("prefix"), subjectDomain, v)
			assert.Equal(t, "prefix"+k.Pseudonym(subjectDomain, v), string(got), "value of %d bytes", len(v))
		}
		buf := make([]byte, 0, 2*PseudonymLen)
		allocs := testing.AllocsPerRun(100, func() {
			b := k.AppendPseudonym(buf[:0], subjectDomain, value)
			_ = k.AppendPseudonym(b, subjectDomain, "customer:cust-1")
		})
		assert.Zero(t, allocs, "got %v allocations appending two pseudonyms to room for them", allocs)
	})
	t.Run("differs per value", func(t *testing.T) {
		assert.NotEqual(t, p, k.Pseudonym(subjectDomain, "phone:+5511987654322"))
		assert.NotEqual(t, p, k.Pseudonym(subjectDomain, "email:maria@example.com"))
	})
	t.Run("differs per domain", func(t *testing.T) {
		assert.NotEqual(t, p, k.Pseudonym("otpguard/subject/v2", value))
		assert.NotEqual(t, p, k.Pseudonym(codeDomain, value))
		assert.NotEqual(t, p, k.Pseudonym("", value))
	})
	t.Run("differs per key", func(t *testing.T) {
		assert.NotEqual(t, p, mustNew(t, testKey(2)).Pseudonym(subjectDomain, value))
	})
	t.Run("first key only", func(t *testing.T) {
		// A second key does not change it; a new first key does: rotating
		// changes every pseudonym.
		assert.Equal(t, p, mustNew(t, testKey(1), testKey(2)).Pseudonym(subjectDomain, value))
		assert.NotEqual(t, p, mustNew(t, testKey(2), testKey(1)).Pseudonym(subjectDomain, value), "got the old pseudonym after rotating")
	})
	t.Run("hides the value", func(t *testing.T) {
		for _, v := range []string{value, "cpf:52998224725", "email:maria@example.com", "customer:cust-maria"} {
			got := k.Pseudonym(subjectDomain, v)
			_, bare, _ := strings.Cut(v, ":")
			assert.NotContains(t, got, bare, "pseudonym %q contains the value %q", got, v)
			assert.NotContains(t, got, base64.RawURLEncoding.EncodeToString([]byte(v))[:8], "pseudonym %q contains an encoding of the value", got)
		}
		assert.NotContains(t, p, "987654321")
	})
	t.Run("not a MAC that verifies", func(t *testing.T) {
		raw, err := base64.RawURLEncoding.DecodeString(p)
		require.NoError(t, err)
		assert.False(t, k.Verify(subjectDomain, raw, value), "got a truncated pseudonym accepted as a MAC")
	})
}

func TestConcurrent(t *testing.T) {
	k := mustNew(t, testKey(1), testKey(2))
	wantP := k.Pseudonym(subjectDomain, "phone:+5511987654321")
	const workers, rounds = 8, 200
	var wg sync.WaitGroup
	failures := make([]int, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				code := fmt.Sprintf("%06d", w*rounds+i)
				mac := k.Sign(codeDomain, "acme", "phone:+5511987654321", "login", code)
				if !k.Verify(codeDomain, mac, "acme", "phone:+5511987654321", "login", code) {
					failures[w]++
				}
				if k.Verify(codeDomain, mac, "acme", "phone:+5511987654321", "login", code+"0") {
					failures[w]++
				}
				if k.Pseudonym(subjectDomain, "phone:+5511987654321") != wantP {
					failures[w]++
				}
			}
		}()
	}
	wg.Wait()
	for w, f := range failures {
		assert.Zero(t, f, "worker %d: got %d wrong answers, want 0", w, f)
	}
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

// Sinks make the results escape, as they do in real use, so that the
// allocations are counted even where the compiler inlines the call.
var (
	sinkMAC    []byte
	sinkOK     bool
	sinkString string
)

// TestAllocations pins the allocations per call: the result only (a MAC's
// 32 bytes, a pseudonym's string), the pooled HMAC states being reused.
// Under -race, where the pool drops objects at random, each call may also
// allocate one fresh state per key it uses.
func TestAllocations(t *testing.T) {
	k := mustNew(t, testKey(1), testKey(2))
	fields := []string{"acme", "phone:+5511987654321", "login", "123456"}
	mac := k.Sign(codeDomain, fields...)
	race := raceEnabled()
	freshState := testing.AllocsPerRun(10, func() { k.keys[0].pool.Put(k.keys[0].pool.New()) })
	tests := []struct {
		name  string
		max   float64
		fresh float64 // allocations of the pooled states one call gets
		f     func()
	}{
		{"Sign", 1, freshState, func() { sinkMAC = k.Sign(codeDomain, fields...) }},
		{"Sign with literal fields", 1, freshState, func() { sinkMAC = k.Sign(codeDomain, "acme", "phone:+5511987654321", "login", "123456") }},
		{"Verify", 0, 2 * freshState, func() { sinkOK = k.Verify(codeDomain, mac, fields...) }},
		{"Pseudonym", 1, freshState, func() { sinkString = k.Pseudonym(subjectDomain, "phone:+5511987654321") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := testing.AllocsPerRun(200, tt.f)
			want := tt.max
			if race {
				want += tt.fresh
			}
			t.Logf("%v allocations per call (race %v, %v per fresh state)", got, race, freshState)
			assert.LessOrEqual(t, got, want, "got %v allocations per call, want at most %v", got, want)
		})
	}
}

func BenchmarkKeyringSign(b *testing.B) {
	k := mustNew(b, testKey(1))
	b.ReportAllocs()
	for b.Loop() {
		sinkMAC = k.Sign(codeDomain, "acme", "phone:+5511987654321", "login", "123456")
	}
}

func BenchmarkKeyringVerify(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			keys := make([][]byte, n)
			for i := range keys {
				keys[i] = testKey(byte(i + 1))
			}
			k := mustNew(b, keys...)
			// Signed with the last key: the worst case, though Verify
			// does the same work whichever key matches.
			mac := mustNew(b, keys[n-1]).Sign(codeDomain, "acme", "phone:+5511987654321", "login", "123456")
			b.ReportAllocs()
			for b.Loop() {
				if !k.Verify(codeDomain, mac, "acme", "phone:+5511987654321", "login", "123456") {
					b.Fatal("got refused, want verified")
				}
			}
		})
	}
}

func BenchmarkKeyringPseudonym(b *testing.B) {
	k := mustNew(b, testKey(1))
	b.ReportAllocs()
	for b.Loop() {
		sinkString = k.Pseudonym(subjectDomain, "phone:+5511987654321")
	}
}

// BenchmarkHMACBaseline is the cost of a plain HMAC-SHA-256 of the same
// message with a fresh hmac.New per call, for comparison with the pooled
// Keyring.
func BenchmarkHMACBaseline(b *testing.B) {
	key := testKey(1)
	msg := message(codeDomain, "acme", "phone:+5511987654321", "login", "123456")
	b.ReportAllocs()
	for b.Loop() {
		h := hmac.New(sha256.New, key)
		h.Write(msg)
		sinkMAC = h.Sum(nil)
	}
}
