package migrate

import (
	"errors"
	"strings"
	"testing"
)

// sizelist32 is the courierpop3dsizelist of maildir-migration.md §3.2.
const sizelist32 = "/3 5 1795846809\n" +
	basePostfix + ":2,S 475 1:1795846809:0\n" +
	baseLDA + ":2, 211 2:1795846809:0\n" +
	baseCourier + ":2, 202 3:1795846809:0\n" +
	baseQmail + ":2, 261 4:1795846809:0\n"

func TestCourierExample32(t *testing.T) {
	l, err := ParseCourierSizeList(strings.NewReader(sizelist32))
	if err != nil {
		t.Fatal(err)
	}
	if l.Version != 3 || l.NextUID != 5 || l.UIDValidity != 1795846809 || len(l.Records) != 4 {
		t.Fatalf("list %+v", l)
	}
	if r := l.Lookup(basePostfix); r == nil || r.Size != 475 || r.Name != basePostfix+":2,S" {
		t.Errorf("Postfix record %+v", r)
	}
	// Names as found on disk later (flags changed): matched by base name.
	late := "1795846900.M1P2.vm"
	got := CourierUIDLs(l, []string{baseQmail + ":2,S", baseLDA, late, basePostfix + ":2,", baseCourier + ":2,"})
	// Courier lists in timestamp order: the Postfix file is first. The
	// file the list does not name is left out.
	check(t, got, []want{
		{basePostfix, "UID1-1795846809", 1, SourceRecord},
		{baseLDA, "UID2-1795846809", 2, SourceRecord},
		{baseCourier, "UID3-1795846809", 3, SourceRecord},
		{baseQmail, "UID4-1795846809", 4, SourceRecord},
	})
}

func TestCourierOlderVersions(t *testing.T) {
	cases := []struct {
		in   string
		want []want
	}{
		{"/2 3 1700000000\n1.2.h 10 1:1700000000\n2.3.h 20 2:0\n3.4.h 30 0:0\n", []want{
			{"1.2.h", "UID1-1700000000", 1, ""}, {"2.3.h", "UID2", 2, ""}, {"3.4.h", "3.4.h", 3, ""}}},
		{"/1 3\n1.2.h 10 1\n2.3.h 20 2\n", []want{{"1.2.h", "UID1", 1, ""}, {"2.3.h", "UID2", 2, ""}}},
		// Version 0: the escaped base name.
		{"1.2.h:2,S 10\n2.3.h+x 20\n4.5.h\"'\x7f 1\n", []want{
			{"1.2.h", "1.2.h", 1, ""}, {"2.3.h+x", "2.3.h+2Bx", 2, ""}, {"4.5.h\"'\x7f", "4.5.h+22+27+7F", 3, ""}}},
		// Same second: by name.
		{"/3 3 9\n10.b.h 1 1:9:0\n10.a.h 1 2:9:1\n", []want{{"10.a.h", "UID2-9", 1, ""}, {"10.b.h", "UID1-9", 2, ""}}},
	}
	for _, c := range cases {
		l, err := ParseCourierSizeList(strings.NewReader(c.in))
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		var names []string
		for _, r := range l.Records {
			names = append(names, r.Name)
		}
		check(t, CourierUIDLs(l, names), c.want)
	}
}

func TestCourierMalformed(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/4 1 1\n", "line 1: unknown version"},
		{"/3 1\n", "line 1: header"},
		{"/2 x 1\n", "line 1: nextuid"},
		{"/1 1 1\n", "line 1: header"},
		{"/3 5 1\na.b.c 10 1:1\n", "line 2: \"1:1\": want 3"},
		{"/3 5 1\na.b.c 10 1:1:2\n", "line 2: utf8 flag"},
		{"/3 5 1\na.b.c x 1:1:0\n", "line 2: size"},
		{"/3 5 1\na.b.c 10\n", "line 2: line"},
		{"/2 5 1\na.b.c 10 1:1\na.b.c:2,S 10 2:1\n", "line 3: base name a.b.c already on line 2"},
		{"a.b.c 10 1\n", "line 1: line"},
		{"/1 5\na.b.c 1 -1\n", "line 2: uid"},
		{"/1 5\n:2,S 1 1\n", "line 2: invalid file name"},
	} {
		_, err := ParseCourierSizeList(strings.NewReader(c.in))
		if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
		}
	}
}
