package loyalty

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSealer(t *testing.T) {
	keys, err := dataKeys(nil, [][]byte{bytes.Repeat([]byte{1}, 32)})
	require.NoError(t, err)
	s, err := newSealer(keys)
	require.NoError(t, err)

	sealed := s.seal("c1", "phone", MariaPhone)
	assert.NotContains(t, sealed, "987654321")
	assert.NotEqual(t, sealed, s.seal("c1", "phone", MariaPhone), "two seals of one value must differ (random nonces)")
	got, err := s.open("c1", "phone", sealed)
	require.NoError(t, err)
	assert.Equal(t, MariaPhone, got)

	// A sealed value opens only for its customer and field.
	_, err = s.open("c2", "phone", sealed)
	assert.Error(t, err, "opened another customer's phone")
	_, err = s.open("c1", "email", sealed)
	assert.Error(t, err, "opened the phone as an email")
	_, err = s.open("c1", "phone", "not base64!")
	assert.Error(t, err)

	got, err = s.open("c1", "name", s.seal("c1", "name", ""))
	require.NoError(t, err)
	assert.Empty(t, got, "an empty value stays empty")
}

// TestSealerRotation: with a new pepper first, what the old pepper's data
// key sealed still opens; without the old pepper it does not.
func TestSealerRotation(t *testing.T) {
	oldPepper, newPepper := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	sealer := func(peppers ...[]byte) *sealer {
		keys, err := dataKeys(nil, peppers)
		require.NoError(t, err)
		s, err := newSealer(keys)
		require.NoError(t, err)
		return s
	}
	sealed := sealer(oldPepper).seal("c1", "email", "maria@example.com")
	got, err := sealer(newPepper, oldPepper).open("c1", "email", sealed)
	require.NoError(t, err)
	assert.Equal(t, "maria@example.com", got)
	_, err = sealer(newPepper).open("c1", "email", sealed)
	assert.Error(t, err)

	// A data key of its own survives any pepper.
	key := bytes.Repeat([]byte{3}, dataKeyBytes)
	keys, err := dataKeys(key, [][]byte{oldPepper})
	require.NoError(t, err)
	assert.Equal(t, [][]byte{key}, keys)
}

func TestDataKeysErrors(t *testing.T) {
	_, err := dataKeys([]byte("short"), nil)
	assert.ErrorContains(t, err, "data key is 5 bytes, want 32")
	_, err = dataKeys(nil, nil)
	assert.Error(t, err)
}

func TestDefaultPseudonym(t *testing.T) {
	pseudonym, err := keyedPseudonym(bytes.Repeat([]byte{1}, 32))
	require.NoError(t, err)
	other, err := keyedPseudonym(bytes.Repeat([]byte{2}, 32))
	require.NoError(t, err)
	p := pseudonym("phone:" + MariaPhone)
	assert.Len(t, p, 64)
	assert.NotContains(t, p, "987654321")
	assert.Equal(t, p, pseudonym("phone:"+MariaPhone), "a pseudonym must be stable")
	assert.NotEqual(t, p, pseudonym("phone:+5521998765432"))
	assert.NotEqual(t, p, other("phone:"+MariaPhone), "a pseudonym must depend on the pepper")
}
