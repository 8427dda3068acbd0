package maildrop

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Default lock timings, as Dovecot's pop3_lock_session dotlock.
const (
	DefaultStaleLock   = 5 * time.Minute
	DefaultLockRefresh = time.Minute
)

// ErrInUse is wrapped by the error Open returns when another session
// holds the maildrop's session lock (POP3 "-ERR [IN-USE]").
var ErrInUse = errors.New("maildrop: maildrop is locked by another session")

// ErrNotFound is wrapped by the error Open returns when the maildir (or
// its new/ or cur/ subdirectory) does not exist and Options.Create is
// false.
var ErrNotFound = errors.New("maildrop: maildir not found")

// ErrGone is wrapped by Maildrop.Open when a message of the snapshot no
// longer exists in new/ or cur/ under any name (another client removed it).
var ErrGone = errors.New("maildrop: message is gone")

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("maildrop: maildrop is closed")

// Options configures Open. The zero value is usable.
type Options struct {
	// Create makes Open create dir and its new/, cur/ and tmp/
	// subdirectories (mode 0700) when they are missing.
	Create bool
	// StaleLock is how long a session lock may go without a refresh before
	// another session may break it. Default DefaultStaleLock.
	StaleLock time.Duration
	// LockRefresh is the heartbeat interval at which a held lock's mtime
	// is refreshed. It must be shorter than StaleLock. Default
	// DefaultLockRefresh (or StaleLock/3 if that is shorter).
	LockRefresh time.Duration
	// Hostname is written into the lock file and compared with the host
	// name in foreign lock files. Default os.Hostname().
	Hostname string
	// Logger receives warnings about stale locks, duplicate messages and
	// size corrections. Default: discard.
	Logger *slog.Logger
}

// withDefaults returns o with the zero fields filled in.
func (o Options) withDefaults() (Options, error) {
	if o.StaleLock <= 0 {
		o.StaleLock = DefaultStaleLock
	}
	if o.LockRefresh <= 0 {
		o.LockRefresh = min(DefaultLockRefresh, o.StaleLock/3)
	}
	if o.LockRefresh >= o.StaleLock {
		return o, fmt.Errorf("maildrop: lock refresh %s must be shorter than stale lock timeout %s",
			o.LockRefresh, o.StaleLock)
	}
	if o.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		o.Hostname = h
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Message is one message of the snapshot taken by Open.
type Message struct {
	// Base is the Maildir base name: the file name before the first ':'.
	Base string
	// Size is the RFC 1939 octet count of the message as transmitted,
	// with CRLF line ends and before byte-stuffing.
	Size int64
	// UIDL is the message's unique-id: 1 to 70 octets of 0x21-0x7E,
	// derived from Base only, unless a migration override file
	// (popadm-uidl, see override.go) gives the old server's UIDL.
	UIDL string
}

// Maildrop is an open, locked Maildir maildrop with a fixed snapshot of its
// messages. Its methods are safe for concurrent use.
type Maildrop struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock *sessionLock

	mu        sync.Mutex
	msgs      []Message
	meta      []msgMeta
	dups      map[int][]string // index -> other copies, "sub/name"
	index     map[string]int   // base name -> index, built on first rescan
	dirty     bool             // the size cache on disk is out of date
	committed bool
	closed    bool
}

// msgMeta is what the Maildrop knows about a message beyond Message.
type msgMeta struct {
	sub    string // "new" or "cur"
	name   string // current file name in sub
	psize  int64  // physical size, -1 when unknown
	cached bool   // the size belongs in the size cache
}

// Open takes the exclusive session lock of the Maildir at dir, scans new/
// and cur/ (never tmp/, skipping names that start with '.') and returns a
// snapshot ordered oldest first: by the seconds in the file name, then the
// microseconds of an "M<usec>" field, then the base name. Mail delivered
// later is not part of the snapshot. A migration override file
// (popadm-uidl) puts the messages it orders first, in the old server's
// order, and replaces their UIDLs.
//
// Open returns an error wrapping ErrInUse at once if another session holds
// the lock, and ErrNotFound if the maildir is missing and opts.Create is
// false. The caller must call Close.
func Open(ctx context.Context, dir string, opts Options) (*Maildrop, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	log := o.Logger.With("maildir", dir)
	lk, err := acquireLock(dir, &o, log)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		// No lock file yet: a new maildir, or none at all. Only now are
		// the directories checked; later sessions find any that went
		// missing when they list them.
		if err := prepareDirs(dir, o.Create); err != nil {
			return nil, err
		}
		if err := createLockFile(dir); err != nil {
			return nil, err
		}
		lk, err = acquireLock(dir, &o, log)
	}
	if err != nil {
		return nil, err
	}
	lk.startHeartbeat(o.LockRefresh)
	m := &Maildrop{dir: dir, opts: o, log: log, lock: lk}
	if err := m.load(ctx); err != nil {
		if rerr := lk.release(); rerr != nil {
			log.Warn("maildrop: release lock after failed open", "err", rerr)
		}
		return nil, err
	}
	return m, nil
}

// prepareDirs checks (or with create, makes) dir, dir/new, dir/cur and
// dir/tmp.
func prepareDirs(dir string, create bool) error {
	for _, d := range []string{dir, filepath.Join(dir, "new"), filepath.Join(dir, "cur"), filepath.Join(dir, "tmp")} {
		st, err := os.Stat(d)
		switch {
		case err == nil && st.IsDir():
			continue
		case err == nil:
			return fmt.Errorf("maildrop: open %s: not a directory", d)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("maildrop: open %s: %w", d, err)
		case create:
			if err := os.MkdirAll(d, 0o700); err != nil {
				return fmt.Errorf("maildrop: create %s: %w", d, err)
			}
		case filepath.Base(d) == "tmp" && d != dir:
			// Only deliveries need tmp/; reading works without it.
		default:
			return fmt.Errorf("%w: %s", ErrNotFound, d)
		}
	}
	return nil
}

// Messages returns the snapshot taken by Open. Index i of the result is
// POP3 message number i+1. The result is a copy.
func (m *Maildrop) Messages() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.msgs)
}

// Close writes the size cache if it changed, stops the lock heartbeat and
// releases the session lock, marking the lock file free if the lock is
// still ours.
// It does not remove any message: only Commit does. Calls after the first
// return nil.
func (m *Maildrop) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.flushCacheLocked()
	m.mu.Unlock()
	return m.lock.release()
}

// flushCacheLocked writes the size cache if it is dirty. A failure is only
// logged: the cache is rebuilt by a later session. m.mu must be held.
func (m *Maildrop) flushCacheLocked() {
	if !m.dirty {
		return
	}
	recs := make([]cacheRecord, 0, len(m.msgs))
	for i := range m.meta {
		if md := &m.meta[i]; md.cached && md.psize >= 0 {
			recs = append(recs, cacheRecord{base: m.msgs[i].Base, vsize: m.msgs[i].Size, psize: md.psize})
		}
	}
	if err := writeCache(m.dir, recs); err != nil {
		m.log.Warn("maildrop: size cache not saved", "err", err)
		return
	}
	m.dirty = false
}
