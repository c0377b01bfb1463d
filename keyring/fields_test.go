package keyring

import (
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFieldsMatchSign: fields written one by one make the MAC Sign makes
// of the same fields, whole or truncated, String and Bytes alike, however
// long the fields (the state's buffer is 256 bytes: fields of 300 and
// 600 bytes cross it).
func TestFieldsMatchSign(t *testing.T) {
	k := mustNew(t, testKey(1))
	long := string(make([]byte, 300))
	for _, fields := range [][]string{
		nil,
		{""},
		{"acme", "phone:+5511987654321", "login", "123456"},
		{long, "x", long},
		{long + long, long, "y"},
	} {
		want := k.Sign(codeDomain, fields...)
		for _, n := range []int{MinTagBytes, 20, sha256.Size} {
			tag := make([]byte, n)
			k.SignFields(tag, codeDomain, func(f Fields) {
				for i, s := range fields {
					if i%2 == 0 {
						f.String(s)
					} else {
						f.Bytes([]byte(s))
					}
				}
			})
			assert.Equal(t, want[:n], tag, "fields %q, tag of %d bytes", fields, n)
			write := func(f Fields) {
				for _, s := range fields {
					f.String(s)
				}
			}
			assert.True(t, k.VerifyFields(tag, codeDomain, write), "fields %q, tag of %d bytes: got refused", fields, n)
			assert.True(t, k.Verify(codeDomain, want, fields...), "Verify of Sign's MAC")
			bad := append([]byte(nil), tag...)
			bad[n-1] ^= 1
			assert.False(t, k.VerifyFields(bad, codeDomain, write), "fields %q: got an edited tag verified", fields)
			assert.False(t, k.VerifyFields(tag, sessionDomain, write), "fields %q: got a tag verified in another domain", fields)
		}
	}
}

// TestVerifyFieldsTagLength: a tag shorter than MinTagBytes or longer than
// a MAC is refused, even when its bytes are the MAC's; SignFields refuses to
// make one.
func TestVerifyFieldsTagLength(t *testing.T) {
	k := mustNew(t, testKey(1))
	mac := k.Sign(codeDomain, "x")
	write := func(f Fields) { f.String("x") }
	for _, tag := range [][]byte{nil, {}, mac[:1], mac[:MinTagBytes-1], append(mac, 0)} {
		assert.False(t, k.VerifyFields(tag, codeDomain, write), "got a tag of %d bytes verified", len(tag))
	}
	for _, n := range []int{0, MinTagBytes - 1, sha256.Size + 1} {
		assert.Panics(t, func() { k.SignFields(make([]byte, n), codeDomain, write) }, "SignFields with a tag of %d bytes", n)
	}
}

// TestVerifyFieldsRotation: every key verifies, the first signs, and
// write is called once per key.
func TestVerifyFieldsRotation(t *testing.T) {
	oldRing := mustNew(t, testKey(1))
	rotated := mustNew(t, testKey(2), testKey(1))
	fresh := mustNew(t, testKey(2))
	calls := 0
	write := func(f Fields) { calls++; f.Bytes([]byte("random")) }
	old := make([]byte, MinTagBytes)
	oldRing.SignFields(old, "d", write)
	calls = 0
	assert.True(t, rotated.VerifyFields(old, "d", write), "old tag under the rotated ring")
	assert.Equal(t, 2, calls, "got write called %d times for two keys, want 2", calls)
	assert.False(t, fresh.VerifyFields(old, "d", write), "old tag once the old key is dropped")
	nw := make([]byte, MinTagBytes)
	rotated.SignFields(nw, "d", write)
	assert.True(t, fresh.VerifyFields(nw, "d", write), "new tag under the new key alone")
	assert.False(t, oldRing.VerifyFields(nw, "d", write), "new tag under the old key alone")
}

func TestFieldsAllocations(t *testing.T) {
	k := mustNew(t, testKey(1), testKey(2))
	var random [32]byte
	tag := make([]byte, MinTagBytes)
	write := func(f Fields) { f.Bytes(random[:]); f.String("goomer") }
	k.SignFields(tag, "d", write)
	require.True(t, k.VerifyFields(tag, "d", write))
	for name, f := range map[string]func(){
		"SignFields":   func() { k.SignFields(tag, "d", write) },
		"VerifyFields": func() { sinkOK = k.VerifyFields(tag, "d", write) },
	} {
		assert.Zero(t, testing.AllocsPerRun(200, f), "%s: got allocations, want none", name)
	}
}

func BenchmarkKeyringVerifyFields(b *testing.B) {
	k := mustNew(b, testKey(1))
	var random [32]byte
	tag := make([]byte, MinTagBytes)
	write := func(f Fields) { f.Bytes(random[:]) }
	k.SignFields(tag, "otpguard/token/v1", write)
	b.ReportAllocs()
	for b.Loop() {
		if !k.VerifyFields(tag, "otpguard/token/v1", write) {
			b.Fatal("got refused")
		}
	}
}
