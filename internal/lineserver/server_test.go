package lineserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echoHandler answers every line with "+OK <line>" until the client sends
// QUIT, the line is bad or the context is cancelled.
type echoHandler struct {
	started chan string // connection ids, if non-nil
}

func (h echoHandler) ServeConn(ctx context.Context, nc net.Conn) {
	c := NewConn(ctx, nc)
	defer c.Close()
	if h.started != nil {
		h.started <- ConnID(ctx)
	}
	_ = c.WriteLine("+OK hello")
	_ = c.Flush()
	for {
		line, err := c.ReadLine(512, testTimeout)
		if err != nil {
			return
		}
		switch string(line) {
		case "QUIT":
			_ = c.WriteLine("+OK bye")
			_ = c.Flush()
			return
		case "PANIC":
			panic("test panic")
		}
		_ = c.WriteLine("+OK " + string(line))
		_ = c.Flush()
	}
}

func startServer(t *testing.T, h Handler, opts Options) (*Server, string, chan error) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := New(h, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String(), errc
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	l, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, l)
	}
	return l
}

func TestServeAndClose(t *testing.T) {
	started := make(chan string, 4)
	s, addr, errc := startServer(t, echoHandler{started: started}, Options{})
	c1, r1 := dial(t, addr)
	c2, r2 := dial(t, addr)
	if l := readLine(t, r1); l != "+OK hello\r\n" {
		t.Fatalf("greeting %q", l)
	}
	readLine(t, r2)
	id1, id2 := <-started, <-started
	if id1 == "" || id1 == id2 {
		t.Fatalf("connection ids %q %q", id1, id2)
	}
	if n := s.Conns(); n != 2 {
		t.Fatalf("Conns = %d, want 2", n)
	}
	_, _ = c1.Write([]byte("ping\r\n"))
	if l := readLine(t, r1); l != "+OK ping\r\n" {
		t.Fatalf("echo %q", l)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve = %v, want ErrServerClosed", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Serve did not return after Close")
	}
	// Both connections are closed by Close.
	for _, r := range []*bufio.Reader{r1, r2} {
		if _, err := r.ReadString('\n'); err == nil {
			t.Fatal("connection still open after Close")
		}
	}
	_ = c2
	// Serve after Close refuses at once.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := s.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close = %v", err)
	}
}

func TestShutdownCancelsSessions(t *testing.T) {
	s, addr, errc := startServer(t, echoHandler{}, Options{})
	_, r := dial(t, addr)
	readLine(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if !errors.Is(<-errc, ErrServerClosed) {
		t.Fatal("Serve did not return ErrServerClosed")
	}
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Fatalf("after Shutdown read err = %v, want EOF", err)
	}
	if s.Conns() != 0 {
		t.Fatalf("Conns = %d after Shutdown", s.Conns())
	}
}

// stubborn ignores its context and blocks until the connection fails.
type stubborn struct{}

func (stubborn) ServeConn(_ context.Context, c net.Conn) {
	_, _ = io.Copy(io.Discard, c)
}

func TestShutdownForceCloses(t *testing.T) {
	s, addr, _ := startServer(t, stubborn{}, Options{})
	c, _ := dial(t, addr)
	for i := 0; s.Conns() == 0 && i < 500; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection not force-closed")
	}
}

func TestLimits(t *testing.T) {
	var reasons sync.Map
	opts := Options{
		MaxConns:      2,
		MaxConnsPerIP: 1,
		OnLimit: func(c net.Conn, reason string) {
			reasons.Store(reason, true)
			_, _ = io.WriteString(c, "-ERR [SYS/TEMP] too many connections\r\n")
		},
	}
	_, addr, _ := startServer(t, echoHandler{}, opts)
	_, r1 := dial(t, addr)
	readLine(t, r1)
	_, r2 := dial(t, addr) // same IP: refused
	if l := readLine(t, r2); l != "-ERR [SYS/TEMP] too many connections\r\n" {
		t.Fatalf("refusal %q", l)
	}
	if _, err := r2.ReadString('\n'); err != io.EOF {
		t.Fatalf("refused connection not closed: %v", err)
	}
	if _, ok := reasons.Load(LimitPerIP); !ok {
		t.Fatal("OnLimit not called with LimitPerIP")
	}
}

func TestMaxConnsTotal(t *testing.T) {
	var got atomic.Value
	opts := Options{MaxConns: 1, OnLimit: func(c net.Conn, reason string) {
		got.Store(reason)
		_, _ = io.WriteString(c, "-ERR full\r\n")
	}}
	_, addr, _ := startServer(t, echoHandler{}, opts)
	c1, r1 := dial(t, addr)
	readLine(t, r1)
	_, r2 := dial(t, addr)
	if l := readLine(t, r2); l != "-ERR full\r\n" {
		t.Fatalf("refusal %q", l)
	}
	if got.Load() != LimitTotal {
		t.Fatalf("reason %v", got.Load())
	}
	// After the first connection ends, a new one is served.
	_, _ = c1.Write([]byte("QUIT\r\n"))
	readLine(t, r1)
	var ok bool
	for range 100 {
		_, r3 := dial(t, addr)
		if l := readLine(t, r3); l == "+OK hello\r\n" {
			ok = true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !ok {
		t.Fatal("slot not released after the connection ended")
	}
}

func TestPanicGuard(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	opts := Options{
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil)),
		OnPanic: func(c net.Conn) {
			_, _ = io.WriteString(c, "-ERR [SYS/TEMP] internal server error\r\n")
		},
	}
	s, addr, _ := startServer(t, echoHandler{}, opts)
	c, r := dial(t, addr)
	readLine(t, r)
	_, _ = c.Write([]byte("PANIC\r\n"))
	if l := readLine(t, r); l != "-ERR [SYS/TEMP] internal server error\r\n" {
		t.Fatalf("panic reply %q", l)
	}
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Fatalf("connection not closed after panic: %v", err)
	}
	for i := 0; s.Conns() != 0 && i < 500; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "test panic") || !strings.Contains(out, "cid=") || !strings.Contains(out, "goroutine") {
		t.Fatalf("panic log lacks message, cid or stack: %s", out)
	}
	// The server keeps serving.
	_, r2 := dial(t, addr)
	if l := readLine(t, r2); l != "+OK hello\r\n" {
		t.Fatalf("after panic: %q", l)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// flakyListener fails Accept with a temporary error n times, then delegates.
type flakyListener struct {
	net.Listener
	n     atomic.Int32
	calls atomic.Int32
}

type tempErr struct{}

func (tempErr) Error() string   { return "temporary accept failure" }
func (tempErr) Timeout() bool   { return false }
func (tempErr) Temporary() bool { return true }

func (l *flakyListener) Accept() (net.Conn, error) {
	l.calls.Add(1)
	if l.n.Add(-1) >= 0 {
		return nil, tempErr{}
	}
	return l.Listener.Accept()
}

func TestAcceptBackoff(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &flakyListener{Listener: inner}
	ln.n.Store(3)
	s := New(echoHandler{}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer s.Close()
	go func() { _ = s.Serve(ln) }()
	_, r := dial(t, inner.Addr().String())
	if l := readLine(t, r); l != "+OK hello\r\n" {
		t.Fatalf("greeting %q", l)
	}
	if c := ln.calls.Load(); c < 4 {
		t.Fatalf("Accept called %d times, want at least 4", c)
	}
}

func TestServeClosedListenerDoesNotSpin(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	s := New(echoHandler{}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer s.Close()
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(fl) }()
	time.Sleep(10 * time.Millisecond)
	_ = ln.Close() // closed behind the server's back
	select {
	case err := <-errc:
		if err == nil || errors.Is(err, ErrServerClosed) || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Serve = %v, want a wrapped net.ErrClosed", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Serve kept running on a closed listener")
	}
	if c := fl.calls.Load(); c > 2 {
		t.Fatalf("Accept called %d times on a closed listener", c)
	}
}

func TestServerServeConn(t *testing.T) {
	started := make(chan string, 1)
	s := New(echoHandler{started: started}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	a, b := net.Pipe()
	defer b.Close()
	done := make(chan struct{})
	go func() { s.ServeConn(context.Background(), a); close(done) }()
	r := bufio.NewReader(b)
	_ = b.SetDeadline(time.Now().Add(testTimeout))
	if l := readLine(t, r); l != "+OK hello\r\n" {
		t.Fatalf("greeting %q", l)
	}
	if id := <-started; id == "" {
		t.Fatal("no connection id")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("ServeConn did not return after Shutdown")
	}
}
