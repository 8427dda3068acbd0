package maildrop

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// readBufSize is the read buffer of one message stream.
const readBufSize = 32 << 10

// Open returns message i (an index into Messages) in its transmitted form:
// every LF not preceded by CR becomes CRLF, CRLF stays, all other octets
// pass unchanged, and CRLF is appended if the message does not end in LF.
// It is not byte-stuffed. The message is streamed, never held in memory
// whole.
//
// If another client renamed the file (new/ to cur/, flag changes), Open
// finds it again by its base name; if no file with that base name is left
// it returns an error wrapping ErrGone. If the file's physical size does
// not match what the snapshot assumed, the transmitted size is recounted
// and the snapshot and the size cache are corrected (and a warning is
// logged); reading to EOF checks the count once more.
func (m *Maildrop) Open(i int) (io.ReadCloser, error) {
	f, base, err := m.openMessage(i)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("maildrop: open message %s: %w", base, err)
	}
	if err := m.checkPhysicalSize(i, f, st.Size()); err != nil {
		f.Close()
		return nil, err
	}
	// A small message gets a buffer of its own size (+1 to see EOF in one read).
	bufSize := int(min(int64(readBufSize), st.Size()+1))
	r := newCRLFReader(f, bufSize, func(in, out int64) { m.verifySize(i, in, out) })
	return &messageReader{crlfReader: r, f: f}, nil
}

// messageReader is the io.ReadCloser returned by Open.
type messageReader struct {
	*crlfReader
	f *os.File
}

// Close closes the message file.
func (r *messageReader) Close() error { return r.f.Close() }

// openMessage opens the file of message i, finding it again by base name
// if it was renamed.
func (m *Maildrop) openMessage(i int) (*os.File, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, "", ErrClosed
	}
	if i < 0 || i >= len(m.msgs) {
		return nil, "", fmt.Errorf("maildrop: open message: index %d out of range [0,%d)", i, len(m.msgs))
	}
	base := m.msgs[i].Base
	for attempt := 0; ; attempt++ {
		md := &m.meta[i]
		f, err := openMessageFile(filepath.Join(m.dir, md.sub, md.name))
		if err == nil {
			return f, base, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, base, fmt.Errorf("maildrop: open message %s: %w", base, err)
		}
		if attempt > 0 {
			return nil, base, fmt.Errorf("maildrop: open message %s: %w", base, ErrGone)
		}
		if f := m.tryMovedLocked(i); f != nil {
			return f, base, nil
		}
		if err := m.rescanLocked(); err != nil {
			return nil, base, err
		}
	}
}

// tryMovedLocked tries the names a mail reader most often gives a message
// it moves from new/ to cur/ (no flags, or seen), before a full rescan.
// m.mu must be held.
func (m *Maildrop) tryMovedLocked(i int) *os.File {
	md := &m.meta[i]
	if md.sub != "new" {
		return nil
	}
	for _, name := range []string{m.msgs[i].Base + ":2,", m.msgs[i].Base + ":2,S"} {
		if f, err := openMessageFile(filepath.Join(m.dir, "cur", name)); err == nil {
			md.sub, md.name = "cur", name
			return f
		}
	}
	return nil
}

// checkPhysicalSize compares the file's size with the physical size the
// snapshot assumed and recounts the transmitted size on a mismatch.
func (m *Maildrop) checkPhysicalSize(i int, f *os.File, actual int64) error {
	m.mu.Lock()
	md := &m.meta[i]
	want := md.psize
	if want < 0 {
		md.psize = actual
	}
	m.mu.Unlock()
	if want < 0 || want == actual {
		return nil
	}
	buf := make([]byte, readBufSize)
	ps, vs, err := countReader(io.NewSectionReader(f, 0, actual), buf)
	if err != nil {
		return fmt.Errorf("maildrop: open message %s: %w", m.msgs[i].Base, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log.Warn("maildrop: message size differs from the recorded one, corrected",
		"base", m.msgs[i].Base, "recorded_physical", want, "physical", ps,
		"listed", m.msgs[i].Size, "transmitted", vs)
	m.correctLocked(i, ps, vs)
	return nil
}

// verifySize runs when a message stream reaches EOF: the octets sent must
// equal the listed size (maildir-migration.md §4.4 self-check).
func (m *Maildrop) verifySize(i int, in, out int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.msgs[i].Size == out && m.meta[i].psize == in {
		return
	}
	if m.msgs[i].Size != out {
		m.log.Warn("maildrop: transmitted size differs from listed size, corrected",
			"base", m.msgs[i].Base, "listed", m.msgs[i].Size, "transmitted", out)
	}
	m.correctLocked(i, in, out)
}

// correctLocked records corrected sizes for message i; the size cache is
// rewritten at the next Commit or Close. m.mu must be held.
func (m *Maildrop) correctLocked(i int, psize, vsize int64) {
	m.msgs[i].Size = vsize
	m.meta[i].psize = psize
	if m.committed {
		return
	}
	m.meta[i].cached = true
	m.dirty = true
}
