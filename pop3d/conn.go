package pop3d

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/popadm/popadm/internal/lineserver"
)

// state is a POP3 session state (RFC 1939 §3); the command table uses it
// as a bit set.
type state uint8

const (
	stateAuthorization state = 1 << iota
	stateTransaction
	// stateUpdate is entered by QUIT in TRANSACTION and left by closing
	// the connection; no command is read in it.
	stateUpdate
)

func (st state) String() string {
	switch st {
	case stateAuthorization:
		return "AUTHORIZATION"
	case stateTransaction:
		return "TRANSACTION"
	case stateUpdate:
		return "UPDATE"
	}
	return "?"
}

// commitTimeout bounds Session.Commit. Commit runs with a context that
// Shutdown does not cancel: once a client sent QUIT, UPDATE completes.
const commitTimeout = 2 * time.Minute

// maxReply is the longest status line sent, CRLF included (RFC 2449 §4).
const maxReply = 512

// errAbort tells the dispatcher to close the connection without writing a
// reply: the response is incomplete (a body failed mid-stream) or the
// transport broke (a failed TLS handshake).
var errAbort = errors.New("pop3d: connection aborted")

// errQuit ends the session after a successful QUIT reply.
var errQuit = errors.New("pop3d: quit")

// Replies for protocol errors. Keyword and arguments are never echoed.
var (
	errUnknownCommand = &Error{Text: "unknown command"}
	errWrongState     = &Error{Text: "command not valid in this state"}
	errSyntax         = &Error{Text: "syntax error"}
	errArgs           = &Error{Text: "wrong number of arguments"}
	errNoSuchMessage  = &Error{Text: "no such message"}
	errDeleted        = &Error{Text: "message is deleted"}
	errLineTooLong    = &Error{Text: "line too long"}
	errNotPOP3        = &Error{Text: "this is a POP3 server"}
	errTLSOnPlain     = &Error{Text: "TLS handshake on a cleartext connection, use STLS or implicit TLS"}
	errPlaintext      = &Error{Code: "AUTH", Text: "plaintext authentication disallowed on cleartext connections, use STLS"}
	errPlaintextNoTLS = &Error{Code: "AUTH", Text: "plaintext authentication disallowed on cleartext connections, use TLS"}
)

// session is one POP3 connection.
type session struct {
	srv  *Server
	c    *lineserver.Conn
	ctx  context.Context
	log  *slog.Logger
	info ConnInfo
	id   string

	state         state
	loginDeadline time.Time
	errors        int // consecutive -ERR replies

	// AUTHORIZATION
	timestamp string // APOP timestamp from the greeting, "" if none
	user      string // from a successful USER, until the next command
	userSeen  bool   // the previous command was a successful USER
	utf8      bool   // UTF8 (RFC 6856) was issued

	// TRANSACTION
	username  string
	mech      string
	sess      Session
	msgs      []Message
	deleted   []bool
	nDeleted  int
	sizeTotal int64 // of all messages
	sizeDel   int64 // of deleted messages

	// counters for the disconnect log
	nRetr, nTop int
	bytesOut    int64
	reason      string
}

// serve runs one POP3 session on nc. It is the lineserver handler.
func (s *Server) serve(ctx context.Context, nc net.Conn) {
	id := lineserver.ConnID(ctx)
	proto := "pop3"
	if tc, ok := nc.(*tls.Conn); ok {
		// Implicit TLS (RFC 8314 §3.1): the handshake comes before any
		// POP3 byte; a client that fails it gets nothing POP3-shaped.
		proto = "pop3s"
		lineserver.SetProto(ctx, proto)
		if err := s.handshake(ctx, tc); err != nil {
			s.log.Debug("tls handshake failed", "cid", id, "remote", addrString(nc.RemoteAddr()), "proto", proto, "err", err)
			return
		}
	}
	c := lineserver.NewConn(ctx, nc)
	defer c.Close()
	c.WriteTimeout = s.opts.WriteTimeout
	ss := &session{
		srv:   s,
		c:     c,
		ctx:   ctx,
		id:    id,
		state: stateAuthorization,
		info: ConnInfo{
			ID:     id,
			Remote: nc.RemoteAddr(),
			Local:  nc.LocalAddr(),
			TLS:    c.TLS(),
			Since:  time.Now(),
		},
	}
	ss.loginDeadline = ss.info.Since.Add(s.opts.LoginTimeout)
	ss.log = s.log.With("cid", id, "remote", addrString(nc.RemoteAddr()), "proto", proto)
	ss.log.Info("connect", "tls", ss.info.TLS != nil)
	defer ss.end()
	ss.run()
}

// handshake completes an implicit-TLS handshake, bounded by
// HandshakeTimeout.
func (s *Server) handshake(ctx context.Context, tc *tls.Conn) error {
	_ = tc.SetDeadline(time.Now().Add(s.opts.HandshakeTimeout))
	err := tc.HandshakeContext(ctx)
	_ = tc.SetDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("pop3d: tls handshake: %w", err)
	}
	return nil
}

// end releases the maildrop without UPDATE unless QUIT already did, and
// logs the disconnect. It runs exactly once per session, also when a
// handler panics.
func (ss *session) end() {
	ss.closeSession()
	if ss.reason == "" {
		ss.reason = "aborted"
	}
	attrs := []any{"reason", ss.reason, "duration", time.Since(ss.info.Since).Round(time.Millisecond)}
	if ss.username != "" {
		attrs = append(attrs, "user", ss.username, "retr", ss.nRetr, "top", ss.nTop, "dele", ss.nDeleted, "bytes", ss.bytesOut)
	}
	ss.log.Info("disconnect", attrs...)
}

// closeSession releases the maildrop, once.
func (ss *session) closeSession() {
	if ss.sess == nil {
		return
	}
	if err := ss.sess.Close(); err != nil {
		ss.log.Error("closing maildrop", "user", ss.username, "err", err)
	}
	ss.sess = nil
}

// run is the command loop.
func (ss *session) run() {
	greeting := "+OK " + ss.srv.opts.Greeting
	if ss.srv.apop != nil {
		ss.timestamp = ss.srv.timestamp()
		greeting += " " + ss.timestamp
	}
	if err := ss.writeLine(greeting); err != nil {
		ss.reason = "write error"
		return
	}
	// Cross-protocol defence: a TLS ClientHello on the cleartext port is
	// answered once and closed, never parsed as commands.
	if ss.info.TLS == nil {
		b, err := ss.c.Peek(1, ss.readTimeout())
		if err != nil {
			ss.readFailed(err)
			return
		}
		if b[0] == 0x16 {
			ss.reason = "tls on cleartext port"
			_ = ss.writeLine(errTLSOnPlain.Error())
			return
		}
	}
	first := true
	for {
		timeout := ss.readTimeout()
		if timeout <= 0 {
			ss.reason = "login timeout"
			return
		}
		max := ss.srv.opts.MaxLine
		if ss.state == stateAuthorization {
			max = ss.srv.opts.MaxSASLLine // checked per command below
		}
		line, err := ss.c.ReadLine(max, timeout)
		if err != nil {
			ss.readFailed(err)
			return
		}
		ss.trace("C", redact(line, ss.srv.opts.TraceAuth))
		if first && looksLikeHTTP(line) {
			// Cross-protocol defence (a browser or proxy sent here):
			// one -ERR, then close.
			ss.reason = "http request"
			_ = ss.writeLine(errNotPOP3.Error())
			return
		}
		first = false
		err = ss.dispatch(line)
		switch {
		case err == nil:
			ss.errors = 0
		case errors.Is(err, errQuit):
			return
		case errors.Is(err, errAbort):
			if ss.reason == "" {
				ss.reason = "aborted"
			}
			return
		default:
			if werr := ss.writeErr(err); werr != nil {
				ss.reason = "write error"
				return
			}
			if errors.Is(err, errLineTooLong) {
				ss.reason = "line too long"
				return
			}
			ss.errors++
			if max := ss.srv.opts.MaxErrors; max > 0 && ss.errors >= max {
				ss.reason = "too many errors"
				return
			}
		}
	}
}

// readFailed records why reading a command failed and, for an over-long
// line, sends the one reply. A timeout closes without a response (RFC
// 1939 §3).
func (ss *session) readFailed(err error) {
	switch {
	case errors.Is(err, lineserver.ErrLineTooLong):
		ss.reason = "line too long"
		_ = ss.writeErr(errLineTooLong)
	case errors.Is(err, io.EOF):
		ss.reason = "client closed"
	case errors.Is(err, io.ErrUnexpectedEOF):
		ss.reason = "client closed mid-line"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		if why, ok := lineserver.KickReason(ss.ctx); ok {
			// Kicked by the administrator: one [SYS/TEMP] line, like
			// Dovecot, and no UPDATE.
			ss.reason = "kicked"
			_ = ss.writeErr(&Error{Code: "SYS/TEMP", Text: kickText(why)})
			return
		}
		ss.reason = "shutdown"
	case lineserver.IsTimeout(err):
		if ss.state == stateAuthorization && !time.Now().Before(ss.loginDeadline) {
			ss.reason = "login timeout"
		} else {
			ss.reason = "idle timeout"
		}
	default:
		ss.reason = "read error"
		ss.log.Debug("read failed", "err", err)
	}
}

// readTimeout is the deadline for the next client line: the idle timeout,
// and in AUTHORIZATION no later than the login deadline.
func (ss *session) readTimeout() time.Duration {
	t := ss.srv.opts.IdleTimeout
	if ss.state == stateAuthorization {
		if left := time.Until(ss.loginDeadline); left < t {
			t = left
		}
	}
	return t
}

// looksLikeHTTP reports whether a first line is an HTTP request line.
func looksLikeHTTP(line []byte) bool {
	method, rest, ok := strings.Cut(string(line), " ")
	if !ok {
		return false
	}
	switch method {
	case "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH", "TRACE":
	default:
		return false
	}
	i := strings.LastIndexByte(rest, ' ')
	return i >= 0 && strings.HasPrefix(rest[i+1:], "HTTP/")
}

// writeLine sends one status line (or continuation) and flushes it.
func (ss *session) writeLine(line string) error {
	ss.trace("S", []byte(line))
	if err := ss.c.WriteLine(line); err != nil {
		return err
	}
	return ss.c.Flush()
}

// ok sends "+OK text".
func (ss *session) ok(format string, args ...any) error {
	line := "+OK"
	if format != "" {
		line += " " + fmt.Sprintf(format, args...)
	}
	if err := ss.writeLine(line); err != nil {
		return fmt.Errorf("pop3d: write reply: %w", errAbort)
	}
	return nil
}

// writeErr is the one place that turns an error into an -ERR line: an
// *Error goes out as is (cleaned and cut to 512 octets); anything else is
// logged and sent as ErrTemp, so backend detail never reaches the client.
func (ss *session) writeErr(err error) error {
	var pe *Error
	if !errors.As(err, &pe) {
		ss.log.Error("internal error", "err", err)
		pe = ErrTemp
	}
	return ss.writeLine(errorLine(pe))
}

// kickText is the reply text of a kicked session.
func kickText(reason string) string {
	if strings.TrimSpace(reason) == "" {
		return "disconnected by the administrator"
	}
	return reason
}

// errorLine formats e as a status line of at most maxReply octets with
// CRLF, without control characters.
func errorLine(e *Error) string {
	line := []byte(e.Error())
	for i, b := range line {
		if b < 0x20 || b == 0x7f {
			line[i] = ' '
		}
	}
	if len(line) > maxReply-2 {
		line = line[:maxReply-2]
	}
	return string(line)
}

// trace writes one line of the protocol trace.
func (ss *session) trace(dir string, line []byte) {
	w := ss.srv.opts.Debug
	if w == nil {
		return
	}
	var b strings.Builder
	b.WriteString(ss.id)
	b.WriteByte(' ')
	b.WriteString(dir)
	b.WriteString(": ")
	const maxTrace = 600
	if len(line) > maxTrace {
		fmt.Fprintf(&b, "(%d octets) ", len(line))
		line = line[:maxTrace]
	}
	for _, c := range line {
		if c < 0x20 || c == 0x7f {
			fmt.Fprintf(&b, "\\x%02x", c)
		} else {
			b.WriteByte(c)
		}
	}
	b.WriteByte('\n')
	ss.srv.traceMu.Lock()
	defer ss.srv.traceMu.Unlock()
	_, _ = io.WriteString(w, b.String())
}

// redact hides credentials in a client line for the trace: the PASS
// argument, the APOP digest, the AUTH initial response. SASL response
// lines are redacted by the AUTH handler.
func redact(line []byte, traceAuth bool) []byte {
	if traceAuth || len(line) < 4 {
		return line
	}
	switch strings.ToUpper(string(line[:4])) {
	case "PASS":
		if len(line) > 4 {
			return []byte(string(line[:4]) + " ***")
		}
	case "APOP", "AUTH":
		// Keep keyword and first argument (user name or mechanism).
		fields := strings.SplitN(string(line), " ", 3)
		if len(fields) == 3 {
			return []byte(fields[0] + " " + fields[1] + " ***")
		}
	}
	return line
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
