//go:build unix && !linux

package mbox

import "golang.org/x/sys/unix"

// kernelLockCmd is the classic F_SETLK where OFD locks do not exist. Such
// a lock belongs to the process, so two sessions of one process do not
// exclude each other through it (the session lock and the dotlock still
// do), and closing any descriptor of the spool drops it.
const kernelLockCmd = unix.F_SETLK
