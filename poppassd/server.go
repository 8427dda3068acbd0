package poppassd

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

// Defaults for zero Options fields.
const (
	DefaultIdleTimeout    = 60 * time.Second
	DefaultSessionTimeout = 2 * time.Minute
	DefaultFailureDelay   = 3 * time.Second
	DefaultMaxPasswordLen = 256
	DefaultMaxConns       = 32
)

// maxUsernameLen is the longest accepted username in bytes.
const maxUsernameLen = 256

// minLineLen is the smallest line limit (terminator included): 512, as for
// POP3 commands.
const minLineLen = 512

// Options configures a Server. New copies it; zero fields take the
// documented defaults.
type Options struct {
	// Backend verifies and changes passwords. Required.
	Backend Backend
	// Version goes into the greeting,
	// "200 poppassd v<Version> hello, who are you?" (the traditional shape
	// that clients and scanners recognise). A leading "v" is dropped and
	// only letters, digits and ".-_+" are kept; empty means "0".
	Version string
	// TLSConfig is used by ServeTLS (implicit TLS, Eudora's "SSL alternate
	// port"). Nil makes ServeTLS fail.
	TLSConfig *tls.Config
	// IdleTimeout bounds each read of a command line and each reply write
	// (default 60 s, as BSDI's poppassd). Negative is invalid.
	IdleTimeout time.Duration
	// SessionTimeout bounds the whole conversation (default 2 min).
	// Negative is invalid.
	SessionTimeout time.Duration
	// FailureDelay is the time between the receipt of a refused "pass" (or
	// a "newpass" refused with ErrAuthFailed) and the 500 reply (default
	// 3 s). Every refusal is answered at that moment, however long the
	// backend took, unless the backend took longer. Negative means no
	// delay (tests only).
	FailureDelay time.Duration
	// MaxConns limits concurrent connections (default 32; negative means
	// no limit). Connections over a limit get
	// "500 Too many connections, try again later." and are closed.
	MaxConns int
	// MaxConnsPerIP limits concurrent connections per client address
	// (zero or negative: no limit; a webmail on the same host connects
	// from 127.0.0.1 for all its users).
	MaxConnsPerIP int
	// MaxPasswordLen is the longest accepted password in bytes, the same
	// for "pass" and "newpass" (default 256). Longer ones are refused with
	// a 500, never truncated. Negative is invalid.
	MaxPasswordLen int
	// Logger receives protocol events at Debug, one Info line per changed
	// or refused password, and backend failures at Error. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Debug, if set, receives a protocol trace: one line per command and
	// reply, prefixed with the connection id. Writes are serialised.
	Debug io.Writer
	// TraceAuth puts the arguments of pass and newpass (and unrecognised
	// lines, which may be mistyped passwords) into the trace. Off by
	// default: they are replaced with "***".
	TraceAuth bool
}

// Server is a poppassd server. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	ls       *lineserver.Server
	greeting string
	maxLine  int
	trace    *tracer
}

// New returns a Server for opts. It panics on a nil opts or Backend and on
// negative timeouts or lengths, which are programming errors.
func New(opts *Options) *Server {
	if opts == nil || opts.Backend == nil {
		panic("poppassd: New without a Backend")
	}
	o := *opts
	if o.IdleTimeout < 0 || o.SessionTimeout < 0 || o.MaxPasswordLen < 0 {
		panic("poppassd: negative IdleTimeout, SessionTimeout or MaxPasswordLen")
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	switch {
	case o.FailureDelay == 0:
		o.FailureDelay = DefaultFailureDelay
	case o.FailureDelay < 0:
		o.FailureDelay = 0
	}
	switch {
	case o.MaxConns == 0:
		o.MaxConns = DefaultMaxConns
	case o.MaxConns < 0:
		o.MaxConns = 0
	}
	if o.MaxConnsPerIP < 0 {
		o.MaxConnsPerIP = 0
	}
	if o.MaxPasswordLen == 0 {
		o.MaxPasswordLen = DefaultMaxPasswordLen
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{
		opts:     o,
		log:      o.Logger,
		greeting: "poppassd v" + cleanVersion(o.Version) + " hello, who are you?",
		// "newpass " + the longest password + CRLF must fit.
		maxLine: max(minLineLen, len(verbNEWPASS)+1+o.MaxPasswordLen+2),
	}
	if o.Debug != nil {
		s.trace = &tracer{w: o.Debug, auth: o.TraceAuth}
	}
	s.ls = lineserver.New(lineserver.HandlerFunc(s.serve), lineserver.Options{
		Logger:        o.Logger,
		Proto:         "poppassd",
		MaxConns:      o.MaxConns,
		MaxConnsPerIP: o.MaxConnsPerIP,
		OnLimit: func(c net.Conn, _ string) {
			_, _ = io.WriteString(c, "500 Too many connections, try again later.\r\n")
		},
		OnPanic: func(c net.Conn) {
			_, _ = io.WriteString(c, "500 "+textServerError+"\r\n")
		},
	})
	return s
}

// cleanVersion reduces v to the characters scanners expect after "v".
func cleanVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	v = strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9',
			r == '.', r == '-', r == '_', r == '+':
			return r
		}
		return -1
	}, v)
	if len(v) > 64 {
		v = v[:64]
	}
	if v == "" {
		return "0"
	}
	return v
}

// Serve accepts clear-text connections on ln until Close or Shutdown, then
// returns ErrServerClosed. It closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	err := s.ls.Serve(ln)
	if errors.Is(err, lineserver.ErrServerClosed) {
		return ErrServerClosed
	}
	if err != nil {
		return fmt.Errorf("poppassd: serve %s: %w", ln.Addr(), err)
	}
	return nil
}

// ServeTLS accepts implicit-TLS connections on ln (the handshake comes
// first, bounded by IdleTimeout) with Options.TLSConfig, like Serve.
func (s *Server) ServeTLS(ln net.Listener) error {
	if s.opts.TLSConfig == nil {
		return errors.New("poppassd: ServeTLS without Options.TLSConfig")
	}
	return s.Serve(tls.NewListener(ln, s.opts.TLSConfig))
}

// ServeConn serves one conversation on c and returns when it is over; c is
// closed then. It is the inetd mode (c from lineserver.StdioConn) and
// applies everything but the connection limits. Cancelling ctx, Close or
// Shutdown end the conversation at the next command boundary.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	s.ls.ServeConn(ctx, c)
}

// Conns returns the number of open connections.
func (s *Server) Conns() int { return s.ls.Conns() }

// Sessions returns a snapshot of the open connections; the user is set
// once "pass" succeeded.
func (s *Server) Sessions() []lineserver.SessionInfo { return s.ls.Sessions() }

// Kick ends every conversation match selects: at its next read it answers
// "500 <reason>" and closes. It returns the number of conversations
// selected.
func (s *Server) Kick(match func(lineserver.SessionInfo) bool, reason string) int {
	return s.ls.Kick(match, reason)
}

// Close closes the listeners and all connections immediately. A
// conversation cut off this way changes no password unless its commit was
// already under way.
func (s *Server) Close() error {
	if err := s.ls.Close(); err != nil {
		return fmt.Errorf("poppassd: close: %w", err)
	}
	return nil
}

// Shutdown closes the listeners, ends idle conversations with
// "500 Server shutting down." at their next read, lets running backend
// calls finish (they are bounded by SessionTimeout, not cancelled), and
// waits for every connection until ctx is done; then it closes the rest
// and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.ls.Shutdown(ctx); err != nil {
		return fmt.Errorf("poppassd: shutdown: %w", err)
	}
	return nil
}

// serve is the lineserver handler: TLS handshake if needed, then one
// conversation.
func (s *Server) serve(ctx context.Context, nc net.Conn) {
	id := lineserver.ConnID(ctx)
	log := s.log.With("proto", "poppassd", "cid", id, "remote", addrString(nc.RemoteAddr()))
	if tc, ok := nc.(*tls.Conn); ok {
		hctx, cancel := context.WithTimeout(ctx, s.opts.IdleTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			log.Debug("tls handshake failed", "err", err)
			return
		}
	}
	sctx, cancel := context.WithTimeout(ctx, s.opts.SessionTimeout)
	defer cancel()
	c := lineserver.NewConn(sctx, nc)
	defer c.Close()
	c.WriteTimeout = s.opts.IdleTimeout
	sess := &session{
		srv:    s,
		c:      c,
		ctx:    sctx,
		parent: ctx,
		log:    log,
		info:   &ConnInfo{ID: id, Remote: c.RemoteAddr(), Local: c.LocalAddr(), TLS: c.TLS()},
	}
	log.Debug("connection opened", "tls", c.TLS() != nil)
	sess.run()
	log.Debug("connection closed", "state", sess.state.String())
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
