package migrate

import (
	"errors"
	"strings"
	"testing"
)

// The four base names of maildir-migration.md §2.2 (one real run).
const (
	baseLDA     = "1795846770.M623478P13624.vm,S=203,W=211"
	basePostfix = "1795846764.Vfe00I9843cbM704526.vm"
	baseCourier = "1795846783.M982723P13884V000000000000FE00I000000000098405B_0.vm,S=194"
	baseQmail   = "1795846789.14103.vm"
)

// uidlist22 is the dovecot-uidlist of §2.2 after the POP3 login.
const uidlist22 = "3 V1795846770 N5 G84302a2572720a6b3835000083ecc375\n" +
	"1 :" + baseLDA + "\n" +
	"2 W475 :" + basePostfix + "\n" +
	"3 W202 :" + baseCourier + "\n" +
	"4 W261 :" + baseQmail + "\n"

func parseDovecot(t *testing.T, s string) *DovecotList {
	t.Helper()
	l, err := ParseDovecotUIDList(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type want struct {
	base, uidl string
	order      int
	src        Source
}

func check(t *testing.T, got map[string]Entry, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Errorf("got %d entries, want %d: %v", len(got), len(wants), got)
	}
	for _, w := range wants {
		e, ok := got[w.base]
		if !ok {
			t.Errorf("%s: missing", w.base)
			continue
		}
		if e.UIDL != w.uidl || e.Order != w.order || (w.src != "" && e.Source != w.src) {
			t.Errorf("%s: got %+v, want uidl %s order %d source %q", w.base, e, w.uidl, w.order, w.src)
		}
	}
}

// The on-disk names after the login: all in cur/ with ":2,", one read.
var names22 = []string{baseLDA + ":2,", basePostfix + ":2,S", baseCourier + ":2,", baseQmail + ":2,"}

func TestDovecotExample22Default(t *testing.T) {
	l := parseDovecot(t, uidlist22)
	if l.Version != 3 || l.UIDValidity != 1795846770 || l.NextUID != 5 || l.GUID != "84302a2572720a6b3835000083ecc375" {
		t.Fatalf("header: %+v", l)
	}
	if w, _ := l.Lookup(basePostfix).Field('W'); w != "475" {
		t.Errorf("W of the Postfix file = %q", w)
	}
	got, err := DovecotUIDLs(l, names22, "%08Xu%08Xv")
	if err != nil {
		t.Fatal(err)
	}
	// Dovecot's order is UID order: the older Postfix file is message 2.
	check(t, got, []want{
		{baseLDA, "000000016b0a7272", 1, SourceFormat},
		{basePostfix, "000000026b0a7272", 2, SourceFormat},
		{baseCourier, "000000036b0a7272", 3, SourceFormat},
		{baseQmail, "000000046b0a7272", 4, SourceFormat},
	})
	// "" means the default format.
	again, err := DovecotUIDLs(l, names22, "")
	if err != nil || again[baseLDA].UIDL != "000000016b0a7272" {
		t.Errorf("default format: %v %v", again[baseLDA], err)
	}
}

func TestDovecotExample22FileName(t *testing.T) {
	got, err := DovecotUIDLs(parseDovecot(t, uidlist22), names22, "%f")
	if err != nil {
		t.Fatal(err)
	}
	check(t, got, []want{
		{baseLDA, baseLDA, 1, SourceFormat},
		{basePostfix, basePostfix, 2, SourceFormat},
		{baseCourier, baseCourier, 3, SourceFormat},
		{baseQmail, baseQmail, 4, SourceFormat},
	})
}

// A Postfix file Dovecot never saw gets UID max(N, last+1): predicted
// before Dovecot saw it as 000000056b0a7272 (§2.3).
func TestDovecotPredictsUnknownFiles(t *testing.T) {
	l := parseDovecot(t, uidlist22)
	late1 := "1795846900.Vfe00I9843ccM000001.vm"
	late2 := "1795846900.Vfe00I9843cdM000002.vm"
	names := append([]string{late2, late1}, names22...)
	got, err := DovecotUIDLs(l, names, "")
	if err != nil {
		t.Fatal(err)
	}
	if e := got[late1]; e.UIDL != "000000056b0a7272" || e.Order != 5 || e.Source != SourcePredicted {
		t.Errorf("late1: %+v", e)
	}
	if e := got[late2]; e.UIDL != "000000066b0a7272" || e.Order != 6 {
		t.Errorf("late2: %+v", e)
	}
	// A stale N: the LDA wrote "N1" next to record 1.
	stale := parseDovecot(t, "3 V1795846770 N1 G84302a2572720a6b3835000083ecc375\n1 :"+baseLDA+"\n")
	if stale.Next() != 2 {
		t.Errorf("Next with stale N = %d", stale.Next())
	}
	got, err = DovecotUIDLs(stale, []string{baseLDA, basePostfix}, "")
	if err != nil {
		t.Fatal(err)
	}
	check(t, got, []want{
		{baseLDA, "000000016b0a7272", 1, SourceFormat},
		{basePostfix, "000000026b0a7272", 2, SourcePredicted},
	})
	// A name without a leading timestamp makes the order uncertain: the
	// unknown files are left out.
	got, err = DovecotUIDLs(stale, []string{baseLDA, basePostfix, "oddname"}, "")
	if err != nil {
		t.Fatal(err)
	}
	check(t, got, []want{{baseLDA, "000000016b0a7272", 1, SourceFormat}})
}

// Files with the same second are ordered by M<usec> when both have one,
// else by name.
func TestDovecotPredictionOrderUsec(t *testing.T) {
	l := parseDovecot(t, "1 1234567890 1\n")
	a := "1700000000.M9P1.h"   // usec 9
	b := "1700000000.M100P1.h" // usec 100
	c := "1700000000.12345.h"  // no usec: by name, and '1' < 'M'
	d := "1699999999.M999999P1.h"
	got, err := DovecotUIDLs(l, []string{a, b, c, d}, "%u")
	if err != nil {
		t.Fatal(err)
	}
	if got[d].UIDL != "1" || got[c].UIDL != "2" || got[a].UIDL != "3" || got[b].UIDL != "4" {
		t.Errorf("got %v", got)
	}
}

// A maildir converted from Courier by courier-dovecot-migrate.pl: P and O
// records; UIDs in hash order, the POP3 order from O (§3.3).
func TestDovecotPAndORecords(t *testing.T) {
	l := parseDovecot(t, "3 V1795846817 N5\n"+
		"1 O2 PUID2-1795846809 W211 :"+baseLDA+":2,\n"+
		"2 O4 PUID4-1795846809 W261 :"+baseQmail+":2,\n"+
		"3 O3 PUID3-1795846809 W202 :"+baseCourier+":2,\n"+
		"4 O1 PUID1-1795846809 W475 :"+basePostfix+":2,S\n")
	late := "1795846900.M1P2.vm,S=10,W=11"
	got, err := DovecotUIDLs(l, append([]string{late}, names22...), "")
	if err != nil {
		t.Fatal(err)
	}
	check(t, got, []want{
		{basePostfix, "UID1-1795846809", 1, SourceRecord},
		{baseLDA, "UID2-1795846809", 2, SourceRecord},
		{baseCourier, "UID3-1795846809", 3, SourceRecord},
		{baseQmail, "UID4-1795846809", 4, SourceRecord},
		// Two UIDL shapes in one mailbox: new mail after the O records.
		{late, "000000056b0a72a1", 5, SourcePredicted},
	})
}

// pop3_save_uidl: P with a value and a bare P (UIDL = base name); other
// records follow the format.
func TestDovecotBareP(t *testing.T) {
	l := parseDovecot(t, "3 V1795846770 N6 G84302a2572720a6b3835000083ecc375\n"+
		"1 P000000016b0a7272 :"+baseLDA+"\n"+
		"2 W475 :"+basePostfix+"\n"+
		"5 P :"+baseQmail+"\n")
	got, err := DovecotUIDLs(l, []string{baseLDA, basePostfix, baseQmail}, "%f")
	if err != nil {
		t.Fatal(err)
	}
	check(t, got, []want{
		{baseLDA, "000000016b0a7272", 1, SourceRecord},
		{basePostfix, basePostfix, 2, SourceFormat},
		{baseQmail, baseQmail, 3, SourceRecord},
	})
}

// Version 1 (as Courier's courierimapuiddb): "1 <uidv> <next>", "<uid>
// <name>". V1234567890 = 0x499602d2.
func TestDovecotV1(t *testing.T) {
	l := parseDovecot(t, "1 1234567890 3\n1 "+basePostfix+"\n2 "+baseLDA+":2,S\n")
	if l.Version != 1 || l.UIDValidity != 1234567890 || l.NextUID != 3 {
		t.Fatalf("header %+v", l)
	}
	got, err := DovecotUIDLs(l, []string{basePostfix, baseLDA, baseQmail}, "")
	if err != nil {
		t.Fatal(err)
	}
	check(t, got, []want{
		{basePostfix, "00000001499602d2", 1, SourceFormat},
		{baseLDA, "00000002499602d2", 2, SourceFormat},
		{baseQmail, "00000003499602d2", 3, SourcePredicted},
	})
}

// The same base name twice: the later line wins.
func TestDovecotLaterLineWins(t *testing.T) {
	l := parseDovecot(t, "3 V10 N3\n1 :a.b.c\n2 :a.b.c:2,S\n")
	got, err := DovecotUIDLs(l, []string{"a.b.c:2,S"}, "%u")
	if err != nil || got["a.b.c"].UIDL != "2" {
		t.Errorf("got %v, %v", got, err)
	}
}

func TestExpandFormat(t *testing.T) {
	v := &uidlVars{uid: 1, uidValidity: 1795846770, base: "1795846789.14103.vm", guid: "g1"}
	for _, c := range []struct{ format, want string }{
		{"%08Xu%08Xv", "000000016b0a7272"},
		{"%u-%v", "1-1795846770"},
		{"UID%u-%v", "UID1-1795846770"},
		{"%v.%u", "1795846770.1"},
		{"%Xv", "6b0a7272"},
		{"%XUv", "6B0A7272"}, // modifiers run in order: X, then U
		{"%UXv", "6b0a7272"},
		{"%f", "1795846789.14103.vm"},
		{"%{filename}", "1795846789.14103.vm"},
		{"%g", "g1"},
		{"%4f", "1795"},
		{"%-3f", "1795846789.14103"},
		{"%3.4f", "5846"},
		{"%03u", "001"},
		{"%02v", "1795846770"}, // zero padding never truncates
		{"%Mu", "c4ca4238a0b923820dcc509a6f75849b"},
		{"%Rf", "mv.30141.9876485971"},
		{"100%%", "100%"},
	} {
		got, err := expandFormat(c.format, v)
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.format, got, err, c.want)
		}
	}
	for _, bad := range []string{"%", "%08X", "%m", "%Hu", "%q", "%{nope}", "%{uid", "%Xf"} {
		if _, err := expandFormat(bad, v); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestDovecotMalformed(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "empty file"},
		{"2 V1 N1\n", "line 1: version 2"},
		{"9 V1\n", "line 1: unknown version"},
		{"3 N5\n", "line 1: version 3 header without V"},
		{"3 Vx N5\n", "line 1: V:"},
		{"3 V0 N5\n", "line 1: uidvalidity is 0"},
		{"3 V1 n5\n", "line 1: header field"},
		{"1 1 2 3\n", "line 1: version 1 header"},
		{"3 V1 N5\n1 :a.b.c\nx :d.e.f\n", "line 3: UID:"},
		{"3 V1 N5\n1 :a.b.c\n1 :d.e.f\n", "line 3: UID 1 does not follow UID 1 of line 2"},
		{"3 V1 N5\n2 :a.b.c\n1 :d.e.f\n", "line 3: UID 1 does not follow"},
		{"3 V1 N5\n1 W12 d.e.f\n", "line 2: field"},
		{"3 V1 N5\n1 W12\n", "line 2: record without"},
		{"3 V1 N5\n0 :a.b.c\n", "line 2: UID 0"},
		{"3 V1 N5\n1 Ox :a.b.c\n", "line 2: O field"},
		{"3 V1 N5\n1 :\n", "line 2: invalid file name"},
		{"3 V1 N5\n1\n", "line 2: record"},
		{"3 V1 N5\n\n", "line 2: record"},
		{"3 V1 N5\n1  :a.b.c\n", "line 2: double space"},
	} {
		_, err := ParseDovecotUIDList(strings.NewReader(c.in))
		if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
		}
	}
}

// Migrated Dovecot and Courier UIDLs never contain '.', while every base
// name of the writers in maildir-migration.md §1 does, so a message that
// keeps its base name as UIDL cannot take a migrated UIDL.
func TestMigratedUIDLsHaveNoDot(t *testing.T) {
	for _, base := range []string{baseLDA, basePostfix, baseCourier, baseQmail} {
		if !strings.Contains(base, ".") {
			t.Errorf("base name %s has no '.'", base)
		}
	}
	l := parseDovecot(t, uidlist22)
	got, err := DovecotUIDLs(l, names22, "")
	if err != nil {
		t.Fatal(err)
	}
	for b, e := range got {
		if strings.Contains(e.UIDL, ".") {
			t.Errorf("%s: UIDL %s has a '.'", b, e.UIDL)
		}
	}
	cl, err := ParseCourierSizeList(strings.NewReader(sizelist32))
	if err != nil {
		t.Fatal(err)
	}
	for b, e := range CourierUIDLs(cl, names22) {
		if strings.Contains(e.UIDL, ".") {
			t.Errorf("%s: UIDL %s has a '.'", b, e.UIDL)
		}
	}
}
