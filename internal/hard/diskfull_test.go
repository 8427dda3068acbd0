package hard

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/maildrop"
)

// fill writes a file until the file system is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return path
		}
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for range 1 << 16 {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			return path
		}
	}
	t.Fatal("fill: the file system never filled up")
	return path
}

// TestDiskFull puts the database, the Maildir root and the mbox journal
// directory on a 2 MiB tmpfs and fills it: logins, DELE+QUIT and
// poppassd changes answer +OK/200 or -ERR [SYS/TEMP]/500, nothing is
// corrupted, and after space is freed everything works again.
func TestDiskFull(t *testing.T) {
	hard(t)
	needRoot(t)
	root := filepath.Join(t.TempDir(), "small")
	mountTmpfs(t, root, "2m")
	e := newEnv(t, root)
	const user, pass = "dan@example.com", "Full-pass 0001"
	const mboxUser, mboxPass = "meg@example.com", "Full-pass 0101"
	e.addUser(user, pass)
	e.addUser(mboxUser, mboxPass)
	// The spool lies on another file system, so that its dotlock can be
	// written and the full disk hits the UPDATE journal.
	spool := filepath.Join(t.TempDir(), "meg")
	e.cli("", "user", "mod", mboxUser, "--maildrop", "mbox:"+spool)

	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6))
	dir := filepath.Join(e.mailRoot, "example.com", "dan")
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{}     // stored form
	wantCRLF := map[string]string{} // transmitted form
	var mbox strings.Builder
	mboxWant := map[string]string{}
	for k := range 10 {
		id := "md." + string(rune('a'+k))
		m := message(r, id)
		if _, err := maildrop.Deliver(dir, []byte(m)); err != nil {
			t.Fatal(err)
		}
		want[id] = sha([]byte(m))
		wantCRLF[id] = sha([]byte(crlf(m)))
		id = "mb." + string(rune('a'+k))
		m = message(r, id)
		mboxWant[id] = sha([]byte(crlf(m)))
		mbox.WriteString("From sender@example.com Sat Nov 28 08:40:20 2026\n" + m + "\n")
	}
	if err := os.WriteFile(spool, []byte(mbox.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s := e.start("")
	// A first session of each user creates the session lock files (on a
	// full disk that first login answers -ERR [SYS/TEMP]).
	for _, up := range [][2]string{{user, pass}, {mboxUser, mboxPass}} {
		p := dialPOP3(t, s.addr("pop3"))
		if l := p.login(up[0], up[1]); !strings.HasPrefix(l, "+OK") {
			t.Fatalf("login %s: %q\n%s", up[0], l, s.log)
		}
		p.must("QUIT")
		p.Close()
	}
	filler := fill(t, root)

	// checkMaildir: every file on disk is an intact message.
	checkMaildir := func(stage string) int {
		n := 0
		for _, f := range maildirFiles(t, dir) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if id := idIn(t, b); sha(b) != want[id] {
				t.Fatalf("%s: message %s damaged", stage, id)
			}
			n++
		}
		return n
	}
	// session logs in, deletes message 1 and quits; it returns the
	// replies of PASS and QUIT.
	session := func(u, pw string, check map[string]string) (pass, quit string) {
		p := dialPOP3(t, s.addr("pop3"))
		defer p.Close()
		pass = p.login(u, pw)
		if !strings.HasPrefix(pass, "+OK") {
			return pass, ""
		}
		for num := range p.uidls() {
			m := p.retr(num)
			if sha([]byte(m)) != check[idIn(t, []byte(m))] {
				t.Fatalf("%s: message %d damaged", u, num)
			}
		}
		p.must("DELE 1")
		return pass, p.cmd("QUIT")
	}
	okOrTemp := func(what, l string) {
		if !strings.HasPrefix(l, "+OK") && !strings.HasPrefix(l, "-ERR [SYS/TEMP]") && l != "" {
			t.Errorf("disk full: %s answered %q", what, l)
		}
		t.Logf("disk full: %s answered %q", what, l)
	}

	// Disk full.
	before := checkMaildir("before")
	pl, ql := session(user, pass, wantCRLF)
	okOrTemp("Maildir PASS", pl)
	okOrTemp("Maildir QUIT", ql)
	after := checkMaildir("disk full")
	if strings.HasPrefix(ql, "+OK") && after != before-1 || !strings.HasPrefix(ql, "+OK") && after != before && after != before-1 {
		t.Errorf("disk full: Maildir has %d messages after QUIT %q (had %d)", after, ql, before)
	}
	fill(t, root) // the deletion may have freed space
	pl, ql = session(mboxUser, mboxPass, mboxWant)
	okOrTemp("mbox PASS", pl)
	okOrTemp("mbox QUIT", ql)
	if strings.HasPrefix(pl, "-ERR") {
		for _, l := range strings.Split(s.log.String(), "\n") {
			if strings.Contains(l, "level=ERROR") {
				t.Logf("server: %s", l)
			}
		}
	}
	mboxAfter, err := os.ReadFile(spool)
	if err != nil {
		t.Fatal(err)
	}
	if len(mboxAfter) != 0 && !strings.HasSuffix(string(mboxAfter), "\n\n") {
		t.Errorf("disk full: spool does not end in a blank line")
	}
	if strings.HasPrefix(ql, "+OK") == (string(mboxAfter) == mbox.String()) {
		t.Errorf("disk full: QUIT %q but the spool changed: %v", ql, string(mboxAfter) != mbox.String())
	}
	fill(t, root)
	got := passwdSession(t, s.addr("poppassd"), "user "+user, "pass "+pass, "newpass Full-pass 0002")
	last := got[len(got)-1]
	t.Logf("disk full: poppassd change answered %q", last)
	cur := pass
	switch {
	case len(got) == 4 && strings.HasPrefix(last, "200 "):
		cur = "Full-pass 0002"
	case strings.HasPrefix(last, "500 Server error"):
	default:
		t.Errorf("disk full: poppassd change answered %q", got)
	}

	// Free the space: everything works again and nothing was corrupted.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	integrity(t, e.db)
	if !e.authOK(user, cur) {
		t.Fatalf("password after the disk-full change is not the one its reply implies")
	}
	got = passwdSession(t, s.addr("poppassd"), "user "+user, "pass "+cur, "newpass Full-pass 0003")
	if len(got) != 4 || !strings.HasPrefix(got[3], "200 ") {
		t.Fatalf("change after freeing space: %q\n%s", got, s.log)
	}
	cur = "Full-pass 0003"
	before = checkMaildir("freed")
	pl, ql = session(user, cur, wantCRLF)
	if !strings.HasPrefix(pl, "+OK") || !strings.HasPrefix(ql, "+OK") {
		t.Fatalf("Maildir session after freeing space: %q %q\n%s", pl, ql, s.log)
	}
	if n := checkMaildir("freed"); n != before-1 {
		t.Fatalf("Maildir has %d messages after DELE+QUIT, want %d", n, before-1)
	}
	pl, ql = session(mboxUser, mboxPass, mboxWant)
	if !strings.HasPrefix(pl, "+OK") || !strings.HasPrefix(ql, "+OK") {
		t.Fatalf("mbox session after freeing space: %q %q\n%s", pl, ql, s.log)
	}
	if b, _ := os.ReadFile(spool); len(b) >= len(mboxAfter) || (len(b) != 0 && !strings.HasSuffix(string(b), "\n\n")) {
		t.Fatalf("mbox spool after DELE+QUIT: %d octets (before %d)", len(b), len(mboxAfter))
	}
	s.Stop()
}
