package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/testkit"
)

// passwdSession speaks poppassd for up to 20 s and returns the reply
// lines with their line ends; it stops at the first 500 reply.
func passwdSession(t *testing.T, addr string, lines ...string) []string {
	t.Helper()
	return testkit.PasswdSession(t, addr, 20*time.Second, lines...)
}

// TestPoppassdChangeThenPOP3 changes a password over poppassd and logs in
// over POP3 right after, as Roundcube users do.
func TestPoppassdChangeThenPOP3(t *testing.T) {
	need(t, "curl")
	e := newEnv(t)
	e.addUser("dave@example.com", "Old-pass 1")
	e.deliver("dave", sampleMessages[0])
	e.start()
	pp := e.addr("poppassd")

	got := passwdSession(t, pp, "user dave@example.com", "pass Old-pass 1", "newpass New pass 2 ok")
	want := []string{"200 poppassd v", "200 Your password please.", "200 Your new password please.", "200 Password changed, thank-you."}
	if len(got) != len(want) {
		t.Fatalf("replies %q", got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) || !strings.HasSuffix(got[i], "\r\n") {
			t.Fatalf("reply %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
	base := "pop3://127.0.0.1:" + e.port("pop3") + "/"
	if _, err := exec.Command("curl", curlArgs(e, "dave@example.com", "New pass 2 ok", base)...).CombinedOutput(); err != nil {
		t.Fatalf("new password refused over POP3 right after the change: %v\n%s", err, e.logs())
	}
	if out, err := exec.Command("curl", curlArgs(e, "dave@example.com", "Old-pass 1", base)...).CombinedOutput(); err == nil {
		t.Fatalf("old password still accepted: %s", out)
	}
	// The audit log holds the change with the client address, no secret.
	audit := e.cli("", "audit", "--user", "dave@example.com", "--json")
	if !strings.Contains(audit, "poppassd") || !strings.Contains(audit, "127.0.0.1") || strings.Contains(audit, "New pass 2") {
		t.Fatalf("audit = %s", audit)
	}
}

// TestPoppassdNoEnumeration checks that an unknown user and a wrong
// password get byte-identical replies and the same close.
func TestPoppassdNoEnumeration(t *testing.T) {
	e := newEnv(t)
	e.addUser("erin@example.com", "Right-pass 1")
	e.start()
	pp := e.addr("poppassd")
	a := passwdSession(t, pp, "user erin@example.com", "pass wrong-pass")
	b := passwdSession(t, pp, "user nobody@example.com", "pass wrong-pass")
	if strings.Join(a, "") != strings.Join(b, "") {
		t.Fatalf("replies differ:\n%q\n%q", a, b)
	}
	if last := a[len(a)-1]; !strings.HasPrefix(last, "500 ") {
		t.Fatalf("wrong password reply %q", last)
	}
	if !e.waitLog(`reason=unknown-user`, `reason=bad-password`) {
		t.Fatalf("log lacks the reasons:\n%s", e.logs())
	}
	for _, l := range strings.Split(e.logs(), "\n") {
		if strings.Contains(l, "wrong-pass") {
			t.Fatalf("password in log: %s", l)
		}
	}
}

// TestConcurrentChangesAndLogins changes the passwords of several users over
// poppassd while POP3 logins of other users run, and expects no error.
func TestConcurrentChangesAndLogins(t *testing.T) {
	e := newEnv(t)
	const n = 4
	for i := range n {
		e.addUser(fmt.Sprintf("chg%d@example.com", i), "Start-pass 0", "--scheme", "SHA512-CRYPT")
		e.addUser(fmt.Sprintf("pop%d@example.com", i), "Pop-pass 0", "--scheme", "SHA512-CRYPT")
	}
	e.start()
	pp, pop := e.addr("poppassd"), e.addr("pop3")
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("chg%d@example.com", i)
			old := "Start-pass 0"
			for k := 1; k <= 5; k++ {
				nw := fmt.Sprintf("Next-pass %d", k)
				r := passwdSession(t, pp, "user "+user, "pass "+old, "newpass "+nw)
				if len(r) != 4 || !strings.HasPrefix(r[3], "200 ") {
					errs <- fmt.Sprintf("%s change %d: %q", user, k, r)
					return
				}
				old = nw
			}
		}()
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("pop%d@example.com", i)
			for range 10 {
				c, err := net.DialTimeout("tcp", pop, 5*time.Second)
				if err != nil {
					errs <- err.Error()
					return
				}
				c.SetDeadline(time.Now().Add(20 * time.Second))
				r := bufio.NewReader(c)
				r.ReadString('\n')
				fmt.Fprintf(c, "USER %s\r\nPASS Pop-pass 0\r\nSTAT\r\nQUIT\r\n", user)
				for _, want := range []string{"+OK", "+OK", "+OK 0 0", "+OK"} {
					l, _ := r.ReadString('\n')
					if !strings.HasPrefix(l, want) {
						errs <- fmt.Sprintf("%s: got %q want %q", user, l, want)
						break
					}
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if strings.Contains(e.logs(), "database is locked") || strings.Contains(e.logs(), "level=ERROR") {
		t.Fatalf("server logged errors:\n%s", e.logs())
	}
}
