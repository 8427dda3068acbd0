package poppassd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/testkit"
)

// With tracing on and TraceAuth off the trace has every command and reply
// but no password; with TraceAuth on it has them.
func TestTraceRedaction(t *testing.T) {
	for _, traceAuth := range []bool{false, true} {
		e := newEnv(t, "tcp", func(o *Options) { o.TraceAuth = traceAuth })
		c := e.dial()
		c.login(stateDone)
		c.cmd("quit")
		c.expect("200 Bye.")
		c.expectClosed()
		// A password typed without its keyword at the password stage.
		c = e.dial()
		c.expect("200 *")
		c.cmd("user bob")
		c.expect("200 Your password please.")
		c.cmd("Bare-Typed-Pw")
		c.expect("500 Password required.")
		c.expectClosed()
		e.shutdown()

		trace := e.trace.String()
		for _, want := range []string{
			" C: user alice\n", " S: 200 Your password please.\n",
			" S: 200 Password changed, thank-you.\n", " C: quit\n", " S: 200 Bye.\n",
		} {
			if !strings.Contains(trace, want) {
				t.Errorf("TraceAuth=%v: trace lacks %q:\n%s", traceAuth, want, trace)
			}
		}
		secrets := []string{alicePass, "Brand-New-Pw", "Bare-Typed-Pw"}
		for _, s := range secrets {
			if got := strings.Contains(trace, s); got != traceAuth {
				t.Errorf("TraceAuth=%v: trace contains %q: %v\n%s", traceAuth, s, got, trace)
			}
		}
		if !traceAuth {
			for _, want := range []string{" C: pass ***\n", " C: newpass ***\n", " C: *** (unrecognised line, 13 bytes)\n"} {
				if !strings.Contains(trace, want) {
					t.Errorf("redacted trace lacks %q:\n%s", want, trace)
				}
			}
		}
		// The log never has them, whatever TraceAuth says.
		for _, s := range secrets {
			if strings.Contains(e.logs.String(), s) {
				t.Errorf("log contains %q", s)
			}
		}
	}
}

// One Info line per completed change and per refused change, in the
// documented shape; refusals at "pass" are left to the backend.
func TestLogLines(t *testing.T) {
	logs := &testkit.SyncBuffer{}
	e := newEnv(t, "tcp", func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	c := e.dial()
	c.login(stateDone)
	c.drain()

	c = e.dial()
	c.login(stateUser)
	c.cmd("user alice")
	c.expect("200 *")
	c.cmd("pass Brand-New-Pw")
	c.expect("200 *")
	c.cmd("newpass short")
	c.expect("500 *")
	c.expectClosed()

	c = e.dial()
	c.login(stateUser)
	c.cmd("user alice")
	c.expect("200 *")
	c.cmd("pass Brand-New-Pw")
	c.expect("200 *")
	c.cmd("newpass Trigger-Failure")
	c.expect("500 Server error, password not changed.")
	c.expectClosed()

	c = e.dial()
	c.login(stateUser)
	c.cmd("user alice")
	c.expect("200 *")
	c.cmd("pass wrong-password")
	c.expect("500 Old password is incorrect.")
	c.expectClosed()
	e.shutdown()

	out := logs.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 log lines at Info, got %d:\n%s", len(lines), out)
	}
	patterns := []string{
		`level=INFO msg="password changed" proto=poppassd user=alice remote=127\.0\.0\.1:\d+ cid=\S+$`,
		`level=INFO msg="password change refused" proto=poppassd user=alice remote=127\.0\.0\.1:\d+ reason=policy cid=\S+$`,
		`level=ERROR msg="password change refused" proto=poppassd user=alice remote=127\.0\.0\.1:\d+ reason=server-error cid=\S+ err="test: disk full"$`,
	}
	for i, p := range patterns {
		if !regexp.MustCompile(p).MatchString(lines[i]) {
			t.Errorf("log line %d:\n%s\ndoes not match\n%s", i, lines[i], p)
		}
	}
	for _, s := range []string{alicePass, "Brand-New-Pw", "wrong-password", "Trigger-Failure"} {
		if strings.Contains(out, s) {
			t.Errorf("log contains %q", s)
		}
	}
}

// A panic in the backend is contained: the client gets one generic 500
// and the server goes on serving.
func TestPanicGuard(t *testing.T) {
	for _, mode := range transports {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, mode, nil)
			c := e.dial()
			c.expect("200 *")
			c.cmd("user erin")
			c.expect("200 Your password please.")
			c.cmd("pass " + erinPass)
			c.expect("200 Your new password please.")
			c.cmd("newpass Erin-New-Pw")
			c.expect("500 Server error, password not changed.")
			c.expectClosed()
			if !strings.Contains(e.logs.String(), "panic") {
				t.Errorf("panic not logged:\n%s", e.logs.String())
			}
			c = e.dial()
			c.login(stateDone)
		})
	}
}

// Shutdown ends idle conversations with one 500, waits for them, and makes
// Serve return ErrServerClosed.
func TestShutdown(t *testing.T) {
	e := newEnv(t, "tcp", nil)
	c := e.dial()
	c.login(stateNewpass)
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.expect("500 Server shutting down.")
	c.expectClosed()
	if _, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		t.Fatal("listener still accepts after Shutdown")
	}
	if err := e.srv.Serve(mustListen(t)); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if got := e.be.password("alice"); got != alicePass {
		t.Fatalf("password changed to %q", got)
	}
}

// A commit under way when Shutdown starts completes, with its context
// intact, and its 200 reaches the client.
func TestShutdownDuringCommit(t *testing.T) {
	e := newEnv(t, "tcp", nil)
	e.be.entered = make(chan struct{})
	e.be.release = make(chan struct{})
	c := e.dial()
	c.login(stateNewpass)
	c.cmd("newpass During-Shutdown")
	<-e.be.entered
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- e.srv.Shutdown(ctx) }()
	// Shutdown has cancelled the connection once new connections fail.
	for i := 0; ; i++ {
		conn, err := net.DialTimeout("tcp", e.addr, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if i == 500 {
			t.Fatal("listener still open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(e.be.release)
	c.expect("200 Password changed, thank-you.")
	c.expect("500 Server shutting down.")
	c.expectClosed()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := e.be.password("alice"); got != "During-Shutdown" {
		t.Fatalf("password is %q", got)
	}
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// The backend gets the connection's id, addresses and TLS state.
func TestConnInfo(t *testing.T) {
	e := newEnv(t, "tcp", nil)
	c := e.dial()
	c.login(stateNewpass)
	c.drain()
	e.shutdown()
	infos := e.be.connInfos()
	if len(infos) != 1 {
		t.Fatalf("%d Authenticate calls", len(infos))
	}
	ci := infos[0]
	if ci.ID == "" || ci.Remote == nil || ci.Local == nil || ci.TLS != nil {
		t.Fatalf("ConnInfo %+v", ci)
	}
	if ci.Local.String() != e.addr {
		t.Fatalf("Local %s, want %s", ci.Local, e.addr)
	}
	if !strings.HasPrefix(ci.Remote.String(), "127.0.0.1:") {
		t.Fatalf("Remote %s", ci.Remote)
	}
}

// ServeTLS speaks the same protocol over implicit TLS, and the backend
// sees the TLS state.
func TestServeTLS(t *testing.T) {
	srvCfg, cliCfg := testkit.TLSConfigs(t)
	e := newEnv(t, "stdio", func(o *Options) { o.TLSConfig = srvCfg })
	ln := mustListen(t)
	done := make(chan error, 1)
	go func() { done <- e.srv.ServeTLS(ln) }()

	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", ln.Addr().String(), cliCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: t, r: bufio.NewReader(conn), w: conn, setRead: conn.SetReadDeadline,
		setWrite: conn.SetWriteDeadline, closeWrite: conn.CloseWrite, close: conn.Close}
	c.login(stateDone)
	c.cmd("quit")
	c.expect("200 Bye.")
	c.expectClosed()

	// A client that does not speak TLS gets nothing it could take for
	// a clear-text greeting.
	plain, err := net.DialTimeout("tcp", ln.Addr().String(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	_, _ = plain.Write([]byte("user alice\r\n"))
	_ = plain.SetReadDeadline(time.Now().Add(ioTimeout))
	buf := make([]byte, 64)
	n, _ := plain.Read(buf)
	if strings.Contains(string(buf[:n]), "200") {
		t.Fatalf("clear-text client got %q", buf[:n])
	}

	e.srv.Close()
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ServeTLS: %v", err)
	}
	if infos := e.be.connInfos(); len(infos) != 1 || infos[0].TLS == nil || !infos[0].TLS.HandshakeComplete {
		t.Fatalf("backend did not see the TLS state: %+v", infos)
	}
	if got := e.be.password("alice"); got != "Brand-New-Pw" {
		t.Fatalf("password is %q", got)
	}
}

func TestServeTLSWithoutConfig(t *testing.T) {
	s := New(&Options{Backend: newTestBackend()})
	ln := mustListen(t)
	defer ln.Close()
	if err := s.ServeTLS(ln); err == nil {
		t.Fatal("ServeTLS without TLSConfig succeeded")
	}
}

func TestNewPanics(t *testing.T) {
	for name, o := range map[string]*Options{
		"nil options":      nil,
		"nil backend":      {},
		"negative idle":    {Backend: newTestBackend(), IdleTimeout: -1},
		"negative session": {Backend: newTestBackend(), SessionTimeout: -1},
		"negative length":  {Backend: newTestBackend(), MaxPasswordLen: -1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New did not panic", name)
				}
			}()
			New(o)
		}()
	}
}

func TestDefaults(t *testing.T) {
	s := New(&Options{Backend: newTestBackend(), Version: "v2.0.1-3-gabc def\r\n"})
	o := s.opts
	if o.IdleTimeout != DefaultIdleTimeout || o.SessionTimeout != DefaultSessionTimeout ||
		o.FailureDelay != DefaultFailureDelay || o.MaxPasswordLen != DefaultMaxPasswordLen ||
		o.MaxConns != DefaultMaxConns || o.MaxConnsPerIP != 0 || o.Logger == nil {
		t.Fatalf("defaults not applied: %+v", o)
	}
	if s.maxLine != 512 {
		t.Fatalf("line limit %d", s.maxLine)
	}
	// The greeting keeps the shape scanners match:
	// ^200 ([-.\w]+ )?poppassd v(\d[-.\w]+) hello, who are you\?\r\n
	want := "poppassd v2.0.1-3-gabcdef hello, who are you?"
	if s.greeting != want {
		t.Fatalf("greeting %q, want %q", s.greeting, want)
	}
	nmap := regexp.MustCompile(`^200 ([-.\w]+ )?poppassd v(\d[-.\w]+) hello, who are you\?\r\n$`)
	if !nmap.MatchString("200 " + s.greeting + "\r\n") {
		t.Fatalf("greeting %q does not match the scanner pattern", s.greeting)
	}
	s = New(&Options{Backend: newTestBackend(), FailureDelay: -1, MaxConns: -1})
	if s.opts.FailureDelay != 0 || s.opts.MaxConns != 0 {
		t.Fatalf("negative values: %+v", s.opts)
	}
}
