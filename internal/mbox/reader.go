package mbox

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"io"
)

// copyBufSize is the buffer of message streams and file copies.
const copyBufSize = 256 << 10

// readBufSize is the read buffer of one message stream.
const readBufSize = 32 << 10

// newHasher returns the hash used for prefix and journal checks.
func newHasher() hash.Hash { return sha256.New() }

// msgReader streams one message in its transmitted form: bare LF becomes
// CRLF, CRLF stays, all other octets (lone CR, NUL, 8-bit) pass unchanged,
// and CRLF is appended when the message does not end in LF. Before it
// hands out any of the last input block it runs check, so that a message
// read while another program rewrote the spool is never delivered whole.
type msgReader struct {
	src    *io.SectionReader
	left   int64 // input octets not yet read from src
	check  func() error
	buf    []byte
	r, w   int  // unread input is buf[r:w]
	prevCR bool // the last input octet consumed was CR
	pendLF bool // an LF must be emitted before anything else
	tail   int  // octets of the final CRLF still to emit
	err    error
}

func newMsgReader(src *io.SectionReader, check func() error) *msgReader {
	return &msgReader{src: src, left: src.Size(), check: check}
}

// Read implements io.Reader.
func (c *msgReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	for n < len(p) {
		if c.pendLF {
			p[n] = '\n'
			n++
			c.pendLF = false
			continue
		}
		if c.r == c.w {
			if c.left == 0 {
				if c.tail > 0 {
					p[n] = "\r\n"[2-c.tail]
					n++
					c.tail--
					continue
				}
				break
			}
			if c.err != nil || n > 0 {
				break
			}
			if c.err = c.fill(); c.err != nil {
				break
			}
			continue
		}
		chunk := c.buf[c.r:c.w]
		i := bytes.IndexByte(chunk, '\n')
		if i != 0 {
			seg := chunk
			if i > 0 {
				seg = chunk[:i]
			}
			k := copy(p[n:], seg)
			n += k
			c.r += k
			c.prevCR = seg[k-1] == '\r'
			continue
		}
		// chunk[0] is LF.
		c.r++
		p[n] = '\n'
		if !c.prevCR {
			p[n] = '\r'
			c.pendLF = true
		}
		n++
		c.prevCR = false
	}
	if n > 0 {
		return n, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	return 0, io.EOF
}

// fill reads the next input block. When it is the last one, check runs
// first and the block is dropped if check fails.
func (c *msgReader) fill() error {
	if c.buf == nil {
		c.buf = make([]byte, min(readBufSize, c.left))
	}
	k := int(min(int64(len(c.buf)), c.left))
	if _, err := io.ReadFull(c.src, c.buf[:k]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	c.left -= int64(k)
	if c.left == 0 {
		if err := c.check(); err != nil {
			return err
		}
		if c.buf[k-1] != '\n' {
			c.tail = 2
		}
	}
	c.r, c.w = 0, k
	return nil
}

// Close implements io.Closer. The spool stays open for the session.
func (c *msgReader) Close() error { return nil }
