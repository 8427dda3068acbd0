package socketmap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxSize is the largest netstring payload accepted or sent, in bytes: the
// limit of Postfix's socketmap client (socketmap_table(5)).
const MaxSize = 100000

// ErrTooLong reports a netstring whose announced length exceeds the limit.
var ErrTooLong = errors.New("socketmap: netstring too long")

// ErrMalformed reports input that is not a netstring.
var ErrMalformed = errors.New("socketmap: malformed netstring")

// ReadNetstring reads one netstring "<len>:<data>," from r and returns the
// data. The length is decimal without leading zeros (a lone "0" is
// allowed) and may not exceed max. A clean end of input before the first
// byte returns io.EOF; an end inside the netstring returns
// io.ErrUnexpectedEOF. After ErrTooLong or ErrMalformed the stream is out
// of step and must be closed.
func ReadNetstring(r *bufio.Reader, max int) ([]byte, error) {
	n, digits := 0, 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && digits > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == ':' {
			if digits == 0 {
				return nil, fmt.Errorf("%w: empty length", ErrMalformed)
			}
			break
		}
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("%w: byte %q in the length", ErrMalformed, c)
		}
		if digits == 1 && n == 0 {
			return nil, fmt.Errorf("%w: leading zero in the length", ErrMalformed)
		}
		digits++
		n = n*10 + int(c-'0')
		if n > max {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLong, max)
		}
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if buf[n] != ',' {
		return nil, fmt.Errorf("%w: missing trailing comma", ErrMalformed)
	}
	return buf[:n], nil
}

// AppendNetstring appends data to dst as a netstring.
func AppendNetstring(dst, data []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	dst = append(dst, ':')
	dst = append(dst, data...)
	return append(dst, ',')
}
