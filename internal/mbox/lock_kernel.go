package mbox

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// kernelTryLock tries to take a whole-file fcntl lock of type typ
// (unix.F_RDLCK or unix.F_WRLCK) on f without waiting. It returns false,
// nil when a conflicting lock is held.
func kernelTryLock(f *os.File, typ int16) (bool, error) {
	err := fcntlLock(f, typ)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return false, nil
	}
	return err == nil, err
}

// kernelUnlock releases the fcntl lock taken by kernelTryLock.
func kernelUnlock(f *os.File) error { return fcntlLock(f, unix.F_UNLCK) }

// fcntlLock sets a whole-file lock of type typ with kernelLockCmd.
func fcntlLock(f *os.File, typ int16) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	err = rc.Control(func(fd uintptr) {
		lk := unix.Flock_t{Type: typ, Whence: 0, Start: 0, Len: 0}
		lerr = unix.FcntlFlock(fd, kernelLockCmd, &lk)
	})
	if err != nil {
		return err
	}
	return lerr
}

// flockTry takes an exclusive flock(2) lock on f without waiting. flock
// locks belong to the open file description on every system.
func flockTry(f *os.File) (bool, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var lerr error
	err = rc.Control(func(fd uintptr) { lerr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB) })
	if err != nil {
		return false, err
	}
	if errors.Is(lerr, unix.EWOULDBLOCK) {
		return false, nil
	}
	return lerr == nil, lerr
}
