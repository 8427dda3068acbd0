package crlf

import (
	"bytes"
	"errors"
	"io"
)

// maxEmptyReads is how many reads in a row may return neither octets nor
// an error before Read gives up with io.ErrNoProgress.
const maxEmptyReads = 100

// Reader streams a stored message in its transmitted form, the form whose
// size Counter computes: every LF not preceded by CR becomes CRLF, an
// existing CRLF stays, every other octet passes unchanged, and CRLF is
// appended when a non-empty message does not end in LF. It is not
// byte-stuffed. It holds one buffer of the stored message in memory.
//
// The source decides where the message ends: it returns io.EOF, with the
// last octets or after them. Any other error from the source is returned
// once the octets the source delivered with it have been handed out, and
// from every Read after that, unwrapped; the final CRLF is then never
// appended. A source that must vet the last block before it is sent (a
// re-check of the file, say) reads that block, runs its check and returns
// either the block with io.EOF or no octets with its error; Sized is such
// a source.
//
// A Reader is meant to be embedded by value in the stream type of a
// message store and set up with Reset, so that one allocation holds both.
type Reader struct {
	src    io.Reader
	buf    []byte
	r, w   int   // unread input is buf[r:w]
	base   int64 // input octets before buf[0]
	out    int64 // output octets produced
	err    error // sticky error from src
	prev   byte  // the input octet before buf[0], 0 if none
	tail   int8  // octets of the final CRLF still to emit (2, 1 or 0)
	empty  uint8 // consecutive reads of src that returned nothing
	pendLF bool  // an LF must be emitted before anything else
	eof    bool  // src returned io.EOF
}

// NewReader returns a Reader of the message src holds, read through a
// buffer of size octets (at least 1).
func NewReader(src io.Reader, size int) *Reader {
	r := new(Reader)
	r.Reset(src, size)
	return r
}

// Reset discards all state of r and makes it stream the message src holds
// through a buffer of size octets (at least 1), keeping the buffer r has
// if it is of that size.
func (r *Reader) Reset(src io.Reader, size int) {
	buf := r.buf
	if size = max(size, 1); len(buf) != size {
		buf = make([]byte, size)
	}
	*r = Reader{src: src, buf: buf}
}

// Consumed returns the octets of the stored message consumed so far. At
// io.EOF it is the stored size.
func (r *Reader) Consumed() int64 { return r.base + int64(r.r) }

// Produced returns the octets Read has returned so far. At io.EOF it is
// the transmitted size.
func (r *Reader) Produced() int64 { return r.out }

// Read implements io.Reader. It returns io.EOF after the whole
// transmitted form, and never waits for the source once it has octets
// to return.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	if r.pendLF {
		p[0] = '\n'
		n = 1
		r.pendLF = false
	}
	for n < len(p) {
		if r.r == r.w {
			if r.eof {
				if r.tail == 0 {
					break
				}
				p[n] = "\r\n"[2-r.tail]
				n++
				r.tail--
				continue
			}
			if r.err != nil || n > 0 {
				// Hand out what we have before reading the source again.
				break
			}
			r.fill()
			continue
		}
		chunk := r.buf[r.r:r.w]
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			i = len(chunk)
		}
		k := copy(p[n:], chunk[:i])
		n += k
		r.r += k
		if r.r == r.w || n == len(p) {
			continue
		}
		// r.buf[r.r] is LF; prev is the octet before it (0 if none).
		prev := r.prev
		if r.r > 0 {
			prev = r.buf[r.r-1]
		}
		r.r++
		switch {
		case prev == '\r':
			p[n] = '\n'
			n++
		case n+1 < len(p):
			p[n], p[n+1] = '\r', '\n'
			n += 2
		default:
			p[n] = '\r'
			n++
			r.pendLF = true
		}
	}
	r.out += int64(n)
	if n > 0 {
		return n, nil
	}
	if r.err != nil {
		return 0, r.err
	}
	return 0, io.EOF
}

// fill reads the next block from the source into the buffer, which holds
// no unread input.
func (r *Reader) fill() {
	if r.w > 0 {
		r.prev = r.buf[r.w-1]
		r.base += int64(r.w)
	}
	m, err := r.src.Read(r.buf)
	m = max(0, min(m, len(r.buf)))
	r.r, r.w = 0, m
	switch {
	case errors.Is(err, io.EOF):
		r.eof = true
		last, some := r.prev, r.base > 0
		if m > 0 {
			last, some = r.buf[m-1], true
		}
		if some && last != '\n' {
			r.tail = 2
		}
	case err != nil:
		r.err = err
	case m == 0:
		if r.empty++; r.empty >= maxEmptyReads {
			r.err = io.ErrNoProgress
		}
	default:
		r.empty = 0
	}
}
