package lineserver

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// StdioConn returns a net.Conn that reads from in and writes to out, for
// inetd-style servers where the client connection is stdin/stdout.
//
// When in is a socket (inetd, systemd Accept=yes), the connection is built
// with net.FileConn: deadlines work and RemoteAddr is the client's address;
// if out is the same socket it is used for writing too. Otherwise reads
// and writes go through the files: a descriptor the Go runtime can poll
// (a pipe made by os.Pipe, a non-blocking descriptor) has working
// deadlines. On a descriptor that cannot be polled (a blocking pipe or a
// terminal), read deadlines are emulated by a reader goroutine, so
// ReadLine still times out; a read left pending keeps that goroutine until
// the descriptor delivers data or EOF, and write deadlines are not
// enforced. The addresses of a non-socket StdioConn are of network
// "stdio".
//
// Close closes in and out.
func StdioConn(in, out *os.File) net.Conn {
	// Only sockets go through net.FileConn: it makes the descriptor
	// non-blocking, which would break a blocking pipe shared with a parent.
	if c, err := fileConn(in); err == nil {
		if sameFile(in, out) {
			return &fileConnPair{Conn: c, files: []*os.File{in, out}}
		}
		return &stdioConn{r: c, rc: c, out: out, files: []*os.File{in, out},
			laddr: c.LocalAddr(), raddr: c.RemoteAddr()}
	}
	sc := &stdioConn{out: out, files: []*os.File{in, out},
		laddr: stdioAddr("stdin"), raddr: stdioAddr("stdin")}
	if err := in.SetReadDeadline(time.Time{}); err == nil {
		sc.r = in
	} else {
		sc.r = newPumpReader(in)
	}
	return sc
}

// fileConn returns net.FileConn(f) if f is a socket.
func fileConn(f *os.File) (net.Conn, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Mode()&os.ModeSocket == 0 {
		return nil, errors.New("lineserver: not a socket")
	}
	return net.FileConn(f)
}

func sameFile(a, b *os.File) bool {
	if a == b {
		return true
	}
	sa, err := a.Stat()
	if err != nil {
		return false
	}
	sb, err := b.Stat()
	if err != nil {
		return false
	}
	return os.SameFile(sa, sb)
}

// stdioAddr is the address of a non-socket StdioConn.
type stdioAddr string

func (a stdioAddr) Network() string { return "stdio" }
func (a stdioAddr) String() string  { return string(a) }

// fileConnPair is a socket conn made by net.FileConn that also closes the
// original descriptors.
type fileConnPair struct {
	net.Conn
	files []*os.File
}

func (c *fileConnPair) Close() error {
	err := c.Conn.Close()
	for _, f := range c.files {
		_ = f.Close()
	}
	return err
}

// readDeadliner is the read side of a stdioConn.
type readDeadliner interface {
	io.Reader
	SetReadDeadline(t time.Time) error
}

type stdioConn struct {
	r            readDeadliner
	rc           io.Closer // extra closer for the read side, or nil
	out          *os.File
	files        []*os.File
	laddr, raddr net.Addr
	closeOnce    sync.Once
}

func (c *stdioConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *stdioConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *stdioConn) LocalAddr() net.Addr         { return c.laddr }
func (c *stdioConn) RemoteAddr() net.Addr        { return c.raddr }

func (c *stdioConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		if c.rc != nil {
			err = c.rc.Close()
		}
		if p, ok := c.r.(*pumpReader); ok {
			p.close()
		}
		for _, f := range c.files {
			if e := f.Close(); e != nil && err == nil && !errors.Is(e, os.ErrClosed) {
				err = e
			}
		}
	})
	return err
}

func (c *stdioConn) SetDeadline(t time.Time) error {
	_ = c.SetWriteDeadline(t)
	return c.SetReadDeadline(t)
}

func (c *stdioConn) SetReadDeadline(t time.Time) error { return c.r.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline on out where the descriptor supports
// it and is a no-op otherwise.
func (c *stdioConn) SetWriteDeadline(t time.Time) error {
	if err := c.out.SetWriteDeadline(t); err != nil && !errors.Is(err, os.ErrNoDeadline) {
		return err
	}
	return nil
}

// pumpReader emulates read deadlines on a reader that has none: one read
// at a time runs on a goroutine, and Read waits for it, the deadline or
// Close. Data read after a timeout is returned by the next Read.
type pumpReader struct {
	src io.Reader

	mu       sync.Mutex
	deadline time.Time
	changed  chan struct{} // closed and replaced when the deadline changes

	results  chan pumpResult // capacity 1
	inflight bool
	pending  []byte
	err      error
	done     chan struct{}
	once     sync.Once
}

type pumpResult struct {
	data []byte
	err  error
}

func newPumpReader(src io.Reader) *pumpReader {
	return &pumpReader{
		src:     src,
		changed: make(chan struct{}),
		results: make(chan pumpResult, 1),
		done:    make(chan struct{}),
	}
}

func (p *pumpReader) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	p.deadline = t
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	return nil
}

func (p *pumpReader) close() { p.once.Do(func() { close(p.done) }) }

func (p *pumpReader) fill() {
	buf := make([]byte, 4096)
	n, err := p.src.Read(buf)
	p.results <- pumpResult{data: buf[:n], err: err}
}

// Read is called by one goroutine at a time.
func (p *pumpReader) Read(b []byte) (int, error) {
	for {
		if len(p.pending) > 0 {
			n := copy(b, p.pending)
			p.pending = p.pending[n:]
			return n, nil
		}
		if p.err != nil {
			return 0, p.err
		}
		select {
		case <-p.done:
			return 0, net.ErrClosed
		default:
		}
		if !p.inflight {
			p.inflight = true
			go p.fill()
		}
		p.mu.Lock()
		deadline, changed := p.deadline, p.changed
		p.mu.Unlock()
		var timeout <-chan time.Time
		var t *time.Timer
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t = time.NewTimer(d)
			timeout = t.C
		}
		var err error
		select {
		case r := <-p.results:
			p.inflight = false
			p.pending, p.err = r.data, r.err
		case <-timeout:
			err = os.ErrDeadlineExceeded
		case <-changed:
		case <-p.done:
			err = net.ErrClosed
		}
		if t != nil {
			t.Stop()
		}
		if err != nil {
			return 0, err
		}
	}
}
