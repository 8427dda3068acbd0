package mbox

import "golang.org/x/sys/unix"

// kernelLockCmd is F_OFD_SETLK: the lock belongs to the open file
// description, so two sessions in one process exclude each other and
// closing another descriptor of the file does not drop it, while it still
// conflicts with the classic F_SETLK locks of Postfix, procmail and mutt.
const kernelLockCmd = unix.F_OFD_SETLK
