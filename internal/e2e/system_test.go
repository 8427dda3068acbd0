package e2e

// System accounts end to end: the popadm binary built with -tags pam,
// checking passwords through real Linux-PAM stacks (pam_wrapper and its
// pam_matrix module, never the machine's own accounts) for real system
// users, and serving their /var/mail-style mbox spools; plus a throwaway
// Postfix that delivers into such a spool.
//
// These tests need root (they create system users with useradd, chown
// spools and run Postfix) and the Debian packages libpam0g-dev,
// libpam-wrapper and, for the Postfix test, postfix. They run only with
// POPADM_SYSTEM_TESTS=1 (scripts/test-system.sh sets it), so that the
// ordinary `go test ./...` does not run them. With CI set, a missing
// prerequisite is a failure, as in need().

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/testkit"
	"github.com/popadm/popadm/internal/tlsutil"
)

// pamMatrixModule is the pam_matrix path the service files in
// testdata/pam.d name (Debian, amd64).
const pamMatrixModule = "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so"

var (
	pamBuildOnce sync.Once
	pamBuiltBin  string
	pamBuildErr  error
)

// sysMissing skips the test, or fails it when CI is set.
func sysMissing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("system test prerequisite missing in CI: %s", msg)
	}
	t.Skipf("system test skipped: %s", msg)
}

// requireSystem skips the test unless POPADM_SYSTEM_TESTS=1, root and the
// PAM test packages are all there.
func requireSystem(t *testing.T) {
	t.Helper()
	if os.Getenv("POPADM_SYSTEM_TESTS") != "1" {
		t.Skip("system-account test: runs only with POPADM_SYSTEM_TESTS=1 (scripts/test-system.sh, as root)")
	}
	if os.Geteuid() != 0 {
		sysMissing(t, "needs root (creates system users, chowns spools, runs Postfix)")
	}
	for _, prog := range []string{"useradd", "userdel"} {
		if _, err := exec.LookPath(prog); err != nil {
			sysMissing(t, "%s not found", prog)
		}
	}
	if _, err := os.Stat(pamMatrixModule); err != nil {
		sysMissing(t, "pam_matrix not installed (Debian: apt-get install libpam-wrapper): %v", err)
	}
	if !havePAMWrapper() {
		sysMissing(t, "libpam_wrapper.so not found (Debian: apt-get install libpam-wrapper)")
	}
	if _, err := os.Stat("/usr/include/security/pam_appl.h"); err != nil {
		sysMissing(t, "PAM headers missing for the -tags pam build (Debian: apt-get install libpam0g-dev)")
	}
}

// havePAMWrapper reports whether the dynamic linker can find
// libpam_wrapper.so in one of the usual library directories.
func havePAMWrapper() bool {
	for _, pat := range []string{"/usr/lib/*/libpam_wrapper.so", "/usr/lib/libpam_wrapper.so",
		"/usr/lib64/libpam_wrapper.so", "/usr/local/lib/libpam_wrapper.so"} {
		if m, _ := filepath.Glob(pat); len(m) > 0 {
			return true
		}
	}
	return false
}

// pamBinary returns popadm built with -tags pam: $POPADM_PAM_BIN, or a
// build made once per test process.
func pamBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("POPADM_PAM_BIN"); b != "" {
		return b
	}
	pamBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "popadm-e2e-pam-bin")
		if err != nil {
			pamBuildErr = err
			return
		}
		pamBuiltBin = filepath.Join(dir, "popadm-pam")
		cmd := exec.Command("go", "build", "-tags", "pam", "-o", pamBuiltBin, "github.com/popadm/popadm/cmd/popadm")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			pamBuildErr = fmt.Errorf("go build -tags pam: %v\n%s", err, out)
		}
	})
	if pamBuildErr != nil {
		t.Fatal(pamBuildErr)
	}
	return pamBuiltBin
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// sysUser is a real system account made for one test.
type sysUser struct {
	name     string
	uid, gid int
}

// addSystemUser creates a system user without a home directory or a
// group of its own (useradd picks a UID of at least 1000) and deletes it
// when the test ends.
func addSystemUser(t *testing.T) sysUser {
	t.Helper()
	name := "popadm-e2e-" + randHex(t, 4)
	out, err := runBounded(30*time.Second, "", "useradd", "-M", "-N", "-s", "/usr/sbin/nologin", name)
	if err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := runBounded(30*time.Second, "", "userdel", name); err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if uid < 1000 {
		t.Fatalf("useradd gave %s uid %d, below 1000", name, uid)
	}
	return sysUser{name: name, uid: uid, gid: gid}
}

// mailGID returns the gid of group mail, or fallback without one.
func mailGID(fallback int) int {
	g, err := user.LookupGroup("mail")
	if err != nil {
		return fallback
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return fallback
	}
	return gid
}

// runBounded runs a command with stdin and a time limit and returns its
// combined output. Output goes through a file, not a pipe, so that a
// daemon the command leaves behind (postfix start) cannot hold it open.
func runBounded(limit time.Duration, stdin, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err := os.CreateTemp("", "popadm-e2e-cmd")
	if err != nil {
		return "", err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	b, _ := os.ReadFile(out.Name())
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: timed out after %v: %w", name, limit, err)
	}
	return string(b), err
}

// waitUntil polls cond until it holds or limit passes.
func waitUntil(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sysEnv is a popadm-pam server over system accounts: PAM through
// pam_wrapper with the service files in testdata/pam.d and the pam_matrix
// password file passdb, mail from mbox spools in spool.
type sysEnv struct {
	*env
	passdb  string
	spool   string
	journal string
}

// newSysEnv prepares the directories, a certificate and a spool
// directory with the Debian /var/mail permissions (2775 root:mail).
func newSysEnv(t *testing.T) *sysEnv {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, db: filepath.Join(dir, "auth.db"),
		cert: filepath.Join(dir, "tls", "cert.pem"), key: filepath.Join(dir, "tls", "key.pem"),
		log: &testkit.SyncBuffer{}}
	if err := tlsutil.WriteSelfSigned(e.cert, e.key, false, "localhost", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	s := &sysEnv{env: e, passdb: filepath.Join(dir, "passdb"), spool: filepath.Join(dir, "spool"),
		journal: filepath.Join(dir, "journal")}
	if err := os.Mkdir(s.spool, 0o775); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(s.spool, 0, mailGID(0)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.spool, 0o775|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	return s
}

// writePassdb writes the pam_matrix password file, one user:password:service
// line each.
func (s *sysEnv) writePassdb(lines ...string) {
	s.t.Helper()
	if err := os.WriteFile(s.passdb, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// start runs `popadm-pam serve --auth pam` on loopback ephemeral ports,
// with pam_wrapper preloaded into the server process only.
func (s *sysEnv) start(extra ...string) {
	t := s.t
	t.Helper()
	pamDir, err := filepath.Abs(filepath.Join("testdata", "pam.d"))
	if err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(s.dir, "ready.json")
	args := []string{"--db", s.db, "serve", "--auth", "pam",
		"--system-mail-location", "mbox:" + s.spool + "/%u",
		"--journal-dir", s.journal,
		"--pop3-listen", "127.0.0.1:0", "--pop3s-listen", "127.0.0.1:0",
		"--poppassd-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
		"--tls-cert", s.cert, "--tls-key", s.key,
		"--failure-delay", "50ms", "--max-failure-delay", "200ms",
		"--hostname", "localhost",
		"--ready-file", ready}
	args = append(args, extra...)
	cmd := exec.Command(pamBinary(t), args...)
	cmd.Env = append(os.Environ(), "LD_PRELOAD=libpam_wrapper.so", "PAM_WRAPPER=1",
		"PAM_WRAPPER_SERVICE_DIR="+pamDir, "PAM_MATRIX_PASSWD="+s.passdb)
	s.startCmd(cmd, ready)
}

// restart stops the server and starts it again with other flags.
func (s *sysEnv) restart(extra ...string) {
	s.t.Helper()
	s.stop()
	s.start(extra...)
}

// mboxEntry is one message of an mbox spool: the From_ line's sender and
// the message as stored (LF line ends, ending in LF).
type mboxEntry struct{ sender, text string }

// mboxText is the spool form: From_ line, message, separator line.
func (m mboxEntry) mboxText() string {
	return "From " + m.sender + "  Sat Nov 28 06:19:19 2026\n" + m.text + "\n"
}

// wire is the message as POP3 sends it, before dot-stuffing.
func (m mboxEntry) wire() string { return strings.ReplaceAll(m.text, "\n", "\r\n") }

// dotStuff applies RFC 1939 byte-stuffing to CRLF text.
func dotStuff(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\r\n") {
		if strings.HasPrefix(l, ".") {
			b.WriteByte('.')
		}
		b.WriteString(l)
	}
	return b.String()
}

// multi sends a command with a multi-line reply and returns the status
// line and the raw data lines (CRLF, still dot-stuffed) before the final ".".
func (p *pop3Conn) multi(cmd string) (string, string) {
	p.T.Helper()
	status := p.Cmd(cmd)
	if !strings.HasPrefix(status, "+OK") {
		return status, ""
	}
	data, err := p.Multi()
	if err != nil {
		p.T.Fatalf("%s: %v after %q", cmd, err, data)
	}
	return status, data
}

var uidlLineRE = regexp.MustCompile(`^(\d+) ([\x21-\x7e]{1,70})\r\n$`)

// uidls returns the unique-ids of a UIDL listing in order.
func uidls(t *testing.T, listing string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.SplitAfter(listing, "\r\n") {
		if l == "" {
			continue
		}
		m := uidlLineRE.FindStringSubmatch(l)
		if m == nil || m[1] != strconv.Itoa(len(out)+1) {
			t.Fatalf("bad UIDL line %q in %q", l, listing)
		}
		out = append(out, m[2])
	}
	return out
}

// passReply logs in with USER/PASS on a new connection and returns the
// reply to PASS.
func passReply(t *testing.T, addr, name, password string) string {
	t.Helper()
	p := dialPOP3(t, addr)
	defer p.C.Close()
	if r := p.Cmd("USER " + name); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("USER %s: %q", name, r)
	}
	return p.Cmd("PASS " + password)
}

// fileID is what an in-place rewrite of a spool must keep.
type fileID struct {
	ino      uint64
	uid, gid uint32
	mode     os.FileMode
}

func statID(t *testing.T, path string) fileID {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fileID{ino: st.Ino, uid: st.Uid, gid: st.Gid, mode: fi.Mode()}
}

// writeSpool writes an mbox spool owned by the user, as Postfix leaves it:
// mode 0600, group mail.
func writeSpool(t *testing.T, path string, u sysUser, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, u.uid, mailGID(u.gid)); err != nil {
		t.Fatal(err)
	}
}

// TestPAMSystemAccount serves a real system user's mbox spool after PAM
// logins, and changes that user's PAM password over poppassd.
func TestPAMSystemAccount(t *testing.T) {
	requireSystem(t)
	pamBinary(t)
	u := addSystemUser(t)
	s := newSysEnv(t)
	const (
		pw1, pw2, pw3 = "Old-sys pass 1", "New-sys pass 2", "Third-sys pass 3"
		ghostPW       = "Ghost-pass 9"
		rootPW        = "Root-pass 8"
	)
	// A name with a pam_matrix line but no passwd entry, and root, which is
	// denied even with its right password.
	ghost := "popadm-e2e-ghost-" + randHex(t, 3)
	// One line per user; every line names popadm-passwd, the service whose
	// pam_matrix account phase checks it. The POP3 stack
	// (testdata/pam.d/popadm-pop3) leaves its account phase to pam_permit,
	// so the same line also admits POP3 logins.
	s.writePassdb(u.name+":"+pw1+":popadm-passwd", ghost+":"+ghostPW+":popadm-passwd", "root:"+rootPW+":popadm-passwd")

	msgs := []mboxEntry{
		{"a@example.net", "From: a@example.net\nSubject: one\nMessage-ID: <one@example.net>\n\nfirst body\n>From the start of a line\n.a leading dot\nlast\n"},
		{"b@example.net", "From: b@example.net\nSubject: two\nMessage-ID: <two@example.net>\n\nsecond body\n"},
	}
	spoolPath := filepath.Join(s.spool, u.name)
	writeSpool(t, spoolPath, u, msgs[0].mboxText()+msgs[1].mboxText())
	s.start()
	pop, pp := s.addr("pop3"), s.addr("poppassd")

	var firstUIDs []string
	t.Run("login STAT LIST RETR UIDL", func(t *testing.T) {
		p := dialPOP3(t, pop)
		defer p.C.Close()
		p.login(u.name, pw1)
		total := len(msgs[0].wire()) + len(msgs[1].wire())
		if r, want := p.Cmd("STAT"), fmt.Sprintf("+OK 2 %d", total); r != want {
			t.Fatalf("STAT = %q, want %q", r, want)
		}
		_, list := p.multi("LIST")
		if want := fmt.Sprintf("1 %d\r\n2 %d\r\n", len(msgs[0].wire()), len(msgs[1].wire())); list != want {
			t.Fatalf("LIST = %q, want %q", list, want)
		}
		for i, m := range msgs {
			st, body := p.multi(fmt.Sprintf("RETR %d", i+1))
			if !strings.HasPrefix(st, "+OK") {
				t.Fatalf("RETR %d: %q", i+1, st)
			}
			// Byte-exact: CRLF, ">From " as stored (never unquoted), the
			// leading dot stuffed on the wire.
			if want := dotStuff(m.wire()); body != want {
				t.Fatalf("RETR %d = %q, want %q", i+1, body, want)
			}
		}
		_, l := p.multi("UIDL")
		firstUIDs = uidls(t, l)
		if len(firstUIDs) != 2 || firstUIDs[0] == firstUIDs[1] {
			t.Fatalf("UIDL = %q", l)
		}
		if r := p.Cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
			t.Fatalf("QUIT: %q", r)
		}
		q := dialPOP3(t, pop)
		defer q.C.Close()
		q.login(u.name, pw1)
		if _, l2 := q.multi("UIDL"); strings.Join(uidls(t, l2), " ") != strings.Join(firstUIDs, " ") {
			t.Fatalf("UIDL changed between sessions: %q, then %q", l, l2)
		}
		q.Cmd("QUIT")
	})

	t.Run("DELE and QUIT rewrite the spool in place", func(t *testing.T) {
		if len(firstUIDs) != 2 {
			t.Fatal("needs the unique-ids the first subtest reads")
		}
		before := statID(t, spoolPath)
		p := dialPOP3(t, pop)
		defer p.C.Close()
		p.login(u.name, pw1)
		if r := p.Cmd("DELE 1"); !strings.HasPrefix(r, "+OK") {
			t.Fatalf("DELE 1: %q", r)
		}
		if r := p.Cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
			t.Fatalf("QUIT: %q", r)
		}
		got, err := os.ReadFile(spoolPath)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != msgs[1].mboxText() {
			t.Fatalf("spool after DELE 1 = %q, want exactly %q", got, msgs[1].mboxText())
		}
		if !bytes.HasSuffix(got, []byte("\n\n")) {
			t.Fatalf("spool does not end in an empty line: %q", got)
		}
		if after := statID(t, spoolPath); after != before {
			t.Fatalf("spool identity changed: %+v, was %+v", after, before)
		}
		ents, err := os.ReadDir(s.spool)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 {
			t.Fatalf("spool directory holds %d entries (a dotlock left behind?): %v", len(ents), ents)
		}
		q := dialPOP3(t, pop)
		defer q.C.Close()
		q.login(u.name, pw1)
		_, l := q.multi("UIDL")
		if ids := uidls(t, l); len(ids) != 1 || ids[0] != firstUIDs[1] {
			t.Fatalf("UIDL after the rewrite = %q, want 1 %s", l, firstUIDs[1])
		}
		q.Cmd("QUIT")
	})

	t.Run("refusals are indistinguishable", func(t *testing.T) {
		const want = "-ERR [AUTH] authentication failed"
		cases := []struct{ what, name, pw string }{
			{"wrong password", u.name, "wrong-pass"},
			{"unknown user", "popadm-e2e-nobody-" + randHex(t, 3), "wrong-pass"},
			{"pam_matrix user without a passwd entry, right password", ghost, ghostPW},
			{"root, right password", "root", rootPW},
		}
		for _, c := range cases {
			if r := passReply(t, pop, c.name, c.pw); r != want {
				t.Errorf("%s: %q, want %q", c.what, r, want)
			}
		}
		if !s.waitLog("no usable passwd entry", "is on the deny list") {
			t.Fatalf("log lacks the refusal causes:\n%s", s.logs())
		}
		a := passwdSession(t, pp, "user "+u.name, "pass wrong-pass")
		b := passwdSession(t, pp, "user popadm-e2e-nobody-"+randHex(t, 3), "pass wrong-pass")
		if strings.Join(a, "") != strings.Join(b, "") || !strings.HasPrefix(a[len(a)-1], "500 ") {
			t.Fatalf("poppassd replies differ or accept:\n%q\n%q", a, b)
		}
	})

	t.Run("poppassd change then POP3 login", func(t *testing.T) {
		got := passwdSession(t, pp, "user "+u.name, "pass "+pw1, "newpass "+pw2)
		want := []string{"200 poppassd v", "200 Your password please.", "200 Your new password please.", "200 Password changed, thank-you."}
		if len(got) != len(want) {
			t.Fatalf("replies %q\n%s", got, s.logs())
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				t.Fatalf("reply %d = %q, want %q", i, got[i], want[i])
			}
		}
		// pam_matrix's pam_chauthtok rewrote its password file: only the
		// user's password changed.
		db, err := os.ReadFile(s.passdb)
		if err != nil {
			t.Fatal(err)
		}
		wantDB := u.name + ":" + pw2 + ":popadm-passwd\n" + ghost + ":" + ghostPW + ":popadm-passwd\nroot:" + rootPW + ":popadm-passwd\n"
		if string(db) != wantDB {
			t.Fatalf("passdb after the change = %q, want %q", db, wantDB)
		}
		p := dialPOP3(t, pop)
		defer p.C.Close()
		p.login(u.name, pw2)
		if r := p.Cmd("STAT"); r != fmt.Sprintf("+OK 1 %d", len(msgs[1].wire())) {
			t.Fatalf("STAT with the new password: %q", r)
		}
		p.Cmd("QUIT")
		if r := passReply(t, pop, u.name, pw1); r != "-ERR [AUTH] authentication failed" {
			t.Fatalf("old password after the change: %q", r)
		}
	})

	// Restarts happen outside the subtests: the server belongs to the
	// whole test.
	s.restart("--pam-min-uid", strconv.Itoa(u.uid+1))
	pop = s.addr("pop3")
	t.Run("below the minimum UID", func(t *testing.T) {
		right := passReply(t, pop, u.name, pw2)
		wrong := passReply(t, pop, u.name, "wrong-pass")
		if right != wrong || right != "-ERR [AUTH] authentication failed" {
			t.Fatalf("right password below the minimum UID: %q; wrong password: %q", right, wrong)
		}
		if !s.waitLog("is below the minimum") {
			t.Fatalf("log lacks the cause:\n%s", s.logs())
		}
	})

	// pam_acct_mgmt answers PAM_NEW_AUTHTOK_REQD for logins and for
	// poppassd, which may still change the password.
	s.restart("--pam-service", "popadm-expired", "--pam-passwd-service", "popadm-expired")
	pop, pp = s.addr("pop3"), s.addr("poppassd")
	t.Run("expired password", func(t *testing.T) {
		if r := passReply(t, pop, u.name, pw2); !strings.HasPrefix(r, "-ERR [AUTH] password expired") {
			t.Fatalf("right password, expired: %q", r)
		}
		if r := passReply(t, pop, u.name, "wrong-pass"); r != "-ERR [AUTH] authentication failed" {
			t.Fatalf("wrong password, expired: %q", r)
		}
		got := passwdSession(t, pp, "user "+u.name, "pass "+pw2, "newpass "+pw3)
		if len(got) != 4 || !strings.HasPrefix(got[3], "200 ") {
			t.Fatalf("changing an expired password: %q\n%s", got, s.logs())
		}
		db, err := os.ReadFile(s.passdb)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(db), u.name+":"+pw3+":popadm-passwd\n") {
			t.Fatalf("passdb after changing the expired password = %q", db)
		}
	})

	// popadm-strict's pam_matrix account phase admits only lines naming
	// popadm-strict; this user's names popadm-passwd.
	s.restart("--pam-service", "popadm-strict")
	pop = s.addr("pop3")
	t.Run("account refused by pam_acct_mgmt", func(t *testing.T) {
		if r := passReply(t, pop, u.name, pw3); r != "-ERR [AUTH] account disabled" {
			t.Fatalf("right password, account refused: %q", r)
		}
		if r := passReply(t, pop, u.name, "wrong-pass"); r != "-ERR [AUTH] authentication failed" {
			t.Fatalf("wrong password, account refused: %q", r)
		}
	})

	for _, secret := range []string{pw1, pw2, pw3, ghostPW, rootPW, "wrong-pass"} {
		if strings.Contains(s.logs(), secret) {
			t.Fatalf("a password reached the log:\n%s", s.logs())
		}
	}
}

// postfixInst is a throwaway Postfix with its own configuration, queue and
// spool directories (docs: mbox-spool.md §5), without an SMTP listener.
type postfixInst struct {
	dir, conf, spool, maillog string
}

// startPostfix configures and starts a Postfix that delivers local mail
// for mbxtest.localdomain and localhost into dir/spool, and stops it when
// the test ends.
func startPostfix(t *testing.T) *postfixInst {
	t.Helper()
	dir, err := os.MkdirTemp("", "popadm-e2e-postfix")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// local(8) runs as the recipient and must reach the spool.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pf := &postfixInst{dir: dir, conf: filepath.Join(dir, "conf"), spool: filepath.Join(dir, "spool"),
		maillog: filepath.Join(dir, "maillog")}
	for _, d := range []string{"conf", "queue", "data", "spool"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pu, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("postfix user: %v", err)
	}
	puid, _ := strconv.Atoi(pu.Uid)
	// The data directory must belong to postfix (master.lock).
	if err := os.Chown(filepath.Join(dir, "data"), puid, -1); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(pf.spool, 0, mailGID(0)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(pf.spool, 0o775|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	master, err := os.ReadFile("/usr/share/postfix/master.cf.dist")
	if err != nil {
		sysMissing(t, "postfix master.cf template: %v", err)
	}
	if err := os.WriteFile(filepath.Join(pf.conf, "master.cf"), master, 0o644); err != nil {
		t.Fatal(err)
	}
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
myhostname = mbxtest.localdomain
mydestination = $myhostname, localhost
inet_interfaces = loopback-only
alias_maps =
alias_database =
local_recipient_maps = unix:passwd.byname
mail_spool_directory = %[1]s/spool
default_transport = error:outbound disabled in test
relay_transport = error:outbound disabled in test
biff = no
maillog_file = %[1]s/maillog
maillog_file_prefixes = /var, /dev/stdout, %[1]s
`, dir)
	if err := os.WriteFile(filepath.Join(pf.conf, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	// No chroot, and no smtp listener on port 25.
	for _, args := range [][]string{{"-c", pf.conf, "-F", "*/*/chroot = n"}, {"-c", pf.conf, "-M#", "smtp/inet"}} {
		if out, err := runBounded(30*time.Second, "", "postconf", args...); err != nil {
			t.Fatalf("postconf %v: %v\n%s", args, err, out)
		}
	}
	out, err := runBounded(30*time.Second, "", "postfix", "-c", pf.conf, "start")
	if err != nil {
		t.Fatalf("postfix start: %v\n%s\nmaillog:\n%s", err, out, pf.log())
	}
	t.Cleanup(func() { pf.stop(t) })
	if !waitUntil(20*time.Second, func() bool { return strings.Contains(pf.log(), "daemon started") }) {
		t.Fatalf("postfix master did not start; postfix start said:\n%s\nmaillog:\n%s", out, pf.log())
	}
	return pf
}

func (pf *postfixInst) log() string {
	b, _ := os.ReadFile(pf.maillog)
	return string(b)
}

// stop stops Postfix and waits (bounded) for its master to exit.
func (pf *postfixInst) stop(t *testing.T) {
	lock, _ := os.ReadFile(filepath.Join(pf.dir, "data", "master.lock"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(lock)))
	if out, err := runBounded(30*time.Second, "", "postfix", "-c", pf.conf, "stop"); err != nil {
		t.Errorf("postfix stop: %v\n%s", err, out)
	}
	if pid > 0 && !waitUntil(15*time.Second, func() bool { return syscall.Kill(pid, 0) != nil }) {
		t.Errorf("postfix master %d still running after stop", pid)
	}
}

// send submits a message with Postfix's sendmail (-i: a lone "." is text).
func (pf *postfixInst) send(t *testing.T, rcpt, msg string) {
	t.Helper()
	out, err := runBounded(30*time.Second, msg, "sendmail", "-i", "-C", pf.conf, "-f", "s@example.com", rcpt)
	if err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}
}

// waitDelivered waits until the log shows n deliveries to a mailbox and
// fails at once on a bounce or deferral.
func (pf *postfixInst) waitDelivered(t *testing.T, n int) {
	t.Helper()
	var bad string
	ok := waitUntil(30*time.Second, func() bool {
		l := pf.log()
		if strings.Contains(l, "status=bounced") || strings.Contains(l, "status=deferred") {
			bad = l
			return true
		}
		return strings.Count(l, "status=sent (delivered to mailbox)") >= n
	})
	if !ok || bad != "" {
		t.Fatalf("postfix did not deliver %d message(s); maillog:\n%s", n, pf.log())
	}
}

// TestPostfixDeliversToSpool lets a real Postfix deliver into an mbox
// spool, serves it over POP3 to a PAM user, and checks that the spool
// popadm rewrote still takes Postfix's next delivery.
func TestPostfixDeliversToSpool(t *testing.T) {
	requireSystem(t)
	curl := need(t, "curl")
	for _, prog := range []string{"postfix", "postconf", "sendmail"} {
		if _, err := exec.LookPath(prog); err != nil {
			sysMissing(t, "%s not found (Debian: apt-get install postfix)", prog)
		}
	}
	if _, err := user.Lookup("postfix"); err != nil {
		sysMissing(t, "no postfix user (is Postfix installed?)")
	}
	pamBinary(t) // a failing build fails before Postfix starts
	u := addSystemUser(t)
	pf := startPostfix(t)

	marker := randHex(t, 6)
	rcpt := u.name + "@localhost"
	// Body: Postfix writes mboxo and quotes the first line to ">From ";
	// the second is already quoted and stays as it is. The X-UIDL header
	// is the sender's and must not become the UIDL.
	msg := "From: Sender <s@example.com>\nTo: " + rcpt + "\nSubject: postfix delivery " + marker +
		"\nDate: Sat, 28 Nov 2026 06:19:19 +0000\nMessage-ID: <" + marker + "@example.com>\nX-UIDL: forged-" + marker +
		"\n\nFrom here on Postfix quotes this line.\n>From this line was quoted already.\n.a leading dot\nlast line\n"
	pf.send(t, rcpt, msg)
	pf.waitDelivered(t, 1)
	spoolPath := filepath.Join(pf.spool, u.name)
	raw, err := os.ReadFile(spoolPath)
	if err != nil {
		t.Fatalf("no spool after delivery: %v\n%s", err, pf.log())
	}
	if !strings.Contains(string(raw), "\n>From here on Postfix quotes this line.\n") {
		t.Fatalf("spool as Postfix wrote it: %q", raw)
	}
	before := statID(t, spoolPath)
	if before.uid != uint32(u.uid) {
		t.Fatalf("postfix made the spool owned by uid %d, want %d", before.uid, u.uid)
	}

	s := newSysEnv(t)
	s.spool = pf.spool
	const pw = "Postfix-user pass 1"
	s.writePassdb(u.name + ":" + pw + ":popadm-passwd")
	s.start()
	base := "pop3://127.0.0.1:" + s.port("pop3") + "/"
	cargs := func(extra ...string) []string {
		return append([]string{"-sS", "--max-time", "20", "--user", u.name + ":" + pw}, extra...)
	}
	curlOut := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(curl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s\nserver log:\n%s", args, err, out, s.logs())
		}
		return string(out)
	}

	got := curlOut(cargs(base + "1")...)
	wantBody := "\r\n\r\n>From here on Postfix quotes this line.\r\n>From this line was quoted already.\r\n.a leading dot\r\nlast line\r\n"
	if !strings.HasSuffix(got, wantBody) {
		t.Fatalf("RETR 1 = %q, want it to end with %q", got, wantBody)
	}
	for _, h := range []string{"Return-Path: <s@example.com>\r\n", "Delivered-To: " + rcpt + "\r\n",
		"Subject: postfix delivery " + marker + "\r\n", "X-UIDL: forged-" + marker + "\r\n"} {
		if !strings.Contains(got, h) {
			t.Fatalf("RETR 1 lacks %q: %q", h, got)
		}
	}
	if strings.HasPrefix(got, "From ") {
		t.Fatalf("RETR 1 includes the From_ line: %q", got)
	}
	if list := curlOut(cargs(base)...); list != fmt.Sprintf("1 %d\r\n", len(got)) {
		t.Fatalf("LIST = %q, RETR gave %d octets", list, len(got))
	}
	ul := curlOut(cargs("-X", "UIDL", base)...)
	ids := uidls(t, ul)
	if len(ids) != 1 || strings.Contains(ids[0], "forged") || strings.Contains(ids[0], marker) {
		t.Fatalf("UIDL = %q: taken from the X-UIDL header", ul)
	}

	// DELE + QUIT empties the spool in place; Postfix then delivers into
	// the same file.
	p := dialPOP3(t, s.addr("pop3"))
	p.login(u.name, pw)
	if r := p.Cmd("DELE 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("DELE 1: %q", r)
	}
	if r := p.Cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("QUIT: %q", r)
	}
	p.C.Close()
	if fi, err := os.Stat(spoolPath); err != nil || fi.Size() != 0 {
		t.Fatalf("spool after deleting its only message: %v, %v", fi, err)
	}
	if after := statID(t, spoolPath); after != before {
		t.Fatalf("spool identity changed: %+v, was %+v", after, before)
	}
	marker2 := randHex(t, 6)
	pf.send(t, rcpt, "Subject: second "+marker2+"\n\nsecond body\n")
	pf.waitDelivered(t, 2)
	raw, err = os.ReadFile(spoolPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), "From s@example.com ") || strings.Count(string(raw), "\nFrom ") != 0 {
		t.Fatalf("spool after the second delivery: %q", raw)
	}
	if after := statID(t, spoolPath); after.ino != before.ino || after.uid != before.uid {
		t.Fatalf("postfix replaced the spool: %+v, was %+v", after, before)
	}
	got2 := curlOut(cargs(base + "1")...)
	if !strings.Contains(got2, "Subject: second "+marker2+"\r\n") || !strings.HasSuffix(got2, "\r\n\r\nsecond body\r\n") {
		t.Fatalf("RETR 1 after the second delivery = %q", got2)
	}
	if ids2 := uidls(t, curlOut(cargs("-X", "UIDL", base)...)); len(ids2) != 1 || ids2[0] == ids[0] {
		t.Fatalf("UIDL of the new message = %v, old %v", ids2, ids)
	}
}
