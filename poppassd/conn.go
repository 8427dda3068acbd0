package poppassd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/popadm/popadm/internal/lineserver"
)

// Reply texts shared by several code paths. The auth-failure text is the
// one reply for every refusal at "pass", so it must never be varied.
const (
	textAuthFailed  = "Old password is incorrect."
	textServerError = "Server error, password not changed."
	textPolicy      = "New password refused by the password policy."
)

// state is the stage of a conversation: which command comes next.
type state int

const (
	stateUser    state = iota // greeting sent, "user" expected
	statePass                 // "pass" expected
	stateNewpass              // authenticated, "newpass" expected
	stateDone                 // password changed, only "quit"
)

func (st state) String() string {
	switch st {
	case stateUser:
		return "user"
	case statePass:
		return "pass"
	case stateNewpass:
		return "newpass"
	case stateDone:
		return "done"
	}
	return "invalid"
}

// stage is the row of the state table: the one command accepted in a
// state, the error sent for anything else (what was expected), and the
// handler.
type stage struct {
	verb    string
	missing string
	handle  func(s *session, cmd command, received time.Time) reply
}

// stages is the strict order user → pass → newpass → quit. "quit" is
// accepted in every state before the table is consulted. Keeping the
// order positional is what stops "newpass" without a successful "pass"
// (CVE-2005-0002).
var stages = [...]stage{
	stateUser:    {verb: verbUSER, missing: "Username required.", handle: (*session).handleUSER},
	statePass:    {verb: verbPASS, missing: "Password required.", handle: (*session).handlePASS},
	stateNewpass: {verb: verbNEWPASS, missing: "New password required.", handle: (*session).handleNEWPASS},
	stateDone:    {verb: verbQUIT, missing: "Quit required."},
}

// reply is one response line. Every 500 closes the connection (clients
// such as Afterlogic read after a 500 until EOF), and so does "quit".
type reply struct {
	ok    bool   // "200" when true, else "500"
	text  string // after the code; one line, no CR/LF
	close bool   // close after sending (always true for 500)
	// notBefore, if set, is the earliest moment the reply may be sent:
	// receipt of the command plus FailureDelay.
	notBefore time.Time
}

func okReply(text string) reply  { return reply{ok: true, text: text} }
func errReply(text string) reply { return reply{text: text, close: true} }
func (r reply) line() string {
	if r.ok {
		return "200 " + r.text
	}
	return "500 " + r.text
}

// session is one conversation. It is used by one goroutine.
type session struct {
	srv    *Server
	c      *lineserver.Conn
	ctx    context.Context // the conversation: cancelled by SessionTimeout and by parent
	parent context.Context // the connection: cancelled by Shutdown and Close
	log    *slog.Logger
	info   *ConnInfo

	state       state
	user        string
	oldPassword string // set by a successful "pass", cleared after "newpass"
}

// run sends the greeting and executes complete lines until a reply closes
// the conversation or the client goes away.
func (s *session) run() {
	if !s.send(okReply(s.srv.greeting)) {
		return
	}
	// Each iteration reads one line and sends exactly one reply; the
	// SessionTimeout bounds the loop in time and every path but a 200
	// reply to user/pass/newpass ends it, so it runs at most four times.
	for {
		line, err := s.c.ReadLine(s.srv.maxLine, s.srv.opts.IdleTimeout)
		if err != nil {
			s.readFailed(err)
			return
		}
		received := time.Now()
		cmd := parseCommand(string(line))
		s.srv.trace.command(s.info.ID, cmd)
		s.log.Debug("command", "cmd", cmd.traceVerb(), "state", s.state.String())
		if !s.send(s.dispatch(cmd, received)) {
			return
		}
	}
}

// dispatch chooses the handler from the state table. It is the only place
// that decides whether a command is allowed.
func (s *session) dispatch(cmd command, received time.Time) reply {
	if cmd.verb == verbQUIT {
		// Any stage. After a change the reply must be 2xx: RainLoop,
		// SnappyMail and Afterlogic report the change as failed otherwise.
		return reply{ok: true, text: "Bye.", close: true}
	}
	st := stages[s.state]
	if cmd.verb != st.verb || st.handle == nil {
		s.log.Debug("command out of order", "cmd", cmd.traceVerb(), "expected", st.verb)
		return errReply(st.missing)
	}
	return st.handle(s, cmd, received)
}

// send writes r, after waiting for r.notBefore, and reports whether the
// conversation goes on. It is the one function that writes replies.
func (s *session) send(r reply) bool {
	if !r.notBefore.IsZero() && !sleepUntil(s.ctx, r.notBefore) {
		// Shutdown or the conversation cap came first. Close without the
		// reply, the same way for every kind of refusal.
		s.log.Debug("conversation ended during the failure delay")
		return false
	}
	line := r.line()
	if !r.ok {
		// Reply texts never contain passwords (policyText makes sure of
		// the one that comes from the backend).
		s.log.Debug("error reply", "state", s.state.String(), "text", r.text)
	}
	s.srv.trace.reply(s.info.ID, line)
	err := s.c.WriteLine(line)
	if err == nil {
		err = s.c.Flush()
	}
	if err != nil {
		s.log.Debug("write failed", "err", err)
		return false
	}
	return !r.close && r.ok
}

// readFailed handles a line that could not be read: the client left (no
// reply; a cut-off last line is never executed), sent an over-long line,
// stayed silent, or the server is shutting down.
func (s *session) readFailed(err error) {
	switch {
	case errors.Is(err, io.EOF):
		s.log.Debug("client closed the connection")
	case errors.Is(err, io.ErrUnexpectedEOF):
		// Debian executes an unterminated last line: a cut-off "newpass"
		// changed the password. Only complete lines count here.
		s.srv.trace.note(s.info.ID, "incomplete last line dropped")
		s.log.Debug("client closed the connection in the middle of a line; line dropped")
	case errors.Is(err, lineserver.ErrLineTooLong):
		s.srv.trace.note(s.info.ID, "line too long")
		s.log.Debug("line too long", "max", s.srv.maxLine)
		s.send(errReply("Line too long."))
	case kicked(s.parent):
		why, _ := lineserver.KickReason(s.parent)
		if strings.TrimSpace(why) == "" {
			why = "Disconnected by the administrator."
		}
		s.log.Info("session kicked", "user", s.user)
		s.send(errReply(cleanReplyText(why, maxPolicyText)))
	case s.parent.Err() != nil:
		s.log.Debug("server shutting down")
		s.send(errReply("Server shutting down."))
	case lineserver.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded):
		s.log.Debug("timeout", "err", err)
		s.send(errReply("Timeout, closing connection."))
	default:
		s.log.Debug("read failed", "err", err)
	}
}

// handleUSER records the username. Nothing is looked up yet: the reply is
// the same for every syntactically valid name, so "user" cannot be used
// to enumerate accounts.
func (s *session) handleUSER(cmd command, _ time.Time) reply {
	if why := checkUsername(cmd.arg, maxUsernameLen); why != "" {
		return errReply(why)
	}
	s.user = cmd.arg
	s.state = statePass
	return okReply("Your password please.")
}

// handlePASS checks the current password. Every refusal gets the same text
// at the same moment (receipt + FailureDelay) and the same close, so an
// unknown user, a wrong password and an account that may not change its
// password look alike on the wire, also in their timing (Debian leaks
// correct root passwords through its close timing).
func (s *session) handlePASS(cmd command, received time.Time) reply {
	if why := checkPassword(cmd.arg, "Password", s.srv.opts.MaxPasswordLen); why != "" {
		// Decided on the typed text alone: no account was consulted.
		return errReply(why)
	}
	ctx, cancel := s.backendContext()
	err := s.srv.opts.Backend.Authenticate(ctx, s.info, s.user, cmd.arg)
	cancel()
	if err == nil {
		s.oldPassword = cmd.arg
		s.state = stateNewpass
		lineserver.SetUser(s.parent, s.user)
		return okReply("Your new password please.")
	}
	r := errReply(textAuthFailed)
	r.notBefore = received.Add(s.srv.opts.FailureDelay)
	if isUnavailable(err) {
		// Not an oracle: ErrUnavailable must not depend on the account,
		// and it comes at the same moment as a refusal.
		s.log.Error("password service unavailable", "user", s.user, "err", err)
		r.text = textServerError
	} else {
		s.log.Debug("pass refused", "user", s.user, "err", err)
	}
	return r
}

// handleNEWPASS commits the new password, then answers. The client need
// not send "quit" afterwards.
func (s *session) handleNEWPASS(cmd command, received time.Time) reply {
	if why := checkPassword(cmd.arg, "New password", s.srv.opts.MaxPasswordLen); why != "" {
		s.logRefused(slog.LevelInfo, "invalid", nil)
		return errReply(why)
	}
	old := s.oldPassword
	s.oldPassword = ""
	ctx, cancel := s.backendContext()
	err := s.srv.opts.Backend.ChangePassword(ctx, s.info, s.user, old, cmd.arg)
	cancel()
	if err == nil {
		s.state = stateDone
		s.srv.log.Info("password changed", "proto", "poppassd", "user", s.user,
			"remote", addrString(s.info.Remote), "cid", s.info.ID)
		return okReply("Password changed, thank-you.")
	}
	var pe *PolicyError
	switch {
	case errors.As(err, &pe):
		s.logRefused(slog.LevelInfo, "policy", nil)
		return errReply(policyText(pe.Msg, cmd.arg))
	case errors.Is(err, ErrAuthFailed):
		s.logRefused(slog.LevelInfo, "auth", nil)
		r := errReply(textAuthFailed)
		r.notBefore = received.Add(s.srv.opts.FailureDelay)
		return r
	default:
		s.logRefused(slog.LevelError, "server-error", err)
		return errReply(textServerError)
	}
}

// backendContext is the context of a backend call: it ends with the
// conversation's SessionTimeout but not with Shutdown, so a commit that has
// started is not abandoned halfway because the server is stopping.
func (s *session) backendContext() (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(s.ctx)
	if d, ok := s.ctx.Deadline(); ok {
		return context.WithDeadline(ctx, d)
	}
	return context.WithCancel(ctx)
}

// logRefused writes the one line for a refused change. err, if any, is a
// backend failure; backends never put passwords in errors.
func (s *session) logRefused(level slog.Level, reason string, err error) {
	args := []any{"proto", "poppassd", "user", s.user, "remote", addrString(s.info.Remote),
		"reason", reason, "cid", s.info.ID}
	if err != nil {
		args = append(args, "err", err)
	}
	s.srv.log.Log(context.Background(), level, "password change refused", args...)
}

// kicked reports whether ctx was cancelled by lineserver's Kick.
func kicked(ctx context.Context) bool {
	_, ok := lineserver.KickReason(ctx)
	return ok
}

// isUnavailable reports whether a backend error is a temporary failure
// independent of the account: ErrUnavailable, or the conversation's
// context ending (shutdown, SessionTimeout).
func isUnavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// maxPolicyText bounds the policy message so the reply stays well below
// 512 bytes.
const maxPolicyText = 400

// policyText is the reply text for a policy refusal: the backend's message
// made safe for one line. If the message contains the new password (a
// backend bug), a generic text is sent instead; the password never goes
// back on the wire.
func policyText(msg, newPassword string) string {
	t := cleanReplyText(msg, maxPolicyText)
	if t == "" || (len(newPassword) >= 4 && strings.Contains(msg, newPassword)) {
		return textPolicy
	}
	return t
}

// sleepUntil waits until t and reports true, or reports false if ctx ends
// first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
