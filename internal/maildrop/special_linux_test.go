package maildrop

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestSpecialFilesNotListed(t *testing.T) {
	dir := newMaildir(t)
	put(t, dir, "new", "1700000001.M1P1.h", "ok\n")
	if err := syscall.Mkfifo(filepath.Join(dir, "new", "1700000002.M1P1.fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "cur", "1700000003.M1P1.dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	m := openT(t, dir, Options{})
	if got := bases(m.Messages()); !slices.Equal(got, []string{"1700000001.M1P1.h"}) {
		t.Fatalf("messages %q", got)
	}
}

func TestFIFOInPlaceOfMessage(t *testing.T) {
	dir := newMaildir(t)
	p := filepath.Join(dir, "new", "1700000001.M1P1.h")
	put(t, dir, "new", "1700000001.M1P1.h", "ok\n")
	m := openT(t, dir, Options{})
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open(0); err == nil {
		t.Fatal("Open of a FIFO succeeded")
	}
}
