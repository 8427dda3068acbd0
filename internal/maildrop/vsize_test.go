package maildrop

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/popadm/popadm/internal/testkit"
)

// sizeCases are message bodies whose transmitted form is checked byte by
// byte against the reference in testkit.Transmitted.
var sizeCases = []struct {
	name string
	in   string
	want string
}{
	{"lf-only", "Subject: a\n\nbody\n", "Subject: a\r\n\r\nbody\r\n"},
	{"crlf", "Subject: a\r\n\r\nbody\r\n", "Subject: a\r\n\r\nbody\r\n"},
	{"mixed", "a\r\nb\nc\r\n\n", "a\r\nb\r\nc\r\n\r\n"},
	{"lone-cr", "a\rb\n", "a\rb\r\n"},
	{"cr-at-end", "a\r", "a\r\r\n"},
	{"cr-cr-lf", "a\r\r\n", "a\r\r\n"},
	{"no-trailing-newline", "Subject: a\n\nbody", "Subject: a\r\n\r\nbody\r\n"},
	{"empty", "", ""},
	{"only-lf", "\n", "\r\n"},
	{"8bit", "Subject: \xe9t\xe9\n\n\x00\xff\x80\n", "Subject: \xe9t\xe9\r\n\r\n\x00\xff\x80\r\n"},
	{"dot-lines", ".\n..\n", ".\r\n..\r\n"},
}

func TestCountReader(t *testing.T) {
	for _, tc := range sizeCases {
		if got := string(testkit.Transmitted([]byte(tc.in))); got != tc.want {
			t.Fatalf("%s: reference gives %q, want %q", tc.name, got, tc.want)
		}
		for _, bs := range []int{1, 2, 3, 64 << 10} {
			ps, vs, err := countReader(strings.NewReader(tc.in), make([]byte, bs))
			if err != nil {
				t.Fatal(err)
			}
			if ps != int64(len(tc.in)) || vs != int64(len(tc.want)) {
				t.Errorf("%s buf %d: sizes %d, %d; want %d, %d", tc.name, bs, ps, vs, len(tc.in), len(tc.want))
			}
		}
	}
}

func TestCRLFReader(t *testing.T) {
	for _, tc := range sizeCases {
		for _, bs := range []int{1, 2, 3, 5, readBufSize} {
			var gotIn, gotOut int64 = -1, -1
			r := newCRLFReader(strings.NewReader(tc.in), bs, func(in, out int64) { gotIn, gotOut = in, out })
			got, err := io.ReadAll(iotest.OneByteReader(r))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("%s buf %d: got %q, want %q", tc.name, bs, got, tc.want)
			}
			if gotIn != int64(len(tc.in)) || gotOut != int64(len(tc.want)) {
				t.Errorf("%s buf %d: onEOF(%d, %d), want (%d, %d)", tc.name, bs, gotIn, gotOut, len(tc.in), len(tc.want))
			}
			r = newCRLFReader(iotest.HalfReader(strings.NewReader(tc.in)), bs, nil)
			if err := iotest.TestReader(r, []byte(tc.want)); err != nil {
				t.Errorf("%s buf %d: %v", tc.name, bs, err)
			}
		}
	}
}

func TestCRLFReaderPropagatesErrors(t *testing.T) {
	r := newCRLFReader(iotest.TimeoutReader(strings.NewReader("abc\ndef\n")), 4, nil)
	_, err := io.ReadAll(r)
	if err != iotest.ErrTimeout {
		t.Fatalf("err = %v, want %v", err, iotest.ErrTimeout)
	}
}

func FuzzTransmitted(f *testing.F) {
	for _, tc := range sizeCases {
		f.Add([]byte(tc.in), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, bs uint8) {
		want := testkit.Transmitted(in)
		size := int(bs%64) + 1
		_, vs, err := countReader(bytes.NewReader(in), make([]byte, size))
		if err != nil {
			t.Fatal(err)
		}
		if vs != int64(len(want)) {
			t.Fatalf("vsize %d, want %d", vs, len(want))
		}
		got, err := io.ReadAll(newCRLFReader(bytes.NewReader(in), size, nil))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

// BenchmarkRetrieve measures RETR of one message as the POP3 layer reads
// it: Open, streaming in transmitted form to the end, Close.
func BenchmarkRetrieve(b *testing.B) {
	dir := newMaildir(b)
	line := strings.Repeat("x", 71) + "\n"
	for _, size := range []int{1 << 10, 50 << 10} {
		put(b, dir, "cur", "1700000000.M"+strconv.Itoa(size)+"P1Q1.bench:2,S", strings.Repeat(line, size/len(line)))
	}
	m := openT(b, dir, Options{})
	out := make([]byte, 32<<10)
	for i, msg := range m.Messages() {
		name := "lf-1k"
		if msg.Size > 2<<10 {
			name = "lf-50k"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(msg.Size)
			b.ReportAllocs()
			for b.Loop() {
				r, err := m.Open(i)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, out); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
}
