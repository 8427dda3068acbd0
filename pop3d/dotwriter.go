package pop3d

import (
	"bufio"
	"bytes"
)

// dotWriter writes the data lines of a multi-line response (RFC 1939 §3):
// a line starting with "." gets one more "."; Close ends the response with
// ".\r\n", adding a CRLF first if the data did not end with one.
//
// It is byte-exact for input in the form Session.Open promises (CRLF line
// ends): every other octet, a lone CR and NUL included, passes unchanged,
// so the client receives exactly the message's octets after unstuffing. A
// bare LF, which the contract rules out, is sent as CRLF so that no bare
// LF ever reaches the wire. textproto.DotWriter is not used because it
// rewrites a CR that precedes a CRLF ("a\r\r\n" becomes "a\r\r\r\n").
type dotWriter struct {
	w   *bufio.Writer
	bol bool // at the beginning of a line
	cr  bool // the last octet written was CR
	n   int64
}

func newDotWriter(w *bufio.Writer) *dotWriter {
	return &dotWriter{w: w, bol: true}
}

// Write stuffs p. It returns len(p) on success; octets written to the
// underlying writer are counted in d.n.
func (d *dotWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		if d.bol && p[0] == '.' {
			if err := d.w.WriteByte('.'); err != nil {
				return total - len(p), err
			}
			d.n++
		}
		i := bytes.IndexByte(p, '\n')
		var chunk []byte
		if i < 0 {
			chunk = p
		} else {
			chunk = p[:i]
		}
		if len(chunk) > 0 {
			if _, err := d.w.Write(chunk); err != nil {
				return total - len(p), err
			}
			d.n += int64(len(chunk))
			d.cr = chunk[len(chunk)-1] == '\r'
			d.bol = false
		}
		if i < 0 {
			break
		}
		if !d.cr {
			if err := d.w.WriteByte('\r'); err != nil {
				return total - len(p), err
			}
			d.n++
		}
		if err := d.w.WriteByte('\n'); err != nil {
			return total - len(p), err
		}
		d.n++
		d.cr, d.bol = false, true
		p = p[i+1:]
	}
	return total, nil
}

// Close terminates the multi-line response. It does not flush.
func (d *dotWriter) Close() error {
	if !d.bol {
		if _, err := d.w.WriteString("\r\n"); err != nil {
			return err
		}
	}
	_, err := d.w.WriteString(".\r\n")
	return err
}
