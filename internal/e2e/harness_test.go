// Package e2e drives the built popadm binary with real clients: curl,
// Python's poplib and fetchmail for POP3, raw sockets for poppassd. The
// binary comes from $POPADM_BIN (set by `make test`) or is built once into
// a temporary directory.
package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/maildrop"
	"github.com/popadm/popadm/internal/testkit"
	"github.com/popadm/popadm/internal/tlsutil"
)

// need skips the test when a client program is missing, except in CI,
// where .ci/run installs every client and a missing one is a failure.
func need(t *testing.T, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (.ci/run must install it)", prog)
		}
		t.Skipf("%s not installed", prog)
	}
	return p
}

// env is one running popadm with its database, mail root and certificate.
type env struct {
	t        *testing.T
	dir      string
	db       string
	mailRoot string
	cert     string
	key      string
	addrs    map[string][]string // the listeners of the last server started
	srv      *testkit.Server
	log      *testkit.SyncBuffer // the output of every server started
}

// newEnv prepares a database with domain example.com.
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, db: filepath.Join(dir, "auth.db"), mailRoot: filepath.Join(dir, "mail"),
		cert: filepath.Join(dir, "tls", "cert.pem"), key: filepath.Join(dir, "tls", "key.pem"),
		log: &testkit.SyncBuffer{}}
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

// addUser creates user with password using a fast scheme.
func (e *env) addUser(user, password string, extra ...string) {
	e.t.Helper()
	args := append([]string{"user", "add", user, "--password-stdin"}, extra...)
	e.cli(password+"\n", args...)
}

// maildir returns the Maildir path popadm serves for user@example.com.
func (e *env) maildir(local string) string {
	return filepath.Join(e.mailRoot, "example.com", local)
}

// deliver puts messages into a user's Maildir and returns their CRLF forms.
func (e *env) deliver(local string, msgs ...string) []string {
	e.t.Helper()
	dir := e.maildir(local)
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			e.t.Fatal(err)
		}
	}
	var crlf []string
	for _, m := range msgs {
		if _, err := maildrop.Deliver(dir, []byte(m)); err != nil {
			e.t.Fatal(err)
		}
		c := strings.ReplaceAll(strings.ReplaceAll(m, "\r\n", "\n"), "\n", "\r\n")
		if !strings.HasSuffix(c, "\r\n") {
			c += "\r\n"
		}
		crlf = append(crlf, c)
		time.Sleep(2 * time.Millisecond) // distinct delivery times keep the order obvious
	}
	return crlf
}

// start runs `popadm serve` on loopback ephemeral ports.
func (e *env) start(extra ...string) {
	e.t.Helper()
	ready := filepath.Join(e.dir, "ready.json")
	args := e.serveArgs(ready, append([]string{"--control-socket", "none"}, extra...)...)
	e.startCmd(exec.Command(testkit.Popadm(e.t), args...), ready)
}

// stop stops the running server, if any.
func (e *env) stop() {
	if e.srv == nil {
		return
	}
	e.srv.Stop()
	e.srv = nil
}

// logs returns the output of the servers started so far.
func (e *env) logs() string { return e.log.String() }

// waitLog waits until the server log contains every substring; the log
// reaches the test through a pipe, so it may trail the wire by a moment.
func (e *env) waitLog(subs ...string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, all := e.logs(), true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) addr(proto string) string {
	e.t.Helper()
	a := e.addrs[proto]
	if len(a) == 0 {
		e.t.Fatalf("no %s listener in %v", proto, e.addrs)
	}
	return a[0]
}

func (e *env) port(proto string) string {
	_, p, _ := net.SplitHostPort(e.addr(proto))
	return p
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// countFiles counts the messages in a Maildir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				n++
			}
		}
	}
	return n
}
