package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// sampleMessages covers the byte-exactness traps: LF storage, a line that
// starts with a dot, a lone ".", 8-bit bytes, and a message without a final
// newline.
var sampleMessages = []string{
	"From: a@example.net\nSubject: one\n\nfirst body\n.leading dot\n.\nend\n",
	"From: b@example.net\r\nSubject: two\r\n\r\nCRLF body\r\nGr\xc3\xbc\xc3\x9fe 8-bit\r\n",
	"From: c@example.net\nSubject: three\n\nno final newline",
}

func curlArgs(e *env, user, pass string, extra ...string) []string {
	return append([]string{"-sS", "--max-time", "20", "--user", user + ":" + pass}, extra...)
}

func runCurl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(need(t, "curl"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestCurl(t *testing.T) {
	need(t, "curl")
	e := newEnv(t)
	e.addUser("alice@example.com", "curl-Pass 1")
	crlf := e.deliver("alice", sampleMessages...)
	e.start()
	base := "pop3://127.0.0.1:" + e.port("pop3")

	// LIST: sizes are CRLF octet counts.
	list := runCurl(t, curlArgs(e, "alice@example.com", "curl-Pass 1", base+"/")...)
	for i, m := range crlf {
		want := fmt.Sprintf("%d %d\r\n", i+1, len(m))
		if !strings.Contains(list, want) {
			t.Fatalf("LIST = %q, missing %q", list, want)
		}
	}
	// RETR: curl unstuffs dots and prints the CRLF message byte-exact.
	for i, m := range crlf {
		got := runCurl(t, curlArgs(e, "alice@example.com", "curl-Pass 1", fmt.Sprintf("%s/%d", base, i+1))...)
		if sha(got) != sha(m) {
			t.Fatalf("RETR %d: got %q, want %q", i+1, got, m)
		}
	}
	// UIDL: unique, printable, stable across sessions.
	u1 := runCurl(t, curlArgs(e, "alice@example.com", "curl-Pass 1", "-X", "UIDL", base+"/")...)
	u2 := runCurl(t, curlArgs(e, "alice@example.com", "curl-Pass 1", "-X", "UIDL", base+"/")...)
	if u1 != u2 {
		t.Fatalf("UIDL changed between sessions:\n%s\n%s", u1, u2)
	}
	uidRE := regexp.MustCompile(`^(\d+) ([\x21-\x7e]{1,70})\r$`)
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(u1, "\n"), "\n") {
		m := uidRE.FindStringSubmatch(line)
		if m == nil || seen[m[2]] {
			t.Fatalf("bad or duplicate UIDL line %q", line)
		}
		seen[m[2]] = true
	}
	if len(seen) != len(crlf) {
		t.Fatalf("UIDL lists %d messages, want %d", len(seen), len(crlf))
	}
	// STLS with certificate verification, then RETR.
	got := runCurl(t, curlArgs(e, "alice@example.com", "curl-Pass 1", "--ssl-reqd", "--cacert", e.cert, base+"/1")...)
	if got != crlf[0] {
		t.Fatalf("RETR over STLS = %q", got)
	}
	// Implicit TLS with TOP n 0: headers and the blank line.
	top := runCurl(t, curlArgs(e, "alice@example.com", "curl-Pass 1", "--cacert", e.cert, "-X", "TOP 2 0",
		"pop3s://127.0.0.1:"+e.port("pop3s")+"/")...)
	if want := "From: b@example.net\r\nSubject: two\r\n\r\n"; top != want {
		t.Fatalf("TOP 2 0 over POP3S = %q, want %q", top, want)
	}
	// A wrong password is refused and curl says so.
	out, err := exec.Command("curl", curlArgs(e, "alice@example.com", "wrong", base+"/")...).CombinedOutput()
	if err == nil {
		t.Fatalf("wrong password accepted: %s", out)
	}
	// DELE then QUIT removes the message; the others stay.
	runCurl(t, curlArgs(e, "alice@example.com", "curl-Pass 1", "-X", "DELE", "-I", base+"/1")...)
	if n := countFiles(t, e.maildir("alice")); n != len(crlf)-1 {
		t.Fatalf("%d messages left after DELE 1, want %d", n, len(crlf)-1)
	}
	list = runCurl(t, curlArgs(e, "alice@example.com", "curl-Pass 1", base+"/")...)
	if !strings.HasPrefix(list, fmt.Sprintf("1 %d\r\n", len(crlf[1]))) {
		t.Fatalf("after DELE the oldest remaining message is not 1: %q", list)
	}
}

func TestPythonPoplib(t *testing.T) {
	py := need(t, "python3")
	e := newEnv(t)
	e.addUser("bob@example.com", "py thon-pass")
	crlf := e.deliver("bob", sampleMessages...)
	e.start()
	script := `
import poplib, ssl, sys, hashlib
H, P, PS, CA = "127.0.0.1", int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=CA)
p = poplib.POP3(H, P, timeout=20)
caps = p.capa()
assert "STLS" in caps and "UIDL" in caps and "TOP" in caps, caps
p.stls(context=ctx)
caps2 = p.capa()
assert "STLS" not in caps2, caps2
p.user("bob@example.com"); p.pass_("py thon-pass")
count, size = p.stat()
sizes = {int(l.split()[0]): int(l.split()[1]) for l in p.list()[1]}
uidls = [l.split()[1] for l in p.uidl()[1]]
assert len(set(uidls)) == count
for i in range(1, count + 1):
    resp, lines, octets = p.retr(i)
    assert octets == sizes[i], (i, octets, sizes[i])
    body = b"\r\n".join(lines) + b"\r\n"
    print(i, octets, hashlib.sha256(body).hexdigest())
p.quit()
q = poplib.POP3_SSL(H, PS, context=ctx, timeout=20)
q.user("bob@example.com"); q.pass_("py thon-pass")
print("ssl", q.stat()[0])
q.quit()
`
	out, err := exec.Command(py, "-c", script, e.port("pop3"), e.port("pop3s"), e.cert).CombinedOutput()
	if err != nil {
		t.Fatalf("poplib: %v\n%s\nserver log:\n%s", err, out, e.logs())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(crlf)+1 {
		t.Fatalf("poplib output %q", out)
	}
	for i, m := range crlf {
		f := strings.Fields(lines[i])
		if n, _ := strconv.Atoi(f[1]); n != len(m) {
			t.Fatalf("message %d: poplib counted %d octets, want %d", i+1, n, len(m))
		}
		if f[2] != sha(m) {
			t.Fatalf("message %d: poplib got other bytes than stored", i+1)
		}
	}
	if lines[len(lines)-1] != fmt.Sprintf("ssl %d", len(crlf)) {
		t.Fatalf("POP3_SSL stat line %q", lines[len(lines)-1])
	}
}

func TestFetchmail(t *testing.T) {
	fm := need(t, "fetchmail")
	e := newEnv(t)
	e.addUser("carol@example.com", "fetch-Pass 9")
	crlf := e.deliver("carol", sampleMessages...)
	e.start()
	home := t.TempDir()
	rc := filepath.Join(home, "fetchmailrc")
	run := func(name, conf string) string {
		t.Helper()
		if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(fm, "-f", rc, "-i", filepath.Join(home, "fetchids"), "-v", "--nosyslog", "--nodetach")
		cmd.Env = append(os.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		// fetchmail exits 1 when there was no new mail.
		if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
			t.Fatalf("fetchmail %s: %v\n%s\nserver log:\n%s", name, err, out, e.logs())
		}
		return string(out)
	}
	keep := fmt.Sprintf(`set no bouncemail
poll 127.0.0.1 protocol POP3 port %s uidl auth password
  user "carol@example.com" there with password "fetch-Pass 9" is "root" here
  options keep sslproto "TLS1.2+" sslcertck sslcommonname "localhost" sslcertfile "%s" mda "cat >> %s/out-keep.mbox"
`, e.port("pop3"), e.cert, home)
	out := run("keep", keep)
	if !strings.Contains(out, fmt.Sprintf("%d messages for carol@example.com", len(crlf))) {
		t.Fatalf("keep run did not see %d messages:\n%s", len(crlf), out)
	}
	// Second keep run: every message is known by its UIDL.
	out = run("keep-again", keep)
	if !strings.Contains(out, fmt.Sprintf("%d messages (%d seen)", len(crlf), len(crlf))) {
		t.Fatalf("second keep run re-fetched:\n%s", out)
	}
	if n := countFiles(t, e.maildir("carol")); n != len(crlf) {
		t.Fatalf("keep mode removed mail: %d left", n)
	}
	// No-keep mode over plaintext on loopback: fetch and delete everything.
	nokeep := fmt.Sprintf(`set no bouncemail
poll 127.0.0.1 protocol POP3 port %s auth password
  user "carol@example.com" there with password "fetch-Pass 9" is "root" here
  options nokeep fetchall sslproto "" mda "cat >> %s/out-nokeep.mbox"
`, e.port("pop3"), home)
	out = run("nokeep", nokeep)
	if n := countFiles(t, e.maildir("carol")); n != 0 {
		t.Fatalf("no-keep run left %d messages:\n%s", n, out)
	}
	mbox, err := os.ReadFile(filepath.Join(home, "out-nokeep.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"first body", "CRLF body", "no final newline"} {
		if !strings.Contains(string(mbox), s) {
			t.Fatalf("fetched mail lacks %q", s)
		}
	}
}
