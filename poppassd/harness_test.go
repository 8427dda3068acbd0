package poppassd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/lineserver"
	"github.com/popadm/popadm/internal/testkit"
)

// ioTimeout bounds every read and write of the test client, so a broken
// server fails a test instead of hanging it.
const ioTimeout = 5 * time.Second

// Fixture passwords. Each is distinctive, so a test can search logs and
// traces for it.
const (
	alicePass = "Al1ce-old-pw"
	bobPass   = "  b0b has spaces  " // leading, inner and trailing spaces
	carolPass = "Car0l-disabled"
	davePass  = "Dav3-no-change"
	erinPass  = "Er1n-panics"
)

// longPass is exactly DefaultMaxPasswordLen bytes.
var longPass = strings.Repeat("L", DefaultMaxPasswordLen)

// testAccount is one account of testBackend.
type testAccount struct {
	password string
	disabled bool // refused at Authenticate
	noChange bool // may not change its password
}

// testBackend is a map-based Backend. The real store is tested in authdb;
// this one only has to give the protocol every kind of answer.
type testBackend struct {
	mu          sync.Mutex
	users       map[string]*testAccount
	authCalls   int
	changeCalls int
	infos       []ConnInfo
	panicUser   string // ChangePassword panics for this user
	// If set, ChangePassword signals entered and waits for release.
	entered, release chan struct{}
}

func newTestBackend() *testBackend {
	return &testBackend{
		users: map[string]*testAccount{
			"alice":             {password: alicePass},
			"alice@example.com": {password: alicePass},
			"bob":               {password: bobPass},
			"carol":             {password: carolPass, disabled: true},
			"dave":              {password: davePass, noChange: true},
			"erin":              {password: erinPass},
			"long":              {password: longPass},
		},
		panicUser: "erin",
	}
}

// Authenticate implements Backend. The user "down" simulates a store that
// is unavailable.
func (b *testBackend) Authenticate(ctx context.Context, c *ConnInfo, username, password string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.authCalls++
	b.infos = append(b.infos, *c)
	if username == "down" {
		return fmt.Errorf("%w: test: database is locked", ErrUnavailable)
	}
	a, ok := b.users[username]
	switch {
	case !ok:
		return fmt.Errorf("test: unknown user: %w", ErrAuthFailed)
	case a.password != password:
		return fmt.Errorf("test: bad password: %w", ErrAuthFailed)
	case a.disabled:
		return fmt.Errorf("test: disabled: %w", ErrAuthFailed)
	case a.noChange:
		return errors.New("test: not allowed to change the password")
	}
	return nil
}

// ChangePassword implements Backend with a small policy: at least 8 bytes,
// different from the old one. "Trigger-Failure" simulates a failing
// commit.
func (b *testBackend) ChangePassword(ctx context.Context, c *ConnInfo, username, oldPassword, newPassword string) error {
	if b.entered != nil {
		b.entered <- struct{}{}
		<-b.release
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.changeCalls++
	a, ok := b.users[username]
	if !ok || a.password != oldPassword || a.disabled || a.noChange {
		return fmt.Errorf("test: change refused: %w", ErrAuthFailed)
	}
	switch {
	case username == b.panicUser:
		panic("test: backend panic")
	case len(newPassword) < 8:
		return &PolicyError{Msg: "Password must have at least 8 characters."}
	case newPassword == oldPassword:
		return &PolicyError{Msg: "New password must differ from the old one."}
	case newPassword == "Trigger-Failure":
		return errors.New("test: disk full")
	case newPassword == "Echo-Policy-Msg":
		// A buggy policy that echoes the password back.
		return &PolicyError{Msg: "Password Echo-Policy-Msg is too weak."}
	}
	a.password = newPassword
	return nil
}

func (b *testBackend) setPassword(user, password string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.users[user].password = password
}

func (b *testBackend) password(user string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if a, ok := b.users[user]; ok {
		return a.password
	}
	return ""
}

func (b *testBackend) connInfos() []ConnInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]ConnInfo(nil), b.infos...)
}

func (b *testBackend) calls() (auth, change int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.authCalls, b.changeCalls
}

// transports are the two ways a conversation reaches the server: a TCP
// listener on loopback (Serve) and a pair of pipes through
// lineserver.StdioConn (ServeConn, the inetd mode).
var transports = []string{"tcp", "stdio"}

// env is one server with its backend, logs and trace.
type env struct {
	t     *testing.T
	be    *testBackend
	srv   *Server
	logs  *testkit.SyncBuffer
	trace *testkit.SyncBuffer
	mode  string
	addr  string
	wg    sync.WaitGroup
}

// newEnv starts a server for mode ("tcp" or "stdio"). mod adjusts the
// options; the defaults are fast timeouts for tests.
func newEnv(t *testing.T, mode string, mod func(*Options)) *env {
	t.Helper()
	e := &env{t: t, be: newTestBackend(), logs: &testkit.SyncBuffer{}, trace: &testkit.SyncBuffer{}, mode: mode}
	opts := &Options{
		Backend:        e.be,
		Version:        "1.2.3",
		IdleTimeout:    ioTimeout,
		SessionTimeout: 2 * ioTimeout,
		FailureDelay:   10 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Debug:          e.trace,
	}
	if mod != nil {
		mod(opts)
	}
	e.srv = New(opts)
	if mode == "tcp" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		e.addr = ln.Addr().String()
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			if err := e.srv.Serve(ln); !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		e.srv.Close()
		e.wg.Wait()
	})
	return e
}

// client is the test side of one conversation.
type client struct {
	t          *testing.T
	r          *bufio.Reader
	w          io.Writer
	setRead    func(time.Time) error
	setWrite   func(time.Time) error
	closeWrite func() error
	close      func() error
}

// dial opens a conversation over the env's transport.
func (e *env) dial() *client {
	e.t.Helper()
	if e.mode == "tcp" {
		c, err := net.DialTimeout("tcp", e.addr, ioTimeout)
		if err != nil {
			e.t.Fatal(err)
		}
		tc := c.(*net.TCPConn)
		cl := &client{t: e.t, r: bufio.NewReader(c), w: c, setRead: c.SetReadDeadline,
			setWrite: c.SetWriteDeadline, closeWrite: tc.CloseWrite, close: c.Close}
		e.t.Cleanup(func() { c.Close() })
		return cl
	}
	inR, inW, err := os.Pipe() // client → server
	if err != nil {
		e.t.Fatal(err)
	}
	outR, outW, err := os.Pipe() // server → client
	if err != nil {
		e.t.Fatal(err)
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.srv.ServeConn(context.Background(), lineserver.StdioConn(inR, outW))
	}()
	cl := &client{t: e.t, r: bufio.NewReader(outR), w: inW, setRead: outR.SetReadDeadline,
		setWrite: inW.SetWriteDeadline, closeWrite: inW.Close,
		close: func() error { inW.Close(); return outR.Close() }}
	e.t.Cleanup(func() { cl.close() })
	return cl
}

// send writes raw bytes.
func (c *client) send(s string) {
	c.t.Helper()
	_ = c.setWrite(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c.w, s); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

// sendLoose writes raw bytes the server may stop reading (it closes after
// an over-long line), ignoring a broken pipe or reset.
func (c *client) sendLoose(s string) {
	c.t.Helper()
	_ = c.setWrite(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c.w, s); err != nil &&
		!errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		c.t.Fatalf("send %d bytes: %v", len(s), err)
	}
}

// cmd sends one line with CRLF.
func (c *client) cmd(s string) { c.t.Helper(); c.send(s + "\r\n") }

// readLine reads one CRLF-terminated reply line. It fails the test on a
// line without CRLF.
func (c *client) readLine() (string, error) {
	_ = c.setRead(time.Now().Add(ioTimeout))
	line, err := c.r.ReadString('\n')
	if err != nil {
		return line, err
	}
	if !strings.HasSuffix(line, "\r\n") {
		c.t.Errorf("reply %q does not end in CRLF", line)
	}
	return strings.TrimSuffix(line, "\r\n"), nil
}

// expect reads a reply line and matches it against pattern (path.Match
// syntax: * and ? are wildcards).
func (c *client) expect(pattern string) string {
	c.t.Helper()
	line, err := c.readLine()
	if err != nil {
		c.t.Fatalf("expected %q, got error %v (partial %q)", pattern, err, line)
	}
	if ok, _ := path.Match(pattern, line); !ok && line != pattern {
		c.t.Fatalf("expected %q, got %q", pattern, line)
	}
	return line
}

// expectClosed asserts that the server closed the connection with nothing
// more to say.
func (c *client) expectClosed() {
	c.t.Helper()
	line, err := c.readLine()
	if err == nil || line != "" {
		c.t.Fatalf("expected close, got %q (err %v)", line, err)
	}
	if !isClosed(err) {
		c.t.Fatalf("expected close, got error %v", err)
	}
}

// drain half-closes the client side and reads until the server closes,
// so the server's handler is done when it returns. It returns what was
// left.
func (c *client) drain() string {
	c.t.Helper()
	_ = c.closeWrite()
	_ = c.setRead(time.Now().Add(ioTimeout))
	rest, err := io.ReadAll(c.r)
	if err != nil && !isClosed(err) {
		c.t.Fatalf("drain: %v", err)
	}
	return string(rest)
}

// isClosed reports whether a read error means the peer closed: EOF, or a
// reset after the server closed with unread client data.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// login runs the conversation up to stage st for alice with her current
// password.
func (c *client) login(st state) {
	c.t.Helper()
	c.expect("200 poppassd v1.2.3 hello, who are you?")
	if st >= statePass {
		c.cmd("user alice")
		c.expect("200 Your password please.")
	}
	if st >= stateNewpass {
		c.cmd("pass " + alicePass)
		c.expect("200 Your new password please.")
	}
	if st >= stateDone {
		c.cmd("newpass Brand-New-Pw")
		c.expect("200 Password changed, thank-you.")
	}
}

// noSecrets asserts that none of the secrets occurs in the logs or in the
// trace.
func (e *env) noSecrets(secrets ...string) {
	e.t.Helper()
	for _, s := range secrets {
		if len(s) < 4 {
			continue
		}
		if strings.Contains(e.logs.String(), s) {
			e.t.Errorf("log contains the password %q:\n%s", s, e.logs.String())
		}
		if strings.Contains(e.trace.String(), s) {
			e.t.Errorf("trace contains the password %q:\n%s", s, e.trace.String())
		}
	}
}
