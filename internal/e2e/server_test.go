package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/testkit"
	"github.com/popadm/popadm/internal/tlsutil"
)

// pop3Conn is a minimal POP3 client for tests that need exact replies.
type pop3Conn struct{ *testkit.LineConn }

// dialPOP3 connects, gives the conversation 30 s and reads the greeting,
// which must be +OK.
func dialPOP3(t *testing.T, addr string) *pop3Conn {
	t.Helper()
	return &pop3Conn{testkit.DialGreeting(t, addr, "+OK", 30*time.Second)}
}

// login logs in with USER/PASS and fails the test unless both answer
// +OK.
func (p *pop3Conn) login(user, pass string) {
	p.T.Helper()
	p.Expect("USER "+user, "+OK")
	p.Expect("PASS "+pass, "+OK")
}

// TestInUse: a second session on a locked maildrop gets [IN-USE], with a
// text fetchmail reads as "busy", and works once the first one quits.
func TestInUse(t *testing.T) {
	e := newEnv(t)
	e.addUser("fay@example.com", "Fay-pass 1", "--scheme", "SHA512-CRYPT")
	e.deliver("fay", sampleMessages[0])
	e.start()
	a := dialPOP3(t, e.addr("pop3"))
	a.login("fay@example.com", "Fay-pass 1")
	b := dialPOP3(t, e.addr("pop3"))
	b.Cmd("USER fay@example.com")
	r := b.Cmd("PASS Fay-pass 1")
	if !strings.HasPrefix(r, "-ERR [IN-USE]") || !strings.Contains(r, "lock") {
		t.Fatalf("second session got %q", r)
	}
	a.Cmd("QUIT")
	c := dialPOP3(t, e.addr("pop3"))
	c.login("fay@example.com", "Fay-pass 1")
	if r := c.Cmd("STAT"); !strings.HasPrefix(r, "+OK 1 ") {
		t.Fatalf("STAT after unlock: %q", r)
	}
}

// TestThrottleLoginDelay: after the per-address failure limit the server
// answers [LOGIN-DELAY] before checking credentials, and the texts of
// ordinary failures never contain "lock" or "wait" (fetchmail would stop
// polling).
func TestThrottleLoginDelay(t *testing.T) {
	e := newEnv(t)
	e.addUser("gus@example.com", "Gus-pass 1", "--scheme", "SHA512-CRYPT")
	e.start("--ip-fail-limit", "2")
	for i := range 2 {
		p := dialPOP3(t, e.addr("pop3"))
		p.Cmd("USER gus@example.com")
		r := p.Cmd(fmt.Sprintf("PASS wrong%d", i))
		if r != "-ERR [AUTH] authentication failed" {
			t.Fatalf("failure %d: %q", i, r)
		}
		low := strings.ToLower(r)
		if strings.Contains(low, "lock") || strings.Contains(low, "wait") {
			t.Fatalf("auth failure text %q would stop fetchmail", r)
		}
	}
	p := dialPOP3(t, e.addr("pop3"))
	p.Cmd("USER gus@example.com")
	if r := p.Cmd("PASS Gus-pass 1"); !strings.HasPrefix(r, "-ERR [LOGIN-DELAY]") {
		t.Fatalf("throttled attempt got %q", r)
	}
	if !e.waitLog("reason=throttled") {
		t.Fatalf("no throttled log line:\n%s", e.logs())
	}
}

// TestSIGTERMNoUpdate: SIGTERM ends a session that has marked a message
// deleted without removing it (RFC 1939 §6: no UPDATE without QUIT).
func TestSIGTERMNoUpdate(t *testing.T) {
	e := newEnv(t)
	e.addUser("hal@example.com", "Hal-pass 1", "--scheme", "SHA512-CRYPT")
	e.deliver("hal", sampleMessages...)
	e.start()
	p := dialPOP3(t, e.addr("pop3"))
	p.login("hal@example.com", "Hal-pass 1")
	if r := p.Cmd("DELE 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("DELE: %q", r)
	}
	e.srv.Signal(syscall.SIGTERM)
	select {
	case <-e.srv.Done():
		if err := e.srv.Err(); err != nil {
			t.Fatalf("server exit after SIGTERM: %v\n%s", err, e.logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop on SIGTERM")
	}
	if n := countFiles(t, e.maildir("hal")); n != len(sampleMessages) {
		t.Fatalf("%d messages after SIGTERM, want %d (nothing deleted)", n, len(sampleMessages))
	}
	if _, err := os.Stat(e.maildir("hal") + "/popadm.lock"); err == nil {
		t.Log("lock file left behind (acceptable only if stale-lock handling removes it)")
	}
}

// TestSIGHUPReloadsCertificate replaces the certificate files, sends
// SIGHUP, and checks that a new POP3S handshake gets the new certificate
// while a session opened before keeps working.
func TestSIGHUPReloadsCertificate(t *testing.T) {
	e := newEnv(t)
	e.addUser("ivy@example.com", "Ivy-pass 1", "--scheme", "SHA512-CRYPT")
	e.start()
	dial := func() (*tls.Conn, []byte) {
		c, err := tls.Dial("tcp", e.addr("pop3s"), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		return c, c.ConnectionState().PeerCertificates[0].Raw
	}
	old, oldCert := dial()
	defer old.Close()
	r := bufio.NewReader(old)
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("greeting %q", l)
	}
	if err := tlsutil.WriteSelfSigned(e.cert, e.key, true, "localhost", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	e.srv.Signal(syscall.SIGHUP)
	if !e.waitLog("certificate reloaded") {
		t.Fatalf("no reload in log:\n%s", e.logs())
	}
	nc, newCert := dial()
	nc.Close()
	if string(oldCert) == string(newCert) {
		t.Fatal("new handshake still gets the old certificate")
	}
	fmt.Fprintf(old, "CAPA\r\n")
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("old session after reload: %q", l)
	}
}

// TestPoppassdRemoteRefused: poppassd does not listen beyond loopback
// unless told to.
func TestPoppassdRemoteRefused(t *testing.T) {
	e := newEnv(t)
	_, stderr, code := e.run("", "serve", "poppassd", "--poppassd-listen", "0.0.0.0:0")
	if code == 0 || !strings.Contains(stderr, "not loopback") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestPoppassdInetd runs `popadm serve poppassd --inetd` with the session
// on its standard input and output, as inetd does.
func TestPoppassdInetd(t *testing.T) {
	e := newEnv(t)
	e.addUser("jo@example.com", "Jo-old 1", "--scheme", "SHA512-CRYPT")
	cmd := exec.Command(testkit.Popadm(t), "--db", e.db, "serve", "poppassd", "--inetd", "--failure-delay", "50ms")
	cmd.Stdin = strings.NewReader("user jo@example.com\r\npass Jo-old 1\r\nnewpass Jo-new 2\r\nquit\r\n")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("inetd run: %v\n%s", err, stderr.String())
	}
	want := []string{"200 poppassd v", "200 Your password please.", "200 Your new password please.",
		"200 Password changed, thank-you.", "200 Bye."}
	got := strings.Split(strings.TrimSuffix(stdout.String(), "\r\n"), "\r\n")
	if len(got) != len(want) {
		t.Fatalf("stdout %q", stdout.String())
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
	if strings.Contains(stdout.String(), "level=") {
		t.Fatal("log lines leaked into the protocol stream")
	}
	out, _, code := e.run("Jo-new 2\n", "auth", "test", "jo@example.com", "--password-stdin")
	if code != 0 {
		t.Fatalf("new password not active after inetd change: exit %d %s", code, out)
	}
}
