//go:build unix

package maildrop

import (
	"os"
	"syscall"
)

// linkCount returns the number of hard links of the file st describes (1
// when the system does not say).
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
