package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/testkit"
)

// whoSession is one entry of `popadm who --json`.
type whoSession struct {
	ID      string    `json:"id"`
	Service string    `json:"service"`
	Proto   string    `json:"proto"`
	User    string    `json:"user"`
	Remote  string    `json:"remote"`
	Since   time.Time `json:"since"`
	TLS     bool      `json:"tls"`
}

// who runs `popadm who --json` against sock.
func (e *env) who(sock string) []whoSession {
	e.t.Helper()
	out := e.cli("", "who", "--json", "--control-socket", sock)
	var ss []whoSession
	if err := json.Unmarshal([]byte(out), &ss); err != nil {
		e.t.Fatalf("who --json: %v\n%s", err, out)
	}
	return ss
}

// waitWho polls who until n sessions are left.
func (e *env) waitWho(sock string, n int) []whoSession {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ss := e.who(sock)
		if len(ss) == n {
			return ss
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("who: %d sessions, want %d: %+v", len(ss), n, ss)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expectClosed checks that the server closed the connection after the
// line already read.
func expectClosed(t *testing.T, r *bufio.Reader, who string) {
	t.Helper()
	if l, err := r.ReadString('\n'); err == nil {
		t.Fatalf("%s: connection still open, read %q", who, l)
	}
}

// TestControlWhoKickReload drives the control socket with the CLI: who
// lists POP3, POP3S and poppassd sessions; kick ends a user's session
// with [SYS/TEMP] and without UPDATE, then a network's; kick of nobody
// exits 68; reload reloads the certificate.
func TestControlWhoKickReload(t *testing.T) {
	e := newEnv(t)
	e.addUser("ann@example.com", "Ann-pass 1", "--scheme", "SHA512-CRYPT")
	e.addUser("bob@example.com", "Bob-pass 1", "--scheme", "SHA512-CRYPT")
	e.addUser("cy@example.com", "Cy-pass 1", "--scheme", "SHA512-CRYPT")
	e.deliver("ann", sampleMessages...)
	e.deliver("bob", sampleMessages[0])
	sock := filepath.Join(e.dir, "ctl", "c.sock")

	// Nothing listens yet: exit 75 with a hint.
	_, stderr, code := e.run("", "who", "--control-socket", sock)
	if code != 75 || !strings.Contains(stderr, "is popadm serve running?") {
		t.Fatalf("who without a server: exit %d, stderr %q", code, stderr)
	}

	e.start("--control-socket", sock)
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("control socket mode %v, want socket 0660", fi.Mode())
	}

	// ann over cleartext POP3, bob over POP3S, cy in poppassd.
	ann := dialPOP3(t, e.addr("pop3"))
	ann.login("ann@example.com", "Ann-pass 1")
	if r := ann.Cmd("DELE 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("DELE: %q", r)
	}
	tc, err := tls.Dial("tcp", e.addr("pop3s"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	bob := &pop3Conn{&testkit.LineConn{T: t, C: tc, R: bufio.NewReader(tc)}}
	if g := bob.Line(); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("pop3s greeting %q", g)
	}
	bob.login("bob@example.com", "Bob-pass 1")
	pc, err := net.DialTimeout("tcp", e.addr("poppassd"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pc.SetDeadline(time.Now().Add(30 * time.Second))
	cy := &pop3Conn{&testkit.LineConn{T: t, C: pc, R: bufio.NewReader(pc)}}
	if g := cy.Line(); !strings.HasPrefix(g, "200 ") {
		t.Fatalf("poppassd greeting %q", g)
	}
	for _, l := range []string{"user cy@example.com", "pass Cy-pass 1"} {
		if r := cy.Cmd(l); !strings.HasPrefix(r, "200 ") {
			t.Fatalf("poppassd %q: %q", strings.Fields(l)[0], r)
		}
	}

	ss := e.who(sock)
	if len(ss) != 3 {
		t.Fatalf("who: %+v, want 3 sessions", ss)
	}
	want := map[string]struct {
		proto, remote string
		tls           bool
	}{
		"ann@example.com": {"pop3", ann.C.LocalAddr().String(), false},
		"bob@example.com": {"pop3s", tc.LocalAddr().String(), true},
		"cy@example.com":  {"poppassd", pc.LocalAddr().String(), false},
	}
	for _, s := range ss {
		w, ok := want[s.User]
		if !ok {
			t.Fatalf("unexpected session %+v", s)
		}
		if s.Proto != w.proto || s.Remote != w.remote || s.TLS != w.tls || s.ID == "" || s.Since.IsZero() {
			t.Errorf("session %+v, want proto %s remote %s tls %v", s, w.proto, w.remote, w.tls)
		}
		delete(want, s.User)
	}
	if table := e.cli("", "who", "--control-socket", sock); !strings.Contains(table, "USER") ||
		!strings.Contains(table, "bob@example.com") {
		t.Errorf("who table:\n%s", table)
	}

	// Kick ann: [SYS/TEMP] with the reason, closed, DELE not applied.
	out := e.cli("", "kick", "ann@example.com", "--reason", "maintenance now", "--control-socket", sock)
	if !strings.Contains(out, "kicked 1 session") {
		t.Errorf("kick output %q", out)
	}
	if l := ann.Line(); l != "-ERR [SYS/TEMP] maintenance now" {
		t.Fatalf("kicked POP3 client read %q", l)
	}
	expectClosed(t, ann.R, "ann")
	if !e.waitLog("reason=kicked") {
		t.Fatalf("no kicked disconnect in log:\n%s", e.logs())
	}
	if n := countFiles(t, e.maildir("ann")); n != len(sampleMessages) {
		t.Fatalf("%d messages after kick, want %d (no UPDATE)", n, len(sampleMessages))
	}
	// bob is untouched.
	if r := bob.Cmd("STAT"); !strings.HasPrefix(r, "+OK 1 ") {
		t.Fatalf("bob after kicking ann: %q", r)
	}
	e.waitWho(sock, 2)

	// Kick the rest by network.
	out = e.cli("", "kick", "127.0.0.1/32", "--json", "--control-socket", sock)
	var kr struct {
		OK     bool `json:"ok"`
		Kicked int  `json:"kicked"`
	}
	if err := json.Unmarshal([]byte(out), &kr); err != nil || !kr.OK || kr.Kicked != 2 {
		t.Fatalf("kick 127.0.0.1/32 --json: %q (%v)", out, err)
	}
	if l := bob.Line(); !strings.HasPrefix(l, "-ERR [SYS/TEMP] ") {
		t.Fatalf("kicked POP3S client read %q", l)
	}
	expectClosed(t, bob.R, "bob")
	if l := cy.Line(); !strings.HasPrefix(l, "500 ") {
		t.Fatalf("kicked poppassd client read %q", l)
	}
	expectClosed(t, cy.R, "cy")
	e.waitWho(sock, 0)

	// Nothing matches: exit 68, in JSON too.
	_, stderr, code = e.run("", "kick", "nobody@example.com", "--control-socket", sock)
	if code != 68 {
		t.Fatalf("kick nobody: exit %d, stderr %q", code, stderr)
	}
	out, _, code = e.run("", "kick", "nobody@example.com", "--json", "--control-socket", sock)
	if code != 68 || !strings.Contains(out, `"code": 68`) {
		t.Fatalf("kick nobody --json: exit %d, %q", code, out)
	}
	// A malformed network is bad input.
	if _, _, code := e.run("", "kick", "10.0.0.0/99", "--control-socket", sock); code != 65 {
		t.Fatalf("kick 10.0.0.0/99: exit %d, want 65", code)
	}

	// reload: the same certificate reload as SIGHUP.
	out = e.cli("", "reload", "--control-socket", sock)
	if !strings.Contains(out, "certificate reloaded") {
		t.Errorf("reload output %q", out)
	}
	if !e.waitLog("certificate reloaded", "via=control") {
		t.Fatalf("no reload in log:\n%s", e.logs())
	}

	// The socket goes away with the server.
	e.stop()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("control socket left after exit: %v", err)
	}
}
