package server

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestAssignFDs(t *testing.T) {
	both := map[string]bool{svcPOP3: true, svcPOP3S: true, svcPoppassd: true, svcPoppassdTLS: true}
	noTLS := map[string]bool{svcPOP3: true, svcPoppassd: true}
	pop3Only := map[string]bool{svcPOP3: true, svcPOP3S: true}
	ppOnly := map[string]bool{svcPoppassd: true}
	tests := []struct {
		name    string
		names   []string
		enabled map[string]bool
		want    []string
		errSub  string
	}{
		{"named", []string{"pop3", "pop3s", "poppassd", "poppassd-tls"}, both,
			[]string{"pop3", "pop3s", "poppassd", "poppassd-tls"}, ""},
		{"two sockets one service", []string{"pop3", "pop3"}, noTLS, []string{"pop3", "pop3"}, ""},
		{"order kept", []string{"poppassd", "pop3"}, noTLS, []string{"poppassd", "pop3"}, ""},
		{"unnamed single pop3d", []string{""}, pop3Only, []string{"pop3"}, ""},
		{"unit name single poppassd", []string{"popadm-poppassd.socket"}, ppOnly, []string{"poppassd"}, ""},
		{"unnamed with two services", []string{""}, noTLS, nil, "FileDescriptorName="},
		{"unknown name with two services", []string{"pop3", "imap"}, noTLS, nil, `"imap"`},
		{"pop3s without certificate", []string{"pop3s"}, noTLS, nil, "tls-cert"},
		{"disabled service", []string{"poppassd"}, pop3Only, nil, "poppassd service is not enabled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := assignFDs(tc.names, tc.enabled)
			if tc.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("err = %v, want one containing %q", err, tc.errSub)
				}
				if !strings.HasPrefix(err.Error(), "server: ") {
					t.Fatalf("error %q lacks the package prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEnabledServices(t *testing.T) {
	e := enabledServices(&Config{POP3: true, Poppassd: true})
	if !e[svcPOP3] || e[svcPOP3S] || !e[svcPoppassd] || e[svcPoppassdTLS] {
		t.Fatalf("without certificate: %v", e)
	}
	e = enabledServices(&Config{POP3: true, TLSCert: "c", TLSKey: "k"})
	if !e[svcPOP3] || !e[svcPOP3S] || e[svcPoppassd] || e[svcPoppassdTLS] {
		t.Fatalf("pop3d with certificate: %v", e)
	}
}

// TestNotActivatedUnsetsEnv: variables meant for another process (a
// LISTEN_PID that is not ours) are ignored and removed.
func TestNotActivatedUnsetsEnv(t *testing.T) {
	t.Setenv("LISTEN_PID", "1")
	t.Setenv("LISTEN_FDS", "2")
	t.Setenv("LISTEN_FDNAMES", "pop3:poppassd")
	ls, err := activatedListeners(map[string]bool{svcPOP3: true, svcPoppassd: true})
	if err != nil || ls != nil {
		t.Fatalf("got %v, %v; want nothing", ls, err)
	}
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		if _, ok := os.LookupEnv(v); ok {
			t.Errorf("%s still set", v)
		}
	}
}

func TestBindListenersConfigured(t *testing.T) {
	cfg := &Config{POP3: true, Poppassd: true,
		POP3Listen: []string{"127.0.0.1:0", "127.0.0.1:0"}, PoppassdListen: []string{"127.0.0.1:0"}}
	ls, err := bindListeners(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ls.close()
	if len(ls[svcPOP3]) != 2 || len(ls[svcPoppassd]) != 1 || len(ls[svcPOP3S]) != 0 {
		t.Fatalf("listeners %v", ls)
	}
	c, err := net.Dial("tcp", ls[svcPoppassd][0].Addr().String())
	if err != nil {
		t.Fatalf("poppassd listener not bound: %v", err)
	}
	c.Close()
}

func TestBindListenersPoppassdLoopbackOnly(t *testing.T) {
	cfg := &Config{Poppassd: true, PoppassdListen: []string{"0.0.0.0:0"}}
	if _, err := bindListeners(cfg); err == nil || !strings.Contains(err.Error(), "not loopback") {
		t.Fatalf("err = %v, want a loopback refusal", err)
	}
	cfg.PoppassdAllowRemote = true
	ls, err := bindListeners(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ls.close()
}

// TestActivatedListeners passes two listening sockets the way systemd does
// to a child running activatedListeners, and checks the mapping, that the
// sockets accept, and that the variables are gone afterwards.
func TestActivatedListeners(t *testing.T) {
	if os.Getenv("POPADM_TEST_ACTIVATION_CHILD") == "1" {
		activationChild()
		return
	}
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
		ln.Close()
		defer f.Close()
		files = append(files, f)
	}
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, os.Args[0], "-test.run=^TestActivatedListeners$")
	cmd.Env = append(os.Environ(), "POPADM_TEST_ACTIVATION_CHILD=1", "LISTEN_FDS=2", "LISTEN_FDNAMES=poppassd:pop3")
	cmd.ExtraFiles = files
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var got map[string]string
	line := out
	if i := strings.IndexByte(string(out), '\n'); i >= 0 {
		line = out[:i]
	}
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	if got["poppassd"] != want[0] || got["pop3"] != want[1] {
		t.Fatalf("child mapped %v, want poppassd=%s pop3=%s", got, want[0], want[1])
	}
	if got["env"] != "" {
		t.Fatalf("activation variables left set: %q", got["env"])
	}
}

// activationChild runs in the child process of TestActivatedListeners and
// prints what it received as one JSON line.
func activationChild() {
	ls, err := activatedListeners(map[string]bool{svcPOP3: true, svcPoppassd: true})
	res := map[string]string{}
	if err != nil {
		res["err"] = err.Error()
	}
	for svc, lns := range ls {
		for _, ln := range lns {
			res[svc] = ln.Addr().String()
			if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
				if a, err := ln.Accept(); err == nil {
					a.Close()
				} else {
					res["err"] = err.Error()
				}
				c.Close()
			}
		}
	}
	ls.close()
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		if _, ok := os.LookupEnv(v); ok {
			res["env"] += v + " "
		}
	}
	b, _ := json.Marshal(res)
	os.Stdout.Write(append(b, '\n'))
	os.Exit(0)
}
