package lineserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/testkit"
)

// loginHandler understands "LOGIN name" (SetUser), "STLS" (StartTLS with
// cfg) and answers a kick with "-ERR kicked: <reason>" before returning.
type loginHandler struct {
	cfg *tls.Config
}

func (h loginHandler) ServeConn(ctx context.Context, nc net.Conn) {
	c := NewConn(ctx, nc)
	defer c.Close()
	_ = c.WriteLine("+OK hello")
	_ = c.Flush()
	for i := 0; i < 100; i++ {
		line, err := c.ReadLine(512, testTimeout)
		if err != nil {
			if why, ok := KickReason(ctx); ok {
				_ = c.WriteLine("-ERR kicked: " + why)
				_ = c.Flush()
			}
			return
		}
		cmd, arg, _ := strings.Cut(string(line), " ")
		switch cmd {
		case "LOGIN":
			SetUser(ctx, arg)
		case "PROTO":
			SetProto(ctx, arg)
		case "STLS":
			_ = c.WriteLine("+OK begin TLS")
			if err := c.StartTLS(h.cfg, testTimeout); err != nil {
				return
			}
			continue
		}
		_ = c.WriteLine("+OK " + string(line))
		_ = c.Flush()
	}
}

// waitSessions polls s until cond holds for its sessions.
func waitSessions(t *testing.T, s *Server, cond func([]SessionInfo) bool) []SessionInfo {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		ss := s.Sessions()
		if cond(ss) {
			return ss
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions never satisfied the condition: %+v", ss)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSessionsRegistry(t *testing.T) {
	srvCfg, cliCfg := testkit.TLSConfigs(t)
	s, addr, _ := startServer(t, loginHandler{cfg: srvCfg}, Options{Proto: "test"})
	if got := s.Sessions(); len(got) != 0 {
		t.Fatalf("Sessions before any connection = %+v", got)
	}
	c1, r1 := dial(t, addr)
	readLine(t, r1)
	_, _ = c1.Write([]byte("LOGIN ann\r\n"))
	if l := readLine(t, r1); l != "+OK LOGIN ann\r\n" {
		t.Fatalf("reply %q", l)
	}
	c2, r2 := dial(t, addr)
	readLine(t, r2)
	_, _ = c2.Write([]byte("PROTO test-s\r\nSTLS\r\n"))
	readLine(t, r2)
	if l := readLine(t, r2); l != "+OK begin TLS\r\n" {
		t.Fatalf("STLS reply %q", l)
	}
	tc := tls.Client(c2, cliCfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tr := bufio.NewReader(tc)
	_, _ = tc.Write([]byte("LOGIN bob\r\n"))
	if l := readLine(t, tr); l != "+OK LOGIN bob\r\n" {
		t.Fatalf("reply over TLS %q", l)
	}

	ss := s.Sessions()
	if len(ss) != 2 {
		t.Fatalf("Sessions = %+v, want 2", ss)
	}
	a, b := ss[0], ss[1]
	if a.User != "ann" || a.Proto != "test" || a.TLS {
		t.Errorf("first session %+v, want user ann, proto test, no TLS", a)
	}
	if b.User != "bob" || b.Proto != "test-s" || !b.TLS {
		t.Errorf("second session %+v, want user bob, proto test-s, TLS", b)
	}
	if a.Remote == nil || a.Remote.String() != c1.LocalAddr().String() {
		t.Errorf("remote %v, want %v", a.Remote, c1.LocalAddr())
	}
	if a.ID == "" || a.ID == b.ID || a.Since.IsZero() || b.Since.Before(a.Since) {
		t.Errorf("ids/since: %+v %+v", a, b)
	}

	// The registry forgets a connection once its handler returned.
	c1.Close()
	waitSessions(t, s, func(ss []SessionInfo) bool { return len(ss) == 1 && ss[0].User == "bob" })
}

func TestKick(t *testing.T) {
	s, addr, _ := startServer(t, loginHandler{}, Options{})
	var conns []net.Conn
	var readers []*bufio.Reader
	for _, u := range []string{"ann", "bob", "ann"} {
		c, r := dial(t, addr)
		readLine(t, r)
		_, _ = c.Write([]byte("LOGIN " + u + "\r\n"))
		readLine(t, r)
		conns, readers = append(conns, c), append(readers, r)
	}
	byUser := func(u string) func(SessionInfo) bool {
		return func(si SessionInfo) bool { return si.User == u }
	}
	if n := s.Kick(byUser("nobody"), "x"); n != 0 {
		t.Fatalf("Kick(nobody) = %d", n)
	}
	if n := s.Kick(byUser("ann"), "maintenance"); n != 2 {
		t.Fatalf("Kick(ann) = %d, want 2", n)
	}
	for _, i := range []int{0, 2} {
		if l := readLine(t, readers[i]); l != "-ERR kicked: maintenance\r\n" {
			t.Fatalf("kicked client %d read %q", i, l)
		}
		if _, err := readers[i].ReadString('\n'); err == nil {
			t.Fatalf("kicked connection %d still open", i)
		}
	}
	// bob is untouched.
	_, _ = conns[1].Write([]byte("ping\r\n"))
	if l := readLine(t, readers[1]); l != "+OK ping\r\n" {
		t.Fatalf("bob after the kick: %q", l)
	}
	ss := waitSessions(t, s, func(ss []SessionInfo) bool { return len(ss) == 1 })
	if ss[0].User != "bob" {
		t.Fatalf("left %+v", ss)
	}
}

func TestKickCause(t *testing.T) {
	if _, ok := KickReason(context.Background()); ok {
		t.Fatal("KickReason on a live context")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := KickReason(ctx); ok {
		t.Fatal("KickReason after a plain cancel (shutdown)")
	}
	kctx, kcancel := context.WithCancelCause(context.Background())
	child, stop := context.WithTimeout(kctx, time.Hour)
	defer stop()
	kcancel(&KickError{Reason: "bye"})
	why, ok := KickReason(child)
	if !ok || why != "bye" {
		t.Fatalf("KickReason = %q, %v", why, ok)
	}
	if !errors.Is(context.Cause(child), ErrKicked) {
		t.Fatal("cause does not match ErrKicked")
	}
}

// TestKickBeforeArm: a kick that reaches a connection before its handler
// started still cancels it.
func TestKickBeforeArm(t *testing.T) {
	slot := &connSlot{}
	slot.kick(&KickError{Reason: "early"})
	ctx, cancel := context.WithCancelCause(context.Background())
	slot.armKick(cancel)
	if why, ok := KickReason(ctx); !ok || why != "early" {
		t.Fatalf("KickReason = %q, %v", why, ok)
	}
}
