package keyring_test

import (
	"bytes"
	"fmt"

	"github.com/otpguard/otpguard/keyring"
)

func ExampleKeyring() {
	current := bytes.Repeat([]byte{'k'}, keyring.MinKeyBytes) // load from a secret store
	keys, err := keyring.New(current)
	if err != nil {
		panic(err)
	}
	// The domain names the use of the MAC; the fields are what it binds.
	mac := keys.Sign("example/code/v1", "acme", "login", "042137")
	fmt.Println(keys.Verify("example/code/v1", mac, "acme", "login", "042137"))
	fmt.Println(keys.Verify("example/code/v1", mac, "acme", "login", "042138"))
	fmt.Println(keys.Verify("example/other/v1", mac, "acme", "login", "042137"))

	// Rotation: the new key signs, the old one still verifies.
	rotated, err := keyring.New(bytes.Repeat([]byte{'n'}, keyring.MinKeyBytes), current)
	if err != nil {
		panic(err)
	}
	fmt.Println(rotated.Verify("example/code/v1", mac, "acme", "login", "042137"))
	// Output:
	// true
	// false
	// false
	// true
}

func ExampleKeyring_Pseudonym() {
	current := bytes.Repeat([]byte{'k'}, keyring.MinKeyBytes) // load from a secret store
	keys, err := keyring.New(current)
	if err != nil {
		panic(err)
	}
	p := keys.Pseudonym("example/subject/v1", "phone:+5511987654321")
	fmt.Println(len(p), p == keys.Pseudonym("example/subject/v1", "phone:+5511987654321"))

	// Only the first key makes pseudonyms: rotating changes them all.
	rotated, err := keyring.New(bytes.Repeat([]byte{'n'}, keyring.MinKeyBytes), current)
	if err != nil {
		panic(err)
	}
	fmt.Println(p == rotated.Pseudonym("example/subject/v1", "phone:+5511987654321"))
	// Output:
	// 22 true
	// false
}
