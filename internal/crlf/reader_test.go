package crlf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/popadm/popadm/internal/testkit"
)

// readerCases are stored messages and their transmitted form.
var readerCases = []struct {
	name string
	in   string
	want string
}{
	{"empty", "", ""},
	{"lf-only", "Subject: a\n\nbody\n", "Subject: a\r\n\r\nbody\r\n"},
	{"crlf", "Subject: a\r\n\r\nbody\r\n", "Subject: a\r\n\r\nbody\r\n"},
	{"mixed", "a\r\nb\nc\r\n\n", "a\r\nb\r\nc\r\n\r\n"},
	{"lone-cr", "a\rb\n", "a\rb\r\n"},
	{"cr-at-end", "a\r", "a\r\r\n"},
	{"cr-cr-lf", "a\r\r\n", "a\r\r\n"},
	{"no-trailing-newline", "Subject: a\n\nbody", "Subject: a\r\n\r\nbody\r\n"},
	{"one-octet", "x", "x\r\n"},
	{"only-lf", "\n", "\r\n"},
	{"only-cr", "\r", "\r\r\n"},
	{"lf-lf", "\n\n", "\r\n\r\n"},
	{"8bit", "S: \xe9t\xe9\n\n\x00\xff\x80\n", "S: \xe9t\xe9\r\n\r\n\x00\xff\x80\r\n"},
	{"dot-lines", ".\n..\n.", ".\r\n..\r\n.\r\n"},
}

// TestReferenceTransform pins the reference the other tests trust.
func TestReferenceTransform(t *testing.T) {
	for _, tc := range readerCases {
		if got := string(testkit.Transmitted([]byte(tc.in))); got != tc.want {
			t.Errorf("%s: reference gives %q, want %q", tc.name, got, tc.want)
		}
		var c Counter
		c.Add([]byte(tc.in))
		if c.Transmitted() != int64(len(tc.want)) {
			t.Errorf("%s: Counter gives %d, want %d", tc.name, c.Transmitted(), len(tc.want))
		}
	}
}

// chunkReader returns at most n octets per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	return c.r.Read(p[:min(len(p), c.n)])
}

// readAllChunks reads r to the end with reads of at most n octets.
func readAllChunks(r io.Reader, n int) ([]byte, error) {
	return io.ReadAll(&chunkReader{r: r, n: n})
}

// sources are the ways a stored message reaches the Reader.
var sources = []struct {
	name string
	mk   func(in string) io.Reader
}{
	{"eof", func(in string) io.Reader { return strings.NewReader(in) }},
	{"eof-one-byte", func(in string) io.Reader { return iotest.OneByteReader(strings.NewReader(in)) }},
	{"eof-half", func(in string) io.Reader { return iotest.HalfReader(strings.NewReader(in)) }},
	{"eof-with-data", func(in string) io.Reader { return iotest.DataErrReader(strings.NewReader(in)) }},
	{"sized", func(in string) io.Reader { return &Sized{R: strings.NewReader(in), N: int64(len(in))} }},
	{"sized-checked", func(in string) io.Reader {
		return &Sized{R: strings.NewReader(in), N: int64(len(in)), Check: func() error { return nil }}
	}},
}

func TestReaderCases(t *testing.T) {
	for _, tc := range readerCases {
		for _, src := range sources {
			for _, bs := range []int{1, 2, 3, 5, 32 << 10} {
				for _, rs := range []int{1, 2, 3, 64} {
					r := NewReader(src.mk(tc.in), bs)
					got, err := readAllChunks(r, rs)
					if err != nil {
						t.Fatalf("%s %s buf %d read %d: %v", tc.name, src.name, bs, rs, err)
					}
					if string(got) != tc.want {
						t.Errorf("%s %s buf %d read %d: got %q, want %q", tc.name, src.name, bs, rs, got, tc.want)
					}
					if r.Consumed() != int64(len(tc.in)) || r.Produced() != int64(len(tc.want)) {
						t.Errorf("%s %s buf %d read %d: Consumed %d, Produced %d; want %d, %d",
							tc.name, src.name, bs, rs, r.Consumed(), r.Produced(), len(tc.in), len(tc.want))
					}
					if n, err := r.Read(make([]byte, 8)); n != 0 || err != io.EOF {
						t.Errorf("%s %s: Read after EOF = %d, %v", tc.name, src.name, n, err)
					}
				}
			}
			if err := iotest.TestReader(NewReader(src.mk(tc.in), 3), []byte(tc.want)); err != nil {
				t.Errorf("%s %s: %v", tc.name, src.name, err)
			}
		}
	}
}

// TestReaderCRLFAcrossBlocks splits CRLF pairs between two input blocks
// and the emitted CRLF of a bare LF between two Reads.
func TestReaderCRLFAcrossBlocks(t *testing.T) {
	for _, tc := range []struct {
		in   string
		bs   int
		want string
	}{
		{"a\r\nb", 2, "a\r\nb\r\n"},       // CR ends block 1, LF starts block 2
		{"ab\r\n", 3, "ab\r\n"},           // the LF is the whole last block
		{"a\r\r\nb\n", 2, "a\r\r\nb\r\n"}, // CR, then CRLF split
		{"a\r", 2, "a\r\r\n"},             // CR ends the message and its block
		{"ab\n\ncd", 3, "ab\r\n\r\ncd\r\n"},
	} {
		for _, src := range sources {
			for _, rs := range []int{1, 2, 3, 100} {
				got, err := readAllChunks(NewReader(src.mk(tc.in), tc.bs), rs)
				if err != nil || string(got) != tc.want {
					t.Errorf("%q %s buf %d read %d: got %q, %v; want %q", tc.in, src.name, tc.bs, rs, got, err, tc.want)
				}
			}
		}
	}
	// A bare LF read with room for one octet: CR now, LF next.
	r := NewReader(strings.NewReader("\n"), 8)
	p := make([]byte, 1)
	for i, want := range []string{"\r", "\n"} {
		n, err := r.Read(p)
		if n != 1 || err != nil || string(p) != want {
			t.Fatalf("read %d: %d, %v, %q; want 1, nil, %q", i, n, err, p[:n], want)
		}
	}
	if n, err := r.Read(p); n != 0 || err != io.EOF {
		t.Fatalf("after CRLF: %d, %v; want 0, EOF", n, err)
	}
}

func TestReaderEmpty(t *testing.T) {
	checked := false
	for _, src := range []io.Reader{
		strings.NewReader(""),
		&Sized{R: strings.NewReader(""), N: 0, Check: func() error { checked = true; return nil }},
	} {
		r := NewReader(src, 16)
		if n, err := r.Read(make([]byte, 4)); n != 0 || err != io.EOF {
			t.Errorf("%T: Read = %d, %v; want 0, EOF", src, n, err)
		}
		if n, err := r.Read(nil); n != 0 || err != nil {
			t.Errorf("%T: Read(nil) = %d, %v; want 0, nil", src, n, err)
		}
		if r.Consumed() != 0 || r.Produced() != 0 {
			t.Errorf("%T: Consumed %d, Produced %d; want 0, 0", src, r.Consumed(), r.Produced())
		}
	}
	if checked {
		t.Error("Check ran for an empty message")
	}
}

// TestSizedCheck fails the check of the last block: nothing of that
// block is handed out, the error is returned unchanged and stays.
func TestSizedCheck(t *testing.T) {
	errChanged := errors.New("spool was rewritten")
	in := "line one\nline two\r\nthree\nfour\n"
	for _, bs := range []int{1, 4, 7, 10, len(in) - 1, len(in), 1 << 10} {
		for _, rs := range []int{1, 3, 1 << 10} {
			calls := 0
			src := &Sized{R: strings.NewReader(in), N: int64(len(in)), Check: func() error {
				calls++
				return errChanged
			}}
			r := NewReader(src, bs)
			got, err := readAllChunks(r, rs)
			if err != errChanged {
				t.Fatalf("buf %d read %d: err = %v, want %v", bs, rs, err, errChanged)
			}
			last := (len(in)-1)%bs + 1 // octets of the last block
			want := testkit.LFToCRLF([]byte(in[:len(in)-last]))
			if !bytes.Equal(got, want) {
				t.Errorf("buf %d read %d: got %q, want %q", bs, rs, got, want)
			}
			if n, err := r.Read(make([]byte, 8)); n != 0 || err != errChanged {
				t.Errorf("buf %d read %d: next Read = %d, %v; want 0, %v", bs, rs, n, err, errChanged)
			}
			if calls != 1 {
				t.Errorf("buf %d read %d: Check ran %d times, want 1", bs, rs, calls)
			}
		}
	}
}

// TestSizedShort gives Sized fewer octets than its length: the partial
// block is dropped, the check never runs and Read fails with
// io.ErrUnexpectedEOF; a longer source is cut at the length.
func TestSizedShort(t *testing.T) {
	in := "abc\ndef\nghi\n"
	for _, bs := range []int{1, 4, 5, 64} {
		for _, have := range []int{0, 3, 4, 9, len(in) - 1} {
			checked := false
			src := &Sized{R: strings.NewReader(in[:have]), N: int64(len(in)), Check: func() error { checked = true; return nil }}
			got, err := io.ReadAll(NewReader(src, bs))
			if err != io.ErrUnexpectedEOF {
				t.Fatalf("buf %d have %d: err = %v, want %v", bs, have, err, io.ErrUnexpectedEOF)
			}
			full := have / min(bs, len(in)) * min(bs, len(in)) // octets in complete blocks
			if want := testkit.LFToCRLF([]byte(in[:full])); !bytes.Equal(got, want) {
				t.Errorf("buf %d have %d: got %q, want %q", bs, have, got, want)
			}
			if checked {
				t.Errorf("buf %d have %d: Check ran", bs, have)
			}
		}
	}
	src := &Sized{R: strings.NewReader(in + "trailing junk"), N: int64(len(in))}
	got, err := io.ReadAll(NewReader(src, 5))
	if err != nil || string(got) != string(testkit.Transmitted([]byte(in))) {
		t.Fatalf("longer source: got %q, %v", got, err)
	}
}

// TestReaderSourceError hands out what the source delivered with its
// error, then the error itself, from then on, and no final CRLF.
func TestReaderSourceError(t *testing.T) {
	errDisk := errors.New("disk error")
	src := io.MultiReader(strings.NewReader("ab\ncd"), iotest.ErrReader(errDisk))
	r := NewReader(src, 64)
	got, err := io.ReadAll(r)
	if err != errDisk || string(got) != "ab\r\ncd" {
		t.Fatalf("got %q, %v; want %q, %v", got, err, "ab\r\ncd", errDisk)
	}
	if n, err := r.Read(make([]byte, 4)); n != 0 || err != errDisk {
		t.Fatalf("next Read = %d, %v; want 0, %v", n, err, errDisk)
	}
	r = NewReader(iotest.TimeoutReader(strings.NewReader("abc\ndef\n")), 4)
	if _, err := io.ReadAll(r); err != iotest.ErrTimeout {
		t.Fatalf("err = %v, want %v", err, iotest.ErrTimeout)
	}
}

// countingReader counts the Reads of its source.
type countingReader struct {
	r     io.Reader
	calls int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.calls++
	return c.r.Read(p)
}

// TestReaderOneSourceReadPerRead checks that Read returns the octets it
// has instead of reading the source again (which could block).
func TestReaderOneSourceReadPerRead(t *testing.T) {
	src := &countingReader{r: &chunkReader{r: strings.NewReader("ab\ncd\nef\ngh"), n: 6}}
	r := NewReader(src, 64)
	want := []string{"ab\r\ncd\r\n", "ef\r\ngh", "\r\n"}
	for i, w := range want {
		p := make([]byte, 100)
		n, err := r.Read(p)
		if err != nil || string(p[:n]) != w || src.calls != i+1 {
			t.Fatalf("Read %d = %q, %v after %d source reads; want %q, nil after %d", i+1, p[:n], err, src.calls, w, i+1)
		}
	}
}

// stuckReader returns neither octets nor an error.
type stuckReader struct{ calls int }

func (s *stuckReader) Read([]byte) (int, error) { s.calls++; return 0, nil }

func TestReaderNoProgress(t *testing.T) {
	s := &stuckReader{}
	_, err := NewReader(s, 8).Read(make([]byte, 8))
	if err != io.ErrNoProgress {
		t.Fatalf("err = %v, want %v", err, io.ErrNoProgress)
	}
	if s.calls != maxEmptyReads {
		t.Fatalf("%d reads, want %d", s.calls, maxEmptyReads)
	}
}

// TestReaderRandom compares both source kinds with the reference on
// random messages made of the octets that matter.
func TestReaderRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab.\r\n\n\x00\xff")
	for iter := range 3000 {
		in := make([]byte, rng.IntN(300))
		for i := range in {
			in[i] = alphabet[rng.IntN(len(alphabet))]
		}
		want := testkit.Transmitted(in)
		bs, rs := 1+rng.IntN(17), 1+rng.IntN(23)
		for _, src := range []io.Reader{
			iotest.HalfReader(bytes.NewReader(in)),
			&Sized{R: bytes.NewReader(in), N: int64(len(in)), Check: func() error { return nil }},
		} {
			r := NewReader(src, bs)
			got, err := readAllChunks(r, rs)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("iter %d %T buf %d read %d: %q gives %q, %v; want %q", iter, src, bs, rs, in, got, err, want)
			}
			var c Counter
			c.Add(in)
			if r.Produced() != c.Transmitted() || r.Consumed() != c.Stored() {
				t.Fatalf("iter %d: Produced %d, Consumed %d; Counter says %d, %d",
					iter, r.Produced(), r.Consumed(), c.Transmitted(), c.Stored())
			}
		}
	}
}

// TestReaderReset reuses one Reader and its buffer for several messages;
// once the buffer exists, streaming allocates nothing.
func TestReaderReset(t *testing.T) {
	var r Reader
	src := bytes.NewReader(nil)
	out := make([]byte, 64)
	for _, tc := range readerCases {
		src.Reset([]byte(tc.in))
		r.Reset(src, 16)
		var got []byte
		for i := 0; i < 1000; i++ {
			n, err := r.Read(out)
			got = append(got, out[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if string(got) != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	msg := []byte("a\nb\r\nc")
	allocs := testing.AllocsPerRun(100, func() {
		src.Reset(msg)
		r.Reset(src, 16)
		for i := 0; i < 100; i++ {
			if _, err := r.Read(out); err != nil {
				break
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per message, want 0", allocs)
	}
}

// BenchmarkReader measures streaming a message through a reused Reader,
// the transform alone.
func BenchmarkReader(b *testing.B) {
	for _, size := range []int{1 << 10, 50 << 10} {
		for _, eol := range []string{"\n", "\r\n"} {
			name := fmt.Sprintf("%dk-%s", size>>10, map[string]string{"\n": "lf", "\r\n": "crlf"}[eol])
			msg := bytes.Repeat([]byte(strings.Repeat("x", 72-len(eol))+eol), size/72)
			b.Run(name, func(b *testing.B) {
				var r Reader
				src := bytes.NewReader(msg)
				out := make([]byte, 32<<10)
				b.SetBytes(int64(len(msg)))
				b.ReportAllocs()
				for b.Loop() {
					src.Reset(msg)
					r.Reset(src, 32<<10)
					for {
						if _, err := r.Read(out); err != nil {
							break
						}
					}
				}
			})
		}
	}
}
