package mbox

import (
	"crypto/sha256"
	"hash"
	"io"

	"github.com/popadm/popadm/internal/crlf"
)

// copyBufSize is the buffer of message streams and file copies.
const copyBufSize = 256 << 10

// readBufSize is the read buffer of one message stream.
const readBufSize = 32 << 10

// newHasher returns the hash used for prefix and journal checks.
func newHasher() hash.Hash { return sha256.New() }

// msgReader streams one message in its transmitted form (see
// crlf.Reader). Before it hands out any of the last input block it runs
// check, so that a message read while another program rewrote the spool
// is never delivered whole.
type msgReader struct {
	crlf.Reader
	src crlf.Sized
}

func newMsgReader(src *io.SectionReader, check func() error) *msgReader {
	c := &msgReader{src: crlf.Sized{R: src, N: src.Size(), Check: check}}
	c.Reset(&c.src, int(min(readBufSize, src.Size())))
	return c
}

// Close implements io.Closer. The spool stays open for the session.
func (c *msgReader) Close() error { return nil }
