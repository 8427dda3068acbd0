package maildrop

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// ofdTryLock tries to take an open-file-description write lock (or read
// lock) on the whole of f without waiting. It returns false, nil when
// another open file description holds a conflicting lock.
func ofdTryLock(f *os.File, write bool) (bool, error) {
	typ := int16(unix.F_RDLCK)
	if write {
		typ = unix.F_WRLCK
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var lerr error
	err = rc.Control(func(fd uintptr) {
		lk := unix.Flock_t{Type: typ, Whence: 0, Start: 0, Len: 0}
		lerr = unix.FcntlFlock(fd, unix.F_OFD_SETLK, &lk)
	})
	if err != nil {
		return false, err
	}
	if errors.Is(lerr, unix.EAGAIN) || errors.Is(lerr, unix.EACCES) {
		return false, nil
	}
	if lerr != nil {
		return false, lerr
	}
	return true, nil
}

// touchFile sets f's access and modification times to now through its
// descriptor (futimens), so a lock file that was replaced under the same
// name is never touched.
func touchFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var terr error
	err = rc.Control(func(fd uintptr) {
		// utimensat(fd, NULL, NULL, 0) is futimens(fd, NULL): now.
		_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, fd, 0, 0, 0, 0, 0)
		if e != 0 {
			terr = e
		}
	})
	if err != nil {
		return err
	}
	return terr
}
