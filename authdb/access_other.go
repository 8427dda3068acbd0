//go:build !unix

package authdb

import "os"

// writable reports whether path can be opened for writing.
func writable(path string) bool {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fi.Mode().Perm()&0o200 != 0
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// readable reports whether path can be opened for reading.
func readable(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
