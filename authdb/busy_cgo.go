//go:build cgo

package authdb

import (
	"errors"

	"github.com/mattn/go-sqlite3"
)

// isBusy reports whether err is SQLITE_BUSY or SQLITE_LOCKED: another
// connection holds the lock beyond the busy timeout. Only whole
// transactions are retried on it.
func isBusy(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return false
}

// isReadOnlyErr reports whether err is SQLITE_READONLY.
func isReadOnlyErr(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrReadonly
}
