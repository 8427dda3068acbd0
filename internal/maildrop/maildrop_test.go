package maildrop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOpenNotFound(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	_, err := Open(context.Background(), dir, Options{})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open missing dir: err = %v, want ErrNotFound", err)
	}
	half := t.TempDir()
	if err := os.Mkdir(filepath.Join(half, "new"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), half, Options{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open without cur/: err = %v, want ErrNotFound", err)
	}
}

func TestOpenCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "Maildir")
	m := openT(t, dir, Options{Create: true})
	if n := len(m.Messages()); n != 0 {
		t.Fatalf("new maildrop has %d messages", n)
	}
	for _, sub := range []string{"", "new", "cur", "tmp"} {
		st, err := os.Stat(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		if !st.IsDir() || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want directory 0700", sub, st.Mode())
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	dir := newMaildir(t)
	_, err := Open(context.Background(), dir, Options{StaleLock: time.Second, LockRefresh: time.Second})
	if err == nil {
		t.Fatal("Open accepted LockRefresh == StaleLock")
	}
	if _, err := os.Stat(filepath.Join(dir, lockName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rejected Open left a lock file: %v", err)
	}
}

func TestOpenCanceled(t *testing.T) {
	dir := newMaildir(t)
	put(t, dir, "new", "1.M1P1.h", "x\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Open(ctx, dir, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with canceled ctx: err = %v", err)
	}
	// The failed Open released the lock: the record is free again and
	// the next Open succeeds.
	if got := readOwner(t, dir); got != freeMark {
		t.Fatalf("failed Open left the lock record %q, want %q", got, freeMark)
	}
	m := openT(t, dir, Options{})
	if n := len(m.Messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

func TestScanOrder(t *testing.T) {
	dir := newMaildir(t)
	put(t, dir, "cur", "1700000002.M5P1.h:2,S", "a\n")
	put(t, dir, "cur", "1700000001.M999999P1.h,S=2:2,", "b\n")
	put(t, dir, "new", "1700000001.M10P1.h", "c\n")
	put(t, dir, "new", "1700000001.Vfe00I9843cbM704526.h", "d\n")
	put(t, dir, "new", "1700000001.77.h", "e\n") // qmail: no usec
	put(t, dir, "new", "1700000001.66.h", "f\n")
	put(t, dir, "new", "900000000.M1P1.h", "g\n") // fewer digits, older
	put(t, dir, "cur", "junk-name:2,", "h\n")     // no timestamp: last
	put(t, dir, "new", ".hidden", "i\n")
	put(t, dir, "cur", ".1700000000.M1P1.h", "j\n")
	put(t, dir, "tmp", "1600000000.M1P1.h", "k\n")
	m := openT(t, dir, Options{})
	want := []string{
		"900000000.M1P1.h",
		"1700000001.66.h",
		"1700000001.77.h",
		"1700000001.M10P1.h",
		"1700000001.Vfe00I9843cbM704526.h",
		"1700000001.M999999P1.h,S=2",
		"1700000002.M5P1.h",
		"junk-name",
	}
	if got := bases(m.Messages()); !slices.Equal(got, want) {
		t.Fatalf("order:\n got %q\nwant %q", got, want)
	}
}

func TestSizesAndContent(t *testing.T) {
	dir := newMaildir(t)
	for i, tc := range sizeCases {
		put(t, dir, "new", fmt.Sprintf("17000000%02d.M1P1.h-%s", 10+i, tc.name), tc.in)
	}
	for pass := 0; pass < 2; pass++ { // cold, then from the cache
		m, err := Open(context.Background(), dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		msgs := m.Messages()
		if len(msgs) != len(sizeCases) {
			t.Fatalf("%d messages, want %d", len(msgs), len(sizeCases))
		}
		for i, msg := range msgs {
			tc := sizeCases[i]
			if !strings.HasSuffix(msg.Base, "-"+tc.name) {
				t.Fatalf("message %d is %q, want case %s", i, msg.Base, tc.name)
			}
			if msg.Size != int64(len(tc.want)) {
				t.Errorf("pass %d %s: Size %d, want %d", pass, tc.name, msg.Size, len(tc.want))
			}
			got := readMsg(t, m, i)
			if string(got) != tc.want {
				t.Errorf("pass %d %s: content %q, want %q", pass, tc.name, got, tc.want)
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWHonouredAndCorrected(t *testing.T) {
	dir := newMaildir(t)
	body := "Subject: w\n\nline\n" // 17 octets, 20 transmitted
	put(t, dir, "new", "1700000001.M1P1.vm,S=17,W=20", body)
	put(t, dir, "new", "1700000002.M1P1.vm,S=17,W=25", body) // wrong W
	put(t, dir, "new", "1700000003.M1P1.vm,S=17,W=10", body) // W < S: ignored
	log, logs := newLogger()
	m := openT(t, dir, Options{Logger: log})
	msgs := m.Messages()
	if msgs[0].Size != 20 || msgs[1].Size != 25 || msgs[2].Size != 20 {
		t.Fatalf("sizes %d %d %d, want 20 25 20 (W= honoured, impossible W= ignored)",
			msgs[0].Size, msgs[1].Size, msgs[2].Size)
	}
	if got := readMsg(t, m, 1); len(got) != 20 {
		t.Fatalf("message with wrong W= sent %d octets, want 20", len(got))
	}
	if s := m.Messages()[1].Size; s != 20 {
		t.Fatalf("after reading, size %d, want corrected 20", s)
	}
	if !strings.Contains(logs.String(), "transmitted size differs") {
		t.Errorf("no warning logged for the wrong W=: %s", logs)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := openT(t, dir, Options{})
	if s := m2.Messages()[1].Size; s != 20 {
		t.Fatalf("next session size %d, want the corrected 20 from the cache", s)
	}
}

func TestSPhysicalMismatchRecounted(t *testing.T) {
	dir := newMaildir(t)
	body := "a\nb\nc\n" // 6 octets, 9 transmitted
	put(t, dir, "new", "1700000001.M1P1.vm,S=4,W=9", body)
	m := openT(t, dir, Options{})
	if s := m.Messages()[0].Size; s != 9 {
		t.Fatalf("size %d", s)
	}
	// Change the file behind our back: S=4 no longer matches (it never did).
	put(t, dir, "new", "1700000001.M1P1.vm,S=4,W=9", "a\nb\nc\nd\n")
	r, err := m.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if s := m.Messages()[0].Size; s != 12 {
		t.Fatalf("after Open, size %d, want recounted 12", s)
	}
}

func TestCacheTrustedThenValidatedLazily(t *testing.T) {
	dir := newMaildir(t)
	put(t, dir, "new", "1700000001.M1P1.h", "one\n")
	m := openT(t, dir, Options{})
	if s := m.Messages()[0].Size; s != 5 {
		t.Fatalf("size %d, want 5", s)
	}
	m.Close()
	cachePath := filepath.Join(dir, cacheName)
	st1, err := os.Stat(cachePath)
	if err != nil {
		t.Fatalf("no size cache written: %v", err)
	}
	// Messages never change, so the cache is believed without a stat: a
	// (rule-breaking) rewrite of the file is noticed only when it is read.
	put(t, dir, "new", "1700000001.M1P1.h", "one\ntwo\n")
	m = openT(t, dir, Options{})
	if s := m.Messages()[0].Size; s != 5 {
		t.Fatalf("size %d, want 5 from the cache", s)
	}
	st2, err := os.Stat(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(st1, st2) {
		t.Error("unchanged cache was rewritten")
	}
	if got := readMsg(t, m, 0); string(got) != "one\r\ntwo\r\n" {
		t.Fatalf("content %q", got)
	}
	if s := m.Messages()[0].Size; s != 10 {
		t.Fatalf("size %d after Open, want corrected 10", s)
	}
	m.Close()
	m = openT(t, dir, Options{})
	if s := m.Messages()[0].Size; s != 10 {
		t.Fatalf("next session size %d, want 10", s)
	}
}

func TestCacheRebuiltWhenCorrupt(t *testing.T) {
	for _, corrupt := range []struct {
		name string
		edit func([]byte) []byte
	}{
		{"garbage", func([]byte) []byte { return []byte("\x00\x01garbage") }},
		{"empty", func([]byte) []byte { return nil }},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"digit-flipped", func(b []byte) []byte {
			c := slices.Clone(b)
			i := strings.Index(string(c), " 5 ")
			c[i+1] = '7'
			return c
		}},
		{"trailer-removed", func(b []byte) []byte {
			s := string(b)
			return []byte(s[:strings.LastIndex(strings.TrimSuffix(s, "\n"), "\n")+1])
		}},
	} {
		t.Run(corrupt.name, func(t *testing.T) {
			dir := newMaildir(t)
			put(t, dir, "new", "1700000001.M1P1.h", "one\n")
			put(t, dir, "cur", "1700000002.M1P1.h:2,S", "two\r\n")
			m := openT(t, dir, Options{})
			m.Close()
			path := filepath.Join(dir, cacheName)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, corrupt.edit(b), 0o600); err != nil {
				t.Fatal(err)
			}
			log, logs := newLogger()
			m = openT(t, dir, Options{Logger: log})
			msgs := m.Messages()
			if msgs[0].Size != 5 || msgs[1].Size != 5 {
				t.Fatalf("sizes %d %d, want 5 5", msgs[0].Size, msgs[1].Size)
			}
			if !strings.Contains(logs.String(), "corrupt") {
				t.Errorf("corruption not logged: %s", logs)
			}
			n := 0
			if err := readCache(path, func(string, int64, int64) { n++ }); err != nil || n != 2 {
				t.Fatalf("cache not rebuilt: err %v, %d records", err, n)
			}
		})
	}
}

func TestCachePrunesVanished(t *testing.T) {
	dir := newMaildir(t)
	put(t, dir, "new", "1700000001.M1P1.h", "one\n")
	put(t, dir, "new", "1700000002.M1P1.h", "two\n")
	m := openT(t, dir, Options{})
	m.Close()
	if err := os.Remove(filepath.Join(dir, "new", "1700000001.M1P1.h")); err != nil {
		t.Fatal(err)
	}
	m = openT(t, dir, Options{})
	if n := len(m.Messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
	var got []string
	if err := readCache(filepath.Join(dir, cacheName), func(b string, _, _ int64) { got = append(got, b) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"1700000002.M1P1.h"}) {
		t.Fatalf("cache records %q, want only the remaining message", got)
	}
}

func TestUIDLStable(t *testing.T) {
	dir := newMaildir(t)
	base, err := Deliver(dir, []byte("Subject: x\n\nhello\n"))
	if err != nil {
		t.Fatal(err)
	}
	uidl := func() string {
		t.Helper()
		m, err := Open(context.Background(), dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		msgs := m.Messages()
		if len(msgs) != 1 || msgs[0].Base != base {
			t.Fatalf("messages %+v", msgs)
		}
		return msgs[0].UIDL
	}
	u0 := uidl()
	if !validUIDL(u0) {
		t.Fatalf("invalid UIDL %q", u0)
	}
	if err := os.Rename(filepath.Join(dir, "new", base), filepath.Join(dir, "cur", base+":2,")); err != nil {
		t.Fatal(err)
	}
	if u := uidl(); u != u0 {
		t.Fatalf("UIDL after new->cur %q, want %q", u, u0)
	}
	if err := os.Rename(filepath.Join(dir, "cur", base+":2,"), filepath.Join(dir, "cur", base+":2,S")); err != nil {
		t.Fatal(err)
	}
	if u := uidl(); u != u0 {
		t.Fatalf("UIDL after flag rename %q, want %q", u, u0)
	}
	if err := os.Remove(filepath.Join(dir, cacheName)); err != nil {
		t.Fatal(err)
	}
	if u := uidl(); u != u0 {
		t.Fatalf("UIDL after cache loss %q, want %q", u, u0)
	}
}

func TestIdenticalMessagesDistinctUIDL(t *testing.T) {
	dir := newMaildir(t)
	msg := []byte("Subject: same\n\nsame\n")
	for range 5 {
		if _, err := Deliver(dir, msg); err != nil {
			t.Fatal(err)
		}
	}
	m := openT(t, dir, Options{})
	seen := map[string]bool{}
	for _, msg := range m.Messages() {
		if seen[msg.UIDL] {
			t.Fatalf("duplicate UIDL %q", msg.UIDL)
		}
		seen[msg.UIDL] = true
	}
	if len(seen) != 5 {
		t.Fatalf("%d messages, want 5", len(seen))
	}
}

func TestLongBaseNameUIDL(t *testing.T) {
	dir := newMaildir(t)
	base := "1795846783.M982723P13884V000000000000FE00I000000000098405B_0.mail.example.com"
	base += strings.Repeat("x", 150-len(base)-len(",S=6")) + ",S=6"
	if len(base) != 150 {
		t.Fatalf("test base is %d chars", len(base))
	}
	put(t, dir, "new", base, "hello\n")
	get := func() Message {
		t.Helper()
		m, err := Open(context.Background(), dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		return m.Messages()[0]
	}
	first := get()
	if first.Base != base || !validUIDL(first.UIDL) || len(first.UIDL) > 70 {
		t.Fatalf("message %+v", first)
	}
	if !regexp.MustCompile(`^H[0-9a-f]{32}$`).MatchString(first.UIDL) {
		t.Fatalf("UIDL %q is not the digest form", first.UIDL)
	}
	if err := os.Rename(filepath.Join(dir, "new", base), filepath.Join(dir, "cur", base+":2,S")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, cacheName))
	if again := get(); again.UIDL != first.UIDL {
		t.Fatalf("UIDL changed from %q to %q", first.UIDL, again.UIDL)
	}
}

func TestDuplicateBaseName(t *testing.T) {
	dir := newMaildir(t)
	base := "1700000001.M1P1.h"
	put(t, dir, "new", base, "dup\n")
	put(t, dir, "cur", base+":2,S", "dup\n")
	put(t, dir, "new", "1700000002.M1P1.h", "other\n")
	log, logs := newLogger()
	m := openT(t, dir, Options{Logger: log})
	msgs := m.Messages()
	if got := bases(msgs); !slices.Equal(got, []string{base, "1700000002.M1P1.h"}) {
		t.Fatalf("messages %q", got)
	}
	if !strings.Contains(logs.String(), "duplicate base name") {
		t.Errorf("duplicate not logged: %s", logs)
	}
	if err := m.Commit([]int{0}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"new/" + base, "cur/" + base + ":2,S"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after Commit: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new", "1700000002.M1P1.h")); err != nil {
		t.Errorf("undeleted message removed: %v", err)
	}
}

func TestDeliver(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Maildir")
	msg := []byte("Subject: d\n\nbody\n")
	b1, err := Deliver(dir, msg)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := Deliver(dir, msg)
	if err != nil {
		t.Fatal(err)
	}
	if b1 == b2 {
		t.Fatalf("two deliveries share base name %q", b1)
	}
	re := regexp.MustCompile(`^[0-9]+\.M[0-9]{1,6}P[0-9]+Q[0-9]+\.[^/:]+$`)
	for _, b := range []string{b1, b2} {
		if !re.MatchString(b) {
			t.Errorf("base name %q does not match %v", b, re)
		}
		got, err := os.ReadFile(filepath.Join(dir, "new", b))
		if err != nil || string(got) != string(msg) {
			t.Errorf("new/%s: %q, %v", b, got, err)
		}
	}
	if ents, err := os.ReadDir(filepath.Join(dir, "tmp")); err != nil || len(ents) != 0 {
		t.Errorf("tmp/ not empty after delivery: %v %v", ents, err)
	}
}

func TestCacheOutOfOrderAndOddNames(t *testing.T) {
	dir := newMaildir(t)
	put(t, dir, "new", "1700000001.M1P1.h", "one\n")
	put(t, dir, "new", "1700000002.M1P1.with space", "two\n")
	put(t, dir, "new", "1700000003.M1P1.h", "three\n")
	// Correct sizes, but not in snapshot order (and one vanished record).
	recs := []cacheRecord{
		{"1700000003.M1P1.h", 7, 6},
		{"1699999999.M1P1.gone", 9, 8},
		{"1700000002.M1P1.with space", 5, 4},
		{"1700000001.M1P1.h", 5, 4},
	}
	if err := writeCache(dir, recs); err != nil {
		t.Fatal(err)
	}
	m := openT(t, dir, Options{})
	var sizes []int64
	for _, msg := range m.Messages() {
		sizes = append(sizes, msg.Size)
	}
	if !slices.Equal(sizes, []int64{5, 5, 7}) {
		t.Fatalf("sizes %v", sizes)
	}
	var got []string
	if err := readCache(filepath.Join(dir, cacheName), func(b string, _, _ int64) { got = append(got, b) }); err != nil {
		t.Fatal(err)
	}
	want := []string{"1700000001.M1P1.h", "1700000002.M1P1.with space", "1700000003.M1P1.h"}
	if !slices.Equal(got, want) {
		t.Fatalf("rewritten cache %q, want %q", got, want)
	}
}
