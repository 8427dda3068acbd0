package crlf

import "testing"

func TestCounter(t *testing.T) {
	for _, tc := range []struct {
		chunks []string
		want   int64
	}{
		{nil, 0},
		{[]string{"a\n"}, 3},
		{[]string{"a\r\n"}, 3},
		{[]string{"a\r", "\nb\n"}, 6}, // CRLF split across chunks
		{[]string{"a\rb"}, 5},         // lone CR kept, CRLF appended
		{[]string{"x"}, 3},            // no final newline
		{[]string{"\n\n", "\r\n"}, 6}, // bare LFs and a CRLF
		{[]string{"a\r\r\n"}, 4},      // CR before CRLF stays one octet
		{[]string{"\xff\x00\n"}, 4},   // 8-bit and NUL pass unchanged
	} {
		var c Counter
		for _, s := range tc.chunks {
			c.Add([]byte(s))
		}
		if got := c.Transmitted(); got != tc.want {
			t.Errorf("%q: Transmitted = %d, want %d", tc.chunks, got, tc.want)
		}
	}
}
