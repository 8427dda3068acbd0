// Package filelock takes advisory locks on the whole of an open file,
// never waiting: fcntl(2) record locks, which conflict with the ones mail
// delivery agents and mail readers take, and flock(2) locks.
//
// On Linux the record locks are open file description (OFD) locks
// (F_OFD_SETLK): a lock belongs to the open file description, so two
// descriptions opened by one process exclude each other and closing
// another descriptor of the file does not drop it, while it still
// conflicts with the classic F_SETLK locks of Postfix, procmail and mutt.
// Elsewhere they are classic F_SETLK locks, which belong to the process
// (OFD reports which). flock locks belong to the open file description on
// every system.
//
// Errors are the system's, unwrapped, for the caller to give context.
package filelock

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// TryLock tries to take a record lock of type typ (unix.F_RDLCK or
// unix.F_WRLCK) on the whole of f without waiting. It returns false, nil
// when another holder has a conflicting lock. The lock lasts until Unlock
// or until f (with OFD locks) or any descriptor of the file in this
// process (without) is closed.
func TryLock(f *os.File, typ int16) (bool, error) {
	err := setLock(f, typ)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return false, nil
	}
	return err == nil, err
}

// Unlock releases the record lock TryLock took on f.
func Unlock(f *os.File) error { return setLock(f, unix.F_UNLCK) }

// setLock sets a whole-file record lock of type typ on f with lockCmd.
func setLock(f *os.File, typ int16) error {
	return control(f, func(fd uintptr) error {
		lk := unix.Flock_t{Type: typ, Whence: 0, Start: 0, Len: 0}
		return unix.FcntlFlock(fd, lockCmd, &lk)
	})
}

// TryFlock tries to take an exclusive flock lock on f without waiting. It
// returns false, nil when another open file description holds one. The
// lock lasts until f is closed.
func TryFlock(f *os.File) (bool, error) {
	err := control(f, func(fd uintptr) error {
		return unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
	})
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// control runs fn on f's descriptor and returns the error of either.
func control(f *os.File, fn func(fd uintptr) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(fd) }); err != nil {
		return err
	}
	return ferr
}
