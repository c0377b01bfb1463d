package main

import (
	"bytes"
	"encoding/json"
	"sync"
)

// maxPendingLine is the longest partial line the codeBox buffers; a longer
// one is dropped, so a writer that never ends its lines cannot grow it
// without bound.
const maxPendingLine = 64 << 10

// codeBox is the io.Writer the loyalty server's development sender writes
// its deliveries to, one JSON line each:
//
//	{"channel":"whatsapp","to":"+5531900000001","code":"493021","expires_at":"..."}
//
// It hands each code to the client waiting for the recipient ("to") named
// in it. A code nobody waits for is dropped. It is safe for concurrent use.
type codeBox struct {
	mu      sync.Mutex
	partial []byte
	waiting map[string]chan string
	dropped int
}

func newCodeBox() *codeBox {
	return &codeBox{waiting: make(map[string]chan string)}
}

// delivery is one line of the development sender.
type delivery struct {
	Channel string `json:"channel"`
	To      string `json:"to"`
	Code    string `json:"code"`
}

// expect registers a wait for the next code sent to to. The channel
// receives the code; call the returned function when done waiting, whether
// a code came or not.
func (c *codeBox) expect(to string) (<-chan string, func()) {
	ch := make(chan string, 1)
	c.mu.Lock()
	c.waiting[to] = ch
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		if c.waiting[to] == ch {
			delete(c.waiting, to)
		}
		c.mu.Unlock()
	}
}

// Write takes any part of the sender's output, lines whole or split.
func (c *codeBox) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(c.partial)+len(p) > maxPendingLine {
				c.partial = c.partial[:0]
				c.dropped++
				return n, nil
			}
			c.partial = append(c.partial, p...)
			return n, nil
		}
		line := p[:i]
		if len(c.partial) > 0 {
			c.partial = append(c.partial, line...)
			line = c.partial
		}
		c.deliver(line)
		c.partial = c.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

// deliver hands the code of one line to its waiter; c.mu is held.
func (c *codeBox) deliver(line []byte) {
	var d delivery
	if err := json.Unmarshal(line, &d); err != nil || d.To == "" || d.Code == "" {
		c.dropped++
		return
	}
	ch, ok := c.waiting[d.To]
	if !ok {
		c.dropped++
		return
	}
	delete(c.waiting, d.To)
	ch <- d.Code // never blocks: the channel has room for one and gets one
}

// droppedLines returns how many lines carried no code anyone waited for.
func (c *codeBox) droppedLines() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}
