package authdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// busyRetries is how many times a whole write transaction is retried after
// SQLITE_BUSY outlasted the busy timeout.
const busyRetries = 3

// errRollback makes write roll back a transaction whose function succeeded
// (dry runs); write returns nil for it.
var errRollback = errors.New("authdb: rollback requested")

// write runs fn in one BEGIN IMMEDIATE transaction on the single write
// connection and commits it. fn must be safe to run again: on SQLITE_BUSY
// the whole transaction is retried up to busyRetries times with jitter,
// then the error wraps ErrTemporary, so "database is locked" never reaches
// a user. Do any slow work (hashing) before calling write.
func (d *DB) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if d.w == nil {
		return mark(ErrReadOnly, "authdb: %s: database %s is read-only", op, d.path)
	}
	for attempt := 0; ; attempt++ {
		err := d.writeOnce(ctx, fn)
		if errors.Is(err, errRollback) {
			return nil
		}
		if err == nil || !isBusy(err) {
			return d.mapErr(op, err)
		}
		if attempt == busyRetries {
			return mark(ErrTemporary, "authdb: %s: database busy after %d attempts", op, attempt+1)
		}
		base := time.Duration(attempt+1) * 25 * time.Millisecond
		t := time.NewTimer(base + rand.N(base))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("authdb: %s: %w", op, ctx.Err())
		case <-t.C:
		}
		d.log.Debug("authdb: retrying busy transaction", "op", op, "attempt", attempt+1)
	}
}

func (d *DB) writeOnce(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// mapErr gives raw SQLite errors their sentinel; errors from this package
// (already wrapped) pass through.
func (d *DB) mapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case isBusy(err):
		return mark(ErrTemporary, "authdb: %s: database busy", op)
	case isReadOnlyErr(err):
		return mark(ErrReadOnly, "authdb: %s: database %s is read-only", op, d.path)
	case isOurs(err):
		return err
	}
	return fmt.Errorf("authdb: %s: %w", op, err)
}

// isOurs reports whether err already carries a sentinel of this package.
func isOurs(err error) bool {
	var ae *AuthError
	var pe *PolicyError
	if errors.As(err, &ae) || errors.As(err, &pe) {
		return true
	}
	for _, s := range []error{ErrNoSuchUser, ErrNoSuchDomain, ErrUserExists, ErrDomainExists,
		ErrDomainInUse, ErrInvalidName, ErrInvalidHash, ErrInvalidInput, ErrTemporary,
		ErrSchemaTooNew, ErrNotMigrated, ErrNotInitialized, ErrReadOnly, ErrCheckFailed,
		context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// temporary wraps a store failure met while authenticating: the caller
// answers "-ERR [SYS/TEMP]" rather than "bad password".
func temporary(op string, err error) error {
	if errors.Is(err, ErrTemporary) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrTemporary, op, err)
}
