package mbox

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Defaults for the zero fields of Options.
const (
	// DefaultLockTimeout is how long Open and Commit try to take the
	// spool locks before giving up with ErrInUse (Postfix gives up on a
	// delivery after 20 one-second attempts).
	DefaultLockTimeout = 15 * time.Second
	// DefaultStaleLock is the age after which a foreign dotlock is
	// broken, the same as Postfix's stale_lock_time.
	DefaultStaleLock = 500 * time.Second
	// DefaultMaxMessages caps the number of messages in one spool.
	DefaultMaxMessages = 200000
	// DefaultMaxBytes caps the size of one spool file.
	DefaultMaxBytes = 256 << 20
)

// Errors returned (wrapped) by this package.
var (
	// ErrInUse means the spool locks could not be taken within
	// Options.LockTimeout, or another session of this spool is open
	// (POP3 "-ERR [IN-USE]").
	ErrInUse = errors.New("mbox: maildrop is locked by another program")
	// ErrChanged means the spool was changed in a way other than by
	// appending mail since the session scanned it. The session must end
	// without rewriting the spool.
	ErrChanged = errors.New("mbox: maildrop was changed by another program")
	// ErrGone means the spool file was removed or replaced by another
	// file since the session scanned it.
	ErrGone = errors.New("mbox: maildrop file was removed or replaced")
	// ErrTooBig means the spool exceeds Options.MaxBytes or
	// Options.MaxMessages.
	ErrTooBig = errors.New("mbox: maildrop exceeds the configured limits")
	// ErrFormat means the spool is not an mbox (or MMDF) file.
	ErrFormat = errors.New("mbox: maildrop is not in mbox format")
	// ErrUnsafe means the spool path is a symbolic link, not a regular
	// file, has more than one link or has the wrong owner.
	ErrUnsafe = errors.New("mbox: maildrop file fails the safety checks")
	// ErrJournal means a pending UPDATE journal cannot be applied
	// because the spool was changed by another program after a crash.
	// The journal is kept for an administrator to inspect.
	ErrJournal = errors.New("mbox: pending journal does not match the maildrop")
	// ErrClosed is returned by methods called after Close, and by Open
	// and Commit after Commit.
	ErrClosed = errors.New("mbox: maildrop is closed")
)

// Options configures Open, Recover and RecoverAll.
type Options struct {
	// JournalDir holds the UPDATE journals and the per-spool session
	// lock files. It must be outside the spool directory (for example
	// /var/lib/popadm/journal) and is created with mode 0700 if missing.
	// Required.
	JournalDir string
	// LockTimeout is how long to keep trying to take the spool locks
	// before giving up with ErrInUse. Default DefaultLockTimeout.
	LockTimeout time.Duration
	// StaleLock is the age (by the later of mtime and ctime) after which
	// a dotlock held by another program is broken. A dotlock naming this
	// host and a process that no longer exists is broken at once.
	// Default DefaultStaleLock.
	StaleLock time.Duration
	// Hostname is written into our dotlocks ("pid:hostname\n") and
	// compared with the host in existing ones. Default os.Hostname().
	Hostname string
	// Logger receives warnings and errors. Default: discard.
	Logger *slog.Logger
	// MaxMessages caps the number of messages; a larger spool is refused
	// with ErrTooBig. 0 means DefaultMaxMessages, negative no limit.
	MaxMessages int
	// MaxBytes caps the spool size; a larger spool is refused with
	// ErrTooBig. 0 means DefaultMaxBytes, negative no limit.
	MaxBytes int64
	// RequireUID is the user that must own the spool file. -1 disables
	// the check; the zero value requires root.
	RequireUID int

	// Test hooks, settable only from this package's tests.
	crash      func(step string) // called at each UPDATE step (crash tests)
	backoffMin time.Duration     // lower bound of the lock retry delay
	backoffMax time.Duration     // upper bound of the lock retry delay
}

// Lock retry delays (Debian Policy §11.6: a random time).
const (
	defaultBackoffMin = 100 * time.Millisecond
	defaultBackoffMax = time.Second
)

// withDefaults returns o with the zero fields filled in.
func (o Options) withDefaults() (Options, error) {
	if o.JournalDir == "" {
		return o, errors.New("mbox: Options.JournalDir is required")
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.StaleLock <= 0 {
		o.StaleLock = DefaultStaleLock
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
	if o.MaxMessages == 0 {
		o.MaxMessages = DefaultMaxMessages
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.backoffMin <= 0 {
		o.backoffMin = defaultBackoffMin
	}
	if o.backoffMax < o.backoffMin {
		o.backoffMax = max(defaultBackoffMax, o.backoffMin)
	}
	if o.RequireUID < -1 {
		return o, fmt.Errorf("mbox: invalid Options.RequireUID %d", o.RequireUID)
	}
	return o, nil
}

// step calls the crash test hook, if any.
func (o *Options) step(name string) {
	if o.crash != nil {
		o.crash(name)
	}
}

// refreshEvery is how often a held dotlock's times are refreshed: at most
// a minute (Dovecot breaks an unchanged lock after two minutes) and well
// within StaleLock.
func (o *Options) refreshEvery() time.Duration {
	return min(time.Minute, o.StaleLock/3)
}
