package maildrop

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"

	"github.com/popadm/popadm/internal/crlf"
)

// countReader reads r to EOF with buf and returns (physical, transmitted)
// sizes.
func countReader(r io.Reader, buf []byte) (psize, vsize int64, err error) {
	var c crlf.Counter
	for {
		n, err := r.Read(buf)
		c.Add(buf[:n])
		if errors.Is(err, io.EOF) {
			return c.Stored(), c.Transmitted(), nil
		}
		if err != nil {
			return c.Stored(), c.Transmitted(), err
		}
	}
}

// crlfReader streams a message in its transmitted form: bare LF becomes
// CRLF, CRLF stays, other octets (lone CR, NUL, 8-bit) pass unchanged, and
// CRLF is appended when the message does not end in LF. It keeps only one
// buffer of the file in memory.
type crlfReader struct {
	src    io.Reader
	buf    []byte
	r, w   int   // unread input is buf[r:w]
	prevCR bool  // the last input octet consumed was CR
	anyIn  bool  // at least one input octet was consumed
	lastLF bool  // the last input octet consumed was LF
	pendLF bool  // an LF must be emitted before anything else
	tail   int   // octets of the final CRLF still to emit (2, 1 or 0)
	eof    bool  // src returned EOF
	err    error // sticky error from src
	in     int64 // input octets consumed
	out    int64 // output octets produced
	onEOF  func(in, out int64)
	done   bool
}

func newCRLFReader(src io.Reader, bufSize int, onEOF func(in, out int64)) *crlfReader {
	return &crlfReader{src: src, buf: make([]byte, bufSize), onEOF: onEOF}
}

// Read implements io.Reader.
func (c *crlfReader) Read(p []byte) (int, error) {
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
			if c.eof {
				if c.tail > 0 {
					p[n] = "\r\n"[2-c.tail]
					n++
					c.tail--
					continue
				}
				break
			}
			if c.err != nil {
				break
			}
			if n > 0 {
				// Hand out what we have before blocking on the file again.
				break
			}
			c.fill()
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
			c.in += int64(k)
			c.anyIn = true
			c.prevCR = seg[k-1] == '\r'
			c.lastLF = false
			continue
		}
		// chunk[0] is LF.
		c.r++
		c.in++
		c.anyIn = true
		c.lastLF = true
		if c.prevCR {
			p[n] = '\n'
			n++
		} else {
			p[n] = '\r'
			n++
			c.pendLF = true
		}
		c.prevCR = false
	}
	c.out += int64(n)
	if n > 0 {
		return n, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	if !c.done {
		c.done = true
		if c.onEOF != nil {
			c.onEOF(c.in, c.out)
		}
	}
	return 0, io.EOF
}

// fill reads the next block from src.
func (c *crlfReader) fill() {
	c.r, c.w = 0, 0
	m, err := c.src.Read(c.buf)
	c.w = m
	if errors.Is(err, io.EOF) {
		c.eof = true
		if c.anyIn || m > 0 {
			c.tail = 2
			if m > 0 && c.buf[m-1] == '\n' || m == 0 && c.lastLF {
				c.tail = 0
			}
		}
		return
	}
	if err != nil {
		c.err = err
	}
}

// countFile returns the physical and transmitted size of a regular file.
func countFile(path string, buf []byte) (psize, vsize int64, err error) {
	f, err := openMessageFile(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, 0, errors.New("not a regular file")
	}
	return countReader(f, buf)
}

// openMessageFile opens a message for reading. O_NONBLOCK keeps a FIFO
// planted in the maildir from blocking the open; it has no effect on
// regular files, and callers reject anything else.
func openMessageFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
