package e2e

import (
	"net"
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

// serveArgs are the harness's `popadm serve` arguments.
func (e *env) serveArgs(ready string, extra ...string) []string {
	args := []string{"--db", e.db, "serve",
		"--pop3-listen", "127.0.0.1:0", "--pop3s-listen", "127.0.0.1:0",
		"--poppassd-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
		"--tls-cert", e.cert, "--tls-key", e.key,
		"--mail-location", "maildir:" + e.mailRoot + "/%d/%n",
		"--failure-delay", "50ms", "--max-failure-delay", "200ms",
		"--hostname", "localhost",
		"--ready-file", ready}
	return append(args, extra...)
}

// startCmd starts a prepared `popadm serve` command and waits for its
// ready file.
func (e *env) startCmd(cmd *exec.Cmd, ready string) {
	e.t.Helper()
	e.srv = testkit.StartServer(e.t, cmd, ready, e.log)
	e.addrs = e.srv.Addrs
}

// TestSocketActivation passes listening sockets the way systemd does
// (descriptors 3 and 4, LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID of the
// server itself) and serves POP3 and poppassd on them without binding the
// configured addresses of those services.
func TestSocketActivation(t *testing.T) {
	e := newEnv(t)
	e.addUser("ada@example.com", "Ada-pass 1")
	e.deliver("ada", sampleMessages[0])

	var files []*os.File
	var want []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ln.Addr().String())
		ln.Close() // f keeps the socket listening
		files = append(files, f)
	}
	// A configured address that is in use: binding it would fail, so the
	// server starting proves it used the passed socket instead.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	ready := filepath.Join(e.dir, "ready.json")
	args := e.serveArgs(ready, "--pop3-listen", busy.Addr().String(), "--poppassd-listen", busy.Addr().String())
	cmd := exec.Command("sh", append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, testkit.Popadm(t)}, args...)...)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=2", "LISTEN_FDNAMES=pop3:poppassd")
	cmd.ExtraFiles = files
	e.startCmd(cmd, ready)
	for _, f := range files {
		f.Close() // the server holds its own copies
	}

	if got := e.addrs["pop3"]; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("pop3 listeners %v, want only the passed %s", got, want[0])
	}
	if got := e.addrs["poppassd"]; len(got) != 1 || got[0] != want[1] {
		t.Fatalf("poppassd listeners %v, want only the passed %s", got, want[1])
	}
	if len(e.addrs["pop3s"]) != 1 {
		t.Fatalf("pop3s (no socket passed) should bind its configured address: %v", e.addrs)
	}

	p := dialPOP3(t, want[0])
	p.login("ada@example.com", "Ada-pass 1")
	if r := p.Cmd("STAT"); !strings.HasPrefix(r, "+OK 1 ") {
		t.Fatalf("STAT = %q", r)
	}
	p.Cmd("QUIT")

	got := passwdSession(t, want[1], "user ada@example.com", "pass Ada-pass 1", "newpass Ada-new 2")
	if len(got) != 4 || !strings.HasPrefix(got[3], "200 ") {
		t.Fatalf("poppassd over the passed socket: %q\n%s", got, e.logs())
	}
	p = dialPOP3(t, want[0])
	p.login("ada@example.com", "Ada-new 2")
	p.Cmd("QUIT")
}

// TestSocketActivationUnnamedAmbiguous: an unnamed socket with both
// services enabled is refused, and the server does not start.
func TestSocketActivationUnnamedAmbiguous(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	args := e.serveArgs(filepath.Join(e.dir, "ready.json"))
	cmd := exec.Command("sh", append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, testkit.Popadm(t)}, args...)...)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{f}
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("server started with an ambiguous socket")
	}
	if err == nil || !strings.Contains(string(out), "FileDescriptorName=") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}

// TestPrivilegeDrop starts the server as root with --user and checks that
// it serves as that user.
func TestPrivilegeDrop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const name = "popadm-e2e-drop"
	need(t, "useradd")
	exec.Command("userdel", name).Run() // left over from an interrupted run
	if out, err := exec.Command("useradd", "-M", "-N", "-r", "-s", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	e := newEnv(t)
	e.addUser("bea@example.com", "Bea-pass 1")
	e.deliver("bea", sampleMessages[0])
	// The database, its directory, the certificate and the mail store
	// belong to the user; the test's parent directory must be traversable.
	if err := os.Chmod(filepath.Dir(e.dir), 0o711); err != nil {
		t.Fatal(err)
	}
	err = filepath.Walk(e.dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}

	e.start("--user", name, "--journal-dir", filepath.Join(e.dir, "journal"))
	status, err := os.ReadFile("/proc/" + strconv.Itoa(e.srv.Cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []struct {
		key  string
		want int
	}{{"Uid:", uid}, {"Gid:", gid}} {
		var ids []string
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, field.key) {
				ids = strings.Fields(strings.TrimPrefix(l, field.key))
			}
		}
		if len(ids) != 4 {
			t.Fatalf("no %s line in status:\n%s", field.key, status)
		}
		for _, id := range ids { // real, effective, saved, filesystem
			if id != strconv.Itoa(field.want) {
				t.Fatalf("%s %v, want %d everywhere:\n%s", field.key, ids, field.want, e.logs())
			}
		}
	}
	p := dialPOP3(t, e.addr("pop3"))
	p.login("bea@example.com", "Bea-pass 1")
	if r := p.Cmd("STAT"); !strings.HasPrefix(r, "+OK 1 ") {
		t.Fatalf("STAT = %q", r)
	}
	if r := p.Cmd("DELE 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("DELE = %q", r)
	}
	if r := p.Cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("QUIT = %q", r)
	}
	if n := countFiles(t, e.maildir("bea")); n != 0 {
		t.Fatalf("%d messages left after DELE+QUIT as the unprivileged user", n)
	}
	if !e.waitLog("dropped privileges") {
		t.Fatalf("no drop logged:\n%s", e.logs())
	}
}

// TestPrivilegeDropRefusesPAM: --user with PAM accounts exits with an
// explanation instead of serving.
func TestPrivilegeDropRefusesPAM(t *testing.T) {
	e := newEnv(t)
	out, errOut, code := e.run("", "serve", "--auth", "sqlite,pam", "--user", "nobody",
		"--pop3-listen", "127.0.0.1:0", "--poppassd-listen", "127.0.0.1:0", "--metrics-listen", "none")
	if code == 0 || !strings.Contains(errOut, "cannot be combined with PAM") || !strings.Contains(errOut, "root") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}
