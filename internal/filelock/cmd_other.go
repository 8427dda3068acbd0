//go:build unix && !linux

package filelock

import "golang.org/x/sys/unix"

// OFD reports whether TryLock takes open file description locks.
const OFD = false

// lockCmd is the fcntl command of TryLock and Unlock: the classic
// process-associated F_SETLK, where OFD locks do not exist.
const lockCmd = unix.F_SETLK
