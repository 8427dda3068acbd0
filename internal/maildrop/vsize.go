package maildrop

import (
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

// crlfReader streams a message file in its transmitted form (see
// crlf.Reader) and, the first time it reaches EOF, reports the octets it
// read and sent to onEOF.
type crlfReader struct {
	crlf.Reader
	onEOF func(in, out int64)
	done  bool
}

func newCRLFReader(src io.Reader, bufSize int, onEOF func(in, out int64)) *crlfReader {
	c := &crlfReader{onEOF: onEOF}
	c.Reset(src, bufSize)
	return c
}

// Read implements io.Reader.
func (c *crlfReader) Read(p []byte) (int, error) {
	n, err := c.Reader.Read(p)
	if err == io.EOF && !c.done {
		c.done = true
		if c.onEOF != nil {
			c.onEOF(c.Consumed(), c.Produced())
		}
	}
	return n, err
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
