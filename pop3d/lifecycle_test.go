package pop3d_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/lineserver"
	"github.com/popadm/popadm/internal/testkit"
	"github.com/popadm/popadm/pop3d"
	"github.com/popadm/popadm/pop3d/memdrop"
)

// TestIdleTimeout: with a 300 ms idle timeout, a client sending NOOP every
// 100 ms stays connected over a second; a silent one is dropped without a
// response (RFC 1939 §3) and without UPDATE.
func TestIdleTimeout(t *testing.T) {
	h := startHarness(t, harnessConfig{opts: pop3d.Options{IdleTimeout: 300 * time.Millisecond}})
	busy := h.dial(t)
	busy.expect("+OK *")
	busy.login()
	busy.do("DELE 1", "+OK *")
	start := time.Now()
	for i := 0; i < 12 || time.Since(start) < time.Second; i++ {
		if i > 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
		busy.do("NOOP", "+OK")
	}
	busy.do("QUIT", "+OK bye, 1 messages deleted")
	busy.closed()

	silent := h.dial(t)
	silent.expect("+OK *")
	silent.do("USER spacey", "+OK *")
	silent.do("PASS correct horse battery staple", "+OK *")
	silent.do("DELE 1", "+OK *")
	silent.closed() // no "-ERR autologout" line
	waitFor(t, "maildrop closed", func() bool { return h.be.Stats("spacey").Closes == 1 })
	if st := h.be.Stats("spacey"); st.Commits != 0 || st.Locked {
		t.Fatalf("after idle timeout: %+v", st)
	}
	if n := len(h.be.Messages("spacey")); n != 1 {
		t.Fatalf("idle timeout removed messages: %d left", n)
	}
}

// TestLoginTimeout bounds the AUTHORIZATION state as a whole, even for a
// client that keeps sending commands.
func TestLoginTimeout(t *testing.T) {
	h := startHarness(t, harnessConfig{opts: pop3d.Options{LoginTimeout: 300 * time.Millisecond, MaxErrors: -1}})
	c := h.dial(t)
	c.expect("+OK *")
	for i := 0; i < 100; i++ {
		_ = c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
		if _, err := io.WriteString(c.nc, "CAPA\r\n"); err != nil {
			return // closed
		}
		l, err := c.readLine()
		if err != nil {
			if l != "" {
				t.Fatalf("partial line %q", l)
			}
			return // closed without a response: pass
		}
		if l != "+OK Capability list follows" {
			t.Fatalf("got %q", l)
		}
		c.body()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("still in AUTHORIZATION after the login timeout")
}

// TestDroppedConnectionCommitsNothing (RFC 1939 §6).
func TestDroppedConnectionCommitsNothing(t *testing.T) {
	h := startHarness(t, harnessConfig{})
	c := h.dial(t)
	c.expect("+OK *")
	c.login()
	c.do("DELE 1", "+OK *")
	c.do("DELE 2", "+OK *")
	c.nc.Close()
	waitFor(t, "maildrop closed", func() bool { return h.be.Stats(testUser).Closes == 1 })
	st := h.be.Stats(testUser)
	if st.Commits != 0 || st.Locked || st.OpenReaders != 0 {
		t.Fatalf("stats after drop: %+v", st)
	}
	if n := len(h.be.Messages(testUser)); n != 2 {
		t.Fatalf("%d messages left, want 2", n)
	}
	// A half-sent QUIT (no line end) is not executed either.
	c = h.dial(t)
	c.expect("+OK *")
	c.login()
	c.do("DELE 1", "+OK *")
	c.send("QUIT")
	c.nc.(*net.TCPConn).CloseWrite()
	c.closed()
	waitFor(t, "maildrop closed", func() bool { return h.be.Stats(testUser).Closes == 2 })
	if st := h.be.Stats(testUser); st.Commits != 0 {
		t.Fatalf("cut-off QUIT committed: %+v", st)
	}
}

// TestQuitCommits: QUIT in TRANSACTION commits, then +OK, then Close once.
func TestQuitCommits(t *testing.T) {
	h := startHarness(t, harnessConfig{})
	c := h.dial(t)
	c.expect("+OK *")
	c.login()
	c.do("DELE 2", "+OK *")
	// Mail delivered during the session survives its UPDATE (RFC 1939 §6).
	h.be.AddMessage(testUser, []byte("Subject: new\r\n\r\nnew\r\n"))
	c.do("QUIT", "+OK bye, 1 messages deleted")
	c.closed()
	waitFor(t, "maildrop closed", func() bool { return h.be.Stats(testUser).Closes == 1 })
	st := h.be.Stats(testUser)
	if st.Commits != 1 || st.Closes != 1 || st.Locked {
		t.Fatalf("stats %+v", st)
	}
	left := h.be.Messages(testUser)
	if len(left) != 2 || string(left[0]) != message1 || !strings.Contains(string(left[1]), "Subject: new") {
		t.Fatalf("left %q", left)
	}
}

func TestCommitFailure(t *testing.T) {
	be := newBackend()
	be.CommitError = func(string) error { return errors.New("unlink: permission denied") }
	h := startHarness(t, harnessConfig{backend: be})
	c := h.dial(t)
	c.expect("+OK *")
	c.login()
	c.do("DELE 1", "+OK *")
	c.do("QUIT", "-ERR [SYS/TEMP] some deleted messages not removed")
	c.closed()
	waitFor(t, "maildrop closed", func() bool { return be.Stats(testUser).Closes == 1 })
}

// TestSTLSPipelinedPlaintextIgnored: commands pipelined after STLS in
// plaintext are discarded, never executed (CVE-2011-0411).
func TestSTLSPipelinedPlaintextIgnored(t *testing.T) {
	logs := &testkit.SyncBuffer{}
	h := startHarness(t, harnessConfig{tls: true, opts: pop3d.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))}})
	c := h.dial(t)
	c.expect("+OK *")
	c.send("STLS\r\nUSER mrose\r\nPASS tanstaaf\r\n")
	c.expect("+OK Begin TLS negotiation")
	tc := tlsClient(c, h)
	// The first reply over TLS answers CAPA: USER and PASS were dropped.
	tc.do("CAPA", "+OK Capability list follows")
	tc.body()
	tc.do("PASS tanstaaf", "-ERR USER first")
	if st := h.be.Stats(testUser); st.Logins != 0 {
		t.Fatalf("pipelined login executed: %+v", st)
	}
	if !strings.Contains(logs.String(), "pipelined after STLS") {
		t.Log("note: pipelined bytes arrived after the STLS line was handled")
	}
}

// TestShutdownNoCommit: Shutdown ends sessions at the next command
// boundary without UPDATE; Serve returns ErrServerClosed.
func TestShutdownNoCommit(t *testing.T) {
	h := startHarness(t, harnessConfig{})
	c := h.dial(t)
	c.expect("+OK *")
	c.login()
	c.do("DELE 1", "+OK *")
	idle := h.dial(t)
	idle.expect("+OK *")
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	c.closed()
	idle.closed()
	if err := <-h.serveErr; !errors.Is(err, pop3d.ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	st := h.be.Stats(testUser)
	if st.Commits != 0 || st.Closes != 1 || st.Locked {
		t.Fatalf("stats after Shutdown: %+v", st)
	}
	if n := len(h.be.Messages(testUser)); n != 2 {
		t.Fatalf("%d messages left", n)
	}
	if h.srv.Conns() != 0 {
		t.Fatalf("Conns = %d", h.srv.Conns())
	}
}

// TestLongLineTailNotExecuted: a 64 KiB line gets one -ERR and a close;
// the commands after it are never run.
func TestLongLineTailNotExecuted(t *testing.T) {
	for _, loggedIn := range []bool{false, true} {
		h := startHarness(t, harnessConfig{})
		c := h.dial(t)
		c.expect("+OK *")
		if loggedIn {
			c.login()
		}
		go func() {
			_ = c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
			_, _ = io.WriteString(c.nc, "NOOP "+strings.Repeat("x", 65536)+"\r\nDELE 1\r\nQUIT\r\n")
		}()
		c.expect("-ERR line too long")
		c.closed()
		waitFor(t, "session end", func() bool { return h.srv.Conns() == 0 })
		if st := h.be.Stats(testUser); st.Commits != 0 {
			t.Fatalf("tail executed: %+v", st)
		}
	}
}

// TestByteByByte: commands split into single bytes, CR and LF apart.
func TestByteByByte(t *testing.T) {
	h := startHarness(t, harnessConfig{})
	c := h.dial(t)
	c.expect("+OK *")
	for _, b := range []byte("USER mrose\r\nPASS tanstaaf\r\nSTAT\r\n") {
		c.send(string(b))
	}
	c.expect("+OK *")
	c.expect("+OK *")
	c.expect("+OK 2 320")
}

// TestAPOPTimestamp: a fresh msg-id timestamp on every greeting, only
// when APOP is on.
func TestAPOPTimestamp(t *testing.T) {
	h := startHarness(t, harnessConfig{opts: pop3d.Options{APOP: true}})
	re := regexp.MustCompile(`^\+OK POP3 server ready (<[0-9]+\.[0-9]+\.[0-9]+@pop\.example\.test>)$`)
	seen := map[string]bool{}
	for range 5 {
		c := h.dial(t)
		m := re.FindStringSubmatch(c.line())
		if m == nil {
			t.Fatal("greeting without a well-formed timestamp")
		}
		if seen[m[1]] {
			t.Fatalf("timestamp %s repeated", m[1])
		}
		seen[m[1]] = true
	}
	plain := startHarness(t, harnessConfig{})
	if g := plain.dial(t).line(); strings.Contains(g, "<") {
		t.Fatalf("timestamp without APOP: %q", g)
	}
}

func TestMaxConns(t *testing.T) {
	h := startHarness(t, harnessConfig{opts: pop3d.Options{MaxConnsPerIP: 1}})
	a := h.dial(t)
	a.expect("+OK *")
	b := h.dial(t)
	b.expect("-ERR [SYS/TEMP] too many connections")
	b.closed()
}

// panicBackend panics in Login.
type panicBackend struct{ *memdrop.Backend }

func (panicBackend) Login(context.Context, *pop3d.ConnInfo, string, string) (pop3d.Session, error) {
	panic("backend bug")
}

func TestPanicGuard(t *testing.T) {
	logs := &testkit.SyncBuffer{}
	be := newBackend()
	srv := pop3d.New(&pop3d.Options{Backend: panicBackend{be}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	h := &harness{srv: srv, be: be, addr: ln.Addr().String()}
	c := h.dial(t)
	c.expect("+OK *")
	c.do("USER mrose", "+OK *")
	c.do("PASS x", "-ERR [SYS/TEMP] internal server error")
	c.closed()
	if !strings.Contains(logs.String(), "backend bug") {
		t.Fatalf("panic not logged:\n%s", logs.String())
	}
	c = h.dial(t)
	c.expect("+OK *")
}

// TestParallelGarbage: 20 parallel connections sending garbage never get
// +OK for it and never crash the server.
func TestParallelGarbage(t *testing.T) {
	h := startHarness(t, harnessConfig{})
	inputs := []string{"\xff\xfd\x18\xff\xfa", "\x00\x00\x00\r\n", "GET / HTTP/1.0\r\n", "\x16\x03\x01\x02\x00", "}}}}\r\n"}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.DialTimeout("tcp", h.addr, ioTimeout)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(ioTimeout))
			r := newReader(nc)
			if g, _ := r.ReadString('\n'); !strings.HasPrefix(g, "+OK") {
				errs <- fmt.Errorf("greeting %q", g)
				return
			}
			_, _ = io.WriteString(nc, inputs[i%len(inputs)]+"\r\n")
			if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "-ERR") {
				errs <- fmt.Errorf("input %q got %q", inputs[i%len(inputs)], l)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestInetd serves a session over stdin/stdout-like pipes.
func TestInetd(t *testing.T) {
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	defer outR.Close()
	be := newBackend()
	srv := pop3d.New(&pop3d.Options{Backend: be, Logger: discardLogger()})
	done := make(chan struct{})
	go func() { srv.ServeConn(context.Background(), lineserver.StdioConn(inR, outW)); close(done) }()
	r := newReader(outR)
	_ = outR.SetReadDeadline(time.Now().Add(ioTimeout))
	if g, _ := r.ReadString('\n'); g != "+OK POP3 server ready\r\n" {
		t.Fatalf("greeting %q", g)
	}
	// stdio counts as local: USER is allowed.
	_, _ = io.WriteString(inW, "USER mrose\r\nPASS tanstaaf\r\nQUIT\r\n")
	for _, want := range []string{"+OK send PASS\r\n", "+OK mrose's maildrop has 2 messages (320 octets)\r\n", "+OK bye, 0 messages deleted\r\n"} {
		if l, _ := r.ReadString('\n'); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	select {
	case <-done:
	case <-time.After(ioTimeout):
		t.Fatal("ServeConn did not return after QUIT")
	}
}

func TestNewPanics(t *testing.T) {
	be := newBackend()
	type plainOnly struct{ pop3d.Backend }
	tests := map[string]*pop3d.Options{
		"nil options":      nil,
		"nil backend":      {},
		"apop unsupported": {Backend: plainOnly{be}, APOP: true},
		"sasl unsupported": {Backend: plainOnly{be}, SASLMechanisms: []string{"CRAM-MD5"}},
		"plain listed":     {Backend: be, SASLMechanisms: []string{"PLAIN"}},
		"bad mech":         {Backend: be, SASLMechanisms: []string{"CRAM MD5"}},
		"maxline too low":  {Backend: be, MaxLine: 254},
		"greeting crlf":    {Backend: be, Greeting: "hi\r\n+OK"},
		"bad expire":       {Backend: be, Expire: "soon"},
		"negative timeout": {Backend: be, IdleTimeout: -1},
	}
	for name, o := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("New did not panic")
				}
			}()
			pop3d.New(o)
		})
	}
	// Valid edge values do not panic.
	pop3d.New(&pop3d.Options{Backend: be, MaxLine: 255, Expire: "0", SASLMechanisms: []string{"scram-sha-256"}})
}

// TestTLSMinVersion: TLS 1.1 is refused even if the config allows it.
func TestTLSMinVersion(t *testing.T) {
	h := startHarness(t, harnessConfig{tls: true})
	cfg := h.clientTLS.Clone()
	cfg.MaxVersion = 0x0302 // TLS 1.1
	d := &net.Dialer{Timeout: ioTimeout}
	nc, err := tlsDial(d, h.tlsAddr, cfg)
	if err == nil {
		nc.Close()
		t.Fatal("TLS 1.1 handshake succeeded")
	}
}

// TestConnectLogs checks the connect, login and disconnect records and
// that no password reaches the log.
func TestConnectLogs(t *testing.T) {
	logs := &testkit.SyncBuffer{}
	h := startHarness(t, harnessConfig{opts: pop3d.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))}})
	c := h.dial(t)
	c.expect("+OK *")
	c.login()
	c.do("RETR 1", "+OK *")
	c.body()
	c.do("DELE 1", "+OK *")
	c.do("QUIT", "+OK *")
	c.closed()
	waitFor(t, "disconnect log", func() bool { return strings.Contains(logs.String(), "msg=disconnect") })
	out := logs.String()
	for _, want := range []string{"msg=connect", "proto=pop3", "tls=false", "cid=", "msg=login", "user=mrose", "mech=USER", "retr=1", "dele=1", "reason=quit", "bytes="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, testPass) {
		t.Fatal("password in the log")
	}
}

// TestImplicitTLSPlaintextClient: a plaintext client on the implicit-TLS
// port gets nothing POP3-shaped, and a silent one is dropped after the
// handshake timeout.
func TestImplicitTLSPlaintextClient(t *testing.T) {
	h := startHarness(t, harnessConfig{tls: true, opts: pop3d.Options{HandshakeTimeout: 200 * time.Millisecond}})
	for _, send := range []string{"", "USER mrose\r\n"} {
		nc, err := net.DialTimeout("tcp", h.tlsAddr, ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if send != "" {
			_, _ = io.WriteString(nc, send)
		}
		_ = nc.SetReadDeadline(time.Now().Add(ioTimeout))
		data, _ := io.ReadAll(nc)
		nc.Close()
		if bytes.Contains(data, []byte("+OK")) || bytes.Contains(data, []byte("-ERR")) {
			t.Fatalf("plaintext client got %q", data)
		}
	}
}
