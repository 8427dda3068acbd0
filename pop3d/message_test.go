package pop3d_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/testkit"
	"github.com/popadm/popadm/pop3d"
	"github.com/popadm/popadm/pop3d/memdrop"
)

// TestOpenFailure: when Open fails the reply is one -ERR, never +OK
// followed by -ERR, and the session goes on.
func TestOpenFailure(t *testing.T) {
	be := newBackend()
	be.OpenError = func(user string, i int) error {
		if i == 0 {
			return errors.New("disk on fire")
		}
		if i == 1 {
			return &pop3d.Error{Code: "SYS/PERM", Text: "message unreadable"}
		}
		return nil
	}
	logs := &testkit.SyncBuffer{}
	h := startHarness(t, harnessConfig{backend: be, opts: pop3d.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))}})
	c := h.dial(t)
	c.expect("+OK *")
	c.login()
	c.do("RETR 1", "-ERR [SYS/TEMP] internal server error")
	c.do("TOP 1 0", "-ERR [SYS/TEMP] internal server error")
	c.do("RETR 2", "-ERR [SYS/PERM] message unreadable")
	c.do("NOOP", "+OK")
	c.do("QUIT", "+OK *")
	c.closed()
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Fatal("backend error not logged")
	}
}

// TestMessagesFailure: a maildrop that cannot be listed gets -ERR to PASS
// (RFC 1939 §4), the lock is released, and no +OK went out first.
func TestMessagesFailure(t *testing.T) {
	be := newBackend()
	fail := true
	var mu sync.Mutex
	be.MessagesError = func(string) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("maildir unreadable")
		}
		return nil
	}
	h := startHarness(t, harnessConfig{backend: be})
	c := h.dial(t)
	c.expect("+OK *")
	c.do("USER mrose", "+OK *")
	c.do("PASS tanstaaf", "-ERR [SYS/TEMP] internal server error")
	if st := be.Stats(testUser); st.Locked || st.Closes != 1 {
		t.Fatalf("after a failed listing: %+v", st)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	c.login()
	c.do("STAT", "+OK 2 320")
}

// badUIDBackend returns a UID listing that breaks the contract.
type badUIDBackend struct{ *memdrop.Backend }

func (b badUIDBackend) Login(ctx context.Context, c *pop3d.ConnInfo, u, p string) (pop3d.Session, error) {
	s, err := b.Backend.Login(ctx, c, u, p)
	if err != nil {
		return nil, err
	}
	return badUIDSession{s}, nil
}

type badUIDSession struct{ pop3d.Session }

func (s badUIDSession) Messages(ctx context.Context) ([]pop3d.Message, error) {
	return []pop3d.Message{{Size: 3, UID: "a b"}}, nil
}

func TestInvalidUIDRefusesLogin(t *testing.T) {
	be := newBackend()
	srv := pop3d.New(&pop3d.Options{Backend: badUIDBackend{be}, Logger: discardLogger()})
	c := serveOverPipe(t, srv)
	c.expect("+OK *")
	c.login0("-ERR [SYS/TEMP] internal server error")
	if st := be.Stats(testUser); st.Closes != 1 || st.Locked {
		t.Fatalf("stats %+v", st)
	}
}

// TestDotStuffingRoundTrip sends messages with dot lines, lone CRs, NULs
// and 8-bit octets; textproto.DotReader (the stdlib client side) and a
// byte-exact unstuffer recover them exactly, and the octets match LIST.
func TestDotStuffingRoundTrip(t *testing.T) {
	be := memdrop.New()
	be.AddUser("u", "p")
	msgs := []string{
		"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n...\r\nend\r\n",
		".leading dot in the header\r\n\r\nbody\r\n",
		"lone\rCR\r\n\r\na\r\r\nb\rc\r\n",
		"nul\x00byte\r\n\r\n\xff\xfe 8-bit \xc3\xa9\r\n",
		"Subject: ends with dot line\r\n\r\n.\r\n",
		"",
	}
	for _, m := range msgs {
		be.AddMessage("u", []byte(m))
	}
	h := startHarness(t, harnessConfig{backend: be})
	c := h.dial(t)
	c.expect("+OK *")
	c.do("USER u", "+OK *")
	c.do("PASS p", "+OK *")
	for i, want := range be.Messages("u") {
		n := i + 1
		c.cmd(fmt.Sprintf("LIST %d", n))
		var size int
		if _, err := fmt.Sscanf(c.line(), "+OK %d %d", new(int), &size); err != nil {
			t.Fatal(err)
		}
		if size != len(want) {
			t.Fatalf("message %d: LIST says %d, content is %d octets", n, size, len(want))
		}
		c.do(fmt.Sprintf("RETR %d", n), fmt.Sprintf("+OK %d octets", len(want)))
		raw := readStuffed(t, c)
		if !bytes.Equal(unstuff(raw), want) {
			t.Fatalf("message %d: unstuffed %q, want %q", n, unstuff(raw), want)
		}
		// The same bytes through textproto.DotReader, which turns CRLF
		// into LF.
		got, err := io.ReadAll(textproto.NewReader(newReader(bytes.NewReader(raw))).DotReader())
		if err != nil {
			t.Fatal(err)
		}
		if wantLF := bytes.ReplaceAll(want, []byte("\r\n"), []byte("\n")); !bytes.Equal(got, wantLF) {
			t.Fatalf("message %d: DotReader %q, want %q", n, got, wantLF)
		}
	}
	c.do("QUIT", "+OK *")
}

// readStuffed reads a multi-line body up to and including ".\r\n" and
// returns it raw.
func readStuffed(t *testing.T, c *client) []byte {
	t.Helper()
	var raw []byte
	for range 10000 {
		_ = c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
		l, err := c.r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("read body: %v", err)
		}
		if !bytes.HasSuffix(l, []byte("\r\n")) {
			t.Fatalf("body line with a bare LF: %q", l)
		}
		raw = append(raw, l...)
		if string(l) == ".\r\n" {
			return raw
		}
	}
	t.Fatal("body without end")
	return nil
}

// unstuff undoes RFC 1939 §3 byte-stuffing exactly: it drops the
// terminating line and one leading dot of every line.
func unstuff(raw []byte) []byte {
	raw = bytes.TrimSuffix(raw, []byte(".\r\n"))
	var out []byte
	for _, l := range bytes.SplitAfter(raw, []byte("\r\n")) {
		if len(l) > 0 && l[0] == '.' {
			l = l[1:]
		}
		out = append(out, l...)
	}
	return out
}

// TestBareLFMessage: a message stored with LF line ends is delivered with
// CRLF, and LIST, STAT and RETR agree on its size.
func TestBareLFMessage(t *testing.T) {
	be := memdrop.New()
	be.AddUser("u", "p")
	be.AddMessage("u", []byte("Subject: lf\n\n.dot\nno final newline"))
	h := startHarness(t, harnessConfig{backend: be})
	c := h.dial(t)
	c.expect("+OK *")
	c.do("USER u", "+OK *")
	c.do("PASS p", "+OK *")
	want := "Subject: lf\r\n\r\n.dot\r\nno final newline\r\n"
	c.do("STAT", fmt.Sprintf("+OK 1 %d", len(want)))
	c.do("RETR 1", fmt.Sprintf("+OK %d octets", len(want)))
	if got := unstuff(readStuffed(t, c)); string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// sizeLieBackend serves content that does not match the announced size.
type sizeLieBackend struct {
	*memdrop.Backend
	delta int64
}

func (b sizeLieBackend) Login(ctx context.Context, c *pop3d.ConnInfo, u, p string) (pop3d.Session, error) {
	s, err := b.Backend.Login(ctx, c, u, p)
	if err != nil {
		return nil, err
	}
	return sizeLieSession{s, b.delta}, nil
}

type sizeLieSession struct {
	pop3d.Session
	delta int64
}

func (s sizeLieSession) Messages(ctx context.Context) ([]pop3d.Message, error) {
	m, err := s.Session.Messages(ctx)
	for i := range m {
		m[i].Size += s.delta
	}
	return m, err
}

// TestSizeMismatchClosesWithoutTerminator: content shorter or longer than
// Size must not look like a complete message, so the connection is closed
// before the terminating ".".
func TestSizeMismatchClosesWithoutTerminator(t *testing.T) {
	for _, delta := range []int64{-5, 5} {
		t.Run(fmt.Sprint(delta), func(t *testing.T) {
			be := newBackend()
			srv := pop3d.New(&pop3d.Options{Backend: sizeLieBackend{be, delta}, Logger: discardLogger()})
			c := serveOverPipe(t, srv)
			c.expect("+OK *")
			c.login()
			// Unflushed output is dropped with the connection, so the
			// client may see the +OK and part of the body, or nothing.
			c.cmd("RETR 1")
			var got []string
			for range 100 {
				l, err := c.readLine()
				if err != nil {
					break
				}
				got = append(got, l)
			}
			if len(got) > 0 && got[len(got)-1] == "." {
				t.Fatalf("damaged message terminated normally: %q", got)
			}
			waitFor(t, "maildrop closed", func() bool { return be.Stats(testUser).Closes == 1 })
			if st := be.Stats(testUser); st.Commits != 0 || st.OpenReaders != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
