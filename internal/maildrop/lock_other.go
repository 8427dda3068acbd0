//go:build !linux

package maildrop

import (
	"os"
	"time"
)

// ofdTryLock is a no-op where OFD locks do not exist: the lock file and the
// PID and mtime rules alone decide.
func ofdTryLock(*os.File, bool) (bool, error) { return true, nil }

// touchFile sets f's modification time to now by name.
func touchFile(f *os.File) error {
	now := time.Now()
	return os.Chtimes(f.Name(), now, now)
}
