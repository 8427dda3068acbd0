package mbox

import (
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestJournalLengthsValid: a rewrite must be a range of the old file,
// checked without overflow.
func TestJournalLengthsValid(t *testing.T) {
	cases := []struct {
		F, L, sOld int64
		ok         bool
	}{
		{0, 0, 0, true},
		{7, 3, 10, true},
		{10, 0, 10, true},
		{7, 4, 10, false},
		{11, 0, 10, false},
		{-1, 1, 10, false},
		{1, -1, 10, false},
		{0, 0, -1, false},
		{math.MaxInt64, 3, 10, false},
		{3, math.MaxInt64, 10, false},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64, false},
		{1, math.MaxInt64 - 1, math.MaxInt64, true},
	}
	for _, c := range cases {
		j := &journal{F: c.F, L: c.L, sOld: c.sOld}
		if got := j.lengthsValid(); got != c.ok {
			t.Errorf("F %d L %d S_old %d: valid %v, want %v", c.F, c.L, c.sOld, got, c.ok)
		}
	}
}

// TestParseJournalRejectsOverflowingRange: a journal whose checksum is
// right but whose F+L overflows (F = MaxInt64, L = 3, S_old = 10) is
// damaged, not a rewrite far past the end of the spool; and writeJournal
// refuses to write one.
func TestParseJournalRejectsOverflowingRange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	j := &journal{dev: 1, ino: 2, F: math.MaxInt64, L: 3, sOld: 10, path: "/var/mail/x"}
	n := func(w io.Writer) error { _, err := w.Write([]byte("abc")); return err }
	if err := fillJournal(f, j, n, &Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := parseJournal(f); !errors.Is(err, errBadJournal) {
		t.Errorf("parseJournal: %v, want errBadJournal", err)
	}
	sf, err := filesFor(t.TempDir(), "/var/mail/x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeJournal(sf, j, n, &Options{}); err == nil {
		t.Error("writeJournal accepted a rewrite outside the file")
	}
	if exists(sf.tmp) || exists(sf.journal) {
		t.Error("journal file left behind")
	}
}
