package socketmap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadNetstring(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  error
	}{
		{"0:,", "", nil},
		{"3:abc,", "abc", nil},
		{"12:domain a.com,", "domain a.com", nil},
		{"", "", io.EOF},
		{"3:ab", "", io.ErrUnexpectedEOF},
		{"3", "", io.ErrUnexpectedEOF},
		{"3:abcd", "", ErrMalformed},
		{":abc,", "", ErrMalformed},
		{"03:abc,", "", ErrMalformed},
		{"-1:,", "", ErrMalformed},
		{"x:,", "", ErrMalformed},
		{"100001:", "", ErrTooLong},
		{"99999999999999999999999:", "", ErrTooLong},
	} {
		got, err := ReadNetstring(bufio.NewReader(strings.NewReader(tc.in)), MaxSize)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%q: err %v, want %v", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNetstringSequence(t *testing.T) {
	var buf []byte
	words := []string{"OK example.com/alice/", "NOTFOUND ", "", strings.Repeat("x", MaxSize)}
	for _, w := range words {
		buf = AppendNetstring(buf, []byte(w))
	}
	r := bufio.NewReader(bytes.NewReader(buf))
	for _, w := range words {
		got, err := ReadNetstring(r, MaxSize)
		if err != nil || string(got) != w {
			t.Fatalf("got %.40q, %v; want %.40q", got, err, w)
		}
	}
	if _, err := ReadNetstring(r, MaxSize); err != io.EOF {
		t.Fatalf("after the last: %v, want EOF", err)
	}
}

// FuzzNetstring checks that decoding never panics, never returns more
// than the limit, and that whatever decodes re-encodes to exactly the bytes
// consumed; and that encoding then decoding gives the input back.
func FuzzNetstring(f *testing.F) {
	for _, s := range []string{"0:,", "3:abc,", "03:abc,", "5:ab,", "100001:", "12:mailbox a@b,", ":,", "1:a,2:bc,"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 1000
		r := bufio.NewReader(bytes.NewReader(in))
		got, err := ReadNetstring(r, max)
		if err == nil {
			if len(got) > max {
				t.Fatalf("decoded %d bytes over the limit %d", len(got), max)
			}
			enc := AppendNetstring(nil, got)
			if !bytes.HasPrefix(in, enc) {
				t.Fatalf("decoded %q from %q, which does not start with its encoding %q", got, in, enc)
			}
		}
		if len(in) <= max {
			dec, err := ReadNetstring(bufio.NewReader(bytes.NewReader(AppendNetstring(nil, in))), max)
			if err != nil || !bytes.Equal(dec, in) {
				t.Fatalf("round trip of %q: %q, %v", in, dec, err)
			}
		}
	})
}
