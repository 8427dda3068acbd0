package mbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
)

// clLookahead is how far past the end of a Content-Length body the
// scanner looks to decide whether to honour it (clTarget): two CRLFs and
// "From ".
const clLookahead = 9

// errPlanCheck marks a rewrite refused because its result would not read
// back as the kept messages.
var errPlanCheck = errors.New("mbox: update refused: the rewritten spool would not keep the messages")

// slot is a unit of the snapshot as the plan places it.
type slot struct {
	u      unit
	at     int64 // offset in the rewritten spool
	runEnd int64 // end of its run in the snapshot (see checkPlan)
	last   bool  // the last unit of its run
	moved  bool  // what follows its run changes
}

// checkPlan scans the spool as the plan leaves it where the rewrite can
// change how it reads, and compares it with the snapshot: every kept
// unit must start where the plan puts it and hold the same From_ line
// and message (so the same UIDL digest) and size, no unit may start
// between them, and the first unit of the file keeps its
// folder-internal flag. The parsing rules make this hold for every
// separator the plan adds, but not for a Content-Length field that was
// refused because it ends at no From_ line and that, once the messages
// after it are deleted or new mail follows, ends right before one: the
// joined file then reads exactly like an mboxcl2 message with an
// unescaped From_ line in its body. Such an update is refused before the
// journal is written, so nothing changes.
//
// The kept units form runs, stretches of the snapshot copied as they
// were. How a unit reads depends on its own octets and on what the
// scanner reads after it: the next line, and up to clLookahead octets
// after the end of a Content-Length body. So only the last unit of a run
// whose successor changes, and a unit whose Content-Length body ends that
// close to the end of such a run, can read differently, and the unit that
// becomes the first of the file can become the folder-internal one. Each
// of them is scanned from its start up to the start of a unit (or the end
// of the file) past everything the scanner reads for the units in
// between. An MMDF spool is scanned whole. No digests are computed: a
// unit that is copied, starts in the same place and has the same From_
// line and message lengths has the same octets.
func (s *Spool) checkPlan(p *plan) error {
	units := s.res.units
	var slots []slot
	for i := range p.first {
		slots = append(slots, slot{u: units[i], at: units[i].start, runEnd: p.F, moved: true})
	}
	if p.first > 0 {
		slots[p.first-1].last = true
	}
	for k, i := range p.kept {
		slots = append(slots, slot{u: units[i], at: p.at[k]})
		if k+1 == len(p.kept) || p.kept[k+1] != i+1 {
			// The run ends: a deleted unit, the bytes appended since the
			// scan or the end of the file follow.
			for j := len(slots) - 1; j >= p.first && slots[j].runEnd == 0; j-- {
				slots[j].runEnd = units[i].next
				slots[j].moved = i+1 < len(units) || p.appAt >= 0
			}
			slots[len(slots)-1].last = true
		}
	}
	size := p.F + p.L
	v := newPlanView(s.f, p)
	// nextStart returns the first unit start at or after off, or the end.
	nextStart := func(off int64) int64 {
		k := sort.Search(len(slots), func(k int) bool { return slots[k].at >= off })
		if k == len(slots) {
			return size
		}
		return slots[k].at
	}
	// reach returns how far the scanner reads for a unit's
	// Content-Length field.
	reach := func(sl slot) int64 {
		switch {
		case sl.u.clEnd < 0 && sl.u.clOpen >= 0:
			// The header section never ended: a separator after the
			// unit (at most two line ends) can end it, and the body the
			// field describes then starts there.
			r := sl.at + (sl.u.next - sl.u.start) + 2 + sl.u.clOpen + clLookahead
			if r < 0 || r > size {
				return size
			}
			return r
		case sl.u.clEnd < 0:
			return 0
		case sl.u.clEnd == math.MaxInt64:
			return size
		}
		return sl.u.clEnd - sl.u.start + sl.at + clLookahead
	}
	var wins [][2]int64
	for j, sl := range slots {
		affected := s.res.mmdf || j == 0 && p.first == 0 ||
			sl.moved && (sl.last || reach(sl) > sl.at+sl.runEnd-sl.u.start)
		if !affected || len(wins) > 0 && sl.at < wins[len(wins)-1][1] {
			continue
		}
		ws, we := sl.at, nextStart(sl.at+1)
		if s.res.mmdf {
			we = size // scanned whole, the file keeps its format
		}
		for i := j; i < len(slots) && slots[i].at < we; i++ {
			if r := reach(slots[i]); r > we {
				we = nextStart(r)
			}
		}
		wins = append(wins, [2]int64{ws, we})
	}
	for _, w := range wins {
		if err := s.checkWindow(v, slots, p, w[0], w[1]); err != nil {
			return err
		}
	}
	return nil
}

// checkWindow scans the rewritten spool v from ws (a unit start) to we (a
// unit start or its end) and compares the units found with the slots
// placed there.
func (s *Spool) checkWindow(v *planView, slots []slot, p *plan, ws, we int64) error {
	res, err := scanFile(io.NewSectionReader(v, ws, we-ws), we-ws, -1, slog.New(slog.DiscardHandler), false)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errPlanCheck, s.path, err)
	}
	limit, glued := we, false
	if p.appAt >= 0 && p.appAt < we {
		// Bytes appended since the scan that do not start with a From_
		// line were glued to the last message by whoever wrote them; it
		// cannot stay the same wherever they go, so only its place is
		// checked.
		limit, glued = p.appAt, !v.startsMail(p.appAt)
	}
	var want []slot
	first := false
	for k, sl := range slots {
		if sl.at >= ws && sl.at < limit {
			first = first || k == 0 && len(want) == 0
			want = append(want, sl)
		}
	}
	n := 0
	for _, u := range res.units {
		if u.start < limit-ws {
			n++
		}
	}
	if n != len(want) {
		return fmt.Errorf("%w: %s: %d messages where %d are kept", errPlanCheck, s.path, n, len(want))
	}
	for k, w := range want {
		u := res.units[k]
		ok := u.start == w.at-ws && (!first || k > 0 || u.pseudo == w.u.pseudo)
		if ok && !(glued && k == len(want)-1) {
			if ok, err = s.sameMessage(w.u, u); err != nil {
				return err
			}
		}
		if !ok {
			return fmt.Errorf("%w: %s: the message at offset %d would change", errPlanCheck, s.path, w.u.start)
		}
	}
	return nil
}

// sameMessage reports whether unit u of the rewritten spool, found where
// the plan copied unit w of the snapshot to, holds the same From_ line
// and message octets, and so the same digest, with the same size. The
// last line of a snapshot that did not end in LF gains the LF from the
// separator the plan adds; it was digested with it (see scanner), and
// only a lone CR before it changes the size, from "\r" + CRLF to CRLF.
func (s *Spool) sameMessage(w, u unit) (bool, error) {
	fl, ml := w.body-w.start, w.end-w.body
	fl2, ml2 := u.body-u.start, u.end-u.body
	if fl2 == fl && ml2 == ml && u.size == w.size {
		return true, nil
	}
	if w.mmdf || w.next != s.atScan.size || s.atScan.size == 0 {
		return false, nil
	}
	var last [1]byte
	if _, err := s.f.ReadAt(last[:], s.atScan.size-1); err != nil {
		return false, fmt.Errorf("mbox: read %s: %w", s.path, err)
	}
	switch {
	case last[0] == '\n':
		return false, nil
	case ml == 0:
		// The From_ line was the unfinished line.
		return ml2 == 0 && fl2 == fl+1, nil
	}
	size := w.size
	if last[0] == '\r' {
		size--
	}
	return w.end == s.atScan.size && fl2 == fl && ml2 == ml+1 && u.size == size, nil
}

// planView is the spool as a plan leaves it: the unchanged spool[:F],
// then the plan's pieces. It implements io.ReaderAt.
type planView struct {
	f      io.ReaderAt
	pieces []piece
	starts []int64 // view offset of each piece
	size   int64
}

// newPlanView returns the view of plan p for the spool f.
func newPlanView(f io.ReaderAt, p *plan) *planView {
	v := &planView{f: f}
	if p.F > 0 {
		v.pieces = append(v.pieces, piece{n: p.F})
	}
	v.pieces = append(v.pieces, p.pieces...)
	for _, pc := range v.pieces {
		v.starts = append(v.starts, v.size)
		v.size += pc.n
	}
	return v
}

// ReadAt implements io.ReaderAt.
func (v *planView) ReadAt(b []byte, off int64) (int, error) {
	switch {
	case off < 0:
		return 0, fmt.Errorf("mbox: read at negative offset %d", off)
	case off >= v.size:
		return 0, io.EOF
	}
	i := sort.Search(len(v.starts), func(i int) bool { return v.starts[i] > off }) - 1
	n := 0
	for ; n < len(b) && i >= 0 && i < len(v.pieces); i++ {
		pc := v.pieces[i]
		o := off + int64(n) - v.starts[i]
		k := int(min(int64(len(b)-n), pc.n-o))
		if pc.lit != nil {
			copy(b[n:n+k], pc.lit[o:])
		} else if m, err := v.f.ReadAt(b[n:n+k], pc.off+o); m < k {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return n + m, err
		}
		n += k
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// startsMail reports whether the view holds, from off on, at most two
// line ends and then a "From " line: the start of mail as an MDA appends
// it.
func (v *planView) startsMail(off int64) bool {
	var buf [9]byte
	n, _ := v.ReadAt(buf[:], off)
	b := buf[:n]
	for range 2 {
		switch {
		case bytes.HasPrefix(b, []byte("\r\n")):
			b = b[2:]
		case bytes.HasPrefix(b, []byte("\n")):
			b = b[1:]
		}
	}
	return hasFrom(b)
}
