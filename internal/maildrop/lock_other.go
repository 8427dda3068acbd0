//go:build !linux

package maildrop

import (
	"errors"
	"os"
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
