// Package crlf counts the octets of a message as POP3 transmits it
// (RFC 1939 §11): every LF not preceded by CR becomes CRLF, an existing
// CRLF stays, every other octet (a lone CR, NUL, 8-bit) passes unchanged,
// and a message that does not end in LF gets CRLF appended. The Maildir and
// mbox stores both size messages this way, so LIST always equals what RETR
// sends.
package crlf

import "bytes"

// Counter computes the transmitted size incrementally, one chunk of the
// stored message at a time. The zero value is ready to use.
type Counter struct {
	n      int64 // octets added
	bareLF int64 // LFs not preceded by CR
	last   byte  // last octet added
}

// Add feeds the next chunk of the stored message.
func (c *Counter) Add(p []byte) {
	if len(p) == 0 {
		return
	}
	lf := int64(bytes.Count(p, []byte{'\n'}))
	crlf := int64(bytes.Count(p, []byte("\r\n")))
	if c.n > 0 && c.last == '\r' && p[0] == '\n' {
		crlf++ // a CRLF split across two chunks
	}
	c.bareLF += lf - crlf
	c.n += int64(len(p))
	c.last = p[len(p)-1]
}

// Stored returns the octets added so far.
func (c *Counter) Stored() int64 { return c.n }

// EndsInLF reports whether the octets added so far end in LF.
func (c *Counter) EndsInLF() bool { return c.n > 0 && c.last == '\n' }

// Transmitted returns the transmitted size of everything added so far.
func (c *Counter) Transmitted() int64 {
	v := c.n + c.bareLF
	if c.n > 0 && c.last != '\n' {
		v += 2
	}
	return v
}
