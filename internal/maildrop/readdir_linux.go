package maildrop

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Bounds of the getdents64 buffer: a 50,000-entry directory takes about
// 20 calls with the largest; a small one needs only the smallest.
const (
	direntBufMin = 8 << 10
	direntBufMax = 128 << 10
)

// readNames lists dir, skipping names that start with '.' and entries the
// file system reports as neither regular files nor symbolic links. The
// names are returned concatenated, name k ending at ends[k], so that a
// directory of 100,000 names costs a few allocations, not 100,000. *buf is
// the getdents buffer, grown here as the directory needs and kept for
// the next call.
func readNames(dir string, buf *[]byte) (all string, ends []int32, err error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	var arena strings.Builder // String() returns its bytes without a copy
	var st unix.Stat_t
	want := direntBufMax
	if unix.Fstat(fd, &st) == nil && st.Size > 0 && st.Size < 1<<30 {
		// Names take about half to three quarters of a directory's
		// size; the rest is record headers and free space. A getdents
		// record is a little larger than an ext4 or XFS one.
		arena.Grow(int(st.Size / 4 * 3))
		ends = make([]int32, 0, st.Size/64)
		want = int(min(max(2*st.Size, direntBufMin), direntBufMax))
	}
	if len(*buf) < want {
		*buf = make([]byte, want)
	}
	for {
		n, err := unix.Getdents(fd, *buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return "", nil, &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			break
		}
		ends = parseDirents((*buf)[:n], &arena, ends)
		if arena.Len() > 1<<31-1-direntBufMax {
			return "", nil, &os.PathError{Op: "getdents", Path: dir, Err: errors.New("directory too large")}
		}
	}
	return arena.String(), ends, nil
}

// Offsets in struct linux_dirent64.
const (
	direntInoOff    = 0
	direntReclenOff = 16
	direntTypeOff   = 18
	direntNameOff   = 19
)

// parseDirents appends the wanted names in a getdents64 buffer to arena,
// recording where each ends.
func parseDirents(b []byte, arena *strings.Builder, ends []int32) []int32 {
	for len(b) >= direntNameOff {
		reclen := int(binary.NativeEndian.Uint16(b[direntReclenOff:]))
		if reclen < direntNameOff || reclen > len(b) {
			break
		}
		rec := b[:reclen]
		b = b[reclen:]
		if binary.NativeEndian.Uint64(rec[direntInoOff:]) == 0 {
			continue
		}
		switch rec[direntTypeOff] {
		case unix.DT_REG, unix.DT_LNK, unix.DT_UNKNOWN:
		default:
			continue // directories, FIFOs, sockets, devices
		}
		name := rec[direntNameOff:]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		if len(name) == 0 || name[0] == '.' {
			continue
		}
		arena.Write(name)
		ends = append(ends, int32(arena.Len()))
	}
	return ends
}
