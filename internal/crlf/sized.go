package crlf

import (
	"errors"
	"io"
)

// Sized is a Reader source for a stored message of known length, such as
// an io.SectionReader over a message inside a larger file. It reads R in
// full blocks and, before it returns the last block, runs Check: the
// block goes out with io.EOF only if Check returns nil, and is dropped
// otherwise, so a message read while another program rewrote the file is
// never delivered whole.
type Sized struct {
	// R holds the stored message.
	R io.Reader
	// N is the number of octets of the message not yet read from R.
	N int64
	// Check, if not nil, vets the message before its last block is
	// returned; its error is returned unchanged.
	Check func() error
}

// Read implements io.Reader. It fills p, or as much of it as is left of
// the message, and returns io.ErrUnexpectedEOF, dropping the partial
// block, if R ends early.
func (s *Sized) Read(p []byte) (int, error) {
	if s.N <= 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), s.N))
	if k == 0 {
		return 0, nil
	}
	if _, err := io.ReadFull(s.R, p[:k]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	s.N -= int64(k)
	if s.N > 0 {
		return k, nil
	}
	if s.Check != nil {
		if err := s.Check(); err != nil {
			return 0, err
		}
	}
	return k, io.EOF
}
