package mbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fileState is what fstat tells us about the spool: its identity and the
// fields that change when anybody writes to it.
type fileState struct {
	dev, ino uint64
	size     int64
	mtime    int64 // nanoseconds
	ctime    int64 // nanoseconds
	uid, gid uint32
	mode     uint32
	nlink    uint64
}

// sameFile reports whether a and b describe the same inode.
func (a fileState) sameFile(b fileState) bool { return a.dev == b.dev && a.ino == b.ino }

// unchanged reports whether nothing was written to the file between a and b.
func (a fileState) unchanged(b fileState) bool {
	return a.sameFile(b) && a.size == b.size && a.mtime == b.mtime && a.ctime == b.ctime
}

// stateOf converts a unix.Stat_t.
func stateOf(st *unix.Stat_t) fileState {
	return fileState{
		dev:   uint64(st.Dev), // int32 on some systems
		ino:   st.Ino,
		size:  st.Size,
		mtime: st.Mtim.Nano(),
		ctime: st.Ctim.Nano(),
		uid:   st.Uid,
		gid:   st.Gid,
		mode:  uint32(st.Mode),
		nlink: uint64(st.Nlink), // uint16 on some systems
	}
}

// fstat returns the state of an open file.
func fstat(f *os.File) (fileState, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return fileState{}, err
	}
	var st unix.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
		return fileState{}, err
	}
	if serr != nil {
		return fileState{}, serr
	}
	return stateOf(&st), nil
}

// lstatPath returns the state of the file at path without following a
// final symbolic link.
func lstatPath(path string) (fileState, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fileState{}, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	return stateOf(&st), nil
}

// changeTime returns the later of a file's mtime and ctime.
func (a fileState) changeTime() time.Time {
	return time.Unix(0, max(a.mtime, a.ctime))
}

// openSpoolFile opens the spool for reading and writing the way popa3d
// and Postfix's safe_open do: no symbolic link as the last component, no
// blocking on a FIFO planted there, and then fstat must show a regular
// file with exactly one link, owned by requireUID (unless it is -1). A
// missing file is reported as an error wrapping fs.ErrNotExist.
func openSpoolFile(path string, requireUID int) (*os.File, fileState, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fileState{}, fmt.Errorf("%w: %s is a symbolic link", ErrUnsafe, path)
		}
		return nil, fileState{}, err
	}
	st, err := fstat(f)
	if err != nil {
		f.Close()
		return nil, fileState{}, fmt.Errorf("mbox: fstat %s: %w", path, err)
	}
	var why string
	switch {
	case st.mode&unix.S_IFMT != unix.S_IFREG:
		why = "not a regular file"
	case st.nlink != 1:
		why = fmt.Sprintf("%d hard links", st.nlink)
	case requireUID >= 0 && st.uid != uint32(requireUID):
		why = fmt.Sprintf("owned by uid %d, not %d", st.uid, requireUID)
	}
	if why != "" {
		f.Close()
		return nil, fileState{}, fmt.Errorf("%w: %s: %s", ErrUnsafe, path, why)
	}
	return f, st, nil
}

// fsyncDir flushes a directory's entries to disk.
func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return serr
	}
	return cerr
}
