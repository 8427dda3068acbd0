package mbox

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Journal layout (all integers big-endian):
//
//	0   magic "POPMBXJ1"
//	8   st_dev of the spool        uint64
//	16  st_ino of the spool        uint64
//	24  F: where the rewrite starts  int64
//	32  L: length of N               int64
//	40  S_old: spool size before     int64
//	48  SHA-256 of spool[F+L:S_old] (the "garbage" the truncate removes)
//	80  length of the spool path   uint32
//	84  spool path
//	..  N: the new content of spool[F:F+L]
//	..  SHA-256 of N
//	..  SHA-256 of everything before it
const (
	journalMagic     = "POPMBXJ1"
	journalHeaderLen = 84
	journalTrailer   = 64
	maxJournalPath   = 4096
)

// Names of the UPDATE steps after which the crash tests kill the process.
const (
	stepJournalHalf     = "journal-half"
	stepJournalSynced   = "journal-synced"
	stepJournalRenamed  = "journal-renamed"
	stepWriteHalf       = "pwrite-half"
	stepWritten         = "pwrite"
	stepSynced          = "fsync"
	stepTruncated       = "truncate"
	stepJournalUnlinked = "journal-unlinked"
)

// errBadJournal marks a journal that is truncated or fails its checksum.
var errBadJournal = errors.New("mbox: journal is damaged")

// journal is the redo record of one UPDATE (mbox-spool.md §4.4).
type journal struct {
	dev, ino uint64
	F, L     int64
	sOld     int64
	garbage  [32]byte
	path     string
	nOff     int64    // offset of N in the journal file
	nHash    [32]byte // SHA-256 of N
}

// lengthsValid reports whether [F, F+L) is a range of the old file
// [0, S_old), checked without overflow: the fields come from a file and
// may hold any value.
func (j *journal) lengthsValid() bool {
	return j.sOld >= 0 && j.F >= 0 && j.L >= 0 && j.F <= j.sOld && j.L <= j.sOld-j.F
}

// header encodes the fixed part and the path.
func (j *journal) header() []byte {
	b := make([]byte, journalHeaderLen, journalHeaderLen+len(j.path))
	copy(b, journalMagic)
	binary.BigEndian.PutUint64(b[8:], j.dev)
	binary.BigEndian.PutUint64(b[16:], j.ino)
	binary.BigEndian.PutUint64(b[24:], uint64(j.F))
	binary.BigEndian.PutUint64(b[32:], uint64(j.L))
	binary.BigEndian.PutUint64(b[40:], uint64(j.sOld))
	copy(b[48:80], j.garbage[:])
	binary.BigEndian.PutUint32(b[80:], uint32(len(j.path)))
	return append(b, j.path...)
}

// writeJournal writes the journal for j, with N produced by writeN, to
// sf.tmp, fsyncs it, renames it to sf.journal and fsyncs the directory.
// The rename is the commit point of the UPDATE: before it the spool has
// not been touched; after it, recovery finishes the rewrite. It returns
// the journal file, open for reading N; j.nOff and j.nHash are set.
func writeJournal(sf stateFiles, j *journal, writeN func(io.Writer) error, o *Options) (*os.File, error) {
	if len(j.path) > maxJournalPath {
		return nil, fmt.Errorf("mbox: journal: spool path too long")
	}
	if !j.lengthsValid() {
		return nil, fmt.Errorf("mbox: journal: rewrite of [%d,+%d) outside a file of %d bytes", j.F, j.L, j.sOld)
	}
	f, err := os.OpenFile(sf.tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("mbox: create journal: %w", err)
	}
	fail := func(err error, remove string) (*os.File, error) {
		f.Close()
		os.Remove(remove)
		return nil, err
	}
	if err := fillJournal(f, j, writeN, o); err != nil {
		return fail(fmt.Errorf("mbox: write journal: %w", err), sf.tmp)
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("mbox: write journal: %w", err), sf.tmp)
	}
	o.step(stepJournalSynced)
	if err := os.Rename(sf.tmp, sf.journal); err != nil {
		return fail(fmt.Errorf("mbox: commit journal: %w", err), sf.tmp)
	}
	if err := fsyncDir(sf.dir); err != nil {
		// The rename may not be durable; the spool is untouched so far,
		// so give up and leave nothing behind.
		return fail(fmt.Errorf("mbox: commit journal: fsync %s: %w", sf.dir, err), sf.journal)
	}
	o.step(stepJournalRenamed)
	j.nOff = int64(journalHeaderLen + len(j.path))
	return f, nil
}

// fillJournal writes the journal content to f.
func fillJournal(f *os.File, j *journal, writeN func(io.Writer) error, o *Options) error {
	hdr := j.header()
	total := int64(len(hdr)) + j.L + journalTrailer
	var out io.Writer = f
	if o.crash != nil {
		out = &halfWriter{w: f, half: total / 2, hook: func() { o.step(stepJournalHalf) }}
	}
	sum := newHasher()
	bw := bufio.NewWriterSize(io.MultiWriter(out, sum), copyBufSize)
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	nh := newHasher()
	cw := &countWriter{w: io.MultiWriter(bw, nh)}
	if err := writeN(cw); err != nil {
		return err
	}
	if cw.n != j.L {
		return fmt.Errorf("mbox: journal: wrote %d bytes of new content, want %d", cw.n, j.L)
	}
	copy(j.nHash[:], nh.Sum(nil))
	if _, err := bw.Write(j.nHash[:]); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := out.Write(sum.Sum(nil))
	return err
}

// readJournal opens and verifies the journal at path. It returns an error
// wrapping fs.ErrNotExist when there is none and errBadJournal when it is
// damaged. The caller closes the returned file.
func readJournal(path string) (*journal, *os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	j, err := parseJournal(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return j, f, nil
}

// parseJournal verifies the checksum of the journal in f and decodes it.
func parseJournal(f *os.File) (*journal, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < journalHeaderLen+journalTrailer {
		return nil, fmt.Errorf("%w: %d bytes", errBadJournal, size)
	}
	h := newHasher()
	buf := make([]byte, copyBufSize)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, size-32), buf); err != nil {
		return nil, err
	}
	var want [32]byte
	if _, err := f.ReadAt(want[:], size-32); err != nil {
		return nil, err
	}
	if !bytes.Equal(h.Sum(nil), want[:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errBadJournal)
	}
	j, err := decodeHeader(f)
	if err != nil {
		return nil, err
	}
	if !j.lengthsValid() || j.L != size-journalTrailer-j.nOff {
		return nil, fmt.Errorf("%w: inconsistent lengths", errBadJournal)
	}
	if _, err := f.ReadAt(j.nHash[:], size-journalTrailer); err != nil {
		return nil, err
	}
	return j, nil
}

// decodeHeader reads the fixed part and the path of a journal. It does
// not verify the checksum.
func decodeHeader(r io.ReaderAt) (*journal, error) {
	b := make([]byte, journalHeaderLen)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadJournal, err)
	}
	if string(b[:8]) != journalMagic {
		return nil, fmt.Errorf("%w: bad magic", errBadJournal)
	}
	j := &journal{
		dev:  binary.BigEndian.Uint64(b[8:]),
		ino:  binary.BigEndian.Uint64(b[16:]),
		F:    int64(binary.BigEndian.Uint64(b[24:])),
		L:    int64(binary.BigEndian.Uint64(b[32:])),
		sOld: int64(binary.BigEndian.Uint64(b[40:])),
	}
	copy(j.garbage[:], b[48:80])
	pl := binary.BigEndian.Uint32(b[80:])
	if pl > maxJournalPath {
		return nil, fmt.Errorf("%w: bad path length", errBadJournal)
	}
	p := make([]byte, pl)
	if _, err := r.ReadAt(p, journalHeaderLen); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadJournal, err)
	}
	j.path = string(p)
	j.nOff = journalHeaderLen + int64(pl)
	return j, nil
}

// applyJournal performs the rewrite recorded in j (step d of §4.4):
// write N at F from the journal file, fsync, truncate to F+L, fsync and
// remove the journal. Every step can be repeated after a crash with the
// same result.
func applyJournal(spool *os.File, j *journal, jf *os.File, sf stateFiles, o *Options) error {
	src := io.NewSectionReader(jf, j.nOff, j.L)
	buf := make([]byte, copyBufSize)
	half := max(j.L/2, 1)
	var done int64
	for done < j.L {
		k := min(int64(len(buf)), j.L-done)
		if o.crash != nil && done < half && done+k > half {
			k = half - done // stop at the half-way point once
		}
		if _, err := io.ReadFull(src, buf[:k]); err != nil {
			return fmt.Errorf("mbox: read journal: %w", err)
		}
		if _, err := spool.WriteAt(buf[:k], j.F+done); err != nil {
			return fmt.Errorf("mbox: rewrite spool: %w", err)
		}
		done += k
		if done == half {
			o.step(stepWriteHalf)
		}
	}
	o.step(stepWritten)
	if err := spool.Sync(); err != nil {
		return fmt.Errorf("mbox: fsync spool: %w", err)
	}
	o.step(stepSynced)
	if err := spool.Truncate(j.F + j.L); err != nil {
		return fmt.Errorf("mbox: truncate spool: %w", err)
	}
	o.step(stepTruncated)
	if err := spool.Sync(); err != nil {
		return fmt.Errorf("mbox: fsync spool: %w", err)
	}
	if err := os.Remove(sf.journal); err != nil {
		return fmt.Errorf("mbox: remove journal: %w", err)
	}
	o.step(stepJournalUnlinked)
	return nil
}

// setAside renames a journal that cannot be applied, so that it is kept
// for an administrator but no longer blocks the spool.
func setAside(path, why string) (string, error) {
	dst := fmt.Sprintf("%s.%s-%d", path, why, time.Now().Unix())
	if err := os.Rename(path, dst); err != nil {
		return "", fmt.Errorf("mbox: set journal aside: %w", err)
	}
	return dst, fsyncDir(filepath.Dir(path))
}

// halfWriter calls hook once, after exactly half bytes went through.
type halfWriter struct {
	w     io.Writer
	half  int64
	n     int64
	hook  func()
	fired bool
}

func (h *halfWriter) Write(p []byte) (int, error) {
	if h.fired || h.n+int64(len(p)) < h.half {
		n, err := h.w.Write(p)
		h.n += int64(n)
		return n, err
	}
	k := int(h.half - h.n)
	n, err := h.w.Write(p[:k])
	h.n += int64(n)
	if err != nil {
		return n, err
	}
	h.fired = true
	h.hook()
	m, err := h.w.Write(p[k:])
	h.n += int64(m)
	return n + m, err
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
