package mbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"testing"
)

// benchSpool returns a spool of n mdaMessages of 40 lines (about 1 KB).
func benchSpool(b *testing.B, n int) []byte {
	b.Helper()
	var buf bytes.Buffer
	for i := range n {
		buf.Write(mdaMessage(fmt.Sprintf("b%06d", i), 40))
	}
	return buf.Bytes()
}

// BenchmarkScan measures the login scan (parse, sizes, UIDL digests).
func BenchmarkScan(b *testing.B) {
	content := benchSpool(b, 4000)
	r := bytes.NewReader(content)
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		if _, err := scan(r, int64(len(content)), -1, discardLog()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRetrieveAll measures Open plus reading every message, as a
// client that downloads the whole maildrop.
func BenchmarkRetrieveAll(b *testing.B) {
	content := benchSpool(b, 4000)
	path := writeSpool(b, content)
	o, _ := testOptions(b)
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		s, err := Open(context.Background(), path, o)
		if err != nil {
			b.Fatal(err)
		}
		for i := range s.Messages() {
			r, err := s.Open(i)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
		s.Close()
	}
}

// BenchmarkCommitFirst measures the worst UPDATE: deleting the first
// message rewrites (and journals) the whole spool.
func BenchmarkCommitFirst(b *testing.B) {
	content := benchSpool(b, 4000)
	path := writeSpool(b, content)
	o, _ := testOptions(b)
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		b.StopTimer()
		if err := os.WriteFile(path, content, 0o600); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		s, err := Open(context.Background(), path, o)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Commit([]int{0}); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
