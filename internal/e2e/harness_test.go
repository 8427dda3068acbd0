// Package e2e drives the built popadm binary with real clients: curl,
// Python's poplib and fetchmail for POP3, raw sockets for poppassd. The
// binary comes from $POPADM_BIN (set by `make test`) or is built once into
// a temporary directory.
package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/maildrop"
	"github.com/popadm/popadm/internal/tlsutil"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// binary returns the popadm binary to test.
func binary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("POPADM_BIN"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "popadm-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "popadm")
		out, err := exec.Command("go", "build", "-o", builtBin, "github.com/popadm/popadm/cmd/popadm").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

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
	addrs    map[string][]string
	cmd      *exec.Cmd
	log      *bytes.Buffer
	logMu    *sync.Mutex
}

// newEnv prepares a database with domain example.com.
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, db: filepath.Join(dir, "auth.db"), mailRoot: filepath.Join(dir, "mail"),
		cert: filepath.Join(dir, "tls", "cert.pem"), key: filepath.Join(dir, "tls", "key.pem"),
		log: &bytes.Buffer{}, logMu: &sync.Mutex{}}
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
	out, errOut, code := e.run(stdin, args...)
	if code != 0 {
		e.t.Fatalf("popadm %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return out
}

func (e *env) run(stdin string, args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(binary(e.t), append([]string{"--db", e.db}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return so.String(), se.String(), code
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
	os.Remove(ready)
	args := []string{"--db", e.db, "serve",
		"--pop3-listen", "127.0.0.1:0", "--pop3s-listen", "127.0.0.1:0",
		"--poppassd-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--control-socket", "none",
		"--tls-cert", e.cert, "--tls-key", e.key,
		"--mail-location", "maildir:" + e.mailRoot + "/%d/%n",
		"--failure-delay", "50ms", "--max-failure-delay", "200ms",
		"--hostname", "localhost",
		"--ready-file", ready}
	args = append(args, extra...)
	cmd := exec.Command(binary(e.t), args...)
	w := &lockedWriter{mu: e.logMu, b: e.log}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.cmd = cmd
	e.t.Cleanup(e.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil && len(b) > 0 && json.Unmarshal(b, &e.addrs) == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("server did not become ready; log:\n%s", e.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	e.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		e.cmd.Process.Kill()
		<-done
	}
	e.cmd = nil
}

func (e *env) logs() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.log.String()
}

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

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
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
