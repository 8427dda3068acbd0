package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ErrInUse is returned by Listen when a server already answers on the
// socket.
var ErrInUse = errors.New("control: socket in use by a running server")

// Socket and directory modes.
const (
	socketMode = 0o660
	dirMode    = 0o750
)

// connTimeout bounds one control connection: reading a request and writing
// its response.
const connTimeout = 30 * time.Second

// Handler executes the control commands.
type Handler interface {
	// Who lists the open sessions.
	Who() []Session
	// Kick ends the sessions t selects, sending reason to their clients,
	// and returns how many it ended.
	Kick(t Target, reason string) int
	// Reload reloads what SIGHUP reloads and describes the result.
	Reload() (string, error)
}

// Listen creates the control socket at path with mode 0660, creating its
// directory with mode 0750 if missing. A socket file left behind by a
// server that is gone is removed; one a server still answers on is not
// touched (ErrInUse). The listener removes the file when closed.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return nil, fmt.Errorf("control: create socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("control: %s: %w", path, ErrInUse)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("control: remove stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: listen %s: %w", path, err)
	}
	if err := os.Chmod(path, socketMode); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("control: chmod %s: %w", path, err)
	}
	return ln, nil
}

// Server answers control requests with a Handler.
type Server struct {
	h   Handler
	log *slog.Logger
}

// NewServer returns a Server over h; log nil means slog.Default().
func NewServer(h Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{h: h, log: log}
}

// Serve answers connections on ln until ctx is done, then closes ln and
// every open control connection, waits for their goroutines and returns
// nil. It returns an accept error other than the one closing causes.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	stop := context.AfterFunc(ctx, func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			_ = ln.Close()
			return fmt.Errorf("control: accept: %w", err)
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			_ = c.Close()
			continue
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			_ = c.Close()
		}()
	}
}

// serveConn answers the requests of one connection, one line each.
func (s *Server) serveConn(c net.Conn) {
	r := bufio.NewReaderSize(c, 4096)
	enc := json.NewEncoder(c)
	for i := 0; i < 100; i++ {
		_ = c.SetDeadline(time.Now().Add(connTimeout))
		line, err := readLine(r)
		if err != nil {
			if !errors.Is(err, errEOF) {
				_ = enc.Encode(Response{Error: err.Error()})
			}
			return
		}
		var req Request
		var resp Response
		if err := json.Unmarshal(line, &req); err != nil {
			resp = Response{Error: "control: malformed request: " + err.Error()}
		} else {
			resp = s.do(req)
		}
		if err := enc.Encode(resp); err != nil {
			return
		}
	}
}

// do executes one request.
func (s *Server) do(req Request) Response {
	switch req.Cmd {
	case CmdWho:
		sessions := s.h.Who()
		if sessions == nil {
			sessions = []Session{}
		}
		return Response{OK: true, Sessions: sessions}
	case CmdKick:
		t, err := ParseTarget(req.Target)
		if err != nil {
			return Response{Error: err.Error()}
		}
		n := s.h.Kick(t, req.Reason)
		s.log.Info("kick", "target", t.String(), "reason", req.Reason, "kicked", n)
		return Response{OK: true, Kicked: n}
	case CmdReload:
		msg, err := s.h.Reload()
		if err != nil {
			return Response{Error: err.Error()}
		}
		return Response{OK: true, Message: msg}
	}
	return Response{Error: fmt.Sprintf("control: unknown command %q", req.Cmd)}
}

// errEOF is the end of a connection between requests.
var errEOF = errors.New("control: end of input")

// readLine reads one line of at most maxLine octets, without its line end.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > maxLine {
			return nil, errors.New("control: request too long")
		}
		switch {
		case err == nil:
			return trimEOL(line), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case len(line) == 0:
			return nil, errEOF
		default:
			return nil, fmt.Errorf("control: read request: %w", err)
		}
	}
}

// trimEOL removes a trailing LF or CRLF.
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}
