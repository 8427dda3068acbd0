package poppassd

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/testkit"
)

// shutdown waits until every conversation of e has ended.
func (e *env) shutdown() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Fatalf("Shutdown: %v", err)
	}
}

// replyAfterPass runs user+pass for user/password, then returns everything
// the server sent after "pass" until it closed, and how long the first
// byte of it took.
func replyAfterPass(t *testing.T, e *env, user, password string) (string, time.Duration) {
	t.Helper()
	c := e.dial()
	c.expect("200 poppassd v1.2.3 hello, who are you?")
	c.cmd("user " + user)
	c.expect("200 Your password please.")
	start := time.Now()
	c.cmd("pass " + password)
	_ = c.setRead(time.Now().Add(ioTimeout))
	if _, err := c.r.Peek(1); err != nil {
		t.Fatalf("no reply to pass: %v", err)
	}
	elapsed := time.Since(start)
	_ = c.setRead(time.Now().Add(ioTimeout))
	rest, err := io.ReadAll(c.r)
	if err != nil && !isClosed(err) {
		t.Fatalf("reading until close: %v", err)
	}
	return string(rest), elapsed
}

// Every refusal at "pass" is byte-identical, followed by the same close,
// and not sent before FailureDelay has passed since "pass" arrived.
func TestRefusalsIdenticalAndDelayed(t *testing.T) {
	const delay = 150 * time.Millisecond
	for _, mode := range transports {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode, func(o *Options) { o.FailureDelay = delay })
			want, _ := replyAfterPass(t, e, "alice", "Not-Alice-Pw")
			if want != "500 Old password is incorrect.\r\n" {
				t.Fatalf("wrong password: got %q", want)
			}
			cases := []struct{ name, user, pass, reply string }{
				{"wrong password", "alice", "Not-Alice-Pw", want},
				{"unknown user", "nosuchuser", "Not-Alice-Pw", want},
				{"unknown user with a real password", "nosuchuser", alicePass, want},
				{"disabled", "carol", carolPass, want},
				{"not allowed to change", "dave", davePass, want},
				{"store down", "down", "Any-Password", "500 Server error, password not changed.\r\n"},
			}
			for _, tc := range cases {
				got, elapsed := replyAfterPass(t, e, tc.user, tc.pass)
				if got != tc.reply {
					t.Errorf("%s: got %q, want %q", tc.name, got, tc.reply)
				}
				if elapsed < delay {
					t.Errorf("%s: reply after %v, before the failure delay %v", tc.name, elapsed, delay)
				}
			}
			e.noSecrets(alicePass, carolPass, davePass, "Not-Alice-Pw")
		})
	}
}

// A disconnect, a cut-off line or a quit at any stage changes nothing
// (after the change: keeps it); every out-of-order command gets one 500
// naming what was expected, then a close.
func TestEveryStage(t *testing.T) {
	expected := map[state]string{
		stateUser:    "500 Username required.",
		statePass:    "500 Password required.",
		stateNewpass: "500 New password required.",
		stateDone:    "500 Quit required.",
	}
	allowed := map[state]string{stateUser: "user", statePass: "pass", stateNewpass: "newpass"}
	lines := map[string]string{
		"user":    "user bob",
		"pass":    "pass " + alicePass,
		"newpass": "newpass Evil-New-Pw",
		"noop":    "noop",
		"empty":   "",
		"stat":    "STAT",
	}
	for _, mode := range transports {
		for _, st := range []state{stateUser, statePass, stateNewpass, stateDone} {
			want := alicePass
			if st == stateDone {
				want = "Brand-New-Pw"
			}
			t.Run(mode+"/"+st.String(), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, mode, nil)
				dial := func() *client {
					// At stateDone every login changes the password:
					// start each from the old one.
					if st == stateDone {
						e.be.setPassword("alice", alicePass)
					}
					return e.dial()
				}
				check := func(what string) {
					t.Helper()
					if got := e.be.password("alice"); got != want {
						t.Fatalf("%s: password is %q, want %q", what, got, want)
					}
				}

				c := dial()
				c.login(st)
				c.close()

				c = dial()
				c.login(st)
				c.send("newpass Cut-Off-Pw")
				if rest := c.drain(); rest != "" {
					t.Fatalf("cut-off line answered with %q", rest)
				}

				c = dial()
				c.login(st)
				c.cmd("quit")
				c.expect("200 Bye.")
				c.expectClosed()

				for name, line := range lines {
					if allowed[st] == name {
						continue
					}
					c = dial()
					c.login(st)
					c.cmd(line)
					c.expect(expected[st])
					c.expectClosed()
				}
				e.shutdown()
				check("after every variant")
			})
		}
	}
}

// The limits are the same for pass and newpass; limit-long values are
// accepted, one byte more is refused (never truncated), and a line longer
// than the line limit gets one 500.
func TestLengthLimits(t *testing.T) {
	for _, mode := range transports {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode, nil)

			c := e.dial()
			c.expect("200 *")
			c.cmd("user " + strings.Repeat("u", maxUsernameLen))
			c.expect("200 Your password please.")
			c.cmd("quit")
			c.expect("200 Bye.")

			c = e.dial()
			c.expect("200 *")
			c.cmd("user " + strings.Repeat("u", maxUsernameLen+1))
			c.expect("500 Username too long (max 256 bytes).")
			c.expectClosed()

			c = e.dial()
			c.expect("200 *")
			c.cmd("user long")
			c.expect("200 Your password please.")
			c.cmd("pass " + longPass + "L")
			c.expect("500 Password too long (max 256 bytes).")
			c.expectClosed()

			// A new password of exactly the limit is accepted, and can
			// then be used as the old password (Debian locks such users
			// out: it refuses PASS lines it accepted as NEWPASS).
			newLong := strings.Repeat("N", DefaultMaxPasswordLen)
			c = e.dial()
			c.expect("200 *")
			c.cmd("user long")
			c.expect("200 Your password please.")
			c.cmd("pass " + longPass)
			c.expect("200 Your new password please.")
			c.cmd("newpass " + newLong)
			c.expect("200 Password changed, thank-you.")
			c.drain()

			c = e.dial()
			c.expect("200 *")
			c.cmd("user long")
			c.expect("200 Your password please.")
			c.cmd("pass " + newLong)
			c.expect("200 Your new password please.")
			c.cmd("newpass " + newLong + "N")
			c.expect("500 New password too long (max 256 bytes).")
			c.expectClosed()
			e.shutdown()
			if got := e.be.password("long"); got != newLong {
				t.Fatalf("password of long is %d bytes, want %d", len(got), len(newLong))
			}
		})
	}
}

// The line limit is 512 bytes including CRLF: a 512-byte line is read
// (and refused for its content), a 513-byte one is refused as a line.
func TestLineLimit(t *testing.T) {
	for _, mode := range transports {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode, nil)
			for _, tc := range []struct {
				line, reply string
			}{
				{"pass " + strings.Repeat("x", 512-len("pass ")-2) + "\r\n", "500 Password too long (max 256 bytes)."},
				{"pass " + strings.Repeat("x", 512-len("pass ")-1) + "\n", "500 Password too long (max 256 bytes)."},
				{"pass " + strings.Repeat("x", 512-len("pass ")-1) + "\r\n", "500 Line too long."},
				{"pass " + strings.Repeat("x", 64<<10) + "\r\n", "500 Line too long."},
			} {
				c := e.dial()
				c.expect("200 *")
				c.cmd("user alice")
				c.expect("200 Your password please.")
				c.sendLoose(tc.line)
				c.expect(tc.reply)
				c.expectClosed()
			}
			for _, st := range []state{stateUser, stateNewpass} {
				c := e.dial()
				c.login(st)
				c.sendLoose(strings.Repeat("y", 600) + "\r\n")
				c.expect("500 Line too long.")
				c.expectClosed()
			}
			e.shutdown()
			if auth, change := e.be.calls(); auth != 1 || change != 0 {
				t.Fatalf("backend calls %d %d, want 1 0", auth, change)
			}
		})
	}
}

// A bigger MaxPasswordLen raises the line limit with it.
func TestMaxPasswordLenRaisesLineLimit(t *testing.T) {
	e := newEnv(t, "tcp", func(o *Options) { o.MaxPasswordLen = 1000 })
	c := e.dial()
	c.login(stateNewpass)
	c.cmd("newpass " + strings.Repeat("z", 1000))
	c.expect("200 Password changed, thank-you.")
	c.drain()
	if got := e.be.password("alice"); len(got) != 1000 {
		t.Fatalf("password has %d bytes", len(got))
	}
}

// A silent client is dropped after IdleTimeout with one 500, at every
// stage.
func TestIdleTimeout(t *testing.T) {
	for _, mode := range transports {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode, func(o *Options) { o.IdleTimeout = 100 * time.Millisecond })
			for _, st := range []state{stateUser, statePass, stateNewpass, stateDone} {
				c := e.dial()
				c.login(st)
				c.expect("500 Timeout, closing connection.")
				c.expectClosed()
			}
		})
	}
}

// A client that keeps talking within IdleTimeout is still cut off by
// SessionTimeout (with IdleTimeout far beyond the test's read deadline,
// only the session cap can close it).
func TestSessionTimeout(t *testing.T) {
	e := newEnv(t, "tcp", func(o *Options) {
		o.IdleTimeout = time.Hour
		o.SessionTimeout = 200 * time.Millisecond
	})
	c := e.dial()
	c.login(statePass)
	c.expect("500 Timeout, closing connection.")
	c.expectClosed()
	if got := e.be.password("alice"); got != alicePass {
		t.Fatalf("password changed to %q", got)
	}
}

// Connections over MaxConns or MaxConnsPerIP get one 500 and a close;
// the ones admitted work normally.
func TestConnectionLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Options)
	}{
		{"total", func(o *Options) { o.MaxConns = 2 }},
		{"per-ip", func(o *Options) { o.MaxConns = -1; o.MaxConnsPerIP = 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "tcp", tc.mod)
			c1 := e.dial()
			c1.expect("200 poppassd *")
			c2 := e.dial()
			c2.expect("200 poppassd *")
			c3 := e.dial()
			c3.expect("500 Too many connections, try again later.")
			c3.expectClosed()
			c1.cmd("user alice")
			c1.expect("200 Your password please.")
			c1.cmd("pass " + alicePass)
			c1.expect("200 Your new password please.")
			c1.cmd("newpass Limited-New-Pw")
			c1.expect("200 Password changed, thank-you.")
			c2.cmd("quit")
			c2.expect("200 Bye.")
			c2.expectClosed()
			// The slot is free once the server has let go of c2.
			for i := 0; e.srv.ls.Conns() > 1; i++ {
				if i == 500 {
					t.Fatalf("%d connections still tracked", e.srv.ls.Conns())
				}
				time.Sleep(10 * time.Millisecond)
			}
			c4 := e.dial()
			c4.expect("200 poppassd *")
			if got := e.be.password("alice"); got != "Limited-New-Pw" {
				t.Fatalf("password is %q", got)
			}
		})
	}
}

// Two conversations authenticate with the same password; the second
// "newpass" finds the password changed by the first and is refused like a
// wrong password: same text, after the failure delay, and a close.
func TestConcurrentChange(t *testing.T) {
	const delay = 100 * time.Millisecond
	logs := &testkit.SyncBuffer{}
	e := newEnv(t, "tcp", func(o *Options) {
		o.FailureDelay = delay
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	c1 := e.dial()
	c1.login(stateNewpass)
	c2 := e.dial()
	c2.login(stateNewpass)
	c1.cmd("newpass First-Wins-Pw")
	c1.expect("200 Password changed, thank-you.")
	start := time.Now()
	c2.cmd("newpass Second-Loses-Pw")
	c2.expect("500 Old password is incorrect.")
	if elapsed := time.Since(start); elapsed < delay {
		t.Errorf("refusal after %v, before the failure delay %v", elapsed, delay)
	}
	c2.expectClosed()
	e.shutdown()
	if got := e.be.password("alice"); got != "First-Wins-Pw" {
		t.Fatalf("password is %q", got)
	}
	if !strings.Contains(logs.String(), `msg="password change refused" proto=poppassd user=alice`) ||
		!strings.Contains(logs.String(), "reason=auth") {
		t.Fatalf("refusal not logged:\n%s", logs.String())
	}
}
