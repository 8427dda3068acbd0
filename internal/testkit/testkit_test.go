package testkit

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// serve runs handle on each of up to n loopback connections and returns
// the listener address.
func serve(t *testing.T, n int, handle func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range n {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			handle(c, bufio.NewReader(c))
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func TestTLSConfigsHandshake(t *testing.T) {
	scfg, ccfg := TLSConfigs(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	names := []string{"localhost", "127.0.0.1"}
	errc := make(chan error, len(names))
	go func() {
		for range names {
			c, err := ln.Accept()
			if err == nil {
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				err = c.(*tls.Conn).Handshake()
				c.Close()
			}
			errc <- err
		}
	}()
	for _, name := range names {
		cfg := ccfg.Clone()
		cfg.ServerName = name
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cfg)
		if err != nil {
			t.Fatalf("handshake as %s: %v", name, err)
		}
		c.Close()
		if err := <-errc; err != nil {
			t.Fatalf("server side of %s: %v", name, err)
		}
	}
}

func TestSyncBufferConcurrent(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
}

func TestLineConn(t *testing.T) {
	addr := serve(t, 1, func(c net.Conn, r *bufio.Reader) {
		fmt.Fprint(c, "+OK hello\r\n")
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch l {
			case "LIST\r\n":
				fmt.Fprint(c, "+OK\r\n1 120\r\n..dotted\r\n.\r\n")
			case "BAD\r\n":
				fmt.Fprint(c, "-ERR no\r\n")
			case "QUIT\r\n":
				fmt.Fprint(c, "+OK bye\r\nlast\r\n")
				return
			}
		}
	})
	c := DialGreeting(t, addr, "+OK", 5*time.Second)
	defer c.Close()
	if got := c.Expect("LIST", "+OK"); got != "+OK" {
		t.Fatalf("LIST = %q", got)
	}
	data, err := c.Multi()
	if err != nil || data != "1 120\r\n..dotted\r\n" {
		t.Fatalf("Multi = %q, %v", data, err)
	}
	if got := Unstuff(data); got != "1 120\r\n.dotted\r\n" {
		t.Fatalf("Unstuff = %q", got)
	}
	if got := c.Cmd("BAD"); got != "-ERR no" {
		t.Fatalf("BAD = %q", got)
	}
	c.Send("QUIT")
	lines, closed := c.Rest(5 * time.Second)
	if !closed || strings.Join(lines, "|") != "+OK bye|last" {
		t.Fatalf("Rest = %q, closed %v", lines, closed)
	}
	if got := c.Line(); !strings.HasPrefix(got, "ERR:") {
		t.Fatalf("Line after close = %q", got)
	}
}

func TestLineConnRestTimeout(t *testing.T) {
	release := make(chan struct{})
	addr := serve(t, 1, func(c net.Conn, r *bufio.Reader) {
		fmt.Fprint(c, "+OK hello\r\n")
		<-release
	})
	defer close(release)
	c, err := DialLine(t, "127.0.0.1", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lines, closed := c.Rest(50 * time.Millisecond)
	if closed || len(lines) != 1 || lines[0] != "+OK hello" {
		t.Fatalf("Rest = %q, closed %v", lines, closed)
	}
}

func TestMultiCutOff(t *testing.T) {
	addr := serve(t, 1, func(c net.Conn, r *bufio.Reader) {
		fmt.Fprint(c, "one\r\ntwo\r\n")
	})
	c, err := DialLine(t, "", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data, err := c.Multi()
	if err == nil || data != "one\r\ntwo\r\n" {
		t.Fatalf("Multi = %q, %v; want the lines and an error", data, err)
	}
}

func TestPasswdSessionStopsAt500(t *testing.T) {
	var got []string
	addr := serve(t, 1, func(c net.Conn, r *bufio.Reader) {
		fmt.Fprint(c, "200 poppassd v1 hello, who are you?\r\n")
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			got = append(got, l)
			if strings.HasPrefix(l, "pass ") {
				fmt.Fprint(c, "500 Old password is incorrect.\r\n")
				continue
			}
			fmt.Fprint(c, "200 Your password please.\r\n")
		}
	})
	replies := PasswdSession(t, addr, 5*time.Second, "user a", "pass b", "newpass c")
	want := []string{"200 poppassd v1 hello, who are you?\r\n", "200 Your password please.\r\n", "500 Old password is incorrect.\r\n"}
	if strings.Join(replies, "|") != strings.Join(want, "|") {
		t.Fatalf("replies %q, want %q", replies, want)
	}
}

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "serve.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStartServer(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready.json")
	sh := script(t, `echo starting
printf '{"pop3":["127.0.0.1:1100"]}' > "$1.tmp" && mv "$1.tmp" "$1"
trap 'echo stopping; exit 0' INT
i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
`)
	var log SyncBuffer
	s := StartServer(t, exec.Command(sh, ready), ready, &log)
	if got := s.Addr(t, "pop3"); got != "127.0.0.1:1100" {
		t.Fatalf("Addr = %q", got)
	}
	if s.Exited() {
		t.Fatal("Exited before Stop")
	}
	s.Stop()
	if !s.Exited() || s.Err() != nil {
		t.Fatalf("after Stop: exited %v, err %v", s.Exited(), s.Err())
	}
	if l := log.String(); !strings.Contains(l, "starting") || !strings.Contains(l, "stopping") {
		t.Fatalf("log %q", l)
	}
	s.Stop() // a second Stop is a no-op
}

func TestRunPopadmExitCode(t *testing.T) {
	t.Setenv("POPADM_BIN", "/bin/sh")
	out, errOut, code := RunPopadm(t, "in\n", "-c", `read x; echo "out $x"; echo err >&2; exit 3`)
	if out != "out in\n" || errOut != "err\n" || code != 3 {
		t.Fatalf("RunPopadm = %q, %q, %d", out, errOut, code)
	}
}

func TestCLIPassesTheDatabase(t *testing.T) {
	t.Setenv("POPADM_BIN", script(t, `echo "$@"; [ "$3" = fail ] && exit 65; exit 0
`))
	c := CLI{T: t, DB: "/x/auth.db"}
	if got := c.Must("", "user", "list"); got != "--db /x/auth.db user list\n" {
		t.Fatalf("Must = %q", got)
	}
	if _, _, code := c.Run("", "fail"); code != 65 {
		t.Fatalf("Run exit %d, want 65", code)
	}
}
