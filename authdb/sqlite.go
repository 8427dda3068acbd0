package authdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"github.com/popadm/popadm/internal/pwscheme"
)

// DefaultScheme is the slow-verifier scheme used when neither the stored
// policy nor Options.Scheme names one.
const DefaultScheme = "ARGON2ID"

// Options configures Open.
type Options struct {
	// Create makes Open create and initialise a missing database file.
	Create bool
	// Migrate makes Open upgrade an older schema instead of failing with
	// ErrNotMigrated.
	Migrate bool
	// ReadOnly opens the database for reads only, even when the file is
	// writable. Writes fail with ErrReadOnly.
	ReadOnly bool
	// AnyVersion opens a database whatever its schema version, for Check,
	// Backup and Migrate only (e.g. a backup before an upgrade).
	AnyVersion bool
	// DefaultDomain is appended to login names without a domain.
	DefaultDomain string
	// Scheme is the slow-verifier scheme when the stored policy does not
	// set one; "" means ARGON2ID.
	Scheme string
	// Params are the cost parameters for the slow verifier. Every process
	// sharing a database should use the same values, or rehash-on-login
	// converts back and forth.
	Params pwscheme.Params
	// ReadConns bounds the read pool; 0 means 4.
	ReadConns int
	// VerifyCacheTTL is how long a successful plaintext verification is
	// remembered in memory, so a client polling every few minutes does not
	// pay an Argon2id verify each time; 0 or negative disables the cache.
	// Entries are bound to the stored verifier, so any credential change,
	// by any process, invalidates them.
	VerifyCacheTTL time.Duration
	// MaxVerify bounds concurrent slow hash operations (verify and
	// generate) in this process; 0 means 2 per CPU.
	MaxVerify int
	// NoUnknownUserDelay skips the dummy verify that makes an unknown user
	// cost as much as a wrong password. Only for callers that pass unknown
	// names on to another verifier (the PAM fallback), which then sets the
	// timing.
	NoUnknownUserDelay bool
	// Logger receives warnings (never secrets); nil means slog.Default().
	Logger *slog.Logger
	// Now replaces time.Now (tests).
	Now func() time.Time

	// busyTimeout replaces the 5 s SQLite busy timeout (tests only).
	busyTimeout time.Duration
}

// DB is the SQLite account store. It is safe for concurrent use by many
// goroutines and, through SQLite's WAL locking, by many processes.
type DB struct {
	path     string
	opts     Options
	log      *slog.Logger
	readOnly bool
	r        *sql.DB // reads: plain statements, never Begin
	w        *sql.DB // writes: one connection, BEGIN IMMEDIATE; nil when read-only

	lookupStmt *sql.Stmt
	gate       *gate

	dummyMu sync.Mutex
	dummy   map[string]string // scheme → hash of a random password (unknown-user timing)

	polMu sync.Mutex
	pol   Policy
	polAt time.Time // when pol was read; zero = never
}

var (
	_ Admin           = (*DB)(nil)
	_ Authenticator   = (*DB)(nil)
	_ PasswordChanger = (*DB)(nil)
)

// Open opens the database at path (a file name, not a DSN).
//
// A missing file gives an error wrapping ErrNotInitialized unless
// opts.Create is set. When the file or its directory is not writable, or
// opts.ReadOnly is set, the database is opened read-only (mode=ro): reads
// work and every write fails with ErrReadOnly. A schema newer than this
// program gives ErrSchemaTooNew; an older one ErrNotMigrated unless
// opts.Migrate is set.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, mark(ErrInvalidInput, "authdb: open: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("authdb: open %s: %w", path, err)
	}
	d := &DB{path: abs, opts: opts, log: opts.Logger, dummy: map[string]string{}}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.opts.Now == nil {
		d.opts.Now = time.Now
	}
	if d.opts.ReadConns <= 0 {
		d.opts.ReadConns = 4
	}
	d.gate = newGate(d.opts.MaxVerify, d.opts.VerifyCacheTTL)
	if err := d.open(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *DB) open(ctx context.Context) error {
	dir := filepath.Dir(d.path)
	st, err := os.Stat(d.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !d.opts.Create {
			return mark(ErrNotInitialized, "authdb: open %s: no such file (run popadm db init)", d.path)
		}
		if d.opts.ReadOnly {
			return mark(ErrReadOnly, "authdb: create %s: opened read-only", d.path)
		}
		if dst, err := os.Stat(dir); err != nil {
			return fmt.Errorf("authdb: create %s: %w", d.path, err)
		} else if !dst.IsDir() {
			return fmt.Errorf("authdb: create %s: %s is not a directory", d.path, dir)
		}
		if !writable(dir) {
			return mark(ErrReadOnly, "authdb: create %s: directory %s is not writable", d.path, dir)
		}
	case err != nil:
		return fmt.Errorf("authdb: open %s: %w", d.path, err)
	case st.IsDir():
		return fmt.Errorf("authdb: open %s: is a directory", d.path)
	case !readable(d.path):
		return fmt.Errorf("authdb: open %s: permission denied", d.path)
	default:
		// SQLite writes the database and creates -wal/-shm next to it.
		d.readOnly = d.opts.ReadOnly || !writable(d.path) || !writable(dir)
	}

	if !d.readOnly {
		d.w, err = sql.Open("sqlite3", d.dsn(false))
		if err != nil {
			return fmt.Errorf("authdb: open %s: %w", d.path, err)
		}
		d.w.SetMaxOpenConns(1)
		d.w.SetMaxIdleConns(1)
		d.w.SetConnMaxLifetime(0)
		d.w.SetConnMaxIdleTime(0)
		if err := d.w.PingContext(ctx); err != nil {
			return fmt.Errorf("authdb: open %s: %w", d.path, err)
		}
	}
	if err := d.openReadPool(ctx, d.dsn(d.readOnly)); err != nil {
		// A read-only WAL database can be read only if its -wal and -shm
		// files exist (a writer has it open) or can be created. Neither:
		// no process is writing, and the file alone is the whole database,
		// so open it as immutable.
		if !d.readOnly || fileExists(d.path+"-wal") {
			return fmt.Errorf("authdb: open %s: %w", d.path, err)
		}
		d.r.Close()
		if err2 := d.openReadPool(ctx, d.dsn(true)+"&immutable=1"); err2 != nil {
			return fmt.Errorf("authdb: open %s (read-only): %w", d.path, err)
		}
		d.log.Debug("authdb: read-only database opened as immutable (no writer running)", "path", d.path)
	}

	if err := d.checkVersion(ctx); err != nil {
		return err
	}
	d.lookupStmt, err = d.r.PrepareContext(ctx, accountQuery(true, "u.name = ?"))
	if err != nil && !d.opts.AnyVersion {
		return fmt.Errorf("authdb: open %s: prepare: %w", d.path, err)
	}
	return nil
}

// openReadPool opens the read pool and reads the schema version once, so
// that a database SQLite cannot read fails here.
func (d *DB) openReadPool(ctx context.Context, dsn string) error {
	var err error
	if d.r, err = sql.Open("sqlite3", dsn); err != nil {
		return err
	}
	d.r.SetMaxOpenConns(d.opts.ReadConns)
	d.r.SetMaxIdleConns(d.opts.ReadConns)
	d.r.SetConnMaxLifetime(0)
	d.r.SetConnMaxIdleTime(0)
	_, err = userVersion(ctx, d.r)
	return err
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// dsn builds the go-sqlite3 DSN. The write pool uses exactly the
// recommended settings (docs: WAL, busy timeout, immediate transactions,
// synchronous=NORMAL, foreign keys), plus mode=rw or rwc so that a missing
// file is never created by accident. Never cache=shared: it turns
// SQLITE_BUSY (waited for) into SQLITE_LOCKED (not waited for).
func (d *DB) dsn(readOnly bool) string {
	busy := 5000
	if d.opts.busyTimeout > 0 {
		busy = int(d.opts.busyTimeout / time.Millisecond)
	}
	u := "file:" + escapePath(d.path) + "?"
	if readOnly {
		// journal_mode cannot be set on a read-only connection; the file
		// header already says WAL.
		return u + fmt.Sprintf("mode=ro&_busy_timeout=%d&_txlock=deferred&_foreign_keys=1", busy)
	}
	mode := "rw"
	if d.opts.Create {
		mode = "rwc"
	}
	return u + fmt.Sprintf("_journal_mode=WAL&_busy_timeout=%d&_txlock=immediate&_synchronous=NORMAL&_foreign_keys=1&mode=%s", busy, mode)
}

// escapePath escapes the characters that would end or corrupt the path
// part of an SQLite URI filename.
func escapePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '%', '?', '#':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Path returns the absolute database path.
func (d *DB) Path() string { return d.path }

// ReadOnly reports whether the database was opened read-only.
func (d *DB) ReadOnly() bool { return d.readOnly }

// Close closes both connection pools.
func (d *DB) Close() error {
	var errs []error
	if d.lookupStmt != nil {
		errs = append(errs, d.lookupStmt.Close())
	}
	if d.r != nil {
		errs = append(errs, d.r.Close())
	}
	if d.w != nil {
		errs = append(errs, d.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("authdb: close %s: %w", d.path, err)
	}
	return nil
}

func (d *DB) now() time.Time { return d.opts.Now() }
