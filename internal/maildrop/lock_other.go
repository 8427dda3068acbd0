//go:build !linux

package maildrop

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// ofdTryLock reports errors.ErrUnsupported where OFD locks do not exist:
// the owner record and the PID and mtime rules alone decide.
func ofdTryLock(*os.File) (bool, error) { return false, errors.ErrUnsupported }

// touchFile sets f's modification time to now by name.
func touchFile(f *os.File) error {
	now := time.Now()
	return os.Chtimes(f.Name(), now, now)
}

// linkCount is the number of hard links of the file st describes.
func linkCount(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Nlink)
	}
	return 1
}

// fileOwner returns the user and group owning the file st describes.
func fileOwner(st os.FileInfo) (uid, gid int) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid), int(s.Gid)
	}
	return -1, -1
}
