package maildrop

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// listDir returns the names in dir/sub.
func listDir(t *testing.T, dir, sub string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, sub))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestCommitRemovesExactlyChosen(t *testing.T) {
	dir := newMaildir(t)
	put(t, dir, "new", "1700000001.M1P1.h", "1\n")
	put(t, dir, "cur", "1700000002.M1P1.h:2,S", "2\n")
	put(t, dir, "new", "1700000003.M1P1.h", "3\n")
	put(t, dir, "cur", "1700000004.M1P1.h:2,", "4\n")
	m := openT(t, dir, Options{})
	if err := m.Commit([]int{1, 2, 2}); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir, "new"); !slices.Equal(got, []string{"1700000001.M1P1.h"}) {
		t.Errorf("new/ = %q", got)
	}
	if got := listDir(t, dir, "cur"); !slices.Equal(got, []string{"1700000004.M1P1.h:2,"}) {
		t.Errorf("cur/ = %q", got)
	}
	if err := m.Commit(nil); err == nil {
		t.Error("second Commit succeeded")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := openT(t, dir, Options{})
	if got := bases(m2.Messages()); !slices.Equal(got, []string{"1700000001.M1P1.h", "1700000004.M1P1.h"}) {
		t.Fatalf("after commit: %q", got)
	}
	var cached []string
	if err := readCache(filepath.Join(dir, cacheName), func(b string, _, _ int64) { cached = append(cached, b) }); err != nil {
		t.Fatal(err)
	}
	if len(cached) != 2 {
		t.Errorf("cache holds %q, want the 2 remaining messages", cached)
	}
}

func TestCommitOutOfRange(t *testing.T) {
	dir := newMaildir(t)
	put(t, dir, "new", "1700000001.M1P1.h", "1\n")
	m := openT(t, dir, Options{})
	for _, bad := range [][]int{{0, 1}, {-1}} {
		if err := m.Commit(bad); err == nil {
			t.Errorf("Commit(%v) succeeded", bad)
		}
	}
	if got := listDir(t, dir, "new"); len(got) != 1 {
		t.Fatalf("rejected Commit removed messages: new/ = %q", got)
	}
}

func TestCommitIgnoresMissingAndKeepsNewMail(t *testing.T) {
	dir := newMaildir(t)
	put(t, dir, "new", "1700000001.M1P1.h", "1\n")
	put(t, dir, "new", "1700000002.M1P1.h", "2\n")
	m := openT(t, dir, Options{})
	if err := os.Remove(filepath.Join(dir, "new", "1700000001.M1P1.h")); err != nil {
		t.Fatal(err)
	}
	late, err := Deliver(dir, []byte("Subject: late\n\nlate\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.Messages()); n != 2 {
		t.Fatalf("snapshot changed: %d messages", n)
	}
	if _, err := m.Open(0); !errors.Is(err, ErrGone) {
		t.Fatalf("Open of removed message: err = %v, want ErrGone", err)
	}
	if err := m.Commit([]int{0, 1}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := listDir(t, dir, "new"); !slices.Equal(got, []string{late}) {
		t.Fatalf("new/ = %q, want only the late delivery %q", got, late)
	}
	m.Close()
	m2 := openT(t, dir, Options{})
	if got := bases(m2.Messages()); !slices.Equal(got, []string{late}) {
		t.Fatalf("next session: %q", got)
	}
}

func TestRenamedMessageOpenAndDelete(t *testing.T) {
	dir := newMaildir(t)
	base := "1700000001.M1P1.h"
	put(t, dir, "new", base, "renamed\n")
	put(t, dir, "new", "1700000002.M1P1.h", "stays\n")
	m := openT(t, dir, Options{})
	// Another mail reader moves it to cur/ and sets a flag.
	if err := os.Rename(filepath.Join(dir, "new", base), filepath.Join(dir, "cur", base+":2,S")); err != nil {
		t.Fatal(err)
	}
	if got := readMsg(t, m, 0); string(got) != "renamed\r\n" {
		t.Fatalf("content %q", got)
	}
	// And renames it once more before QUIT.
	if err := os.Rename(filepath.Join(dir, "cur", base+":2,S"), filepath.Join(dir, "cur", base+":2,FS")); err != nil {
		t.Fatal(err)
	}
	// A rename no shortcut guesses: found by a rescan.
	if err := os.Rename(filepath.Join(dir, "new", "1700000002.M1P1.h"), filepath.Join(dir, "cur", "1700000002.M1P1.h:2,RS")); err != nil {
		t.Fatal(err)
	}
	if got := readMsg(t, m, 1); string(got) != "stays\r\n" {
		t.Fatalf("content %q", got)
	}
	if err := m.Commit([]int{0}); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir, "cur"); !slices.Equal(got, []string{"1700000002.M1P1.h:2,RS"}) {
		t.Fatalf("cur/ = %q, want only the undeleted message", got)
	}
	if got := listDir(t, dir, "new"); len(got) != 0 {
		t.Fatalf("new/ = %q", got)
	}
}

func TestCommitReportsFailures(t *testing.T) {
	dir := newMaildir(t)
	put(t, dir, "new", "1700000001.M1P1.h", "1\n")
	put(t, dir, "new", "1700000002.M1P1.h", "2\n")
	m := openT(t, dir, Options{})
	// Replace one message by a non-empty directory: unlink must fail.
	p := filepath.Join(dir, "new", "1700000001.M1P1.h")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(p, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := m.Commit([]int{0, 1})
	if err == nil || !strings.Contains(err.Error(), "1 of 2 messages could not be removed") {
		t.Fatalf("Commit: err = %v", err)
	}
	if got := listDir(t, dir, "new"); !slices.Equal(got, []string{"1700000001.M1P1.h"}) {
		t.Fatalf("new/ = %q", got)
	}
}

func TestMethodsAfterClose(t *testing.T) {
	dir := newMaildir(t)
	put(t, dir, "new", "1700000001.M1P1.h", "1\n")
	m := openT(t, dir, Options{})
	m.Close()
	if _, err := m.Open(0); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after Close: %v", err)
	}
	if err := m.Commit([]int{0}); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close: %v", err)
	}
	if got := listDir(t, dir, "new"); len(got) != 1 {
		t.Errorf("new/ = %q", got)
	}
}

// TestCommitNothingDoesNoIO: a QUIT that deletes nothing touches no file
// or directory. The maildir is moved away after Open; any path-based I/O
// would fail or recreate something at the old path.
func TestCommitNothingDoesNoIO(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "Maildir")
	put(t, newMaildirAt(t, dir), "new", "1700000001.M1P1.h", "1\n")
	m, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(parent, "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := m.Commit(nil); err != nil {
		t.Fatalf("Commit(nil): %v", err)
	}
	if err := m.Commit(nil); err == nil {
		t.Error("second Commit succeeded")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("something was written at the old path: %v", err)
	}
	// The lock (written through its descriptor) was released.
	if got := readOwner(t, moved); got != freeMark {
		t.Fatalf("record after Close %q", got)
	}
}
