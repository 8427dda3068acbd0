package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// readBufSize is the buffered reader size of every client connection.
const readBufSize = 64 << 10

// maxReplyLine bounds a status line.
const maxReplyLine = 4096

// lineConn is a client connection with a line protocol (POP3, poppassd).
type lineConn struct {
	c       net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

// dialLine connects to addr within timeout.
func dialLine(addr string, timeout time.Duration) (*lineConn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &lineConn{c: c, r: bufio.NewReaderSize(c, readBufSize), timeout: timeout}, nil
}

// Close closes the connection.
func (lc *lineConn) Close() error { return lc.c.Close() }

// send writes one command line (CRLF appended).
func (lc *lineConn) send(line string) error {
	if err := lc.c.SetDeadline(time.Now().Add(lc.timeout)); err != nil {
		return err
	}
	_, err := io.WriteString(lc.c, line+"\r\n")
	return err
}

// readLine reads one reply line without its line end.
func (lc *lineConn) readLine() (string, error) {
	if err := lc.c.SetDeadline(time.Now().Add(lc.timeout)); err != nil {
		return "", err
	}
	var buf []byte
	for {
		part, err := lc.r.ReadSlice('\n')
		buf = append(buf, part...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) && len(buf) < maxReplyLine {
			continue
		}
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("connection closed (%q before the close)", printable(buf))
		}
		return "", err
	}
	if len(buf) > maxReplyLine {
		return "", errors.New("reply line too long")
	}
	return strings.TrimRight(string(buf), "\r\n"), nil
}

// waitClose reads until the server closes the connection (at most a
// second), so that the server, not the client, closes first and keeps the
// TIME_WAIT state, and so that the session's locks are released before the
// next session of the same user.
func (lc *lineConn) waitClose() {
	_ = lc.c.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(lc.r, 1<<20))
}

// printable shortens b for an error message and hides control bytes.
func printable(b []byte) string {
	if len(b) > 80 {
		b = b[:80]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '.'
		}
		return r
	}, string(b))
}

// pop3Error is a -ERR reply.
type pop3Error struct {
	cmd  string
	text string
}

func (e *pop3Error) Error() string { return e.cmd + ": -ERR " + e.text }

// pop3Conn is a POP3 client connection.
type pop3Conn struct {
	*lineConn
}

// dialPOP3 connects and reads the +OK greeting.
func dialPOP3(addr string, timeout time.Duration) (*pop3Conn, error) {
	lc, err := dialLine(addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	p := &pop3Conn{lc}
	line, err := p.readLine()
	if err != nil {
		lc.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !strings.HasPrefix(line, "+OK") {
		lc.Close()
		return nil, fmt.Errorf("greeting: %q", printable([]byte(line)))
	}
	return p, nil
}

// cmd sends a command and reads its status line. name is the command as
// it may appear in errors (never the password).
func (p *pop3Conn) cmd(name, line string) (string, error) {
	if err := p.send(line); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	reply, err := p.readLine()
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	switch {
	case strings.HasPrefix(reply, "+OK"):
		return strings.TrimPrefix(strings.TrimPrefix(reply, "+OK"), " "), nil
	case strings.HasPrefix(reply, "-ERR"):
		return "", &pop3Error{cmd: name, text: strings.TrimPrefix(strings.TrimPrefix(reply, "-ERR"), " ")}
	default:
		return "", fmt.Errorf("%s: bad reply %q", name, printable([]byte(reply)))
	}
}

// login sends USER and PASS.
func (p *pop3Conn) login(user, pass string) error {
	if _, err := p.cmd("USER", "USER "+user); err != nil {
		return err
	}
	_, err := p.cmd("PASS", "PASS "+pass)
	return err
}

// quit sends QUIT, expects +OK and waits for the server's close.
func (p *pop3Conn) quit() error {
	_, err := p.cmd("QUIT", "QUIT")
	if err == nil {
		p.waitClose()
	}
	p.Close()
	return err
}

// errNoTerminator is returned when a multi-line response ends without the
// "." line.
var errNoTerminator = errors.New("multi-line response ended without the terminating \".\" line")

// readMulti reads the body of a multi-line response up to and including
// the terminating ".\r\n" line. For each complete line it calls fn (when
// not nil) with the line, dot-unstuffed, including its line end; the slice
// is valid only during the call. It returns the number of unstuffed body
// bytes (line ends included). Lines longer than the reader's buffer are
// counted without being passed to fn.
func (p *pop3Conn) readMulti(fn func(line []byte)) (int64, error) {
	var n, lastDeadline int64
	atStart := true
	var long bool
	if err := p.c.SetReadDeadline(time.Now().Add(p.timeout)); err != nil {
		return n, err
	}
	for {
		// Refresh the deadline per MiB, not per line: a timer update per
		// line would make the load tool, not the server, the bottleneck.
		if n-lastDeadline > 1<<20 {
			lastDeadline = n
			if err := p.c.SetReadDeadline(time.Now().Add(p.timeout)); err != nil {
				return n, err
			}
		}
		part, err := p.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				return n, errNoTerminator
			}
			return n, err
		}
		full := err == nil
		if atStart && len(part) > 0 && part[0] == '.' {
			if full && (bytes.Equal(part, []byte(".\r\n")) || bytes.Equal(part, []byte(".\n"))) {
				if !bytes.Equal(part, []byte(".\r\n")) {
					return n, errors.New("terminating line is \".\\n\", not \".\\r\\n\"")
				}
				return n, nil
			}
			part = part[1:]
		}
		n += int64(len(part))
		if full {
			if fn != nil && !long && atStart {
				fn(part)
			}
			atStart, long = true, false
		} else {
			atStart, long = false, true
		}
	}
}

// list sends LIST and returns the message sizes (index 0 is message 1).
func (p *pop3Conn) list() ([]int64, error) {
	if _, err := p.cmd("LIST", "LIST"); err != nil {
		return nil, err
	}
	var sizes []int64
	var bad error
	_, err := p.readMulti(func(line []byte) {
		f := strings.Fields(string(line))
		if len(f) != 2 {
			bad = fmt.Errorf("LIST: bad line %q", printable(line))
			return
		}
		num, err1 := strconv.Atoi(f[0])
		size, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || num != len(sizes)+1 {
			bad = fmt.Errorf("LIST: bad line %q", printable(line))
			return
		}
		sizes = append(sizes, size)
	})
	if err != nil {
		return nil, fmt.Errorf("LIST: %w", err)
	}
	return sizes, bad
}
