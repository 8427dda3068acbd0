package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/popadm/popadm/internal/importfmt"
	"github.com/popadm/popadm/internal/maildrop"
	"github.com/popadm/popadm/internal/pwscheme"
)

func TestMakeMessage(t *testing.T) {
	for _, size := range []int{256, 1000, 51200, 1 << 20} {
		m := makeMessage(size)
		if len(m) != size {
			t.Errorf("size %d: got %d bytes", size, len(m))
		}
		if m[len(m)-1] != '\n' || bytes.Contains(m, []byte("\r")) {
			t.Errorf("size %d: want LF line ends ending in a newline", size)
		}
		if !bytes.Contains(m, []byte("\n\n")) {
			t.Errorf("size %d: no header/body separator", size)
		}
		if size >= 51200 && !bytes.Contains(m, []byte("\n.")) {
			t.Errorf("size %d: no dot-started line to stuff", size)
		}
	}
}

func TestMaildirBothWaysOpenWithMaildrop(t *testing.T) {
	root := t.TempDir()
	if _, errText, code := runCmd(t, nil, "maildir", "-dir", filepath.Join(root, "slow"), "-n", "3", "-size", "700"); code != 0 {
		t.Fatal(errText)
	}
	if _, errText, code := runCmd(t, nil, "maildir", "-dir", filepath.Join(root, "fast"), "-n", "500", "-size", "300", "-fast"); code != 0 {
		t.Fatal(errText)
	}
	if _, errText, code := runCmd(t, nil, "maildir", "-dir", filepath.Join(root, "e%d"), "-count", "3", "-n", "0"); code != 0 {
		t.Fatal(errText)
	}
	for _, tc := range []struct {
		dir  string
		n    int
		size int
	}{{"slow", 3, 700}, {"fast", 500, 300}, {"e3", 0, 0}} {
		md, err := maildrop.Open(context.Background(), filepath.Join(root, tc.dir), maildrop.Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.dir, err)
		}
		msgs := md.Messages()
		if len(msgs) != tc.n {
			t.Errorf("%s: %d messages, want %d", tc.dir, len(msgs), tc.n)
		}
		uidls := map[string]bool{}
		for _, m := range msgs {
			// LF on disk becomes CRLF on the wire.
			if want := int64(tc.size + bytes.Count(makeMessage(tc.size), []byte("\n"))); m.Size != want {
				t.Errorf("%s: size %d, want %d", tc.dir, m.Size, want)
				break
			}
			uidls[m.UIDL] = true
		}
		if len(uidls) != tc.n {
			t.Errorf("%s: %d distinct UIDLs for %d messages", tc.dir, len(uidls), tc.n)
		}
		if err := md.Close(); err != nil {
			t.Fatal(err)
		}
	}
	names, err := os.ReadDir(filepath.Join(root, "fast", "cur"))
	if err != nil || len(names) != 500 || !strings.HasSuffix(names[0].Name(), ":2,") {
		t.Errorf("fast messages: %v entries, err %v", len(names), err)
	}
}

func TestUserCSVImportsAndVerifies(t *testing.T) {
	out, errText, code := runCmd(t, testVars, "usercsv", "-users", "x%d@example.com", "-n-users", "5", "-scheme", "SHA512-CRYPT")
	if code != 0 {
		t.Fatal(errText)
	}
	res, err := importfmt.ParseCSV(strings.NewReader(out), importfmt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 0 || len(res.Records) != 5 {
		t.Fatalf("%d records, errors %v", len(res.Records), res.Errors)
	}
	if res.Records[4].User != "x5@example.com" {
		t.Errorf("last user %q", res.Records[4].User)
	}
	ok, err := pwscheme.Verify(res.Records[0].Hash, testPass, "")
	if err != nil || !ok {
		t.Errorf("hash does not verify the password: %v", err)
	}
	if strings.Contains(errText+out, testPass) {
		t.Error("the password appears in the output")
	}

	file := filepath.Join(t.TempDir(), "u.csv")
	for _, args := range [][]string{
		{"usercsv", "-users", "a%d@example.com", "-n-users", "2", "-o", file},
		{"usercsv", "-header=false", "-users", "b@example.com", "-o", file},
	} {
		if _, errText, code := runCmd(t, testVars, args...); code != 0 {
			t.Fatal(errText)
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := importfmt.ParseCSV(bytes.NewReader(b), importfmt.Options{}); err != nil || len(res.Records) != 3 || len(res.Errors) != 0 {
		t.Errorf("appended file: %v records, err %v", res, err)
	}
}

func TestReady(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ready")
	if err := os.WriteFile(file, []byte(`{"pop3":["127.0.0.1:4110"],"poppassd":["127.0.0.1:4106"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errText, code := runCmd(t, nil, "ready", "-file", file, "-key", "poppassd")
	if code != 0 || out != "127.0.0.1:4106\n" {
		t.Errorf("code %d, out %q, err %q", code, out, errText)
	}
	if _, _, code := runCmd(t, nil, "ready", "-file", file, "-key", "pop3s"); code != 1 {
		t.Errorf("missing key: code %d", code)
	}
	if _, _, code := runCmd(t, nil, "ready", "-file", file+".none", "-timeout", "200ms"); code != 1 {
		t.Errorf("missing file: code %d", code)
	}
}
