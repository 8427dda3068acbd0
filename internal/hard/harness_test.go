// Package hard holds the hardening tests of the built popadm binary
// (docs/hardening.md). Faults: processes killed in the middle of an UPDATE
// or a password change, a read-only or locked database, a full disk.
// Abuse: slowloris, floods, oversized and pipelined input, STLS injection,
// cross-protocol requests, TLS versions and ciphers, brute force, refusal
// timing. Load: thousands of sessions, a sustained mixed load. They run
// only when POPADM_HARD is set (scripts/test-hard.sh sets it); HARD=long
// runs hundreds of iterations instead of a few dozen. The binary comes
// from $POPADM_BIN or is built once into a temporary directory.
package hard

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/popadm/popadm/internal/testkit"
	"github.com/popadm/popadm/internal/tlsutil"
)

// hard skips the test unless POPADM_HARD is set.
func hard(t *testing.T) {
	t.Helper()
	if os.Getenv("POPADM_HARD") == "" {
		t.Skip("fault tests run only with POPADM_HARD set (scripts/test-hard.sh)")
	}
}

// iterations returns the loop count for the short or the long form
// (HARD=long).
func iterations(short, long int) int {
	if os.Getenv("HARD") == "long" {
		return long
	}
	return short
}

// needRoot skips the test unless it runs as root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// env is a database, a mail root and a journal directory under one
// directory.
type env struct {
	t        *testing.T
	dir      string
	db       string
	mailRoot string
	journal  string
	cert     string
	key      string
}

// newEnv prepares a database with domain example.com under dir (a new
// temporary directory when dir is empty).
func newEnv(t *testing.T, dir string) *env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	tlsDir := t.TempDir()
	e := &env{t: t, dir: dir, db: filepath.Join(dir, "db", "auth.db"), mailRoot: filepath.Join(dir, "mail"),
		journal: filepath.Join(dir, "journal"),
		cert:    filepath.Join(tlsDir, "cert.pem"), key: filepath.Join(tlsDir, "key.pem")}
	for _, d := range []string{filepath.Dir(e.db), e.mailRoot, e.journal} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := tlsutil.WriteSelfSigned(e.cert, e.key, false, "localhost", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	e.cli("", "db", "init")
	e.cli("", "domain", "add", "example.com")
	return e
}

// cli runs popadm with the environment's database and returns stdout.
func (e *env) cli(stdin string, args ...string) string {
	e.t.Helper()
	return testkit.CLI{T: e.t, DB: e.db}.Must(stdin, args...)
}

// run runs popadm with the environment's database.
func (e *env) run(stdin string, args ...string) (string, string, int) {
	e.t.Helper()
	return testkit.CLI{T: e.t, DB: e.db}.Run(stdin, args...)
}

// addUser creates user with password and a fast scheme.
func (e *env) addUser(user, password string, extra ...string) {
	e.t.Helper()
	args := append([]string{"user", "add", user, "--password-stdin", "--scheme", "SHA512-CRYPT"}, extra...)
	e.cli(password+"\n", args...)
}

// authOK reports whether password is the user's current password
// (popadm auth test exit 0; 77 is a refusal, anything else fails the test).
func (e *env) authOK(user, password string) bool {
	e.t.Helper()
	out, errOut, code := e.run(password+"\n", "auth", "test", user, "--password-stdin")
	switch code {
	case 0:
		return true
	case 77:
		return false
	}
	e.t.Fatalf("auth test %s: exit %d\n%s%s", user, code, out, errOut)
	return false
}

// auditRow is one row of popadm audit --json.
type auditRow struct {
	Service string `json:"service"`
	Action  string `json:"action"`
	Target  string `json:"target"`
	Result  string `json:"result"`
}

// passwdOK counts the "passwd ok" audit rows of user.
func (e *env) passwdOK(user string) int {
	e.t.Helper()
	out, errOut, code := e.run("", "audit", "--json", "--user", user, "--action", "passwd", "--limit", "100000")
	if code != 0 && code != 68 {
		e.t.Fatalf("audit: exit %d: %s", code, errOut)
	}
	var rows []auditRow
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			e.t.Fatalf("audit json: %v\n%s", err, out)
		}
	}
	n := 0
	for _, r := range rows {
		if r.Action == "passwd" && r.Result == "ok" {
			n++
		}
	}
	return n
}

// integrity runs PRAGMA integrity_check on a read-only connection.
func integrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("integrity_check %s: %v", path, err)
	}
	defer rows.Close()
	var res []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		res = append(res, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("integrity_check %s: %v", path, err)
	}
	if len(res) != 1 || res[0] != "ok" {
		t.Fatalf("integrity_check %s: %q", path, res)
	}
}

// server is one running popadm serve with its log.
type server struct {
	*testkit.Server
	t   *testing.T
	log *testkit.SyncBuffer
}

// start runs `popadm serve [service]` on loopback ephemeral ports, without
// metrics endpoint or control socket.
func (e *env) start(service string, extra ...string) *server {
	e.t.Helper()
	ready := filepath.Join(e.dir, fmt.Sprintf("ready-%d.json", time.Now().UnixNano()))
	args := []string{"--db", e.db, "serve"}
	if service != "" {
		args = append(args, service)
	}
	args = append(args,
		"--pop3-listen", "127.0.0.1:0", "--pop3s-listen", "127.0.0.1:0",
		"--poppassd-listen", "127.0.0.1:0", "--metrics-listen", "none", "--control-socket", "none",
		"--tls-cert", e.cert, "--tls-key", e.key,
		"--mail-location", "maildir:"+e.mailRoot+"/%d/%n",
		"--journal-dir", e.journal,
		"--scheme", "SHA512-CRYPT",
		"--failure-delay", "10ms", "--max-failure-delay", "50ms",
		"--verify-cache-ttl", "0",
		"--hostname", "localhost",
		"--ready-file", ready)
	args = append(args, extra...)
	s := &server{t: e.t, log: &testkit.SyncBuffer{}}
	s.Server = testkit.StartServer(e.t, exec.Command(testkit.Popadm(e.t), args...), ready, s.log)
	os.Remove(ready)
	return s
}

// addr returns the first listener address of proto.
func (s *server) addr(proto string) string {
	s.t.Helper()
	return s.Addr(s.t, proto)
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// crlf returns the transmitted form of a stored LF message.
func crlf(m string) string {
	c := strings.ReplaceAll(strings.ReplaceAll(m, "\r\n", "\n"), "\n", "\r\n")
	if !strings.HasSuffix(c, "\r\n") {
		c += "\r\n"
	}
	return c
}

// pop3c is a minimal POP3 client.
type pop3c struct{ *testkit.LineConn }

// dialPOP3 connects, gives the conversation 60 s and reads the greeting,
// which must be +OK.
func dialPOP3(t *testing.T, addr string) *pop3c {
	t.Helper()
	return &pop3c{testkit.DialGreeting(t, addr, "+OK", 60*time.Second)}
}

// cmd sends one command and returns the status line.
func (p *pop3c) cmd(format string, a ...any) string {
	return p.Cmd(fmt.Sprintf(format, a...))
}

// must sends a command and fails the test unless it answers +OK.
func (p *pop3c) must(format string, a ...any) string {
	p.T.Helper()
	return p.Expect(fmt.Sprintf(format, a...), "+OK")
}

// multi reads a multi-line body, dot-unstuffed, with CRLF line ends.
func (p *pop3c) multi() string {
	p.T.Helper()
	data, err := p.Multi()
	if err != nil {
		p.T.Fatalf("multi-line: %v", err)
	}
	return testkit.Unstuff(data)
}

// login logs in with USER/PASS and returns the PASS reply.
func (p *pop3c) login(user, pass string) string {
	if l := p.cmd("USER %s", user); !strings.HasPrefix(l, "+OK") {
		return l
	}
	return p.cmd("PASS %s", pass)
}

// uidls returns message number -> UIDL.
func (p *pop3c) uidls() map[int]string {
	p.T.Helper()
	p.must("UIDL")
	m := map[int]string{}
	for _, l := range strings.Split(strings.TrimSuffix(p.multi(), "\r\n"), "\r\n") {
		if l == "" {
			continue
		}
		var n int
		var u string
		if _, err := fmt.Sscanf(l, "%d %s", &n, &u); err != nil {
			p.T.Fatalf("UIDL line %q", l)
		}
		m[n] = u
	}
	return m
}

// retr returns message n in its transmitted form.
func (p *pop3c) retr(n int) string {
	p.T.Helper()
	p.must("RETR %d", n)
	return p.multi()
}

// passwdSession speaks poppassd for up to 30 s and returns the reply
// lines without their line ends; it stops at the first 500 reply.
func passwdSession(t *testing.T, addr string, lines ...string) []string {
	t.Helper()
	replies := testkit.PasswdSession(t, addr, 30*time.Second, lines...)
	for i, r := range replies {
		replies[i] = strings.TrimRight(r, "\r\n")
	}
	return replies
}

// mount mounts a tmpfs of size at dir and unmounts it at cleanup; it
// skips the test when mounting is impossible.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	needRoot(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v %s; lazy unmount", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
}
