package pop3d_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/popadm/popadm/pop3d"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"+OK *", "+OK hello", true},
		{"+OK *", "-ERR x", false},
		{"-ERR [SYS/TEMP] *", "-ERR [SYS/TEMP] internal server error", true},
		{"-ERR [SYS/TEMP] *", "-ERR [AUTH] x", false},
		{"+\\ ", "+ ", true},
		{"+\\ ", "+", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"", "", true},
		{"x", "", false},
	}
	for _, tt := range tests {
		if got := match(tt.pattern, tt.s); got != tt.want {
			t.Errorf("match(%q, %q) = %v", tt.pattern, tt.s, got)
		}
	}
}

// TestWrongState sends every command in every state where it is not
// allowed: each gets "-ERR command not valid in this state" and the state
// stays (house style §3.8, mox TestState).
func TestWrongState(t *testing.T) {
	h := startHarness(t, harnessConfig{opts: pop3d.Options{MaxErrors: -1}, tls: true})
	const wrong = "-ERR command not valid in this state"

	c := h.dial(t)
	c.expect("+OK *")
	for _, cmd := range []string{"STAT", "LIST", "LIST 1", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 0", "UIDL", "UIDL 1"} {
		c.do(cmd, wrong)
	}
	// Still AUTHORIZATION: a login works, and nothing was deleted.
	c.login()
	c.do("STAT", "+OK 2 320")
	for _, cmd := range []string{"USER mrose", "PASS tanstaaf", "APOP mrose c4c9334bac560ecc979e58001b3e22fb", "AUTH", "AUTH PLAIN", "AUTH PLAIN AG1yb3NlAHRhbnN0YWFm", "STLS", "UTF8"} {
		c.do(cmd, wrong)
	}
	// Still TRANSACTION with the same maildrop.
	c.do("STAT", "+OK 2 320")
	c.do("QUIT", "+OK *")
	c.closed()
	if st := h.be.Stats(testUser); st.Logins != 1 || st.Commits != 1 || st.Closes != 1 {
		t.Fatalf("stats %+v, want one login, commit and close", st)
	}
}

// serveOverPipe serves one connection over net.Pipe with ServeConn.
func serveOverPipe(t *testing.T, srv *pop3d.Server) *client {
	t.Helper()
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() { srv.ServeConn(context.Background(), a); close(done) }()
	t.Cleanup(func() {
		b.Close()
		select {
		case <-done:
		case <-time.After(ioTimeout):
			t.Error("ServeConn did not return")
		}
	})
	return &client{t: t, nc: b, r: newReader(b)}
}

func (c *client) login0(passReply string) {
	c.t.Helper()
	c.do("USER "+testUser, "+OK *")
	c.do("PASS "+testPass, passReply)
}
