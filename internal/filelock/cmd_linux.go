package filelock

import "golang.org/x/sys/unix"

// OFD reports whether TryLock takes open file description locks.
const OFD = true

// lockCmd is the fcntl command of TryLock and Unlock.
const lockCmd = unix.F_OFD_SETLK
