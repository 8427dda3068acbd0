package pop3d_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/testkit"
	"github.com/popadm/popadm/pop3d"
	"github.com/popadm/popadm/pop3d/memdrop"
)

// ioTimeout bounds every read and write of a test client.
const ioTimeout = 5 * time.Second

// The RFC 1939 §10 example: user mrose, secret tanstaaf, two messages of
// 120 and 200 octets.
const (
	testUser = "mrose"
	testPass = "tanstaaf"
	rfcStamp = "<1896.697170952@dbc.mtview.ca.us>"
)

// message1 is 120 octets with a dot line for stuffing and lines for TOP.
var message1 = pad("From: alice@example.org\r\nSubject: one\r\n\r\nline 1\r\nline 2\r\n.dotted\r\n", 120)

// message2 is 200 octets.
var message2 = pad("From: bob@example.org\r\nSubject: two\r\n\r\nbody\r\n", 200)

// pad appends one line of 'p' so that msg is exactly size octets.
func pad(msg string, size int) string {
	n := size - len(msg) - 2
	if n < 0 {
		panic("pad: message too long")
	}
	return msg + strings.Repeat("p", n) + "\r\n"
}

// newBackend returns a memdrop with the RFC example maildrop and a few
// more users for specific tests.
func newBackend() *memdrop.Backend {
	be := memdrop.New()
	be.AddUser(testUser, testPass)
	be.AddMessage(testUser, []byte(message1))
	be.AddMessage(testUser, []byte(message2))
	be.AddUser("spacey", "correct horse battery staple")
	be.AddMessage("spacey", []byte("Subject: s\r\n\r\nhi\r\n"))
	be.AddUser("jösé", "pässwörd ünïcode")
	be.AddMessage("jösé", []byte("Subject: =?utf-8?q?caf=C3=A9?=\r\nX-Raw: café\r\n\r\nüber\r\n"))
	be.AddUser("empty", "nothing here")
	return be
}

// harness is a server on a loopback listener.
type harness struct {
	srv       *pop3d.Server
	be        *memdrop.Backend
	addr      string
	tlsAddr   string // implicit TLS listener, if TLS is configured
	clientTLS *tls.Config
	serveErr  chan error
}

type harnessConfig struct {
	opts    pop3d.Options
	tls     bool
	stamp   string // fixed APOP timestamp
	backend *memdrop.Backend
}

// discardLogger drops log records.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startHarness(t testing.TB, hc harnessConfig) *harness {
	t.Helper()
	h := &harness{be: hc.backend, serveErr: make(chan error, 2)}
	if h.be == nil {
		h.be = newBackend()
	}
	opts := hc.opts
	opts.Backend = h.be
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	if opts.Hostname == "" {
		opts.Hostname = "pop.example.test"
	}
	if hc.tls {
		opts.TLSConfig, h.clientTLS = testkit.TLSConfigs(t)
	}
	h.srv = pop3d.New(&opts)
	if hc.stamp != "" {
		stamp := hc.stamp
		pop3d.SetTimestamp(h.srv, func() string { return stamp })
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	go func() { h.serveErr <- h.srv.Serve(ln) }()
	if hc.tls {
		tln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		h.tlsAddr = tln.Addr().String()
		go func() { h.serveErr <- h.srv.ServeTLS(tln) }()
	}
	t.Cleanup(func() { h.srv.Close() })
	return h
}

// client is a line-oriented test client with a deadline on every call.
type client struct {
	t  testing.TB
	nc net.Conn
	r  *bufio.Reader
}

func (h *harness) dial(t testing.TB) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", h.addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, nc: nc, r: bufio.NewReader(nc)}
	t.Cleanup(func() { nc.Close() })
	return c
}

func (h *harness) dialTLS(t testing.TB) *client {
	t.Helper()
	d := &net.Dialer{Timeout: ioTimeout}
	nc, err := tls.DialWithDialer(d, "tcp", h.tlsAddr, h.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, nc: nc, r: bufio.NewReader(nc)}
	t.Cleanup(func() { nc.Close() })
	return c
}

// send writes raw bytes.
func (c *client) send(s string) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// cmd sends one command line with CRLF.
func (c *client) cmd(line string) { c.t.Helper(); c.send(line + "\r\n") }

// line reads one line and returns it without CRLF; it fails on a bare-LF
// line end.
func (c *client) line() string {
	c.t.Helper()
	l, err := c.readLine()
	if err != nil {
		c.t.Fatalf("read: %v (partial %q)", err, l)
	}
	return l
}

func (c *client) readLine() (string, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	l, err := c.r.ReadString('\n')
	if err != nil {
		return l, err
	}
	if !strings.HasSuffix(l, "\r\n") {
		return l, fmt.Errorf("line without CRLF: %q", l)
	}
	return strings.TrimSuffix(l, "\r\n"), nil
}

// expect reads one line and checks it against a glob pattern.
func (c *client) expect(pattern string) string {
	c.t.Helper()
	l := c.line()
	if !match(pattern, l) {
		c.t.Fatalf("got %q, want %q", l, pattern)
	}
	return l
}

// do sends a command and checks the status line.
func (c *client) do(line, pattern string) string {
	c.t.Helper()
	c.cmd(line)
	return c.expect(pattern)
}

// body reads the lines of a multi-line response up to the "." line and
// returns them still dot-stuffed.
func (c *client) body() []string {
	c.t.Helper()
	var lines []string
	for range 100000 {
		l := c.line()
		if l == "." {
			return lines
		}
		lines = append(lines, l)
	}
	c.t.Fatal("multi-line response without end")
	return nil
}

// closed checks that the server closes the connection without sending
// anything more.
func (c *client) closed() {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	l, err := c.r.ReadString('\n')
	if err == nil || l != "" {
		c.t.Fatalf("expected close, got %q, %v", l, err)
	}
	if !errors.Is(err, io.EOF) && !isReset(err) {
		c.t.Fatalf("expected EOF, got %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// login runs USER/PASS for the RFC example user.
func (c *client) login() {
	c.t.Helper()
	c.do("USER "+testUser, "+OK *")
	c.do("PASS "+testPass, "+OK *")
}

// match is the transcript pattern matcher: path.Match style, except that
// '*' matches any run of characters including '/', '[' is literal (so
// response codes read naturally) and '\' escapes the next character.
func match(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for len(pattern) > 0 && pattern[0] == '*' {
				pattern = pattern[1:]
			}
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if match(pattern, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		case '\\':
			if len(pattern) < 2 {
				return false
			}
			if s == "" || s[0] != pattern[1] {
				return false
			}
			pattern, s = pattern[2:], s[1:]
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		}
	}
	return s == ""
}

// nonLocal makes every address count as remote, to test the cleartext
// policy over loopback.
func nonLocal(net.Addr) bool { return false }

// waitFor polls cond for up to ioTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var _ = context.Background
