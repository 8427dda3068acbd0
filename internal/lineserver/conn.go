package lineserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// ErrLineTooLong is returned by ReadLine for a line longer than its limit.
// The rest of the line is left unread: the caller replies once and closes
// the connection, so the tail is never taken for a new command.
var ErrLineTooLong = errors.New("lineserver: line too long")

// DefaultWriteTimeout is the write deadline of a Conn whose WriteTimeout is
// zero.
const DefaultWriteTimeout = time.Minute

// closeTimeout bounds the TLS close_notify written by Close.
const closeTimeout = time.Second

// Conn wraps a net.Conn with bounded line reads, buffered writes with
// deadlines and STARTTLS. A Conn is used by one goroutine; only the
// cancellation of its context comes from outside.
type Conn struct {
	// WriteTimeout is the deadline of each write to the network outside
	// Stream. Zero means DefaultWriteTimeout.
	WriteTimeout time.Duration

	ctx  context.Context
	raw  net.Conn // the connection as accepted
	nc   net.Conn // the connection in use: raw, or TLS over raw
	r    *bufio.Reader
	w    *bufio.Writer
	tls  *tls.ConnectionState
	stop func() bool

	streamDeadline time.Time // non-zero while Stream runs
	owned          bool      // created for a Server connection: the Server closes it
	slot           *connSlot // the Server's record of the connection, or nil
	closed         bool
}

// NewConn wraps c for line I/O. When ctx is cancelled, a pending or later
// read returns the context's error; writes are not interrupted. If ctx
// comes from a Server, the Conn registers itself so that the panic guard
// writes through it (after StartTLS: over TLS). Close releases the Conn.
func NewConn(ctx context.Context, c net.Conn) *Conn {
	lc := &Conn{ctx: ctx, raw: c, nc: c}
	lc.r = bufio.NewReader(c)
	lc.w = bufio.NewWriter(deadlineWriter{lc})
	if tc, ok := c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		if st.HandshakeComplete {
			lc.tls = &st
		}
	}
	if slot, ok := ctx.Value(slotKey{}).(*connSlot); ok {
		slot.set(lc)
		lc.owned = true
		lc.slot = slot
		if lc.tls != nil {
			slot.setTLS()
		}
	}
	// A deadline in the past makes a blocked Read return at once;
	// ReadLine re-checks ctx after setting its own deadline, so an
	// interrupt is never lost.
	lc.stop = context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	return lc
}

// Context returns the context the Conn was created with.
func (c *Conn) Context() context.Context { return c.ctx }

// NetConn returns the connection in use: the TLS connection after
// StartTLS, else the wrapped one.
func (c *Conn) NetConn() net.Conn { return c.nc }

// TLS returns the TLS state, or nil on a cleartext connection. A Conn
// created over a *tls.Conn whose handshake is complete reports TLS too.
func (c *Conn) TLS() *tls.ConnectionState { return c.tls }

// RemoteAddr returns the client address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// Buffered returns the number of bytes received but not yet returned by
// ReadLine: non-zero right after a command means the client pipelined.
func (c *Conn) Buffered() int { return c.r.Buffered() }

// setReadDeadline arms the per-call read deadline (timeout <= 0: none) and
// reports a cancelled context.
func (c *Conn) setReadDeadline(timeout time.Duration) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	var t time.Time
	if timeout > 0 {
		t = time.Now().Add(timeout)
	}
	_ = c.nc.SetReadDeadline(t)
	// Re-check: an interrupt that fired before our SetReadDeadline was
	// overwritten by it.
	return c.ctx.Err()
}

// readErr maps a read error caused by the context's interrupt to the
// context's error.
func (c *Conn) readErr(err error) error {
	if cerr := c.ctx.Err(); cerr != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return cerr
	}
	return err
}

// ReadLine reads one line of at most max octets including its line end,
// waiting at most timeout (<= 0: no limit) for all of it. It accepts CRLF
// and a bare LF and returns the line without them. Errors:
//   - ErrLineTooLong: the line is longer than max; nothing more was read
//     than max octets of it.
//   - io.EOF: the peer closed the connection between lines.
//   - io.ErrUnexpectedEOF: the peer closed the connection after a partial
//     line, which must not be executed.
//   - an error matching os.ErrDeadlineExceeded (see IsTimeout): timeout.
//   - the context's error after cancellation.
func (c *Conn) ReadLine(max int, timeout time.Duration) ([]byte, error) {
	if err := c.setReadDeadline(timeout); err != nil {
		return nil, err
	}
	var line []byte
	for {
		frag, err := c.r.ReadSlice('\n')
		complete := err == nil
		n := len(line) + len(frag)
		if !complete {
			n++ // the line end is still to come
		}
		if n > max {
			return nil, ErrLineTooLong
		}
		line = append(line, frag...)
		if complete {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(line) == 0 {
				return nil, io.EOF
			}
			return nil, io.ErrUnexpectedEOF
		}
		return nil, c.readErr(err)
	}
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, nil
}

// Peek returns the next n bytes without consuming them, waiting at most
// timeout (<= 0: no limit). n must not exceed 4096.
func (c *Conn) Peek(n int, timeout time.Duration) ([]byte, error) {
	if err := c.setReadDeadline(timeout); err != nil {
		return nil, err
	}
	b, err := c.r.Peek(n)
	if err != nil {
		return b, c.readErr(err)
	}
	return b, nil
}

// IsTimeout reports whether err is a read or write deadline expiry.
func IsTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// deadlineWriter writes to the connection in use, arming the write
// deadline before every network write (outside Stream), so a buffer flushed
// implicitly by a large response never meets a stale deadline.
type deadlineWriter struct{ c *Conn }

func (d deadlineWriter) Write(p []byte) (int, error) {
	c := d.c
	if c.streamDeadline.IsZero() {
		to := c.WriteTimeout
		if to <= 0 {
			to = DefaultWriteTimeout
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(to))
	}
	return c.nc.Write(p)
}

// WriteLine buffers s followed by CRLF. s must not contain CR or LF.
func (c *Conn) WriteLine(s string) error {
	if _, err := c.w.WriteString(s); err != nil {
		return err
	}
	_, err := c.w.WriteString("\r\n")
	return err
}

// Printf buffers a formatted line followed by CRLF.
func (c *Conn) Printf(format string, args ...any) error {
	if _, err := fmt.Fprintf(c.w, format, args...); err != nil {
		return err
	}
	_, err := c.w.WriteString("\r\n")
	return err
}

// Flush sends the buffered output, each network write bounded by
// WriteTimeout.
func (c *Conn) Flush() error {
	return c.w.Flush()
}

// Writer returns the buffered writer behind WriteLine, for responses built
// piecewise (for example with textproto.Writer). Writes through it follow
// the same deadlines; call Flush afterwards.
func (c *Conn) Writer() *bufio.Writer { return c.w }

// Stream runs fn with one write deadline, now+timeout, for everything fn
// writes to w, then flushes. Use it for multi-line responses of unbounded
// size (message bodies), which would not fit a per-write deadline meant for
// status lines. Output buffered before Stream is sent as part of it.
func (c *Conn) Stream(timeout time.Duration, fn func(w *bufio.Writer) error) error {
	c.streamDeadline = time.Now().Add(timeout)
	_ = c.nc.SetWriteDeadline(c.streamDeadline)
	defer func() { c.streamDeadline = time.Time{} }()
	// A large pooled buffer in front of the connection's small one: bodies
	// go out in 64 KiB writes instead of 4 KiB ones, while an idle
	// connection keeps only its small buffer.
	big := streamBufs.Get().(*bufio.Writer)
	big.Reset(c.w)
	defer func() {
		big.Reset(nil)
		streamBufs.Put(big)
	}()
	if err := fn(big); err != nil {
		return err
	}
	if err := big.Flush(); err != nil {
		return err
	}
	return c.w.Flush()
}

// streamBufs holds the large write buffers lent to Stream.
var streamBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// StartTLS flushes pending output, runs the server side of a TLS handshake
// with cfg, bounded by timeout and the Conn's context, and switches the
// Conn to the TLS connection. The reader is rebuilt: bytes the client sent
// in plaintext after the command that started TLS (already buffered or
// not) are never returned by ReadLine (RFC 2595 §4; CVE-2011-0411). Call
// Buffered before StartTLS to learn whether there were any. On error the
// connection is unusable and must be closed.
func (c *Conn) StartTLS(cfg *tls.Config, timeout time.Duration) error {
	if c.tls != nil {
		return errors.New("lineserver: starttls: TLS already active")
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("lineserver: starttls: flush: %w", err)
	}
	tc := tls.Server(c.nc, cfg)
	var t time.Time
	if timeout > 0 {
		t = time.Now().Add(timeout)
	}
	_ = tc.SetDeadline(t)
	err := tc.HandshakeContext(c.ctx)
	_ = tc.SetDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("lineserver: tls handshake: %w", err)
	}
	st := tc.ConnectionState()
	c.tls = &st
	c.nc = tc
	if c.slot != nil {
		c.slot.setTLS()
	}
	c.r = bufio.NewReader(tc)
	c.w.Reset(deadlineWriter{c})
	return nil
}

// Close releases the Conn and closes the connection, sending a TLS
// close_notify (bounded by a short deadline) if TLS is active. It does not
// flush.
//
// For a Conn created with the context of a Server connection, Close only
// releases the Conn: the Server closes the connection as soon as the
// handler returns, after its panic guard had the chance to write the
// OnPanic line (a handler's deferred Close runs before the guard). A
// handler therefore returns right after Close.
func (c *Conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	c.stop()
	if c.owned {
		return nil
	}
	return c.closeNet()
}

// closeNet closes the connection in use.
func (c *Conn) closeNet() error {
	if c.tls != nil {
		_ = c.nc.SetWriteDeadline(time.Now().Add(closeTimeout))
	}
	return c.nc.Close()
}
