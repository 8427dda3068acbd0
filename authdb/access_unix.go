//go:build unix

package authdb

import "golang.org/x/sys/unix"

// writable reports whether this process may write path (the effective
// uid/gid decide, as they will for SQLite's own open).
func writable(path string) bool {
	return unix.Faccessat(unix.AT_FDCWD, path, unix.W_OK, unix.AT_EACCESS) == nil
}

// readable reports whether this process may read path.
func readable(path string) bool {
	return unix.Faccessat(unix.AT_FDCWD, path, unix.R_OK, unix.AT_EACCESS) == nil
}
