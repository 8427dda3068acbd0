package pop3d

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/popadm/popadm/internal/lineserver"
)

// Defaults for zero Options fields.
const (
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultLoginTimeout     = 3 * time.Minute
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultWriteTimeout     = time.Minute
	DefaultMaxLine          = 512
	DefaultMaxSASLLine      = 8192
	DefaultMaxErrors        = 10
	DefaultGreeting         = "POP3 server ready"

	// MinMaxLine is the smallest MaxLine accepted: RFC 2449 §4 requires
	// command lines of 255 octets including CRLF to be accepted.
	MinMaxLine = 255
)

// Options configures a Server. New copies it; later changes have no
// effect. New panics on invalid values (a nil Backend, an option that
// needs an interface the Backend lacks, text with line breaks...): they are
// programming errors, because user input is validated where it is parsed.
type Options struct {
	// Backend authenticates users and opens maildrops. Required.
	Backend Backend

	// Observer receives command and byte counts (metrics). Nil disables.
	Observer Observer

	// Hostname is used in the APOP timestamp and logs. Empty means
	// os.Hostname(), or "localhost" if that fails.
	Hostname string
	// Greeting is the text of the greeting after "+OK ". Empty means
	// DefaultGreeting. The APOP timestamp, if any, is appended.
	Greeting string
	// Implementation is the IMPLEMENTATION capability text (RFC 2449
	// §6.9). Empty omits the capability.
	Implementation string

	// TLSConfig enables STLS (RFC 2595) on cleartext listeners and is
	// required by ServeTLS (implicit TLS, RFC 8314). Nil means no STLS.
	// The server uses a clone with MinVersion raised to TLS 1.2 if it was
	// lower (RFC 8996); certificate reloading is the config's business
	// (GetCertificate).
	TLSConfig *tls.Config
	// AllowInsecureAuth permits the plaintext mechanisms (USER/PASS, AUTH
	// PLAIN, AUTH LOGIN) on cleartext connections from non-local
	// addresses. False (the default) refuses them there with an [AUTH]
	// error and leaves USER, PLAIN and LOGIN out of CAPA; they stay
	// available over TLS and from local addresses (see IsLocal).
	AllowInsecureAuth bool
	// IsLocal reports whether a client address counts as local for
	// AllowInsecureAuth. Nil means: loopback IP addresses, and addresses
	// that are not IP at all (Unix sockets, pipes, inetd on stdio).
	IsLocal func(net.Addr) bool

	// APOP offers APOP (RFC 1939 §7): the greeting then carries a
	// timestamp <pid.counter.unixtime@hostname>, different on every
	// connection. Requires Backend to implement APOPBackend. False means no
	// timestamp and APOP is an unknown command. Clients use APOP whenever a
	// timestamp is present, so set it only if APOP works for every account.
	APOP bool
	// SASLMechanisms lists the SASL mechanisms (RFC 5034) served by the
	// Backend's SASLBackend, e.g. "SCRAM-SHA-256", "CRAM-MD5"; names are
	// case-insensitive. Non-empty requires Backend to implement
	// SASLBackend. PLAIN and LOGIN are built in on top of Backend.Login and
	// must not be listed: they are offered wherever plaintext
	// authentication is permitted.
	SASLMechanisms []string

	// Expire is the EXPIRE capability argument (RFC 2449 §6.7): "NEVER" or
	// a number of days. Empty omits the capability.
	Expire string
	// LoginDelay is the LOGIN-DELAY capability in seconds (RFC 2449 §6.5);
	// the server only announces it, the Backend enforces it with a
	// [LOGIN-DELAY] error. Zero omits the capability.
	LoginDelay int

	// IdleTimeout is the autologout timer (RFC 1939 §3), reset by every
	// command; on expiry the connection is closed without a response and
	// without UPDATE. Zero means DefaultIdleTimeout. The RFC's 10-minute
	// floor is enforced where configuration is parsed, not here.
	IdleTimeout time.Duration
	// LoginTimeout bounds the whole AUTHORIZATION state. Zero means
	// DefaultLoginTimeout.
	LoginTimeout time.Duration
	// HandshakeTimeout bounds a TLS handshake (implicit TLS and STLS).
	// Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds the sending of each response line; message
	// bodies get WriteTimeout plus one second per 32 KiB. Zero means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration

	// MaxLine is the longest command line in octets including CRLF; a
	// longer one gets one -ERR and the connection is closed. Zero means
	// DefaultMaxLine (512); values below MinMaxLine (255, RFC 2449 §4)
	// panic.
	MaxLine int
	// MaxSASLLine is the longest AUTH command line and SASL response line
	// (RFC 5034 §4 lets initial responses exceed 255 octets). Zero means
	// DefaultMaxSASLLine (8192). It is raised to MaxLine if lower.
	MaxSASLLine int
	// MaxErrors is the number of consecutive -ERR replies after which the
	// connection is closed. Zero means DefaultMaxErrors; negative means no
	// limit.
	MaxErrors int

	// MaxConns limits concurrent connections; MaxConnsPerIP limits them
	// per client IP address. Zero means no limit. A refused client gets
	// "-ERR [SYS/TEMP] too many connections".
	MaxConns      int
	MaxConnsPerIP int

	// Logger receives connection, login and error records. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Debug, if set, receives a protocol trace: one line per command and
	// per status line, prefixed with the connection id and "C:" or "S:".
	// Message bodies are not traced. Credentials (PASS arguments, APOP
	// digests, AUTH initial responses and SASL responses) are replaced by
	// "***" unless TraceAuth is set.
	Debug io.Writer
	// TraceAuth puts credentials into the Debug trace. Never set it in
	// production.
	TraceAuth bool
}

// Server is a POP3 server. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	backend  Backend
	apop     APOPBackend
	sasl     SASLBackend
	tlsConf  *tls.Config
	mechs    []string // upper case, from SASLMechanisms
	log      *slog.Logger
	isLocal  func(net.Addr) bool
	ls       *lineserver.Server
	tsCount  atomic.Uint64
	traceMu  sync.Mutex
	pid      int
	hostname string

	// timestamp makes the APOP timestamp; tests replace it.
	timestamp func() string
}

// New returns a Server for opts. See Options for the defaults and for
// what makes New panic.
func New(opts *Options) *Server {
	if opts == nil || opts.Backend == nil {
		panic("pop3d: Options.Backend is nil")
	}
	o := *opts
	s := &Server{opts: o, backend: o.Backend, pid: os.Getpid()}
	if o.APOP {
		ab, ok := o.Backend.(APOPBackend)
		if !ok {
			panic("pop3d: Options.APOP is set but the Backend does not implement APOPBackend")
		}
		s.apop = ab
	}
	if len(o.SASLMechanisms) > 0 {
		sb, ok := o.Backend.(SASLBackend)
		if !ok {
			panic("pop3d: Options.SASLMechanisms is set but the Backend does not implement SASLBackend")
		}
		s.sasl = sb
		seen := map[string]bool{}
		for _, m := range o.SASLMechanisms {
			m = strings.ToUpper(m)
			if !validMechName(m) {
				panic(fmt.Sprintf("pop3d: invalid SASL mechanism name %q", m))
			}
			if m == "PLAIN" || m == "LOGIN" {
				panic("pop3d: SASL mechanisms PLAIN and LOGIN are built in; do not list them in SASLMechanisms")
			}
			if !seen[m] {
				seen[m] = true
				s.mechs = append(s.mechs, m)
			}
		}
	}
	s.opts.SASLMechanisms = append([]string(nil), s.mechs...)
	if o.TLSConfig != nil {
		c := o.TLSConfig.Clone()
		if c.MinVersion < tls.VersionTLS12 {
			c.MinVersion = tls.VersionTLS12
		}
		s.tlsConf = c
	}
	if o.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		s.opts.Hostname = h
	}
	s.hostname = sanitizeHost(s.opts.Hostname)
	if o.Greeting == "" {
		s.opts.Greeting = DefaultGreeting
	}
	for name, v := range map[string]string{"Greeting": s.opts.Greeting, "Implementation": o.Implementation, "Hostname": s.opts.Hostname} {
		if !printableText(v) || len(v) > 200 {
			panic(fmt.Sprintf("pop3d: Options.%s must be at most 200 printable characters", name))
		}
	}
	if o.Expire != "" && o.Expire != "NEVER" {
		if n, err := strconv.Atoi(o.Expire); err != nil || n < 0 || strconv.Itoa(n) != o.Expire {
			panic(fmt.Sprintf("pop3d: Options.Expire %q is neither NEVER nor a number of days", o.Expire))
		}
	}
	if o.LoginDelay < 0 {
		panic("pop3d: negative Options.LoginDelay")
	}
	for _, d := range []time.Duration{o.IdleTimeout, o.LoginTimeout, o.HandshakeTimeout, o.WriteTimeout} {
		if d < 0 {
			panic("pop3d: negative timeout in Options")
		}
	}
	setDefault(&s.opts.IdleTimeout, DefaultIdleTimeout)
	setDefault(&s.opts.LoginTimeout, DefaultLoginTimeout)
	setDefault(&s.opts.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&s.opts.WriteTimeout, DefaultWriteTimeout)
	if o.MaxLine == 0 {
		s.opts.MaxLine = DefaultMaxLine
	}
	if s.opts.MaxLine < MinMaxLine {
		panic(fmt.Sprintf("pop3d: Options.MaxLine %d is below %d (RFC 2449 §4)", o.MaxLine, MinMaxLine))
	}
	if o.MaxSASLLine == 0 {
		s.opts.MaxSASLLine = DefaultMaxSASLLine
	}
	if s.opts.MaxSASLLine < s.opts.MaxLine {
		s.opts.MaxSASLLine = s.opts.MaxLine
	}
	if o.MaxErrors == 0 {
		s.opts.MaxErrors = DefaultMaxErrors
	}
	s.log = o.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.isLocal = o.IsLocal
	if s.isLocal == nil {
		s.isLocal = defaultIsLocal
	}
	s.timestamp = s.newTimestamp
	s.ls = lineserver.New(lineserver.HandlerFunc(s.serve), lineserver.Options{
		Logger:        s.log,
		Proto:         "pop3",
		MaxConns:      o.MaxConns,
		MaxConnsPerIP: o.MaxConnsPerIP,
		OnLimit: func(c net.Conn, _ string) {
			_, _ = io.WriteString(c, "-ERR [SYS/TEMP] too many connections\r\n")
		},
		OnPanic: func(c net.Conn) {
			_, _ = io.WriteString(c, ErrTemp.Error()+"\r\n")
		},
	})
	return s
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// validMechName reports whether m is a SASL mechanism name (RFC 4422 §3.1).
func validMechName(m string) bool {
	if m == "" || len(m) > 20 {
		return false
	}
	for i := 0; i < len(m); i++ {
		b := m[i]
		if !('A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// printableText reports whether s has only printable ASCII and spaces.
func printableText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// sanitizeHost keeps the characters that may appear in the domain part of
// the APOP timestamp.
func sanitizeHost(h string) string {
	var b strings.Builder
	for i := 0; i < len(h) && b.Len() < 64; i++ {
		c := h[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "localhost"
	}
	return b.String()
}

// newTimestamp returns a fresh APOP timestamp in msg-id syntax, different
// for every call (RFC 1939 §7): <pid.counter.unixtime@host>.
func (s *Server) newTimestamp() string {
	return fmt.Sprintf("<%d.%d.%d@%s>", s.pid, s.tsCount.Add(1), time.Now().Unix(), s.hostname)
}

// defaultIsLocal treats loopback IP addresses and non-IP transports (Unix
// sockets, pipes, stdio) as local.
func defaultIsLocal(a net.Addr) bool {
	switch a := a.(type) {
	case nil:
		return false
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UDPAddr:
		return a.IP.IsLoopback()
	case *net.IPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	switch a.Network() {
	case "unix", "pipe", "stdio":
		return true
	}
	return false
}

// Serve accepts cleartext POP3 connections (port 110) on ln; STLS is
// offered if Options.TLSConfig is set. It returns ErrServerClosed after
// Close or Shutdown, else the accept error that stopped it. ln is closed
// on return.
func (s *Server) Serve(ln net.Listener) error {
	return s.mapErr(s.ls.Serve(ln))
}

// ServeTLS accepts implicit-TLS connections (POP3S, port 995, RFC 8314
// §3.1) on ln: the TLS handshake, bounded by HandshakeTimeout, comes
// before the greeting. It requires Options.TLSConfig.
func (s *Server) ServeTLS(ln net.Listener) error {
	if s.tlsConf == nil {
		_ = ln.Close()
		return errors.New("pop3d: ServeTLS needs Options.TLSConfig")
	}
	return s.mapErr(s.ls.Serve(tls.NewListener(ln, s.tlsConf)))
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pop3d: listen %s: %w", addr, err)
	}
	return s.Serve(ln)
}

// ListenAndServeTLS listens on the TCP address addr and calls ServeTLS.
func (s *Server) ListenAndServeTLS(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pop3d: listen %s: %w", addr, err)
	}
	return s.ServeTLS(ln)
}

// ServeConn serves one established connection and returns when the
// session ends; c is closed then. It is meant for inetd mode (see
// lineserver.StdioConn). A *tls.Conn is served as implicit TLS (its
// handshake is run first). Shutdown and Close end it like any other.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	s.ls.ServeConn(ctx, c)
}

// Close closes all listeners and connections at once. Sessions end
// without UPDATE.
func (s *Server) Close() error {
	return s.ls.Close()
}

// Shutdown closes the listeners and ends every session at its next command
// boundary, without UPDATE (a QUIT already being processed completes,
// UPDATE included). It waits until all sessions ended or ctx is done; then
// it closes the remaining connections and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.ls.Shutdown(ctx)
}

// Conns returns the number of open connections.
func (s *Server) Conns() int { return s.ls.Conns() }

// Sessions returns a snapshot of the open connections: proto "pop3" or
// "pop3s", the user once logged in, the client address, TLS.
func (s *Server) Sessions() []lineserver.SessionInfo { return s.ls.Sessions() }

// Kick ends every session match selects: at its next command boundary it
// answers "-ERR [SYS/TEMP] <reason>" and closes without UPDATE (messages
// marked deleted stay). It returns the number of sessions selected.
func (s *Server) Kick(match func(lineserver.SessionInfo) bool, reason string) int {
	return s.ls.Kick(match, reason)
}

func (s *Server) mapErr(err error) error {
	if errors.Is(err, lineserver.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

// Observer receives counts of what sessions do, for metrics. Its methods
// are called from session goroutines and must be safe for concurrent use
// and fast.
type Observer interface {
	// Command is called for every known command that is dispatched.
	Command(name string)
	// Sent is called with the octets of each multi-line response body
	// (RETR, TOP, LIST, UIDL, CAPA) after it was sent.
	Sent(n int64)
}
