package mbox

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math"
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
//
// A file that ends in an mbox message is parsed as if it already ended in
// the blank line that Commit adds to it: the scanner reads the file
// followed by pad, the separator Commit would append (see endPadding),
// and works in offsets of that padded view. So an unfinished last line is
// classified and digested exactly as the same line with its LF, and every
// decision comes out the same before and after the repair. The padding is
// never stored: unit offsets are clamped to the file size, and builder
// counts only the octets before it.
type scanner struct {
	ra     io.ReaderAt
	size   int64  // octets of the file scanned
	pad    []byte // the separator Commit would append, read after the file
	vsize  int64  // size + len(pad): the end of the padded view
	br     *bufio.Reader
	off    int64 // offset of the next unread byte (padded view)
	atLine bool  // the next fragment starts a line
	maxN   int
	log    *slog.Logger
	hashes bool // compute the UIDL digests

	res     scanResult
	state   scanState
	cur     *builder
	pend    []byte // a blank line held back: it may be the separator
	pendOff int64
	scratch []byte
}

// scan parses the first size bytes of ra.
func scan(ra io.ReaderAt, size int64, maxMessages int, log *slog.Logger) (*scanResult, error) {
	return scanFile(ra, size, maxMessages, log, true)
}

// scanFile is scan; with hashes false, it computes neither the SHA-256
// of the file nor the UIDL digests (they stay zero), only the structure
// and the sizes.
func scanFile(ra io.ReaderAt, size int64, maxMessages int, log *slog.Logger, hashes bool) (*scanResult, error) {
	sep, mmdf, err := endPadding(ra, size)
	if err != nil {
		return nil, fmt.Errorf("mbox: read: %w", err)
	}
	if !mmdf {
		return scanPadded(ra, size, sep, maxMessages, log, hashes)
	}
	res, err := scanPadded(ra, size, nil, maxMessages, log, hashes)
	if err != nil {
		return nil, err
	}
	if n := len(res.units); sep != nil && n > 0 && !res.units[n-1].mmdf {
		// An MMDF file that ends in mbox messages: they are read as in an
		// mbox, padded.
		res, err = scanPadded(ra, size, sep, maxMessages, log, hashes)
	}
	return res, err
}

// scanPadded scans the file followed by pad (see scanner).
func scanPadded(ra io.ReaderAt, size int64, pad []byte, maxMessages int, log *slog.Logger, hashes bool) (*scanResult, error) {
	var h hash.Hash
	var file io.Reader = io.NewSectionReader(ra, 0, size)
	if hashes {
		h = sha256.New()
		file = io.TeeReader(file, h)
	}
	s := &scanner{
		ra:     ra,
		size:   size,
		pad:    pad,
		vsize:  size + int64(len(pad)),
		br:     bufio.NewReaderSize(io.MultiReader(file, bytes.NewReader(pad)), scanBufSize),
		atLine: true,
		maxN:   maxMessages,
		log:    log,
		hashes: hashes,
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
	if s.off != s.vsize {
		return nil, fmt.Errorf("mbox: read: %w", io.ErrUnexpectedEOF)
	}
	s.finish()
	if h != nil {
		copy(s.res.sum[:], h.Sum(nil))
	}
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
			s.cur.headerLine(frag, off)
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
	s.cur.msg(frag, off, true)
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
			s.cur.msg(frag, off, true)
			s.state = stBody
			return nil
		}
		s.cur.headerLine(frag, off)
	case stHeader:
		if isBlank(frag) {
			s.cur.msg(frag, off, true)
			s.state = stBody
			return nil
		}
		s.cur.headerLine(frag, off)
	default:
		s.cur.msg(frag, off, true)
	}
	return nil
}

// cont handles a fragment that continues a long line.
func (s *scanner) cont(frag []byte) {
	complete := frag[len(frag)-1] == '\n'
	off := s.off - int64(len(frag))
	switch s.state {
	case stFromLine:
		s.cur.fromLine(frag)
		if complete {
			s.cur.u.body = s.off
			s.state = stHeader
		}
	case stHeader:
		s.cur.msg(frag, off, !s.cur.skip)
	case stBody:
		s.cur.msg(frag, off, true)
	}
}

// flush feeds a held-back blank line: it was not a separator.
func (s *scanner) flush() {
	if s.pend != nil {
		s.cur.msg(s.pend, s.pendOff, true)
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
	s.cur = newBuilder(off, mmdf, s.size, s.hashes)
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
// the body it describes is followed by the separator (see clTarget); then
// the body is consumed in one piece, and "From " lines in it do not start
// messages. It reports whether it consumed the body.
func (s *scanner) contentLength(blank []byte) (bool, error) {
	bodyStart := s.off
	if s.cur.cl < 0 {
		return false, nil
	}
	if s.cur.cl > s.vsize-bodyStart {
		s.cur.u.clEnd = math.MaxInt64
		return false, nil
	}
	s.cur.u.clEnd = bodyStart + s.cur.cl
	p := bodyStart + s.cur.cl
	q, ok, err := s.clTarget(p)
	if err != nil {
		return false, fmt.Errorf("mbox: read: %w", err)
	}
	if !ok {
		s.log.Debug("mbox: Content-Length ignored: no From_ line where it ends", "offset", bodyStart)
		return false, nil
	}
	s.cur.msg(blank, bodyStart-int64(len(blank)), true)
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

// clTarget decides whether a Content-Length body that ends at p (in the
// padded view) is honoured: the body must be followed by at most two line
// ends and then a "From " line or the end of the padded view, and it must
// not hold the blank line that separates it from them. With no line end
// after it, the body must end in LF, but not in a blank line. The padded
// view ends in a blank line, so a body never reaches its end.
//
// The rule does not depend on what Commit changes after a message: where
// Commit joins a message to another one or to the end of the file, it
// adds a separator only after one that does not end in a blank line,
// which turns no line ends after an honoured body into one and one into
// two, and cannot make a refused body acceptable: a body that would end
// right after the added separator ends in a blank line. It returns the
// offset of the From_ line (or the end of the padded view).
func (s *scanner) clTarget(p int64) (int64, bool, error) {
	if p > s.vsize {
		return 0, false, nil
	}
	from := max(p-3, 0)
	var buf [12]byte // 3 octets before p, two CRLFs and "From " after it
	b, err := s.readPadded(buf[:min(int64(len(buf)), s.vsize-from)], from)
	if err != nil {
		return 0, false, err
	}
	before, after := b[:p-from], b[p-from:]
	i, k := 0, 0
	for ; k < 2; k++ {
		if bytes.HasPrefix(after[i:], []byte("\r\n")) {
			i += 2
		} else if bytes.HasPrefix(after[i:], []byte("\n")) {
			i++
		} else {
			break
		}
	}
	q := p + int64(i)
	if q < s.vsize && !hasFrom(after[i:]) {
		return 0, false, nil
	}
	if k == 0 && (!bytes.HasSuffix(before, []byte("\n")) || endsBlank(before)) {
		return 0, false, nil
	}
	return q, true, nil
}

// readPadded fills b from the padded view at off (b must lie inside it).
func (s *scanner) readPadded(b []byte, off int64) ([]byte, error) {
	n := 0
	if off < s.size {
		k := int(min(int64(len(b)), s.size-off))
		if m, err := s.ra.ReadAt(b[:k], off); m < k {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		n = k
	}
	for ; n < len(b); n++ {
		b[n] = s.pad[off+int64(n)-s.size]
	}
	return b, nil
}

// endsBlank reports whether b ends in a blank line: with "\n\n" or
// "\n\r\n".
func endsBlank(b []byte) bool {
	return bytes.HasSuffix(b, []byte("\n\n")) || bytes.HasSuffix(b, []byte("\n\r\n"))
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
		s.cur.msg(s.scratch[:k], s.off, true)
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

// endPadding returns the separator Commit appends to an mbox that does
// not end in a blank line (see separator): nothing for a file that does,
// for an empty one and for one that is not an mbox, and whether the file
// is MMDF (its first line that is not empty is the MMDF delimiter). The
// last messages of an MMDF file can be mbox messages (a From_ line after
// a closing delimiter); only they are padded.
func endPadding(ra io.ReaderAt, size int64) (sep []byte, mmdf bool, err error) {
	if size == 0 {
		return nil, false, nil
	}
	tail := make([]byte, min(size, 3))
	if _, err := ra.ReadAt(tail, size-int64(len(tail))); err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	br := bufio.NewReaderSize(io.NewSectionReader(ra, 0, size), 512)
	for {
		line, err := br.ReadSlice('\n')
		if err == nil && isBlank(line) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, false, err
		}
		switch {
		case isMMDF(line):
			return separator(tail), true, nil
		case hasFrom(line):
			return separator(tail), false, nil
		}
		return nil, false, nil
	}
}
