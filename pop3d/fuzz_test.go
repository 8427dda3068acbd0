package pop3d_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/popadm/popadm/pop3d"
	"github.com/popadm/popadm/pop3d/memdrop"
)

// FuzzParseCommand: the parser never panics, and what it accepts
// round-trips: formatting the result and parsing it again gives the same
// command.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"STAT", "list 1", "PASS a b  c", "TOP 1 99999999", "AUTH PLAIN =", "", " ", "USER jösé", "\x00", "GET / HTTP/1.1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		name, rest, hasRest, err := pop3d.ParseCommand(line)
		if err != nil {
			return
		}
		if name == "" || strings.ToUpper(name) != name {
			t.Fatalf("bad keyword %q", name)
		}
		if !hasRest && rest != "" {
			t.Fatalf("rest %q without a separator", rest)
		}
		formatted := name
		if hasRest {
			formatted += " " + rest
		}
		if !strings.EqualFold(name, string(line[:len(name)])) || formatted[len(name):] != string(line[len(name):]) {
			t.Fatalf("formatted %q from %q", formatted, line)
		}
		n2, r2, h2, err := pop3d.ParseCommand([]byte(formatted))
		if err != nil || n2 != name || r2 != rest || h2 != hasRest {
			t.Fatalf("round trip of %q: %q %q %v %v", line, n2, r2, h2, err)
		}
	})
}

// FuzzSession logs in, then sends the fuzz input as one command line.
// Invariants: no panic; exactly one status line starting "+OK" or "-ERR";
// then a dot-terminated body (for the multi-line commands) or nothing,
// which a following NOOP proves; the maildrop lock is released.
func FuzzSession(f *testing.F) {
	for _, s := range []string{"STAT", "LIST", "LIST 1", "RETR 1", "TOP 1 0", "TOP 2 99999999", "UIDL", "UIDL 2", "DELE 1", "RSET", "NOOP", "CAPA", "QUIT", "USER x", "AUTH", "STLS", "RETR 4294967297", "LIST  1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\r\n") {
			return
		}
		be := newBackend()
		srv := pop3d.New(&pop3d.Options{Backend: be, Logger: discardLogger(), SASLMechanisms: memdrop.Mechanisms, APOP: true})
		a, b := net.Pipe()
		done := make(chan struct{})
		go func() { srv.ServeConn(context.Background(), a); close(done) }()
		defer func() {
			b.Close()
			select {
			case <-done:
			case <-time.After(ioTimeout):
				t.Fatal("session did not end")
			}
			if st := be.Stats(testUser); st.Locked || st.OpenReaders != 0 || st.Closes != st.Logins {
				t.Fatalf("maildrop not released: %+v", st)
			}
		}()
		r := bufio.NewReader(b)
		read := func() (string, error) {
			_ = b.SetReadDeadline(time.Now().Add(ioTimeout))
			l, err := r.ReadString('\n')
			if err != nil {
				return l, err
			}
			if !strings.HasSuffix(l, "\r\n") {
				t.Fatalf("line without CRLF: %q", l)
			}
			return strings.TrimSuffix(l, "\r\n"), nil
		}
		write := func(s string) {
			_ = b.SetWriteDeadline(time.Now().Add(ioTimeout))
			if _, err := io.WriteString(b, s); err != nil {
				t.Fatalf("write: %v", err)
			}
		}
		mustRead := func(prefix string) string {
			l, err := read()
			if err != nil || !strings.HasPrefix(l, prefix) {
				t.Fatalf("got %q, %v; want %s", l, err, prefix)
			}
			return l
		}
		mustRead("+OK")
		write("USER mrose\r\nPASS tanstaaf\r\n")
		mustRead("+OK")
		mustRead("+OK")

		// The pipe is synchronous: write from a goroutine so that a
		// server that stops reading cannot block the test.
		go func() {
			_ = b.SetWriteDeadline(time.Now().Add(ioTimeout))
			_, _ = io.WriteString(b, line+"\r\nNOOP\r\n")
		}()
		status, err := read()
		if err != nil {
			t.Fatalf("no status line for %q: %v", line, err)
		}
		if len(status)+2 > 512 {
			t.Fatalf("status line of %d octets", len(status)+2)
		}
		ok := strings.HasPrefix(status, "+OK")
		if !ok && !strings.HasPrefix(status, "-ERR") {
			t.Fatalf("status %q for %q", status, line)
		}
		name, rest, _, perr := pop3d.ParseCommand([]byte(line))
		if ok && perr == nil && isMultiline(name, rest) {
			for i := 0; ; i++ {
				l, err := read()
				if err != nil {
					t.Fatalf("body of %q cut: %v", line, err)
				}
				if l == "." {
					break
				}
				if i > 10000 {
					t.Fatal("endless body")
				}
			}
		}
		if ok && name == "QUIT" && rest == "" {
			if l, err := read(); err == nil {
				t.Fatalf("data after QUIT: %q", l)
			}
			return
		}
		if strings.HasPrefix(status, "-ERR line too long") {
			return
		}
		// Exactly one status line: the next line answers NOOP.
		next, err := read()
		if err != nil || next != "+OK" {
			t.Fatalf("after %q (%q): got %q, %v; want the NOOP reply", line, status, next, err)
		}
	})
}

// isMultiline reports whether a successful reply to the command has a
// body (RFC 1939, RFC 2449).
func isMultiline(name, rest string) bool {
	switch name {
	case "CAPA", "RETR", "TOP":
		return true
	case "LIST", "UIDL":
		return rest == ""
	}
	return false
}
