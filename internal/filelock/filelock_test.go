package filelock

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// openTwice returns two open file descriptions of one new file.
func openTwice(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lock")
	var fs [2]*os.File
	for i := range fs {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		fs[i] = f
	}
	return fs[0], fs[1]
}

// tryLock is TryLock that fails the test on an error.
func tryLock(t *testing.T, f *os.File, typ int16) bool {
	t.Helper()
	got, err := TryLock(f, typ)
	if err != nil {
		t.Fatalf("TryLock(%d): %v", typ, err)
	}
	return got
}

func TestTryLock(t *testing.T) {
	if !OFD {
		t.Skip("record locks belong to the process here")
	}
	a, b := openTwice(t)
	if !tryLock(t, a, unix.F_WRLCK) {
		t.Fatal("write lock on a free file refused")
	}
	if tryLock(t, b, unix.F_WRLCK) || tryLock(t, b, unix.F_RDLCK) {
		t.Fatal("lock granted on another description while a write lock is held")
	}
	if !tryLock(t, a, unix.F_WRLCK) {
		t.Fatal("the holder could not take its lock again")
	}
	if err := Unlock(a); err != nil {
		t.Fatal(err)
	}
	if !tryLock(t, b, unix.F_RDLCK) || !tryLock(t, a, unix.F_RDLCK) {
		t.Fatal("two read locks did not coexist")
	}
	if tryLock(t, a, unix.F_WRLCK) {
		t.Fatal("write lock granted while another description holds a read lock")
	}
	// Closing a description drops its lock.
	b.Close()
	if !tryLock(t, a, unix.F_WRLCK) {
		t.Fatal("lock still held after its description was closed")
	}
}

// TestTryLockConflictsWithClassic checks that the lock conflicts with a
// classic F_SETLK lock, the kind mail delivery agents take (with OFD
// locks this holds even within one process).
func TestTryLockConflictsWithClassic(t *testing.T) {
	if !OFD {
		t.Skip("classic locks of one process never conflict")
	}
	a, b := openTwice(t)
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(a.Fd(), unix.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	if tryLock(t, b, unix.F_RDLCK) {
		t.Fatal("lock granted over a classic write lock")
	}
	lk.Type = unix.F_UNLCK
	if err := unix.FcntlFlock(a.Fd(), unix.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	if !tryLock(t, b, unix.F_WRLCK) {
		t.Fatal("lock refused after the classic lock was released")
	}
}

func TestTryFlock(t *testing.T) {
	a, b := openTwice(t)
	for i, want := range []bool{true, false} {
		f := []*os.File{a, b}[i]
		got, err := TryFlock(f)
		if err != nil || got != want {
			t.Fatalf("TryFlock #%d = %v, %v; want %v, nil", i+1, got, err, want)
		}
	}
	a.Close()
	if got, err := TryFlock(b); err != nil || !got {
		t.Fatalf("TryFlock after the holder closed = %v, %v; want true, nil", got, err)
	}
}

func TestClosedFile(t *testing.T) {
	a, _ := openTwice(t)
	a.Close()
	if _, err := TryLock(a, unix.F_WRLCK); err == nil {
		t.Error("TryLock on a closed file: no error")
	}
	if err := Unlock(a); err == nil {
		t.Error("Unlock on a closed file: no error")
	}
	if _, err := TryFlock(a); err == nil {
		t.Error("TryFlock on a closed file: no error")
	}
}
