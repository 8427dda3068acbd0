//go:build !unix

package main

import "errors"

// raiseNoFile is not available on this system.
func raiseNoFile(uint64) (uint64, error) {
	return 0, errors.New("open file limits are only handled on Unix")
}
