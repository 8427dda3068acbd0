package authdb

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	good := []struct{ in, def, want string }{
		{"alice@example.com", "", "alice@example.com"},
		{"Alice@Example.COM", "", "alice@example.com"},
		{"alice", "example.com", "alice@example.com"},
		{"alice", "Example.Com", "alice@example.com"},
		{"bob@other.org", "example.com", "bob@other.org"},
		{"JÖRG@example.com", "", "jörg@example.com"},
		{"jo\u0308rg@example.com", "", "jörg@example.com"}, // NFD → NFC
		{"first.last+tag@example.com", "", "first.last+tag@example.com"},
		{"x@localhost", "", "x@localhost"},
		{"x@xn--bcher-kva.example", "", "x@xn--bcher-kva.example"},
		{strings.Repeat("a", 64) + "@example.com", "", strings.Repeat("a", 64) + "@example.com"},
	}
	for _, c := range good {
		got, err := Normalize(c.in, c.def)
		if err != nil || got != c.want {
			t.Errorf("Normalize(%q, %q) = %q, %v; want %q", c.in, c.def, got, err, c.want)
		}
	}
	bad := []struct{ in, def, why string }{
		{"", "example.com", "empty"},
		{" alice", "example.com", "space"},
		{"alice ", "example.com", "space"},
		{"al ice@example.com", "", "space"},
		{"al\tice@example.com", "", "space"},
		{"al\x00ice@example.com", "", "control"},
		{"al\u200bice@example.com", "", "invisible"},
		{"alice", "", "no default domain"},
		{"a@b@example.com", "", "more than one"},
		{"@example.com", "", "empty local"},
		{"alice@", "", "empty domain"},
		{"a/b@example.com", "", `'/'`},
		{`a\b@example.com`, "", `'\\'`},
		{"a:b@example.com", "", `':'`},
		{"../x@example.com", "", "starts or ends"},
		{"a..b@example.com", "", "'..'"},
		{"a.@example.com", "", "starts or ends"},
		{strings.Repeat("a", 65) + "@example.com", "", "64 bytes"},
		{"alice@exa mple.com", "", "' '"},
		{"alice@-example.com", "", "'-'"},
		{"alice@example..com", "", "empty label"},
		{"alice@example.com.", "", "empty label"},
		{"alice@bücher.example", "", "xn--"},
		{"alice@ex_ample.com", "", "'_'"},
		{"alice@" + strings.Repeat("a", 64) + ".com", "", "63 bytes"},
		{"\xff@example.com", "", "UTF-8"},
	}
	for _, c := range bad {
		got, err := Normalize(c.in, c.def)
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("Normalize(%q, %q) = %q, %v; want ErrInvalidName", c.in, c.def, got, err)
			continue
		}
		if !strings.Contains(err.Error(), c.why) {
			t.Errorf("Normalize(%q): error %q does not say %q", c.in, err, c.why)
		}
		if !strings.HasPrefix(err.Error(), "authdb: invalid name ") {
			t.Errorf("Normalize(%q): error %q does not start with the sentinel", c.in, err)
		}
	}
}

func TestNormalizeMechs(t *testing.T) {
	got, err := normalizeMechs([]string{"APOP", "scram-sha-256", " cram-md5 ", "apop"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "plain,scram-sha-256,cram-md5,apop"; strings.Join(got, ",") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	got, err = normalizeMechs(nil)
	if err != nil || strings.Join(got, ",") != "plain" {
		t.Fatalf("empty set: %v %v", got, err)
	}
	if _, err := normalizeMechs([]string{"digest-md5"}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("unknown mech: %v", err)
	}
}
