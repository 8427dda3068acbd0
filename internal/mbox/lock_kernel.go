package mbox

import (
	"os"

	"github.com/popadm/popadm/internal/filelock"
)

// kernelTryLock tries to take a whole-file fcntl lock of type typ
// (unix.F_RDLCK or unix.F_WRLCK) on f without waiting. It returns false,
// nil when a conflicting lock is held. On Linux it is an OFD lock, so two
// sessions in one process exclude each other and closing another
// descriptor of the spool does not drop it; elsewhere it is the classic
// F_SETLK lock, which does neither (the session lock and the dotlock
// still exclude sessions of one process). Either way it conflicts with
// the fcntl locks of Postfix, procmail and mutt.
func kernelTryLock(f *os.File, typ int16) (bool, error) { return filelock.TryLock(f, typ) }

// kernelUnlock releases the fcntl lock taken by kernelTryLock.
func kernelUnlock(f *os.File) error { return filelock.Unlock(f) }

// flockTry takes an exclusive flock(2) lock on f without waiting. flock
// locks belong to the open file description on every system.
func flockTry(f *os.File) (bool, error) { return filelock.TryFlock(f) }
