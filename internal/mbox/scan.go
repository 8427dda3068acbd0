package mbox

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// scanBufSize is the read buffer of a scan and the longest line fragment
// the scanner looks at at once; longer lines are handled in pieces.
const scanBufSize = 64 << 10

// scanResult is what one scan of the spool found.
type scanResult struct {
	units     []unit   // every message in file order, the pseudo message too
	prefixEnd int64    // start of the first unit (after leading blank lines)
	size      int64    // octets scanned
	sum       [32]byte // SHA-256 of the octets scanned
	mmdf      bool     // the file starts with an MMDF delimiter
}

// scanState is where in the mbox grammar the scanner is.
type scanState int

const (
	stPrefix    scanState = iota // before the first message: blank lines only
	stFromLine                   // inside a long From_ line
	stHeader                     // header section
	stBody                       // body
	stMMDFFirst                  // right after an opening MMDF delimiter
	stBetween                    // after a closing MMDF delimiter
	stExpect                     // after a Content-Length body: a From_ line or EOF
)

// scanner parses an mbox in one streaming pass (mbox-spool.md §2.2).
type scanner struct {
	ra     io.ReaderAt
	size   int64
	br     *bufio.Reader
	off    int64 // offset of the next unread byte
	atLine bool  // the next fragment starts a line
	maxN   int
	log    *slog.Logger

	res     scanResult
	state   scanState
	cur     *builder
	pend    []byte // a blank line held back: it may be the separator
	pendOff int64
	scratch []byte
}

// scan parses the first size bytes of ra.
func scan(ra io.ReaderAt, size int64, maxMessages int, log *slog.Logger) (*scanResult, error) {
	h := sha256.New()
	s := &scanner{
		ra:     ra,
		size:   size,
		br:     bufio.NewReaderSize(io.TeeReader(io.NewSectionReader(ra, 0, size), h), scanBufSize),
		atLine: true,
		maxN:   maxMessages,
		log:    log,
	}
	s.res.size = size
	for {
		start := s.atLine
		frag, err := s.br.ReadSlice('\n')
		s.off += int64(len(frag))
		s.atLine = err == nil
		if len(frag) > 0 {
			var perr error
			if start {
				perr = s.line(frag, s.off-int64(len(frag)))
			} else {
				s.cont(frag)
			}
			if perr != nil {
				return nil, perr
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("mbox: read: %w", err)
		}
	}
	if s.off != size {
		return nil, fmt.Errorf("mbox: read: %w", io.ErrUnexpectedEOF)
	}
	s.finish()
	copy(s.res.sum[:], h.Sum(nil))
	if s.state == stPrefix {
		s.res.prefixEnd = size
	}
	return &s.res, nil
}

// line handles a fragment that starts a line at offset off.
func (s *scanner) line(frag []byte, off int64) error {
	switch s.state {
	case stPrefix:
		switch {
		case isBlank(frag):
			return nil
		case hasFrom(frag):
			s.res.prefixEnd = off
			return s.begin(frag, off)
		case isMMDF(frag):
			s.res.prefixEnd = off
			s.res.mmdf = true
			return s.beginMMDF(off)
		}
		return fmt.Errorf("%w: no From_ line at offset %d", ErrFormat, off)
	case stExpect:
		if !hasFrom(frag) {
			return fmt.Errorf("mbox: internal error: no From_ line after Content-Length body at offset %d", off)
		}
		return s.begin(frag, off)
	case stBetween:
		switch {
		case isMMDF(frag):
			return s.beginMMDF(off)
		case hasFrom(frag):
			return s.begin(frag, off)
		case !isBlank(frag):
			s.log.Warn("mbox: data between MMDF messages", "offset", off)
		}
		return nil
	}
	if s.cur.u.mmdf {
		return s.mmdfLine(frag, off)
	}
	if hasFrom(frag) {
		if s.pend != nil {
			s.cur.finish(s.pendOff)
			s.pend = nil
			return s.begin(frag, off)
		}
		if isStrictFrom(frag) {
			s.log.Info("mbox: message starts without a blank line before its From_ line", "offset", off)
			s.cur.finish(off)
			return s.begin(frag, off)
		}
	}
	s.flush()
	if s.state == stHeader {
		if !isBlank(frag) {
			s.cur.headerLine(frag)
			return nil
		}
		if done, err := s.contentLength(frag); done || err != nil {
			return err
		}
		s.state = stBody
	}
	if isBlank(frag) {
		s.pend = append(s.pend[:0], frag...)
		s.pendOff = off
		return nil
	}
	s.cur.msg(frag, true)
	return nil
}

// mmdfLine handles a line of an MMDF message.
func (s *scanner) mmdfLine(frag []byte, off int64) error {
	if isMMDF(frag) {
		s.cur.finish(off)
		s.state = stBetween
		return nil
	}
	switch s.state {
	case stMMDFFirst:
		s.state = stHeader
		if isStrictFrom(frag) {
			s.cur.fromLine(frag)
			s.cur.u.body = s.off
			return nil
		}
		s.cur.u.body = off
		if isBlank(frag) {
			s.cur.msg(frag, true)
			s.state = stBody
			return nil
		}
		s.cur.headerLine(frag)
	case stHeader:
		if isBlank(frag) {
			s.cur.msg(frag, true)
			s.state = stBody
			return nil
		}
		s.cur.headerLine(frag)
	default:
		s.cur.msg(frag, true)
	}
	return nil
}

// cont handles a fragment that continues a long line.
func (s *scanner) cont(frag []byte) {
	complete := frag[len(frag)-1] == '\n'
	switch s.state {
	case stFromLine:
		s.cur.fromLine(frag)
		if complete {
			s.cur.u.body = s.off
			s.state = stHeader
		}
	case stHeader:
		s.cur.msg(frag, !s.cur.skip)
	case stBody:
		s.cur.msg(frag, true)
	}
}

// flush feeds a held-back blank line: it was not a separator.
func (s *scanner) flush() {
	if s.pend != nil {
		s.cur.msg(s.pend, true)
		s.pend = nil
	}
}

// closeCur ends the current unit where the next one starts.
func (s *scanner) closeCur(next int64) {
	if s.cur == nil {
		return
	}
	s.cur.finish(next)
	s.cur.u.next = next
	// Only the first message can be the folder-internal one.
	s.cur.u.pseudo = len(s.res.units) == 0 && !s.cur.u.mmdf && s.cur.imap && s.cur.pseudo
	s.res.units = append(s.res.units, s.cur.u)
	s.cur = nil
}

// push starts a new unit at off.
func (s *scanner) push(off int64, mmdf bool) error {
	s.closeCur(off)
	// One more than the limit may be the hidden pseudo message; Open
	// checks the exact count of listed messages.
	if s.maxN >= 0 && len(s.res.units) > s.maxN {
		return fmt.Errorf("%w: more than %d messages", ErrTooBig, s.maxN)
	}
	s.cur = newBuilder(off, mmdf)
	return nil
}

// begin starts an mbox message whose From_ line starts with frag.
func (s *scanner) begin(frag []byte, off int64) error {
	if err := s.push(off, false); err != nil {
		return err
	}
	s.cur.fromLine(frag)
	if frag[len(frag)-1] == '\n' {
		s.cur.u.body = s.off
		s.state = stHeader
	} else {
		s.state = stFromLine
	}
	return nil
}

// beginMMDF starts an MMDF message at its opening delimiter.
func (s *scanner) beginMMDF(off int64) error {
	if err := s.push(off, true); err != nil {
		return err
	}
	s.cur.u.body = s.off
	s.state = stMMDFFirst
	return nil
}

// contentLength handles the blank line that ends the header section when
// the message has a Content-Length field. The field is honoured only if
// the body it describes ends at EOF or right before a From_ line, after
// at most two line ends; then the body is consumed in one piece, and
// "From " lines in it do not start messages. It reports whether it
// consumed the body.
func (s *scanner) contentLength(blank []byte) (bool, error) {
	bodyStart := s.off
	if s.cur.cl < 0 || s.cur.cl > s.size-bodyStart {
		return false, nil
	}
	p := bodyStart + s.cur.cl
	q, ok := s.clTarget(p)
	if !ok {
		s.log.Debug("mbox: Content-Length ignored: no From_ line where it ends", "offset", bodyStart)
		return false, nil
	}
	s.cur.msg(blank, true)
	if err := s.copyMsg(p - bodyStart); err != nil {
		return false, fmt.Errorf("mbox: read: %w", err)
	}
	s.cur.finish(p)
	if _, err := s.br.Discard(int(q - p)); err != nil {
		return false, fmt.Errorf("mbox: read: %w", err)
	}
	s.off = q
	s.atLine = true
	s.state = stExpect
	return true, nil
}

// clTarget checks where a Content-Length body that ends at p leaves the
// file: at EOF, or at a "From " line, either directly (p at a line start)
// or after one or two line ends. It returns the offset of that From_
// line (or the file size).
func (s *scanner) clTarget(p int64) (int64, bool) {
	if p > s.size {
		return 0, false
	}
	if p == s.size {
		return p, true
	}
	buf := make([]byte, 10)
	n, _ := s.ra.ReadAt(buf, p-1) // p-1 >= 0: the header section ended in LF
	prev, b := buf[0], buf[1:n]
	i := 0
	for k := 0; k < 2; k++ {
		switch {
		case bytes.HasPrefix(b[i:], []byte("\r\n")):
			i += 2
		case bytes.HasPrefix(b[i:], []byte("\n")):
			i++
		default:
			k = 2
			continue
		}
		if p+int64(i) == s.size {
			return s.size, true
		}
	}
	if !hasFrom(b[i:]) || i == 0 && prev != '\n' {
		return 0, false
	}
	return p + int64(i), true
}

// copyMsg feeds the next n bytes as message bytes.
func (s *scanner) copyMsg(n int64) error {
	if s.scratch == nil {
		s.scratch = make([]byte, scanBufSize)
	}
	for n > 0 {
		k := int(min(n, int64(len(s.scratch))))
		if _, err := io.ReadFull(s.br, s.scratch[:k]); err != nil {
			return err
		}
		s.cur.msg(s.scratch[:k], true)
		s.off += int64(k)
		n -= int64(k)
	}
	return nil
}

// finish ends the last unit at the end of the scan.
func (s *scanner) finish() {
	if s.cur == nil {
		return
	}
	switch {
	case s.cur.u.mmdf && !s.cur.ended:
		s.log.Warn("mbox: last MMDF message has no closing delimiter", "offset", s.cur.u.start)
	case s.pend != nil:
		s.cur.finish(s.pendOff)
		s.pend = nil
	}
	s.closeCur(s.size)
}
