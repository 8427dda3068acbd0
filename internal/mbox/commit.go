package mbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// piece is a part of the new content N: a range of the spool or literal
// bytes (a separator added to keep the file parseable).
type piece struct {
	off, n int64
	lit    []byte
}

// plan is the rewrite of one UPDATE: spool[F:] becomes the pieces.
type plan struct {
	F, L   int64
	pieces []piece
	first  int     // index of the first deleted unit
	at     []int64 // new offset of each unit kept from first on, in order
	kept   []int   // the index of each of those units
	appAt  int64   // new offset of the bytes appended since the scan, -1 if none
}

// Commit performs the POP3 UPDATE state: it removes the messages at the
// given indexes into Messages. It takes the spool locks (fcntl write lock
// and dotlock), checks that the scanned bytes are unchanged (otherwise it
// returns an error wrapping ErrChanged and removes nothing; ErrGone if the
// file was replaced), and rewrites the file in place from the first
// deleted message on: the same inode, owner, group and mode, never
// growing, keeping every message appended since Open. The rewrite is
// made crash-safe by a redo journal in Options.JournalDir (see the package
// documentation), and the file is left empty or ending in a blank line.
//
// Commit may be called once; with no index it does nothing. The session
// stays open until Close.
func (s *Spool) Commit(deleted []int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.committed {
		return fmt.Errorf("%w: already committed", ErrClosed)
	}
	var del []bool
	for _, i := range deleted {
		if i < 0 || i >= len(s.msgs) {
			return fmt.Errorf("mbox: commit: index %d out of range [0,%d)", i, len(s.msgs))
		}
		if del == nil {
			del = make([]bool, len(s.res.units))
		}
		del[s.idx[i]] = true
	}
	s.committed = true
	if del == nil {
		return nil
	}
	if s.bad != nil {
		return s.bad
	}
	lk, err := lockSpool(context.Background(), s.f, s.path, true, &s.o, s.log)
	if errors.Is(err, errReplaced) {
		return fmt.Errorf("%w: %s", ErrGone, s.path)
	}
	if err != nil {
		return err
	}
	err = s.update(del)
	if rerr := lk.release(); rerr != nil {
		if err == nil {
			err = rerr
		} else {
			s.log.Error("mbox: release locks after failed update", "err", rerr)
		}
	}
	return err
}

// update runs the UPDATE with both locks held.
func (s *Spool) update(del []bool) error {
	st, err := fstat(s.f)
	if err != nil {
		return fmt.Errorf("mbox: fstat %s: %w", s.path, err)
	}
	if !st.sameFile(s.atScan) {
		return fmt.Errorf("%w: %s", ErrGone, s.path)
	}
	if err := s.checkPrefix(st); err != nil {
		return err
	}
	p, err := s.makePlan(del, st.size)
	if err != nil {
		return err
	}
	removed := 0
	for _, d := range del {
		if d {
			removed++
		}
	}
	s.log.Info("mbox: update", "removed", removed, "from", p.F, "rewrite", p.L,
		"appended", st.size-s.atScan.size, "size", st.size)
	if p.L == 0 {
		// Only whole messages at the end go: one truncate is atomic.
		if err := s.f.Truncate(p.F); err != nil {
			return fmt.Errorf("mbox: truncate %s: %w", s.path, err)
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("mbox: fsync %s: %w", s.path, err)
		}
		return nil
	}
	j := &journal{dev: st.dev, ino: st.ino, F: p.F, L: p.L, sOld: st.size, path: s.sf.path}
	if j.garbage, err = hashRange(s.f, p.F+p.L, st.size); err != nil {
		return fmt.Errorf("mbox: read %s: %w", s.path, err)
	}
	jf, err := writeJournal(s.sf, j, p.writer(s.f), &s.o)
	if err != nil {
		return err
	}
	defer jf.Close()
	if err := applyJournal(s.f, j, jf, s.sf, &s.o); err != nil {
		// Past the commit point: the journal stays, and the next Open or
		// Recover completes the update.
		return fmt.Errorf("%w (journal %s kept: the update completes at the next open)", err, s.sf.journal)
	}
	return nil
}

// makePlan computes the new content of the spool from the first deleted
// unit on: the kept units, then the bytes appended since the scan
// (spool[scan size:sOld]). Where a deletion makes an mbox message (not an
// MMDF one) adjacent to another unit, before the appended bytes and at
// the end, a separator is added after it if needed, so that every From_
// line follows a blank line and the file ends in one (one LF less before
// appended bytes that start with a line end); the message bytes stay the
// same (a last message without its final LF gains one, which its digest
// and transmitted form already had). The file never grows: every deleted
// unit is longer than the separators its removal can require. The plan is
// checked by scanning its result (checkPlan) before it is returned.
func (s *Spool) makePlan(del []bool, sOld int64) (*plan, error) {
	p, err := s.buildPlan(del, sOld)
	if err != nil {
		return nil, err
	}
	if err := s.checkPlan(p); err != nil {
		return nil, err
	}
	return p, nil
}

// buildPlan is makePlan without the check.
func (s *Spool) buildPlan(del []bool, sOld int64) (*plan, error) {
	units := s.res.units
	first := 0
	for first < len(del) && !del[first] {
		first++
	}
	p := &plan{first: first, appAt: -1}
	if first > 0 {
		p.F = units[first].start
	}
	var tail []byte // the last bytes of the new file so far
	// mbox says whether they end an mbox message, which needs a
	// separator before what follows; an MMDF message has its closing
	// delimiter.
	mbox := first > 0 && !units[first-1].mmdf
	if p.F > 0 {
		t, err := s.tailOf(0, p.F)
		if err != nil {
			return nil, err
		}
		tail = t
	}
	var grown piece // the spool range added since tail was updated
	updateTail := func() error {
		if grown.n == 0 {
			return nil
		}
		t, err := s.tailOf(grown.off, grown.off+grown.n)
		if err != nil {
			return err
		}
		tail, grown = lastBytes(append(tail, t...)), piece{}
		return nil
	}
	add := func(off, n int64) error {
		if n == 0 {
			return nil
		}
		if k := len(p.pieces); k > 0 && p.pieces[k-1].lit == nil && p.pieces[k-1].off+p.pieces[k-1].n == off {
			p.pieces[k-1].n += n
		} else {
			p.pieces = append(p.pieces, piece{off: off, n: n})
		}
		p.L += n
		if grown.n > 0 && grown.off+grown.n == off {
			grown.n += n
			return nil
		}
		if err := updateTail(); err != nil {
			return err
		}
		grown = piece{off: off, n: n}
		return nil
	}
	pad := func(next []byte) error {
		if err := updateTail(); err != nil || !mbox || len(tail) == 0 {
			return err
		}
		sep := separator(tail)
		if len(sep) > 0 && (bytes.HasPrefix(next, []byte("\n")) || bytes.HasPrefix(next, []byte("\r\n"))) {
			// What follows starts with a line end: it ends the last line
			// or is the blank line itself.
			sep = sep[1:]
		}
		if len(sep) > 0 {
			p.pieces = append(p.pieces, piece{lit: sep, n: int64(len(sep))})
			p.L += int64(len(sep))
			tail = lastBytes(append(tail, sep...))
		}
		return nil
	}
	gap := false
	for k := first; k < len(units); k++ {
		if del[k] {
			gap = true
			continue
		}
		if gap && !units[k].mmdf {
			if err := pad(nil); err != nil { // units[k] starts with its From_ line
				return nil, err
			}
		}
		gap = false
		p.at = append(p.at, p.F+p.L)
		p.kept = append(p.kept, k)
		if err := add(units[k].start, units[k].next-units[k].start); err != nil {
			return nil, err
		}
		mbox = !units[k].mmdf
	}
	if sOld > s.atScan.size {
		head := make([]byte, min(2, sOld-s.atScan.size))
		if _, err := s.f.ReadAt(head, s.atScan.size); err != nil {
			return nil, fmt.Errorf("mbox: read %s: %w", s.path, err)
		}
		if err := pad(head); err != nil {
			return nil, err
		}
		p.appAt = p.F + p.L
		if err := add(s.atScan.size, sOld-s.atScan.size); err != nil {
			return nil, err
		}
		mbox = !s.res.mmdf // what an MDA appends to an MMDF file is not known
	}
	if err := pad(nil); err != nil {
		return nil, err
	}
	if p.F+p.L > sOld {
		return nil, fmt.Errorf("mbox: update %s: the rewrite would grow the file", s.path)
	}
	return p, nil
}

// tailOf returns the last (up to 3) bytes of spool[from:to).
func (s *Spool) tailOf(from, to int64) ([]byte, error) {
	from = max(from, to-3)
	b := make([]byte, to-from)
	if _, err := s.f.ReadAt(b, from); err != nil {
		return nil, fmt.Errorf("mbox: read %s: %w", s.path, err)
	}
	return b, nil
}

// lastBytes keeps the last 3 bytes of b.
func lastBytes(b []byte) []byte {
	if len(b) > 3 {
		return append([]byte(nil), b[len(b)-3:]...)
	}
	return b
}

// separator returns what must follow content ending in tail so that it
// ends in a blank line: nothing, LF, or two LFs when the last line is
// unterminated.
func separator(tail []byte) []byte {
	switch {
	case endsBlank(tail):
		return nil
	case bytes.HasSuffix(tail, []byte("\n")):
		return []byte("\n")
	}
	return []byte("\n\n")
}

// writer returns a function that streams the plan's new content from f.
func (p *plan) writer(f *os.File) func(io.Writer) error {
	return func(w io.Writer) error {
		buf := make([]byte, copyBufSize)
		for _, pc := range p.pieces {
			if pc.lit != nil {
				if _, err := w.Write(pc.lit); err != nil {
					return err
				}
				continue
			}
			if _, err := io.CopyBuffer(w, io.NewSectionReader(f, pc.off, pc.n), buf); err != nil {
				return err
			}
		}
		return nil
	}
}
