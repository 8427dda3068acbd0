//go:build !linux

package maildrop

import (
	"errors"
	"os"
)

// openFile is os.OpenFile.
func openFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}

// renameNoReplace reports errors.ErrUnsupported: the caller links instead.
func renameNoReplace(oldpath, newpath string) error { return errors.ErrUnsupported }
