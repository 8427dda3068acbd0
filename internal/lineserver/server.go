package lineserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("lineserver: server closed")

// Handler serves one connection. ServeConn returns when the session is
// over; the Server closes c afterwards (also when the handler wrapped it
// in a Conn and called Close). ctx is cancelled when the server
// shuts down: the handler then ends its session at the next command
// boundary (for POP3: without entering the UPDATE state) and returns.
type Handler interface {
	ServeConn(ctx context.Context, c net.Conn)
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, c net.Conn)

// ServeConn calls f(ctx, c).
func (f HandlerFunc) ServeConn(ctx context.Context, c net.Conn) { f(ctx, c) }

// Reasons passed to Options.OnLimit.
const (
	LimitTotal = "total" // Options.MaxConns reached
	LimitPerIP = "ip"    // Options.MaxConnsPerIP reached for the client address
)

// limitWriteTimeout bounds the write of a refusal or panic line.
const limitWriteTimeout = 5 * time.Second

// Options configures a Server. The zero value is usable.
type Options struct {
	// Logger receives accept errors, limit refusals and panics. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Proto names the protocol in log records ("pop3", "pop3s",
	// "poppassd"). Empty means no proto attribute.
	Proto string
	// MaxConns limits concurrent connections. Zero means no limit.
	MaxConns int
	// MaxConnsPerIP limits concurrent connections per client IP address
	// (exact address; connections without an IP address are not counted).
	// Zero means no limit.
	MaxConnsPerIP int
	// OnLimit, if set, is called for a connection refused because of
	// MaxConns or MaxConnsPerIP (reason is LimitTotal or LimitPerIP) to
	// write one refusal line; the connection is closed afterwards. A write
	// deadline of a few seconds is already set. It runs on its own
	// goroutine, never in the accept loop.
	OnLimit func(c net.Conn, reason string)
	// OnPanic, if set, is called after a handler panicked (the stack is
	// logged already) to write one error line. c is the connection as the
	// protocol last saw it: after StartTLS on a Conn created with NewConn,
	// the TLS connection. A write deadline is already set. The connection
	// is closed afterwards.
	OnPanic func(c net.Conn)
}

// Server accepts connections and runs a Handler for each of them. Its
// methods are safe for concurrent use.
type Server struct {
	h    Handler
	opts Options
	log  *slog.Logger

	idPrefix string
	nextID   atomic.Uint64

	ctx    context.Context // parent of every connection context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*tracked]struct{}
	perIP     map[string]int
	wg        sync.WaitGroup // handler goroutines and refusal writers
	done      chan struct{}  // closed when the last tracked connection ends after closing
}

// tracked is one live connection.
type tracked struct {
	id   string
	nc   net.Conn
	ip   string
	slot *connSlot
}

// New returns a Server that runs h for every connection. opts is copied.
func New(h Handler, opts Options) *Server {
	if h == nil {
		panic("lineserver: nil Handler")
	}
	if opts.MaxConns < 0 || opts.MaxConnsPerIP < 0 {
		panic("lineserver: negative connection limit")
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.Default()
	}
	if opts.Proto != "" {
		lg = lg.With("proto", opts.Proto)
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		h:         h,
		opts:      opts,
		log:       lg,
		idPrefix:  hex.EncodeToString(b[:]),
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*tracked]struct{}),
		perIP:     make(map[string]int),
	}
}

// Logger returns the logger the server logs with (Options.Logger or
// slog.Default, with the proto attribute).
func (s *Server) Logger() *slog.Logger { return s.log }

// newID returns a process-unique connection id: a random per-server prefix
// and a counter.
func (s *Server) newID() string {
	return s.idPrefix + "-" + strconv.FormatUint(s.nextID.Add(1), 10)
}

// Serve accepts connections on ln and runs the handler for each on its own
// goroutine. It closes ln when it returns. After Close or Shutdown it
// returns ErrServerClosed; otherwise it returns the first non-temporary
// accept error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		_ = ln.Close()
	}()

	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("lineserver: accept: %w", err)
			}
			var ne net.Error
			//lint:ignore SA1019 Temporary is still the only signal for EMFILE and friends.
			if errors.As(err, &ne) && ne.Temporary() { //nolint:staticcheck
				if backoff == 0 {
					backoff = 5 * time.Millisecond
				} else {
					backoff *= 2
				}
				if backoff > time.Second {
					backoff = time.Second
				}
				s.log.Warn("accept failed, retrying", "err", err, "delay", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-s.ctx.Done():
					t.Stop()
					return ErrServerClosed
				}
				continue
			}
			return fmt.Errorf("lineserver: accept: %w", err)
		}
		backoff = 0
		s.start(c)
	}
}

// start registers c and runs the handler, or refuses c over a limit.
func (s *Server) start(c net.Conn) {
	id := s.newID()
	ip := ipKey(c.RemoteAddr())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = c.Close()
		return
	}
	reason := ""
	switch {
	case s.opts.MaxConns > 0 && len(s.conns) >= s.opts.MaxConns:
		reason = LimitTotal
	case s.opts.MaxConnsPerIP > 0 && ip != "" && s.perIP[ip] >= s.opts.MaxConnsPerIP:
		reason = LimitPerIP
	}
	if reason != "" {
		s.wg.Add(1)
		s.mu.Unlock()
		s.log.Warn("connection refused: limit reached", "cid", id, "remote", addrString(c.RemoteAddr()), "limit", reason)
		go s.refuse(c, reason)
		return
	}
	t := s.trackLocked(id, c, ip)
	s.mu.Unlock()
	go s.run(s.ctx, t)
}

// refuse writes the refusal line and closes c.
func (s *Server) refuse(c net.Conn, reason string) {
	defer s.wg.Done()
	defer c.Close()
	if s.opts.OnLimit == nil {
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(limitWriteTimeout))
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in OnLimit", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	s.opts.OnLimit(c, reason)
}

// trackLocked registers a connection; s.mu must be held and s not closed.
func (s *Server) trackLocked(id string, c net.Conn, ip string) *tracked {
	t := &tracked{id: id, nc: c, ip: ip, slot: &connSlot{proto: s.opts.Proto, since: time.Now()}}
	s.conns[t] = struct{}{}
	if ip != "" {
		s.perIP[ip]++
	}
	s.wg.Add(1)
	return t
}

// untrack removes t and wakes Shutdown when the last connection ends.
func (s *Server) untrack(t *tracked) {
	s.mu.Lock()
	delete(s.conns, t)
	if t.ip != "" {
		if s.perIP[t.ip] <= 1 {
			delete(s.perIP, t.ip)
		} else {
			s.perIP[t.ip]--
		}
	}
	s.mu.Unlock()
	s.wg.Done()
}

// run serves one tracked connection with the panic guard, then closes it.
func (s *Server) run(parent context.Context, t *tracked) {
	ctx, cancel := context.WithCancelCause(parent)
	t.slot.armKick(cancel)
	ctx = context.WithValue(ctx, connIDKey{}, t.id)
	ctx = context.WithValue(ctx, slotKey{}, t.slot)
	defer s.untrack(t)
	defer cancel(nil)
	defer func() {
		// Close the connection as the protocol last used it (TLS
		// close_notify), then the accepted one.
		if c := t.slot.conn(); c != nil {
			_ = c.closeNet()
		}
		_ = t.nc.Close()
	}()
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		s.log.Error("panic serving connection", "cid", t.id, "remote", addrString(t.nc.RemoteAddr()),
			"panic", r, "stack", string(debug.Stack()))
		if s.opts.OnPanic == nil {
			return
		}
		c := t.slot.current(t.nc)
		_ = c.SetWriteDeadline(time.Now().Add(limitWriteTimeout))
		func() {
			defer func() {
				if r := recover(); r != nil {
					s.log.Error("panic in OnPanic", "cid", t.id, "panic", r)
				}
			}()
			s.opts.OnPanic(c)
		}()
	}()
	s.h.ServeConn(ctx, t.nc)
}

// ServeConn serves one already established connection (inetd mode, or a
// connection accepted elsewhere) with the same id, limits bookkeeping,
// shutdown and panic handling as Serve, and blocks until the handler
// returns. c is closed afterwards. ctx may carry a deadline or
// cancellation of its own.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	id := s.newID()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = c.Close()
		return
	}
	t := s.trackLocked(id, c, ipKey(c.RemoteAddr()))
	s.mu.Unlock()
	merged, cancel := mergeCancel(ctx, s.ctx)
	defer cancel()
	s.run(merged, t)
}

// mergeCancel returns a context derived from a that is also cancelled when
// b is done.
func mergeCancel(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(a)
	stop := context.AfterFunc(b, func() { cancel(context.Cause(b)) })
	return ctx, func() { stop(); cancel(context.Canceled) }
}

// Conns returns the number of connections being served.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// closeListeners marks the server closed, closes every listener and
// cancels every connection context.
func (s *Server) closeListeners() error {
	s.mu.Lock()
	s.closed = true
	var err error
	for ln := range s.listeners {
		if e := ln.Close(); e != nil && !errors.Is(e, net.ErrClosed) && err == nil {
			err = fmt.Errorf("lineserver: close listener %s: %w", ln.Addr(), e)
		}
	}
	s.mu.Unlock()
	s.cancel()
	return err
}

// closeConns force-closes every tracked connection.
func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.conns {
		_ = t.nc.Close()
	}
}

// Close closes the listeners and every connection immediately. Handlers see
// their context cancelled and their I/O fail. It does not wait for them.
func (s *Server) Close() error {
	err := s.closeListeners()
	s.closeConns()
	return err
}

// Shutdown closes the listeners and cancels every connection's context, so
// handlers end their sessions at the next command boundary (a write in
// progress completes) and return. It waits for all handlers until ctx is
// done; then it force-closes the remaining connections and returns
// ctx.Err(). It returns nil when every handler returned in time.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.closeListeners()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		s.closeConns()
		return fmt.Errorf("lineserver: shutdown: %w", ctx.Err())
	}
}

type connIDKey struct{}

// ConnID returns the id the Server assigned to the connection ctx belongs
// to, or "" for a context not from a Server.
func ConnID(ctx context.Context) string {
	id, _ := ctx.Value(connIDKey{}).(string)
	return id
}

// connSlot lets the panic guard write through the connection the protocol
// currently uses (the TLS one after StartTLS). It also holds the session
// metadata of Sessions and the cancel function of Kick (registry.go).
type connSlot struct {
	mu sync.Mutex
	c  *Conn

	since  time.Time
	proto  string
	user   string
	tls    bool
	cancel context.CancelCauseFunc
	kicked error // a Kick that came before armKick
}

type slotKey struct{}

func (s *connSlot) set(c *Conn) {
	s.mu.Lock()
	s.c = c
	s.mu.Unlock()
}

func (s *connSlot) conn() *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

func (s *connSlot) current(fallback net.Conn) net.Conn {
	c := s.conn()
	if c == nil {
		return fallback
	}
	return c.NetConn()
}

// ipKey returns the client IP used for the per-IP limit, or "".
func ipKey(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case *net.UDPAddr:
		return a.IP.String()
	case *net.IPAddr:
		return a.IP.String()
	}
	return ""
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
