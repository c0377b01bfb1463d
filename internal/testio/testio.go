// Package testio holds I/O helpers for otpguard's own tests.
package testio

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that concurrent writers may share: a server's
// output or a logger written from handler goroutines while a test reads it.
// The zero value is ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
