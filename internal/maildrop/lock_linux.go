package maildrop

import (
	"os"

	"github.com/popadm/popadm/internal/filelock"
	"golang.org/x/sys/unix"
)

// ofdTryLock tries to take an open-file-description write lock on the
// whole of f without waiting. It returns false, nil when another open file
// description holds a conflicting lock. The lock lasts until f is closed.
func ofdTryLock(f *os.File) (bool, error) { return filelock.TryLock(f, unix.F_WRLCK) }

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
