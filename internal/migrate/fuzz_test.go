package migrate

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParseDovecotUIDList(f *testing.F) {
	f.Add(uidlist22, "%08Xu%08Xv")
	f.Add("1 1234567890 3\n1 a.b.c\n", "%f")
	f.Add("3 V1 N5\n1 O2 PUID1-1 :a.b.c:2,S\n2 P :d.e.f\n", "%3.4Mg")
	f.Fuzz(func(t *testing.T, in, format string) {
		l, err := ParseDovecotUIDList(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		var names []string
		for i := range l.Records {
			r := &l.Records[i]
			if l.Lookup(r.Base) == nil || strings.Contains(r.Base, ":") {
				t.Fatalf("record %+v", r)
			}
			if i > 0 && r.UID <= l.Records[i-1].UID {
				t.Fatalf("UIDs not increasing: %+v", l.Records)
			}
			names = append(names, r.Name)
		}
		got, err := DovecotUIDLs(l, names, format)
		if err != nil {
			return
		}
		seen := map[int]bool{}
		for _, e := range got {
			if e.Order < 1 || e.Order > len(got) || seen[e.Order] {
				t.Fatalf("bad order %d in %v", e.Order, got)
			}
			seen[e.Order] = true
		}
	})
}

func FuzzParseCourierSizeList(f *testing.F) {
	f.Add(sizelist32)
	f.Add("/2 3 1700000000\n1.2.h 10 1:1700000000\n3.4.h 30 0:0\n")
	f.Add("1.2.h 10\n")
	f.Fuzz(func(t *testing.T, in string) {
		l, err := ParseCourierSizeList(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		var names []string
		for i := range l.Records {
			names = append(names, l.Records[i].Name)
		}
		got := CourierUIDLs(l, names)
		if len(got) != len(l.Records) {
			t.Fatalf("%d entries for %d records", len(got), len(l.Records))
		}
		for b, e := range got {
			if e.UIDL == "" || e.Order < 1 {
				t.Fatalf("%s: %+v", b, e)
			}
		}
	})
}
