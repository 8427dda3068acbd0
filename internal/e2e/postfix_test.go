package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/testkit"
)

// pfVmailUser owns the Maildirs Postfix's virtual(8) writes: it refuses
// to deliver as root (virtual_minimum_uid).
const pfVmailUser = "popadm-vmail"

// needRoot skips without root, except in CI, where it fails like need.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the Postfix test needs root (.ci/run must run it as root)")
	}
	t.Skip("the Postfix test needs root")
}

// pfVmail returns the uid and gid of the delivery user, creating it.
func pfVmail(t *testing.T) (uid, gid int) {
	t.Helper()
	u, err := user.Lookup(pfVmailUser)
	if err != nil {
		out, err := exec.Command(need(t, "useradd"), "-r", "-M", "-d", "/nonexistent",
			"-s", "/usr/sbin/nologin", pfVmailUser).CombinedOutput()
		if err != nil {
			t.Fatalf("useradd %s: %v\n%s", pfVmailUser, err, out)
		}
		if u, err = user.Lookup(pfVmailUser); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

// pfFreePort returns a loopback port nobody listens on right now.
func pfFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// pfMasterCF turns Debian's master.cf.dist into a throwaway one: smtpd on
// addr, no chroot anywhere, and virtual(8) with its own mailbox map.
func pfMasterCF(t *testing.T, addr, virtualOpts string) string {
	t.Helper()
	b, err := os.ReadFile("/usr/share/postfix/master.cf.dist")
	if err != nil {
		t.Fatalf("postfix master.cf.dist: %v", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if line == "" || line[0] == '#' || line[0] == ' ' || line[0] == '\t' || len(f) < 8 {
			out = append(out, line)
			continue
		}
		switch {
		case f[0] == "smtp" && f[1] == "inet":
			out = append(out, addr+" inet n - n - - smtpd")
			continue
		case f[0] == "virtual" && f[1] == "unix":
			f = append(f, virtualOpts)
		}
		f[4] = "n" // chroot
		out = append(out, strings.Join(f, " "))
	}
	return strings.Join(out, "\n")
}

// pfRun runs a Postfix command and returns its combined output and exit
// code.
func pfRun(t *testing.T, prog string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(need(t, prog), args...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s %v: %v", prog, args, err)
	}
	return string(out), 0
}

// TestPostfixVirtualDelivery runs a throwaway Postfix that validates
// recipients against popadm's socketmap and delivers with virtual(8) into
// the Maildirs popadm serves, then fetches the message over POP3.
func TestPostfixVirtualDelivery(t *testing.T) {
	needRoot(t)
	need(t, "postfix")
	need(t, "postmap")
	e := newEnv(t)
	e.addUser("alice@example.com", "Alice-pass 1", "--scheme", "SHA512-CRYPT")
	e.addUser("bob@example.com", "Bob-pass 1", "--scheme", "SHA512-CRYPT")
	e.cli("", "user", "disable", "bob@example.com")

	// Postfix's unprivileged processes must reach the queue and the socket,
	// virtual(8) (as the delivery user) the mail root.
	for _, d := range []string{filepath.Dir(e.dir), e.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	uid, gid := pfVmail(t)
	if err := os.MkdirAll(e.mailRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(e.mailRoot, uid, gid); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(e.dir, "sm.sock")
	e.start("--socketmap-listen", "unix:"+sock)
	if got := e.addr("socketmap"); got != sock {
		t.Fatalf("socketmap address %q, want %q", got, sock)
	}

	pf := filepath.Join(e.dir, "pf")
	conf := filepath.Join(pf, "conf")
	for _, d := range []string{conf, filepath.Join(pf, "spool"), filepath.Join(pf, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pfUser, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("postfix user: %v", err)
	}
	pfUID, _ := strconv.Atoi(pfUser.Uid)
	if err := os.Chown(filepath.Join(pf, "data"), pfUID, -1); err != nil {
		t.Fatal(err)
	}
	smMap := "socketmap:unix:" + sock
	vmailbox := filepath.Join(pf, "vmailbox")
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = localhost
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
maillog_file = %[1]s/maillog
maillog_file_prefixes = /var, /dev/stdout, %[1]s
virtual_mailbox_domains = %[2]s:domain
virtual_mailbox_maps = %[2]s:mailbox
virtual_mailbox_base = %[3]s
virtual_transport = virtual
virtual_uid_maps = static:%[4]d
virtual_gid_maps = static:%[5]d
virtual_minimum_uid = %[4]d
default_transport = discard:outbound disabled in test
relay_transport = discard:outbound disabled in test
smtpd_relay_restrictions = reject_unauth_destination
`, pf, smMap, e.mailRoot, uid, gid)
	if err := os.WriteFile(filepath.Join(conf, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	smtpAddr := fmt.Sprintf("127.0.0.1:%d", pfFreePort(t))
	master := pfMasterCF(t, smtpAddr, "-o virtual_mailbox_maps=texthash:"+vmailbox)
	if err := os.WriteFile(filepath.Join(conf, "master.cf"), []byte(master), 0o644); err != nil {
		t.Fatal(err)
	}
	maillog := func() string {
		b, _ := os.ReadFile(filepath.Join(pf, "maillog"))
		return string(b)
	}

	// The maps, as Postfix's own client sees them.
	out, rc := pfRun(t, "postmap", "-c", conf, "-q", "alice@example.com", smMap+":mailbox")
	aliceMbox := strings.TrimSpace(out)
	if rc != 0 || aliceMbox != "example.com/alice/" {
		t.Fatalf("postmap mailbox alice: rc %d, %q", rc, out)
	}
	for _, u := range []string{"nobody@example.com", "bob@example.com"} {
		if out, rc := pfRun(t, "postmap", "-c", conf, "-q", u, smMap+":mailbox"); rc != 1 {
			t.Errorf("postmap mailbox %s: rc %d (want 1, NOTFOUND), %q", u, rc, out)
		}
	}
	if out, rc := pfRun(t, "postmap", "-c", conf, "-q", "example.com", smMap+":domain"); rc != 0 {
		t.Errorf("postmap domain example.com: rc %d, %q", rc, out)
	}
	if _, rc := pfRun(t, "postmap", "-c", conf, "-q", "other.example", smMap+":domain"); rc != 1 {
		t.Errorf("postmap domain other.example: rc %d, want 1", rc)
	}

	// virtual(8) refuses unauthenticated maps (socketmap, proxy:) for the
	// Maildir path, so it reads a local table of popadm's answers, written
	// by popadm postfix mailbox-map (the disabled bob is left out).
	e.cli("", "postfix", "mailbox-map", "--mail-location", "maildir:"+e.mailRoot+"/%d/%n", "--file", vmailbox)
	if b, err := os.ReadFile(vmailbox); err != nil || string(b) != "alice@example.com "+aliceMbox+"\n" {
		t.Fatalf("mailbox-map wrote %q (%v), want alice's line only", b, err)
	}

	if out, rc := pfRun(t, "postfix", "-c", conf, "start"); rc != 0 {
		t.Fatalf("postfix start: rc %d\n%s\nmaillog:\n%s", rc, out, maillog())
	}
	t.Cleanup(func() {
		if out, rc := pfRun(t, "postfix", "-c", conf, "stop"); rc != 0 {
			t.Errorf("postfix stop: rc %d\n%s", rc, out)
		}
	})

	c := pfDialSMTP(t, smtpAddr)
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@sender.test"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"nobody@example.com", "bob@example.com"} {
		err := c.Rcpt(u)
		var te *textproto.Error
		if !errors.As(err, &te) || te.Code != 550 || !strings.Contains(te.Msg, "5.1.1") ||
			!strings.Contains(te.Msg, "User unknown in virtual mailbox table") {
			t.Errorf("RCPT %s: %v, want 550 5.1.1 User unknown in virtual mailbox table", u, err)
		}
	}
	if err := c.Rcpt("alice@example.com"); err != nil {
		t.Fatalf("RCPT alice: %v\nmaillog:\n%s\npopadm log:\n%s", err, maillog(), e.logs())
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	body := "delivered by virtual(8), served by popadm " + strconv.FormatInt(time.Now().UnixNano(), 36)
	fmt.Fprintf(w, "From: sender@sender.test\r\nTo: alice@example.com\r\nSubject: postfix e2e\r\n\r\n%s\r\n", body)
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(30 * time.Second)
	for countFiles(t, e.maildir("alice")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no delivery to %s within 30s; maillog:\n%s", e.maildir("alice"), maillog())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if l := maillog(); !strings.Contains(l, "status=sent (delivered to maildir)") {
		t.Errorf("maillog lacks the virtual(8) delivery:\n%s", l)
	}

	p := dialPOP3(t, e.addr("pop3"))
	p.login("alice@example.com", "Alice-pass 1")
	if r := p.Cmd("STAT"); !strings.HasPrefix(r, "+OK 1 ") {
		t.Fatalf("STAT: %q", r)
	}
	msg := pfRetr(t, p, 1)
	if !strings.Contains(msg, body) || !strings.Contains(msg, "Subject: postfix e2e") {
		t.Errorf("RETR 1 lacks the message sent:\n%s", msg)
	}
	if !strings.Contains(msg, "Delivered-To: alice@example.com") {
		t.Errorf("RETR 1 lacks virtual(8)'s Delivered-To:\n%s", msg)
	}
	if r := p.Cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Errorf("QUIT: %q", r)
	}
}

// pfDialSMTP connects to the throwaway smtpd, waiting for it to listen.
func pfDialSMTP(t *testing.T, addr string) *smtp.Client {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
			c, err := smtp.NewClient(conn, "localhost")
			if err != nil {
				t.Fatalf("smtp greeting: %v", err)
			}
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtpd on %s not listening: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pfRetr retrieves message n and returns it with dot-stuffing undone.
func pfRetr(t *testing.T, p *pop3Conn, n int) string {
	t.Helper()
	if r := p.Cmd(fmt.Sprintf("RETR %d", n)); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("RETR %d: %q", n, r)
	}
	data, err := p.Multi()
	if err != nil {
		t.Fatalf("RETR %d: %v after %q", n, err, data)
	}
	return testkit.Unstuff(data)
}
