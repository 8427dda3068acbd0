package maildrop

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ovMaildir makes a Maildir with the given files ("sub/name" -> body).
func ovMaildir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "Maildir")
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for rel, body := range files {
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func ovOpen(t *testing.T, dir string) []Message {
	t.Helper()
	m, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	return m.Messages()
}

func uidlsOf(msgs []Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.UIDL)
	}
	return out
}

const (
	ovLDA     = "1795846770.M623478P13624.vm,S=203,W=211"
	ovPostfix = "1795846764.Vfe00I9843cbM704526.vm"
	ovNew     = "1795846900.M1P2.vm"
)

func TestOverrideUIDLAndOrder(t *testing.T) {
	dir := ovMaildir(t, map[string]string{
		"cur/" + ovLDA + ":2,":      "a\n",
		"cur/" + ovPostfix + ":2,S": "bb\n",
		"new/" + ovNew:              "ccc\n",
		"new/1795846700.1.vm":       "d\n", // oldest, not migrated
	})
	// Without the file: oldest first, base names.
	if got := uidlsOf(ovOpen(t, dir)); !slices.Equal(got, []string{"1795846700.1.vm", ovPostfix, ovLDA, ovNew}) {
		t.Fatalf("no override: %v", got)
	}
	err := WriteOverrides(dir, []Override{
		{Base: ovLDA, UIDL: "000000016b0a7272", Order: 1},
		{Base: ovPostfix, UIDL: "000000026b0a7272", Order: 2},
		{Base: "1795846000.gone.vm", UIDL: "000000036b0a7272", Order: 3}, // deleted since
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := ovOpen(t, dir)
	want := []string{"000000016b0a7272", "000000026b0a7272", "1795846700.1.vm", ovNew}
	if got := uidlsOf(msgs); !slices.Equal(got, want) {
		t.Fatalf("override: got %v, want %v", got, want)
	}
	if msgs[0].Base != ovLDA || msgs[0].Size != 211 || msgs[1].Size != 4 { // W= is trusted
		t.Errorf("messages %+v", msgs)
	}
	// The content follows the reordered message.
	m, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := m.Open(1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "bb\r\n" {
		t.Errorf("message 2 = %q", b)
	}
	// A flag rename meanwhile, then a deletion of message 1.
	if err := os.Rename(filepath.Join(dir, "cur", ovPostfix+":2,S"), filepath.Join(dir, "cur", ovPostfix+":2,RS")); err != nil {
		t.Fatal(err)
	}
	if err := m.Commit([]int{0}); err != nil {
		t.Fatal(err)
	}
	m.Close()
	want = []string{"000000026b0a7272", "1795846700.1.vm", ovNew}
	if got := uidlsOf(ovOpen(t, dir)); !slices.Equal(got, want) {
		t.Errorf("after rename and delete: got %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "cur", ovLDA+":2,")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("deleted message 1 is still there: %v", err)
	}
}

// Order 0 entries keep their UIDL but not a position.
func TestOverrideOrderZero(t *testing.T) {
	dir := ovMaildir(t, map[string]string{"new/1.a.h": "x", "new/2.b.h": "y", "new/3.c.h": "z"})
	if err := WriteOverrides(dir, []Override{{Base: "2.b.h", UIDL: "UID9-1", Order: 0}, {Base: "3.c.h", UIDL: "UID8-1", Order: 5}}); err != nil {
		t.Fatal(err)
	}
	if got := uidlsOf(ovOpen(t, dir)); !slices.Equal(got, []string{"UID8-1", "1.a.h", "UID9-1"}) {
		t.Errorf("got %v", got)
	}
}

// A new message whose base-name UIDL equals a migrated UIDL of another
// message gets the digest form.
func TestOverrideClashUsesDigest(t *testing.T) {
	dir := ovMaildir(t, map[string]string{"new/1.a.h": "x", "new/2.b.h": "y"})
	if err := WriteOverrides(dir, []Override{{Base: "1.a.h", UIDL: "2.b.h", Order: 1}}); err != nil {
		t.Fatal(err)
	}
	got := uidlsOf(ovOpen(t, dir))
	if len(got) != 2 || got[0] != "2.b.h" || got[1] != digestUIDL("2.b.h") || !digestShaped(got[1]) {
		t.Errorf("got %v", got)
	}
}

// A corrupt override file makes Open fail instead of serving changed
// UIDLs.
func TestOverrideCorruptFailsOpen(t *testing.T) {
	dir := ovMaildir(t, map[string]string{"new/1.a.h": "x"})
	if err := os.WriteFile(filepath.Join(dir, OverrideName), []byte("popadm-uidl 1\n1.a.h\tUID1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), dir, Options{})
	if !errors.Is(err, ErrBadOverride) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("Open: %v", err)
	}
	// The lock was released: fixing the file makes Open work.
	if err := WriteOverrides(dir, []Override{{Base: "1.a.h", UIDL: "UID1", Order: 1}}); err != nil {
		t.Fatal(err)
	}
	if got := uidlsOf(ovOpen(t, dir)); !slices.Equal(got, []string{"UID1"}) {
		t.Errorf("got %v", got)
	}
}

func TestParseOverridesErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "empty file"},
		{"popadm-uidl 2\n", "line 1: header"},
		{"popadm-uidl 1\na.b\tU\n", "line 2: 2 tab-separated fields"},
		{"popadm-uidl 1\na.b\tU\t-1\n", "line 2: order"},
		{"popadm-uidl 1\na.b\tU\t01\n", "line 2: order"},
		{"popadm-uidl 1\na.b\tU V\t1\n", "line 2: base a.b: UIDL"},
		{"popadm-uidl 1\na.b\t" + strings.Repeat("x", 71) + "\t1\n", "line 2: base a.b: UIDL"},
		{"popadm-uidl 1\na.b\t\t1\n", "line 2: base a.b: UIDL"},
		{"popadm-uidl 1\na:b\tU\t1\n", "line 2: invalid base name"},
		{"popadm-uidl 1\n.a\tU\t1\n", "line 2: invalid base name"},
		{"popadm-uidl 1\na.b\tU\t1\nc.d\tU\t2\n", "line 3: UIDL \"U\" already on line 2"},
		{"popadm-uidl 1\na.b\tU\t1\n# note\na.b\tV\t2\n", "line 4: base name \"a.b\" already on line 2"},
	} {
		_, err := ParseOverrides(strings.NewReader(c.in))
		if !errors.Is(err, ErrBadOverride) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
		}
	}
}

func TestWriteOverridesRefusesClash(t *testing.T) {
	dir := ovMaildir(t, nil)
	err := WriteOverrides(dir, []Override{{Base: "1.a.h", UIDL: "U", Order: 1}, {Base: "2.b.h", UIDL: "U", Order: 2}})
	if !errors.Is(err, ErrBadOverride) || !strings.Contains(err.Error(), "1.a.h") || !strings.Contains(err.Error(), "2.b.h") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, OverrideName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file written despite the error: %v", err)
	}
	list := []Override{{Base: "1.a.h", UIDL: "UID1-2", Order: 1}, {Base: "2.b.h", UIDL: "UID2-2", Order: 0}}
	if err := WriteOverrides(dir, list); err != nil {
		t.Fatal(err)
	}
	got, err := ReadOverrides(dir)
	if err != nil || !slices.Equal(got, list) {
		t.Errorf("read back %v, %v", got, err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}
