package maildrop

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// lockName is the session lock file in the maildir root. It is created
// once and never removed.
const lockName = "popadm-pop3.lock"

// The owner record fills the first recordSize octets of the lock file: the
// owner ("pid:hostname" or freeMark) padded with spaces, then a newline.
// It is always written whole, in place, so it never changes the file's
// size or allocates blocks.
const (
	recordSize    = 256
	freeMark      = "free"
	maxRecordHost = 200 // longer host names are cut to fit the record
)

// Bounds for waiting until createLockFile has removed the temporary name
// of a new lock file, where it has to link it (see checkLinks).
const (
	linkRetries = 20
	linkBackoff = time.Millisecond
)

// lockRecord is one owner record.
type lockRecord [recordSize]byte

// makeRecord pads owner into a record.
func makeRecord(owner string) *lockRecord {
	var r lockRecord
	n := copy(r[:recordSize-1], owner)
	for i := n; i < recordSize-1; i++ {
		r[i] = ' '
	}
	r[recordSize-1] = '\n'
	return &r
}

// freeRecord marks a lock file that no session holds. It is never
// modified.
var freeRecord = makeRecord(freeMark)

// recordHost is host as it is stored in a record: octets outside
// 0x21-0x7E become '_' (a newline or trailing space would not survive
// the round trip) and it is cut to maxRecordHost octets.
func recordHost(host string) string {
	if len(host) > maxRecordHost {
		host = host[:maxRecordHost]
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c <= ' ' || c >= 0x7f {
			b := []byte(host)
			for j, c := range b {
				if c <= ' ' || c >= 0x7f {
					b[j] = '_'
				}
			}
			return string(b)
		}
	}
	return host
}

// ownerKind classifies a record.
type ownerKind uint8

const (
	ownerFree    ownerKind = iota // released: anyone may take it
	ownerSession                  // "pid:hostname"
	ownerUnknown                  // empty or malformed
)

// parseLockRecord reads the record at the start of b (a whole record, a
// shorter line written by an earlier version, or anything else).
func parseLockRecord(b []byte) (kind ownerKind, pid int, host []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimRight(b, " ")
	if string(b) == freeMark {
		return ownerFree, 0, nil
	}
	p, h, ok := bytes.Cut(b, []byte{':'})
	if !ok || len(h) == 0 {
		return ownerUnknown, 0, nil
	}
	n, err := strconv.Atoi(string(p))
	if err != nil || n <= 0 {
		return ownerUnknown, 0, nil
	}
	return ownerSession, n, h
}

// ownerString is the owner named by record b, for messages.
func ownerString(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return string(bytes.TrimRight(b, " "))
}

// sessionLock is a held session lock: the lock file, open with an OFD
// write lock on it and our owner record in it, and a timer that refreshes
// its mtime.
type sessionLock struct {
	path   string
	f      *os.File
	st     os.FileInfo // of the lock file, to notice its replacement
	record *lockRecord // ours
	log    *slog.Logger
	every  time.Duration

	mu       sync.Mutex // serialises refresh and release
	timer    *time.Timer
	released bool
	lost     bool // someone else owns the lock file or record now
}

// acquireLock takes the session lock of the maildir at root, whose lock
// file must exist, or returns an error wrapping ErrInUse at once. An error
// wrapping fs.ErrNotExist means there is no lock file yet (see
// createLockFile).
func acquireLock(root string, o *Options, log *slog.Logger) (*sessionLock, error) {
	path := filepath.Join(root, lockName)
	f, err := openFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("maildrop: open lock: %w", err)
	}
	l, err := takeLock(path, f, o, log)
	if err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// takeLock does the work of acquireLock on the open lock file f. The
// caller closes f on error.
func takeLock(path string, f *os.File, o *Options, log *slog.Logger) (*sessionLock, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("maildrop: lock: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("maildrop: lock %s: not a regular file", path)
	}
	if linkCount(st) > 1 {
		if st, err = checkLinks(path, f, st); err != nil {
			return nil, err
		}
	}
	locked, lerr := ofdTryLock(f)
	var buf lockRecord
	n, err := f.ReadAt(buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("maildrop: read lock: %w", err)
	}
	rec := buf[:n]
	if lerr == nil && !locked {
		// A live session holds it (on this host, or on another host
		// sharing the directory with working NFS locks).
		return nil, fmt.Errorf("%w (%s held by %q)", ErrInUse, path, ownerString(rec))
	}
	if lerr != nil && !errors.Is(lerr, errors.ErrUnsupported) {
		// No byte-range locking here (for example NFS without a lock
		// manager): the owner record alone excludes other sessions.
		log.Warn("maildrop: no OFD lock on session lock file", "path", path, "err", lerr)
	}
	host := recordHost(o.Hostname)
	kind, pid, owner := parseLockRecord(rec)
	if kind != ownerFree {
		reason := staleReason(kind, pid, owner, host, locked, time.Since(st.ModTime()), o.StaleLock)
		if reason == "" {
			return nil, fmt.Errorf("%w (%s held by %q)", ErrInUse, path, ownerString(rec))
		}
		log.Warn("maildrop: broke stale session lock", "path", path,
			"owner", ownerString(rec), "reason", reason)
	}
	mine := makeRecord(strconv.Itoa(os.Getpid()) + ":" + host)
	if _, err := f.WriteAt(mine[:], 0); err != nil {
		return nil, fmt.Errorf("maildrop: write lock: %w", err)
	}
	// Setting the mtime also makes an NFS client flush the record to the
	// server (SETATTR writes dirty data first), so other hosts see it.
	// Locally the write has set it already.
	if err := touchFile(f); err != nil {
		log.Warn("maildrop: refresh session lock", "path", path, "err", err)
	}
	return &sessionLock{path: path, f: f, st: st, record: mine, log: log}, nil
}

// staleReason decides whether a lock file that records an owner may be
// taken over, and says why; "" means the maildrop is in use. locked
// reports that we hold the OFD lock on the file.
func staleReason(kind ownerKind, pid int, owner []byte, host string, locked bool, age, staleAfter time.Duration) string {
	local := kind == ownerSession && string(owner) == host
	switch {
	case local && locked:
		// Every session on this host holds the OFD lock while it owns
		// the record, and the kernel drops it when the holder exits.
		return "owner " + strconv.Itoa(pid) + " on this host no longer holds the lock"
	case local && !pidAlive(pid):
		return "owner process " + strconv.Itoa(pid) + " is gone"
	case age > staleAfter:
		return "not refreshed for " + age.Round(time.Second).String()
	}
	return ""
}

// checkLinks decides whether a lock file with more than one link (st) may
// be written: a hard link planted under the lock's name must not make a
// privileged server overwrite the start of another file. It may if the
// file belongs to the owner of the maildir, who could write it anyway (a
// backup made with hard links leaves such a link). Otherwise it waits a
// little for the second link to go: one exists for a moment while
// createLockFile links a new lock file, where the file system cannot
// rename without replacing. It returns the file's current st.
func checkLinks(path string, f *os.File, st os.FileInfo) (os.FileInfo, error) {
	dir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("maildrop: lock: %w", err)
	}
	if uid, _ := fileOwner(st); uid == dirOwner(dir) {
		return st, nil
	}
	for i := 0; linkCount(st) > 1 && i < linkRetries; i++ {
		time.Sleep(linkBackoff)
		if st, err = f.Stat(); err != nil {
			return nil, fmt.Errorf("maildrop: lock: %w", err)
		}
	}
	if linkCount(st) > 1 {
		return nil, fmt.Errorf("maildrop: lock %s: has %d links and does not belong to the maildir's owner",
			path, linkCount(st))
	}
	return st, nil
}

// dirOwner is the user owning the directory st describes.
func dirOwner(st os.FileInfo) int {
	uid, _ := fileOwner(st)
	return uid
}

// createLockFile creates root's lock file, holding the free record, if it
// does not exist. It writes a temporary file and renames it to the lock
// name without replacing anything (or, where that is not supported, links
// it), so the lock file never exists without a record, and it is not a
// failure if another session created the lock file first.
func createLockFile(root string) error {
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return fmt.Errorf("maildrop: create lock: %w", err)
	}
	tmp := filepath.Join(root, lockName+".tmp."+strconv.Itoa(os.Getpid())+"."+hex.EncodeToString(suffix[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("maildrop: create lock: %w", err)
	}
	defer os.Remove(tmp)
	_, err = f.Write(freeRecord[:])
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("maildrop: create lock: %w", err)
	}
	if os.Geteuid() == 0 {
		// Root serving a user's maildir: the lock file belongs to that
		// user, as the maildir does (see checkLinks).
		if dir, err := os.Stat(root); err == nil {
			if uid, gid := fileOwner(dir); uid != 0 {
				if err := os.Chown(tmp, uid, gid); err != nil {
					return fmt.Errorf("maildrop: create lock: %w", err)
				}
			}
		}
	}
	path := filepath.Join(root, lockName)
	err = renameNoReplace(tmp, path)
	if errors.Is(err, errors.ErrUnsupported) {
		// For example NFS: link, and remove the temporary name
		// (deferred); checkLinks allows for the moment in between.
		err = os.Link(tmp, path)
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("maildrop: create lock: %w", err)
	}
	return nil
}

// pidAlive reports whether a process with this PID exists on this host.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// startHeartbeat refreshes the lock file's mtime every interval until
// release.
func (l *sessionLock) startHeartbeat(every time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.every = every
	l.timer = time.AfterFunc(every, l.refresh)
}

// refresh touches the lock file through our descriptor, checks that the
// lock file and its record are still ours, and schedules the next refresh.
func (l *sessionLock) refresh() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return
	}
	if err := touchFile(l.f); err != nil {
		l.log.Warn("maildrop: refresh session lock", "path", l.path, "err", err)
	}
	if !l.lost && !l.stillOursLocked(true) {
		l.lost = true
		l.log.Error("maildrop: session lock was taken over by someone else", "path", l.path)
	}
	l.timer.Reset(l.every)
}

// stillOursLocked reports whether the lock file holds our record and,
// with byName, whether the lock name still refers to it. l.mu must be
// held.
func (l *sessionLock) stillOursLocked(byName bool) bool {
	var buf lockRecord
	if n, err := l.f.ReadAt(buf[:], 0); n != recordSize || (err != nil && !errors.Is(err, io.EOF)) || buf != *l.record {
		return false
	}
	if !byName {
		return true
	}
	cur, err := os.Stat(l.path)
	return err == nil && os.SameFile(cur, l.st)
}

// release stops the heartbeat, writes the free record if the record is
// still ours and drops the OFD lock by closing the descriptor. It is
// idempotent.
func (l *sessionLock) release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	l.released = true
	if l.timer != nil {
		l.timer.Stop()
	}
	var err error
	// The free record goes in before the OFD lock is dropped, so that
	// whoever takes the OFD lock next finds it. It is written only if
	// the record is still ours: a session on another host may have
	// judged ours stale and taken over.
	if !l.lost && l.stillOursLocked(false) {
		if _, werr := l.f.WriteAt(freeRecord[:], 0); werr != nil {
			err = fmt.Errorf("maildrop: release lock: %w", werr)
		}
	}
	if cerr := l.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("maildrop: close lock: %w", cerr)
	}
	return err
}
