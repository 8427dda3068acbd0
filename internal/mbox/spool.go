package mbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// maxReopen bounds how often Open follows a spool path that is replaced
// by another file while it locks it.
const maxReopen = 5

// Message is one message of the snapshot taken by Open.
type Message struct {
	// Size is the RFC 1939 octet count of the message as transmitted:
	// CRLF line ends, before byte-stuffing, without the From_ line and
	// the separating blank line.
	Size int64
	// UIDL is the message's unique-id: 32 hex digits of its digest,
	// with "-2", "-3"... for later copies of an identical message.
	UIDL string
}

// Spool is one mbox spool opened as a POP3 maildrop: a snapshot of its
// messages taken under the spool locks, which are not held between Open
// and Commit. Its methods are safe for concurrent use.
type Spool struct {
	path string
	o    Options
	log  *slog.Logger
	sf   stateFiles
	sess *os.File // session lock

	mu        sync.Mutex
	f         *os.File    // nil when the spool file does not exist
	res       *scanResult // nil when the spool file does not exist
	atScan    fileState   // fstat under the scan's locks
	seen      fileState   // last state verified to extend the scanned prefix
	msgs      []Message
	idx       []int // message index -> unit index
	bad       error // sticky ErrChanged or ErrGone
	committed bool
	closed    bool
}

// Open opens the mbox spool at path as a POP3 maildrop. It takes the
// session lock of the spool (another open session gives ErrInUse at
// once), completes any UPDATE interrupted by a crash (Recover), then
// takes the spool locks (fcntl read lock and dotlock, see Options),
// scans the file and releases the spool locks again, so that mail can be
// delivered while the session runs.
//
// A missing spool file is an empty maildrop; it is never created.
// Errors wrap ErrInUse, ErrUnsafe, ErrFormat, ErrTooBig or ErrJournal
// where they apply. The caller must call Close.
func Open(ctx context.Context, path string, opts Options) (*Spool, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	path = filepath.Clean(path)
	log := o.Logger.With("mbox", path)
	if err := ensureDir(o.JournalDir); err != nil {
		return nil, err
	}
	sf, err := filesFor(o.JournalDir, path)
	if err != nil {
		return nil, err
	}
	sess, err := lockSession(sf)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, path)
	}
	s := &Spool{path: path, o: o, log: log, sf: sf, sess: sess}
	if _, err := recoverSpool(ctx, path, &s.o, sf, log); err != nil {
		sess.Close()
		return nil, err
	}
	if err := s.load(ctx); err != nil {
		sess.Close()
		return nil, err
	}
	return s, nil
}

// load opens, locks and scans the spool.
func (s *Spool) load(ctx context.Context) error {
	for range maxReopen {
		f, _, err := openSpoolFile(s.path, s.o.RequireUID)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mbox: open %s: %w", s.path, err)
		}
		lk, err := lockSpool(ctx, f, s.path, false, &s.o, s.log)
		if errors.Is(err, errReplaced) {
			f.Close()
			continue
		}
		if err != nil {
			f.Close()
			return err
		}
		err = s.scanLocked(f)
		if rerr := lk.release(); rerr != nil && err == nil {
			err = rerr
		}
		if err != nil {
			f.Close()
			return err
		}
		s.f = f
		return nil
	}
	return fmt.Errorf("mbox: open %s: the file keeps being replaced", s.path)
}

// scanLocked scans f with the spool locks held and records the snapshot.
func (s *Spool) scanLocked(f *os.File) error {
	st, err := fstat(f)
	if err != nil {
		return fmt.Errorf("mbox: fstat %s: %w", s.path, err)
	}
	if s.o.MaxBytes >= 0 && st.size > s.o.MaxBytes {
		return fmt.Errorf("%w: %s is %d bytes, the limit is %d", ErrTooBig, s.path, st.size, s.o.MaxBytes)
	}
	res, err := scan(f, st.size, s.o.MaxMessages, s.log)
	if err != nil {
		return fmt.Errorf("%w (%s)", err, s.path)
	}
	var digests [][16]byte
	for i, u := range res.units {
		if u.pseudo {
			continue
		}
		s.idx = append(s.idx, i)
		digests = append(digests, u.digest)
	}
	if s.o.MaxMessages >= 0 && len(s.idx) > s.o.MaxMessages {
		return fmt.Errorf("%w: %s has %d messages, the limit is %d", ErrTooBig, s.path, len(s.idx), s.o.MaxMessages)
	}
	for k, id := range uidls(digests) {
		s.msgs = append(s.msgs, Message{Size: res.units[s.idx[k]].size, UIDL: id})
	}
	s.res, s.atScan, s.seen = res, st, st
	return nil
}

// Messages returns the snapshot taken by Open, oldest first. Index i of
// the result is POP3 message number i+1. The folder-internal message of
// c-client and Dovecot is not listed. The result is a copy.
func (s *Spool) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// Close ends the session: it closes the spool and releases the session
// lock. It does not change the spool; only Commit does. Calls after the
// first return nil.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.f != nil {
		err = s.f.Close()
	}
	if cerr := s.sess.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("mbox: close %s: %w", s.path, err)
	}
	return nil
}

// verifyLocked checks that the spool still holds the scanned bytes: the
// path names the same file, and if fstat shows any change since the last
// check, the scanned prefix is hashed again under the fcntl read lock.
// Growth alone is an append and fine. s.mu must be held.
func (s *Spool) verifyLocked() error {
	if s.bad != nil {
		return s.bad
	}
	st, err := fstat(s.f)
	if err != nil {
		return fmt.Errorf("mbox: fstat %s: %w", s.path, err)
	}
	cur, err := lstatPath(s.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("mbox: %w", err)
	}
	if err != nil || !cur.sameFile(st) {
		s.bad = fmt.Errorf("%w: %s", ErrGone, s.path)
		return s.bad
	}
	if st.unchanged(s.seen) {
		return nil
	}
	if err := kernelLockWait(context.Background(), s.f, unix.F_RDLCK, s.path, &s.o); err != nil {
		return err
	}
	defer kernelUnlock(s.f)
	if st, err = fstat(s.f); err != nil {
		return fmt.Errorf("mbox: fstat %s: %w", s.path, err)
	}
	if err := s.checkPrefix(st); err != nil {
		return err
	}
	s.seen = st
	return nil
}

// checkPrefix verifies, with a lock held, that a file in state st still
// begins with the scanned bytes. A failure is sticky.
func (s *Spool) checkPrefix(st fileState) error {
	if st.size < s.atScan.size {
		s.bad = fmt.Errorf("%w: %s shrank from %d to %d bytes", ErrChanged, s.path, s.atScan.size, st.size)
		return s.bad
	}
	sum, err := hashRange(s.f, 0, s.atScan.size)
	if err != nil {
		return fmt.Errorf("mbox: read %s: %w", s.path, err)
	}
	if sum != s.res.sum {
		s.bad = fmt.Errorf("%w: %s was rewritten", ErrChanged, s.path)
		return s.bad
	}
	return nil
}

// Open returns message i (an index into Messages) in its transmitted
// form: the stored bytes between the From_ line and the separating blank
// line, with every LF not preceded by CR sent as CRLF and CRLF appended
// if the message does not end in LF; exactly Size bytes, not
// byte-stuffed. ">From " lines are sent as stored. The message is
// streamed from the file.
//
// Before the message and again before its last bytes are handed out, the
// spool is checked: if it was changed other than by appending mail, Open
// or Read returns an error wrapping ErrChanged (ErrGone if the file was
// removed or replaced), and Commit will refuse to run.
func (s *Spool) Open(i int) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.committed {
		return nil, ErrClosed
	}
	if i < 0 || i >= len(s.msgs) {
		return nil, fmt.Errorf("mbox: open message: index %d out of range [0,%d)", i, len(s.msgs))
	}
	if err := s.verifyLocked(); err != nil {
		return nil, err
	}
	u := s.res.units[s.idx[i]]
	check := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return ErrClosed
		}
		return s.verifyLocked()
	}
	return newMsgReader(io.NewSectionReader(s.f, u.body, u.end-u.body), check), nil
}

// hashRange returns the SHA-256 of f[from:to).
func hashRange(f io.ReaderAt, from, to int64) ([32]byte, error) {
	h := newHasher()
	buf := make([]byte, copyBufSize)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, from, to-from), buf); err != nil {
		return [32]byte{}, err
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
