package socketmap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configures a Server. Zero values get the documented defaults.
type Options struct {
	// Store answers the lookups (required).
	Store Store
	// MailLocation is the mail location template of `popadm serve`,
	// default "maildir:/var/vmail/%d/%n".
	MailLocation string
	// Base is the directory mailbox answers are relative to; it must
	// equal Postfix's virtual_mailbox_base. Default: TemplateBase of
	// MailLocation.
	Base string
	// IdleTimeout closes a connection without a request for this long,
	// default 5m. Postfix reconnects by itself.
	IdleTimeout time.Duration
	// LookupTimeout bounds one database lookup, default 10s (TEMP after).
	LookupTimeout time.Duration
	// MaxConns refuses connections beyond this many, default 1000.
	MaxConns int
	// Logger receives errors and refusals; default slog.Default().
	Logger *slog.Logger
}

// Server serves the socketmap protocol on any number of listeners.
type Server struct {
	opts Options
	base string
	log  *slog.Logger

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New checks the options and returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("socketmap: no store")
	}
	if opts.MailLocation == "" {
		opts.MailLocation = "maildir:/var/vmail/%d/%n"
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 5 * time.Minute
	}
	if opts.LookupTimeout <= 0 {
		opts.LookupTimeout = 10 * time.Second
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	base, err := TemplateBase(opts.MailLocation)
	if err != nil {
		return nil, err
	}
	if opts.Base != "" {
		base = opts.Base
	}
	return &Server{opts: opts, base: base, log: opts.Logger,
		lns: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}, nil
}

// Base returns the directory mailbox answers are relative to, which
// Postfix's virtual_mailbox_base must equal.
func (s *Server) Base() string { return s.base }

// Lookup answers one request of map name for key, as the wire would.
func (s *Server) Lookup(ctx context.Context, name, key string) Reply {
	ctx, cancel := context.WithTimeout(ctx, s.opts.LookupTimeout)
	defer cancel()
	return s.lookup(ctx, name, key)
}

// Serve accepts connections on ln until Shutdown, serving each in its own
// goroutine. It returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) ||
				errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("socketmap: accept: %w", err)
		}
		backoff = 0
		s.mu.Lock()
		if s.closed || len(s.conns) >= s.opts.MaxConns {
			full := !s.closed
			s.mu.Unlock()
			if full {
				s.log.Warn("socketmap: connection refused, too many connections", "max", s.opts.MaxConns)
			}
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Shutdown stops the listeners, closes every connection between requests
// and waits for the running lookups to finish or ctx to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		// Wakes a reader blocked between requests; a lookup in
		// progress still writes its reply (the write deadline is
		// reset) before the loop sees closed.
		_ = c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// serveConn answers requests on one connection until the client closes
// it, it idles out, a framing error occurs or the server shuts down.
func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	r := bufio.NewReaderSize(c, 4096)
	var out []byte
	for {
		// Under the lock, so that Shutdown's deadline cannot be
		// overwritten by the idle one.
		s.mu.Lock()
		closed := s.closed
		if !closed {
			_ = c.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout))
		}
		s.mu.Unlock()
		if closed {
			return
		}
		req, err := ReadNetstring(r, MaxSize)
		if err != nil {
			if errors.Is(err, ErrTooLong) || errors.Is(err, ErrMalformed) {
				s.log.Warn("socketmap: bad request, closing", "err", err)
				_ = s.reply(c, &out, perm(strings.TrimPrefix(err.Error(), "socketmap: ")))
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("socketmap: read", "err", err)
			}
			return
		}
		var rep Reply
		name, key, found := strings.Cut(string(req), " ")
		switch {
		case !found || name == "" || key == "":
			rep = perm("malformed request: want <name> <key>")
		default:
			rep = s.Lookup(context.Background(), name, key)
		}
		if err := s.reply(c, &out, rep); err != nil {
			s.log.Debug("socketmap: write", "err", err)
			return
		}
	}
}

// reply writes one reply netstring, cut to MaxSize.
func (s *Server) reply(c net.Conn, buf *[]byte, r Reply) error {
	body := r.String()
	if len(body) > MaxSize {
		body = body[:MaxSize]
	}
	*buf = AppendNetstring((*buf)[:0], []byte(body))
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := c.Write(*buf)
	return err
}
