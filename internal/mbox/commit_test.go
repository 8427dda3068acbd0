package mbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// snapshot is what a session sees: transmitted content and UIDL of every
// message.
type snapshot struct {
	content []string
	uidl    []string
}

func takeSnapshot(t testing.TB, path string, o Options) snapshot {
	t.Helper()
	s := openT(t, path, o)
	defer s.Close()
	var sn snapshot
	for i, m := range s.Messages() {
		sn.content = append(sn.content, string(readMsg(t, s, i)))
		sn.uidl = append(sn.uidl, m.UIDL)
	}
	return sn
}

// without returns sn minus the indexes in del.
func (sn snapshot) without(del []int) snapshot {
	var out snapshot
	for i := range sn.content {
		if !slices.Contains(del, i) {
			out.content = append(out.content, sn.content[i])
			out.uidl = append(out.uidl, sn.uidl[i])
		}
	}
	return out
}

// commitT opens path, deletes del and closes.
func commitT(t testing.TB, path string, o Options, del []int) {
	t.Helper()
	s := openT(t, path, o)
	if err := s.Commit(del); err != nil {
		t.Fatalf("Commit(%v): %v", del, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCommitCorpus deletes every single message and some pairs from each
// corpus file: the other messages must keep their exact content and UIDL,
// and the file must end in a blank line.
func TestCommitCorpus(t *testing.T) {
	for _, tc := range corpus {
		n := len(tc.msgs)
		var sets [][]int
		for i := range n {
			sets = append(sets, []int{i})
			if i+1 < n {
				sets = append(sets, []int{i, i + 1})
			}
		}
		if n > 2 {
			sets = append(sets, []int{0, n - 1})
		}
		for _, del := range sets {
			t.Run(fmt.Sprintf("%s/%v", tc.file, del), func(t *testing.T) {
				orig := mustRead(t, filepath.Join("testdata", tc.file))
				path := writeSpool(t, orig)
				o, _ := testOptions(t)
				before := takeSnapshot(t, path, o)
				st := statT(t, path)
				commitT(t, path, o, del)
				after := takeSnapshot(t, path, o)
				want := before.without(del)
				if !slices.Equal(after.content, want.content) {
					t.Errorf("content after delete:\n got %q\nwant %q", after.content, want.content)
				}
				if !slices.Equal(after.uidl, want.uidl) {
					t.Errorf("UIDLs after delete:\n got %q\nwant %q", after.uidl, want.uidl)
				}
				b := mustRead(t, path)
				if tc.file != "mmdf.mbox" {
					assertEnding(t, b)
				}
				if len(b) >= len(orig) {
					t.Errorf("file did not shrink: %d -> %d", len(orig), len(b))
				}
				if got := statT(t, path); !got.sameFile(st) {
					t.Error("inode changed")
				}
				assertNoLeftovers(t, path, o)
			})
		}
	}
}

// TestCommitKeepsIdentity: the rewrite is in place, so the inode, owner,
// group and mode stay.
func TestCommitKeepsIdentity(t *testing.T) {
	var b bytes.Buffer
	for i := range 6 {
		b.Write(mdaMessage("m"+strconv.Itoa(i), 10))
	}
	path := writeSpool(t, b.Bytes())
	if err := os.Chmod(path, 0o660); err != nil {
		t.Fatal(err)
	}
	uid := os.Getuid()
	if uid == 0 {
		if err := os.Chown(path, 1234, 8); err != nil {
			t.Fatal(err)
		}
		uid = 1234
	}
	o, _ := testOptions(t)
	o.RequireUID = uid
	before := statT(t, path)
	sn := takeSnapshot(t, path, o)
	commitT(t, path, o, []int{1, 3})
	after := statT(t, path)
	if !after.sameFile(before) || after.uid != before.uid || after.gid != before.gid || after.mode != before.mode {
		t.Errorf("identity changed: before %+v after %+v", before, after)
	}
	got := takeSnapshot(t, path, o)
	if want := sn.without([]int{1, 3}); !slices.Equal(got.uidl, want.uidl) || !slices.Equal(got.content, want.content) {
		t.Errorf("after delete: %q, want %q", got.uidl, want.uidl)
	}
	// UIDLs are stable across sessions too.
	if again := takeSnapshot(t, path, o); !slices.Equal(again.uidl, got.uidl) {
		t.Error("UIDLs changed between two sessions")
	}
	assertNoLeftovers(t, path, o)
}

func TestCommitDeleteAll(t *testing.T) {
	path := writeSpool(t, append(mdaMessage("a", 3), mdaMessage("b", 3)...))
	o, _ := testOptions(t)
	st := statT(t, path)
	commitT(t, path, o, []int{0, 1})
	after := statT(t, path)
	if after.size != 0 || !after.sameFile(st) {
		t.Errorf("after deleting everything: %+v", after)
	}
	assertNoLeftovers(t, path, o)
}

func TestCommitKeepsPseudoMessage(t *testing.T) {
	orig := mustRead(t, "testdata/pseudo.mbox")
	path := writeSpool(t, orig)
	o, _ := testOptions(t)
	commitT(t, path, o, []int{0, 1})
	b := mustRead(t, path)
	if !bytes.Contains(b, []byte(pseudoSubject)) || bytes.Contains(b, []byte("real one")) || bytes.Contains(b, []byte("real two")) {
		t.Errorf("after delete: %q", b)
	}
	assertEnding(t, b)
	if n := len(takeSnapshot(t, path, o).uidl); n != 0 {
		t.Errorf("%d messages listed", n)
	}
}

// TestCommitRepairsGluedAppend: the spool did not end in LF, so an MDA
// glued its From_ line onto the last line. Commit separates them again
// and the old last message keeps its UIDL.
func TestCommitRepairsGluedAppend(t *testing.T) {
	path := writeSpool(t, mustRead(t, "testdata/no-trailing-newline.mbox"))
	o, _ := testOptions(t)
	s := openT(t, path, o)
	before := s.Messages()
	if err := deliverPostfix(path, mdaMessage("glued", 3), 0, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit([]int{0}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	after := takeSnapshot(t, path, o)
	if len(after.uidl) != 2 || after.uidl[0] != before[1].UIDL {
		t.Fatalf("after commit: %q (old UIDL %s)", after.uidl, before[1].UIDL)
	}
	if after.content[0] != "Subject: t\r\n\r\nno-newline\r\n" {
		t.Errorf("old message %q", after.content[0])
	}
	if !strings.Contains(after.content[1], "glued line 3") {
		t.Errorf("appended message %q", after.content[1])
	}
	assertEnding(t, mustRead(t, path))
}

// TestCommitPreservesAppendedMail: a separate process delivers the
// Postfix way while the session holds its snapshot; the messages it
// appended survive the UPDATE, in order.
func TestCommitPreservesAppendedMail(t *testing.T) {
	var b bytes.Buffer
	for i := range 5 {
		b.Write(mdaMessage("old"+strconv.Itoa(i), 8))
	}
	path := writeSpool(t, b.Bytes())
	o, _ := testOptions(t)
	s := openT(t, path, o)
	if len(s.Messages()) != 5 {
		t.Fatal("want 5 messages")
	}
	mda := startHelper(t, "mda", "MBOX_SPOOL="+path, "MBOX_IDS=new0,new1,new2", "MBOX_LINES=5")
	mda.wait(t)
	// Reading still works after the append.
	if got := readMsg(t, s, 4); !bytes.Contains(got, []byte("old4 line 8")) {
		t.Errorf("message 5 after append: %q", got)
	}
	if err := s.Commit([]int{0, 2, 4}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	got := idsIn(t, mustRead(t, path))
	if want := []string{"old1", "old3", "new0", "new1", "new2"}; !slices.Equal(got, want) {
		t.Errorf("ids after commit %v, want %v", got, want)
	}
	assertEnding(t, mustRead(t, path))
	assertNoLeftovers(t, path, o)
}

// idsIn lists the Message-IDs of mdaMessages in a spool, in order.
func idsIn(t testing.TB, b []byte) []string {
	t.Helper()
	var out []string
	for _, m := range messageID.FindAllSubmatch(b, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// TestCommitRefusesNonAppendChanges: a rewrite of the scanned part
// (same size), a truncation or a replaced file makes Commit fail without
// touching the spool, and reading fails the same way.
func TestCommitRefusesNonAppendChanges(t *testing.T) {
	mk := func(t *testing.T) (string, []byte) {
		var b bytes.Buffer
		for i := range 4 {
			b.Write(mdaMessage("m"+strconv.Itoa(i), 6))
		}
		return writeSpool(t, b.Bytes()), b.Bytes()
	}
	changes := []struct {
		name   string
		change func(t *testing.T, path string)
		want   error
	}{
		{"edit", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("Subject: M1"), int64(bytes.Index(mustRead(t, path), []byte("Subject: m1")))); err != nil {
				t.Fatal(err)
			}
		}, ErrChanged},
		{"truncate", func(t *testing.T, path string) {
			if err := os.Truncate(path, 100); err != nil {
				t.Fatal(err)
			}
		}, ErrChanged},
		{"edit and append", func(t *testing.T, path string) {
			b := mustRead(t, path)
			b[len(b)-3] = 'X'
			b = append(b, mdaMessage("extra", 2)...)
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(b, 0); err != nil {
				t.Fatal(err)
			}
		}, ErrChanged},
		{"replace", func(t *testing.T, path string) {
			tmp := path + ".new"
			if err := os.WriteFile(tmp, mustRead(t, path), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, ErrGone},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			path, _ := mk(t)
			o, _ := testOptions(t)
			s := openT(t, path, o)
			c.change(t, path)
			changed := mustRead(t, path)
			if _, err := s.Open(1); !errors.Is(err, c.want) {
				t.Errorf("Open after change: %v, want %v", err, c.want)
			}
			if err := s.Commit([]int{0}); !errors.Is(err, c.want) {
				t.Errorf("Commit after change: %v, want %v", err, c.want)
			}
			if got := mustRead(t, path); !bytes.Equal(got, changed) {
				t.Error("Commit modified a changed spool")
			}
			assertNoLeftovers(t, path, o)
		})
	}
}

// TestReadFailsWhenChangedWhileReading: the check before the last block
// of a message catches a rewrite that happened while it was streamed.
func TestReadFailsWhenChangedWhileReading(t *testing.T) {
	msg := mdaMessage("long", 5000) // several read blocks
	path := writeSpool(t, append(msg, mdaMessage("two", 3)...))
	o, _ := testOptions(t)
	s := openT(t, path, o)
	r, err := s.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("X"), int64(len(msg)+10))
	f.Close()
	var rerr error
	for range 10000 {
		if _, rerr = r.Read(buf); rerr != nil {
			break
		}
	}
	if !errors.Is(rerr, ErrChanged) {
		t.Errorf("read error %v, want ErrChanged", rerr)
	}
}

func TestCommitArguments(t *testing.T) {
	path := writeSpool(t, mdaMessage("a", 2))
	o, _ := testOptions(t)
	s := openT(t, path, o)
	if err := s.Commit([]int{5}); err == nil {
		t.Error("out of range index accepted")
	}
	if err := s.Commit([]int{0, 0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit([]int{0}); !errors.Is(err, ErrClosed) {
		t.Errorf("second Commit: %v", err)
	}
	if _, err := s.Open(0); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after Commit: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
