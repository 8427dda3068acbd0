package mbox

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/popadm/popadm/internal/testkit"
)

// TestMsgReader reads a message out of the middle of a larger file, over
// several buffers: exactly its octets are sent, transmitted form, and the
// check runs once, before the last block; when it fails, none of that
// block is sent.
func TestMsgReader(t *testing.T) {
	msg := append(bytes.Repeat([]byte("0123456789abcdef\n"), readBufSize/17+100), "tail"...)
	file := append(append([]byte("before\n"), msg...), "after\n"...)
	for _, fail := range []bool{false, true} {
		errChanged := errors.New("changed")
		calls := 0
		check := func() error {
			calls++
			if fail {
				return errChanged
			}
			return nil
		}
		r := newMsgReader(io.NewSectionReader(bytes.NewReader(file), 7, int64(len(msg))), check)
		got, err := io.ReadAll(r)
		want := testkit.Transmitted(msg)
		if fail {
			// The first buffer, without the CRLF that would end it.
			want = testkit.Transmitted(msg[:readBufSize])
			if msg[readBufSize-1] != '\n' {
				want = want[:len(want)-2]
			}
		}
		if fail && err != errChanged || !fail && err != nil {
			t.Fatalf("fail=%v: err = %v", fail, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("fail=%v: got %d octets, want %d", fail, len(got), len(want))
		}
		if calls != 1 {
			t.Errorf("fail=%v: check ran %d times, want 1", fail, calls)
		}
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}
