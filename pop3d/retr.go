package pop3d

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"
)

// handleRETR: RFC 1939 §5. The message is opened before +OK; then exactly
// Size octets are sent, dot-stuffed. If the content is shorter or longer
// than Size, or reading fails mid-way, the connection is closed without
// the terminating "." so the client never takes a damaged message for a
// whole one (and never deletes it on that basis).
func (ss *session) handleRETR(args []string) error {
	i, err := ss.msg(args[0])
	if err != nil {
		return err
	}
	r, err := ss.open(i)
	if err != nil {
		return err
	}
	defer r.Close()
	size := ss.msgs[i].Size
	ss.nRetr++
	return ss.body(fmt.Sprintf("%d octets", size), size, func(dw *dotWriter) error {
		n, err := io.CopyN(dw, r, size)
		if err != nil {
			return fmt.Errorf("pop3d: message %d: read %d of %d octets: %w", i+1, n, size, err)
		}
		var extra [1]byte
		if k, _ := io.ReadFull(r, extra[:]); k > 0 {
			return fmt.Errorf("pop3d: message %d is longer than its size %d", i+1, size)
		}
		return nil
	})
}

// handleTOP: RFC 1939 §7. Sends the header, the blank line and the first
// k body lines, dot-stuffed; a k past the end sends the whole message.
func (ss *session) handleTOP(args []string) error {
	i, err := ss.msg(args[0])
	if err != nil {
		return err
	}
	k, ok := parseLineCount(args[1])
	if !ok {
		return errSyntax
	}
	r, err := ss.open(i)
	if err != nil {
		return err
	}
	defer r.Close()
	size := ss.msgs[i].Size
	ss.nTop++
	return ss.body("top of message follows", size, func(dw *dotWriter) error {
		if err := copyTop(dw, io.LimitReader(r, size), k); err != nil {
			return fmt.Errorf("pop3d: message %d: %w", i+1, err)
		}
		return nil
	})
}

// copyTop copies the header section, the empty line that ends it and then
// at most k lines of body from r to w. A message without an empty line is
// all header.
func copyTop(w io.Writer, r io.Reader, k uint64) error {
	br := bufio.NewReader(r)
	inHeader := true
	var body uint64
	lineLen := 0 // octets of the current line seen so far
	for inHeader || body < k {
		frag, err := br.ReadSlice('\n')
		if len(frag) > 0 {
			if _, werr := w.Write(frag); werr != nil {
				return werr
			}
		}
		if err == nil {
			if inHeader {
				if lineLen == 0 && (len(frag) == 1 || len(frag) == 2 && frag[0] == '\r') {
					inHeader = false
				}
			} else {
				body++
			}
			lineLen = 0
			continue
		}
		lineLen += len(frag)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

// open opens message i; a failure is an -ERR to the command, sent before
// anything else (never +OK then -ERR).
func (ss *session) open(i int) (io.ReadCloser, error) {
	r, err := ss.sess.Open(ss.ctx, i)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return nil, err
		}
		ss.log.Error("opening message", "user", ss.username, "msg", i+1, "err", err)
		return nil, ErrTemp
	}
	if r == nil {
		ss.log.Error("opening message", "user", ss.username, "msg", i+1, "err", "nil reader")
		return nil, ErrTemp
	}
	return r, nil
}

// bodyTimeout is the write deadline for a response of about size octets:
// WriteTimeout plus one second per 32 KiB (a floor of 256 kbit/s).
func (ss *session) bodyTimeout(size int64) time.Duration {
	return ss.srv.opts.WriteTimeout + time.Duration(size/32768)*time.Second
}

// multiline sends "+OK status", the lines written by fn (each ending in
// CRLF) dot-stuffed, and the terminating ".". lines estimates the size for
// the write deadline.
func (ss *session) multiline(status string, lines int, fn func(w io.Writer) error) error {
	return ss.body(status, int64(lines)*80, func(dw *dotWriter) error { return fn(dw) })
}

// body streams a multi-line response. The +OK line is written first,
// then fn's data through the dot-stuffer, then ".". After the +OK nothing
// can be taken back: any failure closes the connection (errAbort).
func (ss *session) body(status string, size int64, fn func(dw *dotWriter) error) error {
	line := "+OK " + status
	ss.trace("S", []byte(line))
	var dw *dotWriter
	err := ss.c.Stream(ss.bodyTimeout(size), func(w *bufio.Writer) error {
		if _, err := w.WriteString(line + "\r\n"); err != nil {
			return err
		}
		dw = newDotWriter(w)
		if err := fn(dw); err != nil {
			return err
		}
		return dw.Close()
	})
	if dw != nil {
		ss.bytesOut += dw.n
		if o := ss.srv.opts.Observer; o != nil {
			o.Sent(dw.n)
		}
	}
	if err != nil {
		ss.log.Warn("multi-line response aborted, closing", "err", err)
		ss.reason = "response aborted"
		return errAbort
	}
	ss.trace("S", []byte("."))
	return nil
}
