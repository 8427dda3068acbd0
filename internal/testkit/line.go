package testkit

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// DialTimeout bounds the TCP connect of DialLine.
const DialTimeout = 5 * time.Second

// maxLines bounds the lines Multi and Rest read, so that a server that
// never ends a reply cannot keep a test in a loop.
const maxLines = 100000

// LineConn is the client end of a line-oriented conversation (POP3 or
// poppassd) over TCP. The whole conversation has one deadline, set when it
// is dialled; C.SetDeadline moves it.
type LineConn struct {
	// T is the test Expect fails; it may be nil when Expect is not used,
	// as in a goroutine other than the test's.
	T testing.TB
	// C is the connection.
	C net.Conn
	// R reads the server's replies from C.
	R *bufio.Reader
}

// DialLine connects to addr, from the loopback source address src ("" for
// any), within DialTimeout and gives the conversation the deadline life
// from now. t may be nil.
func DialLine(t testing.TB, src, addr string, life time.Duration) (*LineConn, error) {
	d := net.Dialer{Timeout: DialTimeout}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("testkit: dial %s: %w", addr, err)
	}
	_ = c.SetDeadline(time.Now().Add(life))
	return &LineConn{T: t, C: c, R: bufio.NewReader(c)}, nil
}

// DialGreeting is DialLine from any source address that fails t when the
// connect fails or the greeting does not start with prefix.
func DialGreeting(t testing.TB, addr, prefix string, life time.Duration) *LineConn {
	t.Helper()
	c, err := DialLine(t, "", addr, life)
	if err != nil {
		t.Fatal(err)
	}
	if g := c.Line(); !strings.HasPrefix(g, prefix) {
		c.Close()
		t.Fatalf("greeting %q", g)
	}
	return c
}

// ReadRaw reads one line with its line end.
func (c *LineConn) ReadRaw() (string, error) {
	return c.R.ReadString('\n')
}

// Line reads one line without its line end, or returns "ERR:" and the
// error, so that a failed read shows in the reply a test checks.
func (c *LineConn) Line() string {
	l, err := c.ReadRaw()
	if err != nil {
		return "ERR:" + err.Error()
	}
	return strings.TrimRight(l, "\r\n")
}

// Send writes line with CRLF; like a client that does not check its
// writes, it leaves a failed write to show in the next read.
func (c *LineConn) Send(line string) {
	fmt.Fprintf(c.C, "%s\r\n", line)
}

// Cmd sends line with CRLF and returns the reply line, as Line does.
func (c *LineConn) Cmd(line string) string {
	c.Send(line)
	return c.Line()
}

// Expect sends line and fails T unless the reply starts with prefix; the
// failure names the first word of line. It returns the reply.
func (c *LineConn) Expect(line, prefix string) string {
	c.T.Helper()
	l := c.Cmd(line)
	if !strings.HasPrefix(l, prefix) {
		name := line
		if f := strings.Fields(line); len(f) > 0 {
			name = f[0]
		}
		c.T.Fatalf("%s: %q", name, l)
	}
	return l
}

// Multi reads the data lines of a multi-line reply up to the line ".",
// which it consumes, and returns them with their CRLF, still dot-stuffed.
// On an error it returns what it read so far.
func (c *LineConn) Multi() (string, error) {
	var b strings.Builder
	for range maxLines {
		l, err := c.ReadRaw()
		if err != nil {
			return b.String(), fmt.Errorf("testkit: multi-line reply: %w", err)
		}
		if l == ".\r\n" {
			return b.String(), nil
		}
		b.WriteString(l)
	}
	return b.String(), errors.New("testkit: multi-line reply without end")
}

// Rest reads lines for up to d and returns them without their line ends,
// and whether the server closed the connection (any read error other than
// the timeout) in that time. It reads at most 100 lines.
func (c *LineConn) Rest(d time.Duration) ([]string, bool) {
	_ = c.C.SetReadDeadline(time.Now().Add(d))
	var lines []string
	for len(lines) < 100 {
		l, err := c.ReadRaw()
		if l != "" {
			lines = append(lines, strings.TrimRight(l, "\r\n"))
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return lines, false
			}
			return lines, true
		}
	}
	return lines, false
}

// Close closes the connection.
func (c *LineConn) Close() error { return c.C.Close() }

// Unstuff removes the dot-stuffing of the data lines of a multi-line
// reply as Multi returns them (RFC 1939 §3).
func Unstuff(data string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(data, "\n") {
		b.WriteString(strings.TrimPrefix(l, "."))
	}
	return b.String()
}

// PasswdSession speaks poppassd to addr: it reads the greeting, then
// sends each of lines and reads one reply to it, stopping after the first
// reply that starts with "500" or after a failed read. It returns the
// replies read, with their line ends. The conversation has the deadline
// life; t fails when the connect fails or no greeting comes.
func PasswdSession(t testing.TB, addr string, life time.Duration, lines ...string) []string {
	t.Helper()
	c, err := DialLine(t, "", addr, life)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var replies []string
	read := func() bool {
		l, err := c.ReadRaw()
		if err != nil {
			return false
		}
		replies = append(replies, l)
		return true
	}
	if !read() {
		t.Fatal("poppassd: no greeting")
	}
	for _, l := range lines {
		c.Send(l)
		if !read() || strings.HasPrefix(replies[len(replies)-1], "500") {
			break
		}
	}
	return replies
}
