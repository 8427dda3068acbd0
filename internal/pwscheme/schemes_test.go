package pwscheme

import (
	"slices"
	"sort"
	"testing"
)

func TestSchemesList(t *testing.T) {
	list := Schemes()
	if !sort.SliceIsSorted(list, func(i, j int) bool { return list[i].Name < list[j].Name }) {
		t.Error("Schemes() is not sorted by name")
	}
	var gen []string
	for _, s := range list {
		if s.Generate {
			gen = append(gen, s.Name)
		}
		if s.Description == "" {
			t.Errorf("%s has no description", s.Name)
		}
		if s.Verify != slices.Contains(s.Mechs, MechPlain) {
			t.Errorf("%s: Verify=%v but Mechs=%v", s.Name, s.Verify, s.Mechs)
		}
		if s.PlainEquivalent && !s.Weak {
			t.Errorf("%s is plaintext-equivalent but not weak", s.Name)
		}
		got, ok := Lookup(s.Name)
		if !ok || got.Name != s.Name || !slices.Equal(got.Mechs, s.Mechs) {
			t.Errorf("Lookup(%s) = %+v, %v", s.Name, got, ok)
		}
	}
	want := generatable()
	sort.Strings(want)
	if !slices.Equal(gen, want) {
		t.Errorf("generatable schemes = %v, want %v", gen, want)
	}
	// Info.Mechs is a copy.
	a, _ := Lookup("PLAIN")
	a.Mechs[0] = "changed"
	if b, _ := Lookup("PLAIN"); b.Mechs[0] != MechPlain {
		t.Error("Lookup returns shared Mechs slices")
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		in, name      string
		verify, plain bool
		weak          bool
		mechs         []string
	}{
		{"PLAIN", "PLAIN", true, true, true, []string{MechPlain, MechAPOP, MechCRAMMD5, MechSCRAMSHA1, MechSCRAMSHA256}},
		{"clear", "PLAIN", true, true, true, nil},
		{"CLEARTEXT", "PLAIN", true, true, true, nil},
		{"plain.b64", "PLAIN", true, true, true, nil},
		{"SHA1", "SHA", true, false, true, []string{MechPlain}},
		{"HMAC-MD5", "CRAM-MD5", true, true, true, []string{MechPlain, MechCRAMMD5}},
		{"MD5", "MD5-CRYPT", true, false, true, []string{MechPlain}},
		{"DIGEST-MD5", "DIGEST-MD5", true, true, true, []string{MechPlain}},
		{"SCRAM-SHA-256", "SCRAM-SHA-256", true, false, false, []string{MechPlain, MechSCRAMSHA256}},
		{"scram-sha-1", "SCRAM-SHA-1", true, false, false, []string{MechPlain, MechSCRAMSHA1}},
		{"ARGON2ID", "ARGON2ID", true, false, false, []string{MechPlain}},
		{"BLF-CRYPT", "BLF-CRYPT", true, false, false, []string{MechPlain}},
		{"SSHA512", "SSHA512", true, false, true, []string{MechPlain}},
		{"PLAIN-MD5", "PLAIN-MD5", true, false, true, []string{MechPlain}},
		{"DES-CRYPT", "DES-CRYPT", false, false, true, nil},
		{"OTP", "OTP", false, false, false, nil},
	} {
		got, ok := Lookup(tc.in)
		if !ok || got.Name != tc.name || got.Verify != tc.verify || got.PlainEquivalent != tc.plain || got.Weak != tc.weak {
			t.Errorf("Lookup(%s) = %+v, %v", tc.in, got, ok)
			continue
		}
		if tc.mechs != nil && !slices.Equal(got.Mechs, tc.mechs) {
			t.Errorf("Lookup(%s).Mechs = %v, want %v", tc.in, got.Mechs, tc.mechs)
		}
	}
	for _, bad := range []string{"", "NOPE", "PLAIN.ROT13", "SHA-1"} {
		if _, ok := Lookup(bad); ok {
			t.Errorf("Lookup(%q) succeeded", bad)
		}
	}
}
