package mbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// crashFixture is a spool of mdaMessages m0..m5 and a session that died
// with SIGKILL right after an UPDATE step while deleting m1 and m3.
type crashFixture struct {
	path   string
	o      Options
	sf     stateFiles
	before []byte // the spool before the session
}

func newCrashFixture(t *testing.T, step string) *crashFixture {
	t.Helper()
	var b bytes.Buffer
	for i := range 6 {
		b.Write(mdaMessage(fmt.Sprintf("m%d", i), 20))
	}
	path := writeSpool(t, b.Bytes())
	o, _ := testOptions(t)
	o, _ = o.withDefaults()
	if err := ensureDir(o.JournalDir); err != nil {
		t.Fatal(err)
	}
	run := runCommitHelper(t, path, o.JournalDir, step, false, "MBOX_DELETE=1,3")
	if !run.killed || !slices.Equal(run.del, []string{"m1", "m3"}) {
		t.Fatalf("session: %+v", run)
	}
	sf, err := filesFor(o.JournalDir, path)
	if err != nil {
		t.Fatal(err)
	}
	return &crashFixture{path: path, o: o, sf: sf, before: b.Bytes()}
}

// ids returns the message IDs in the spool after verifying every message.
func (c *crashFixture) ids(t *testing.T) []string {
	t.Helper()
	b := mustRead(t, c.path)
	if _, err := verifySpool(b); err != nil {
		t.Fatal(err)
	}
	return idsIn(t, b)
}

// TestRecoverFoldsMailDeliveredAfterCrash: the session died in the
// middle of the rewrite; mail delivered before recovery (under the fcntl
// lock only: the dead session's dotlock is still there) lies after the
// garbage and is moved down with the rest.
func TestRecoverFoldsMailDeliveredAfterCrash(t *testing.T) {
	c := newCrashFixture(t, stepWriteHalf)
	if !exists(c.sf.journal) {
		t.Fatal("no journal after a crash past the commit point")
	}
	if err := deliverPostfix(c.path, mdaMessage("late", 4), 5*time.Millisecond, true); err != nil {
		t.Fatal(err)
	}
	r, err := recoverSpool(context.Background(), c.path, &c.o, c.sf, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	if !r.journal || !r.rejournaled || !r.redone {
		t.Errorf("recovery %+v", r)
	}
	if got, want := c.ids(t), []string{"m0", "m2", "m4", "m5", "late"}; !slices.Equal(got, want) {
		t.Errorf("ids %v, want %v", got, want)
	}
	assertNoLeftovers(t, c.path, c.o)
}

// TestRecoverEachStep: after a crash at each step, recovery leaves either
// the old spool (before the commit point) or the new one (after it).
func TestRecoverEachStep(t *testing.T) {
	steps := []struct {
		step string
		want []string
	}{
		{stepJournalHalf, []string{"m0", "m1", "m2", "m3", "m4", "m5"}},
		{stepJournalSynced, []string{"m0", "m1", "m2", "m3", "m4", "m5"}},
		{stepJournalRenamed, []string{"m0", "m2", "m4", "m5"}},
		{stepWriteHalf, []string{"m0", "m2", "m4", "m5"}},
		{stepWritten, []string{"m0", "m2", "m4", "m5"}},
		{stepSynced, []string{"m0", "m2", "m4", "m5"}},
		{stepTruncated, []string{"m0", "m2", "m4", "m5"}},
		{stepJournalUnlinked, []string{"m0", "m2", "m4", "m5"}},
	}
	for _, s := range steps {
		t.Run(s.step, func(t *testing.T) {
			c := newCrashFixture(t, s.step)
			// Open recovers first, and clears the dead session's dotlock.
			sp := openT(t, c.path, c.o)
			if n := len(sp.Messages()); n != len(s.want) {
				t.Errorf("%d messages listed, want %d", n, len(s.want))
			}
			sp.Close()
			if got := c.ids(t); !slices.Equal(got, s.want) {
				t.Errorf("ids %v, want %v", got, s.want)
			}
			if len(s.want) == 6 && !bytes.Equal(mustRead(t, c.path), c.before) {
				t.Error("spool touched before the commit point")
			}
			assertEnding(t, mustRead(t, c.path))
			assertNoLeftovers(t, c.path, c.o)
		})
	}
}

// TestRecoverKeepsJournalWhenSpoolChanged: another program rewrote the
// spool while an update was pending; recovery must not guess.
func TestRecoverKeepsJournalWhenSpoolChanged(t *testing.T) {
	c := newCrashFixture(t, stepWriteHalf)
	if err := os.Truncate(c.path, 100); err != nil {
		t.Fatal(err)
	}
	os.Remove(c.path + ".lock")
	err := Recover(c.path, c.o)
	if !errors.Is(err, ErrJournal) {
		t.Fatalf("Recover: %v, want ErrJournal", err)
	}
	if !exists(c.sf.journal) {
		t.Error("journal removed")
	}
	if _, err := Open(context.Background(), c.path, c.o); !errors.Is(err, ErrJournal) {
		t.Errorf("Open: %v, want ErrJournal", err)
	}
	if st := statT(t, c.path); st.size != 100 {
		t.Errorf("spool changed to %d bytes", st.size)
	}
}

func TestRecoverSetsAsideDamagedJournal(t *testing.T) {
	c := newCrashFixture(t, stepJournalRenamed)
	b := mustRead(t, c.sf.journal)
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(c.sf.journal, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Recover(c.path, c.o); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustRead(t, c.path), c.before) {
		t.Error("spool changed")
	}
	if m, _ := filepath.Glob(c.sf.journal + ".bad-*"); len(m) != 1 {
		t.Errorf("damaged journal not set aside: %v", m)
	}
	assertNoLeftovers(t, c.path, c.o)
}

func TestRecoverSetsAsideOrphanJournal(t *testing.T) {
	t.Run("replaced", func(t *testing.T) {
		c := newCrashFixture(t, stepJournalRenamed)
		tmp := c.path + ".new"
		if err := os.WriteFile(tmp, c.before, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, c.path); err != nil {
			t.Fatal(err)
		}
		if err := Recover(c.path, c.o); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(mustRead(t, c.path), c.before) {
			t.Error("the new spool was changed")
		}
		if m, _ := filepath.Glob(c.sf.journal + ".orphan-*"); len(m) != 1 {
			t.Errorf("journal not set aside: %v", m)
		}
		assertNoLeftovers(t, c.path, c.o)
	})
	t.Run("removed", func(t *testing.T) {
		c := newCrashFixture(t, stepJournalRenamed)
		os.Remove(c.path)
		os.Remove(c.path + ".lock")
		s := openT(t, c.path, c.o)
		if len(s.Messages()) != 0 {
			t.Error("messages in a removed spool")
		}
		if m, _ := filepath.Glob(c.sf.journal + ".orphan-*"); len(m) != 1 {
			t.Errorf("journal not set aside: %v", m)
		}
	})
}

func TestRecoverAll(t *testing.T) {
	c := newCrashFixture(t, stepJournalRenamed)
	if err := RecoverAll(c.o); err != nil {
		t.Fatal(err)
	}
	if got, want := c.ids(t), []string{"m0", "m2", "m4", "m5"}; !slices.Equal(got, want) {
		t.Errorf("ids %v, want %v", got, want)
	}
	assertNoLeftovers(t, c.path, c.o)
	// Nothing to do is fine, and so is a missing directory.
	if err := RecoverAll(c.o); err != nil {
		t.Fatal(err)
	}
	o := c.o
	o.JournalDir = filepath.Join(t.TempDir(), "none")
	if err := RecoverAll(o); err != nil {
		t.Fatal(err)
	}
}

func TestJournalRoundTrip(t *testing.T) {
	dir := t.TempDir()
	sf, err := filesFor(dir, "/var/mail/user")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(sf.journal), "mbox-user-") {
		t.Errorf("journal name %s", sf.journal)
	}
	o, _ := testOptions(t)
	n := bytes.Repeat([]byte("new content\n"), 1000)
	j := &journal{dev: 1, ino: 2, F: 10, L: int64(len(n)), sOld: 50000, garbage: [32]byte{7}, path: sf.path}
	write := func(w io.Writer) error { _, err := w.Write(n); return err }
	wf, err := writeJournal(sf, j, func(w io.Writer) error { return write(w) }, &o)
	if err != nil {
		t.Fatal(err)
	}
	wf.Close()
	got, f, err := readJournal(sf.journal)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got.dev != 1 || got.ino != 2 || got.F != 10 || got.L != j.L || got.sOld != 50000 || got.garbage != j.garbage ||
		got.path != sf.path || got.nHash != j.nHash {
		t.Errorf("decoded %+v, want %+v", got, j)
	}
	buf := make([]byte, got.L)
	if _, err := f.ReadAt(buf, got.nOff); err != nil || !bytes.Equal(buf, n) {
		t.Errorf("N differs: %v", err)
	}
	// A wrong length of N is refused.
	if _, err := writeJournal(sf, &journal{L: 5, sOld: 5, path: sf.path}, write, &o); err == nil {
		t.Error("journal with a wrong N length accepted")
	}
	if exists(sf.tmp) {
		t.Error("temporary journal left after a failed write")
	}
}
