package mbox

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/popadm/popadm/internal/testkit"
)

// corpus lists the files in testdata and the message bytes (as stored,
// between the From_ line and the separator) each must yield.
var corpus = []struct {
	file string
	msgs []string
}{
	{"from-in-body.mbox", []string{
		// Not after a blank line and no asctime date: body text.
		"Subject: one\n\nHello\nFrom here on, things change.\nMore text\n",
		// After a blank line any "From " starts a message; the next one
		// follows a single LF but has a strict asctime date.
		"Subject: two\n\nbody two\n",
		"Subject: three\n\nbody three\n",
	}},
	{"gtfrom.mbox", []string{
		"Return-Path: <sender@example.com>\nX-Original-To: popatest@localhost\nDelivered-To: popatest@localhost\n" +
			"Subject: quoted\n\n>From me\n>>From you\n From indented\n.\n..dot\n",
	}},
	{"no-trailing-newline.mbox", []string{
		"Subject: first\n\nfirst body\n",
		"Subject: t\n\nno-newline",
	}},
	{"crlf.mbox", []string{
		"Subject: crlf\r\n\r\nline\r\n",
		"Subject: two\r\n\r\nx\r\nmixed bare\ny\r\n",
	}},
	{"8bit.mbox", []string{
		"Subject: caf\xe9\nContent-Type: text/plain; charset=iso-8859-1\n\ncaf\xe9 na\xefve \x00 nul\rlone cr\n\xff\xfe\n",
	}},
	{"mboxcl2.mbox", []string{
		// Content-Length lands on the separator: the unescaped "From "
		// after a blank line stays in the body.
		"Subject: cl2\nContent-Length: 47\nStatus: RO\n\nfirst line\n\nFrom the body, unescaped\nlast line\n",
		"Content-Length: 3\n\nabc",
	}},
	{"wrong-cl.mbox", []string{
		// Content-Length 7 ends inside a line, not at a separator: ignored.
		"Subject: wrong\nContent-Length: 7\n\naaa\n",
		"Subject: second part\n\nbbb\n",
		"Subject: third\n\nccc\n",
	}},
	{"pseudo.mbox", []string{
		"Subject: real one\nX-UID: 1\nStatus: RO\n\none\n",
		"Subject: real two\nX-UID: 2\n\ntwo\n",
	}},
	{"empty.mbox", nil},
	{"mmdf.mbox", []string{
		"From: a@example.com\nSubject: mmdf one\n\nFrom inside, not a separator\n\n",
		"Subject: mmdf two\n\nsecond\n",
	}},
}

func TestCorpus(t *testing.T) {
	for _, tc := range corpus {
		t.Run(tc.file, func(t *testing.T) {
			path := writeSpool(t, mustRead(t, filepath.Join("testdata", tc.file)))
			o, _ := testOptions(t)
			s := openT(t, path, o)
			msgs := s.Messages()
			if len(msgs) != len(tc.msgs) {
				t.Fatalf("%d messages, want %d: %+v", len(msgs), len(tc.msgs), msgs)
			}
			seen := map[string]bool{}
			for i, want := range tc.msgs {
				got := readMsg(t, s, i)
				exp := testkit.Transmitted([]byte(want))
				if !bytes.Equal(got, exp) {
					t.Errorf("message %d:\n got %q\nwant %q", i, got, exp)
				}
				if msgs[i].Size != int64(len(got)) {
					t.Errorf("message %d: Size %d, read %d octets", i, msgs[i].Size, len(got))
				}
				if bytes.Contains(got, []byte("\r\r\n")) {
					t.Errorf("message %d contains CR CR LF", i)
				}
				if !bytes.HasSuffix(got, []byte("\r\n")) {
					t.Errorf("message %d does not end in CRLF", i)
				}
				if !validUIDL(msgs[i].UIDL) || seen[msgs[i].UIDL] {
					t.Errorf("message %d: bad or duplicate UIDL %q", i, msgs[i].UIDL)
				}
				seen[msgs[i].UIDL] = true
			}
		})
	}
}

// validUIDL checks RFC 1939's unique-id syntax.
func validUIDL(s string) bool {
	if len(s) < 1 || len(s) > 70 {
		return false
	}
	for i := range len(s) {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// TestForgedHeadersDoNotChangeUIDL: Status, X-UIDL, X-IMAPbase and the
// other fields mail readers rewrite (or senders forge) are left out of the
// digest, and an X-UIDL field is never used as the UIDL.
func TestForgedHeadersDoNotChangeUIDL(t *testing.T) {
	o, _ := testOptions(t)
	a := openT(t, writeSpool(t, mustRead(t, "testdata/forged-a.mbox")), o)
	o2, _ := testOptions(t)
	b := openT(t, writeSpool(t, mustRead(t, "testdata/forged-b.mbox")), o2)
	ua, ub := a.Messages()[0].UIDL, b.Messages()[0].UIDL
	if ua != ub {
		t.Errorf("UIDL differs: %s vs %s", ua, ub)
	}
	if strings.Contains(ub, "forged") {
		t.Errorf("UIDL taken from the X-UIDL header: %s", ub)
	}
	// The forged headers are still served: nothing is hidden.
	if !bytes.Contains(readMsg(t, b, 0), []byte("X-UIDL: forged-uidl\r\n")) {
		t.Error("X-UIDL header not served")
	}
	// A difference in any other header does change it.
	other := bytes.Replace(mustRead(t, "testdata/forged-a.mbox"), []byte("Subject: same"), []byte("Subject: other"), 1)
	o3, _ := testOptions(t)
	c := openT(t, writeSpool(t, other), o3)
	if c.Messages()[0].UIDL == ua {
		t.Error("UIDL did not change with the Subject")
	}
}

func TestIdenticalMessagesGetDistinctUIDLs(t *testing.T) {
	msg := "From a@example.com  Sat Nov 28 06:19:19 2026\nSubject: dup\n\nsame\n\n"
	path := writeSpool(t, []byte(msg+msg+msg))
	o, _ := testOptions(t)
	s := openT(t, path, o)
	m := s.Messages()
	if len(m) != 3 {
		t.Fatalf("%d messages", len(m))
	}
	if m[1].UIDL != m[0].UIDL+"-2" || m[2].UIDL != m[0].UIDL+"-3" {
		t.Errorf("UIDLs %q %q %q", m[0].UIDL, m[1].UIDL, m[2].UIDL)
	}
	if len(m[0].UIDL) != 32 {
		t.Errorf("UIDL %q is not 32 hex digits", m[0].UIDL)
	}
}

func TestHugeMessageStreams(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(fromLine("big@example.com"))
	b.WriteString("Subject: big\n\n")
	body := bytes.Buffer{}
	line := strings.Repeat("0123456789abcdef", 6) + "\n"
	for body.Len() < 4<<20 {
		body.WriteString(line)
	}
	// One line far longer than the scanner's buffer, with a "From "
	// inside that must not split anything, and a CRLF line.
	body.WriteString(strings.Repeat("x", 3*scanBufSize) + "From nowhere\r\n")
	body.WriteString("end\n")
	b.Write(body.Bytes())
	b.WriteString("\n")
	b.WriteString(fromLine("small@example.com") + "Subject: small\n\nsmall\n\n")
	path := writeSpool(t, b.Bytes())
	o, _ := testOptions(t)
	s := openT(t, path, o)
	m := s.Messages()
	if len(m) != 2 {
		t.Fatalf("%d messages", len(m))
	}
	want := testkit.Transmitted(append([]byte("Subject: big\n\n"), body.Bytes()...))
	r, err := s.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	// Read in odd-sized pieces, hashing as we go.
	h := sha256.New()
	n, err := io.CopyBuffer(h, struct{ io.Reader }{r}, make([]byte, 7777))
	if err != nil {
		t.Fatal(err)
	}
	if n != m[0].Size || n != int64(len(want)) {
		t.Errorf("read %d octets, Size %d, want %d", n, m[0].Size, len(want))
	}
	if sum := sha256.Sum256(want); !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Error("content differs")
	}
	if got := readMsg(t, s, 1); string(got) != "Subject: small\r\n\r\nsmall\r\n" {
		t.Errorf("second message %q", got)
	}
}

func TestParseEdgeCases(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{
		{"leading blank lines", "\n\n" + fromLine("a") + "Subject: a\n\nx\n\n", []string{"Subject: a\n\nx\n"}},
		{"header only", fromLine("a") + "Subject: a\n\n" + fromLine("b") + "Subject: b\n\ny\n", []string{"Subject: a\n", "Subject: b\n\ny\n"}},
		{"empty message", fromLine("a") + "\n" + fromLine("b") + "Subject: b\n\ny\n\n", []string{"", "Subject: b\n\ny\n"}},
		{"two blank lines", fromLine("a") + "Subject: a\n\nx\n\n\n" + fromLine("b") + "S: b\n\n", []string{"Subject: a\n\nx\n\n", "S: b\n"}},
		{"From_ line only at EOF", fromLine("a") + "Subject: a\n\nx\n\n" + "From b", []string{"Subject: a\n\nx\n", ""}},
		{"strict From in headers", fromLine("a") + "Subject: a\n" + fromLine("b") + "Subject: b\n\n", []string{"Subject: a\n", "Subject: b\n"}},
		{"day with leading space", fromLine("a") + "S: a\n\nx\nFrom b@c Sun Nov  1 01:02:03 2026\nS: b\n\n", []string{"S: a\n\nx\n", "S: b\n"}},
		{"loose From is body", fromLine("a") + "S: a\n\nx\nFrom me to you\nFrom b@c Mon Nov 1 1:02 2026 extra\n\n", []string{"S: a\n\nx\nFrom me to you\nFrom b@c Mon Nov 1 1:02 2026 extra\n"}},
		// A Content-Length body is never followed by nothing but a From_
		// line when it ends in a blank line: that line is the separator
		// (deleting b leaves it at the end of the file, where it is the
		// blank line Commit would add). The field is ignored.
		{"content-length zero", fromLine("a") + "Content-Length: 0\n\n" + fromLine("b") + "S: b\n\n", []string{"Content-Length: 0\n", "S: b\n"}},
		{"content-length zero and separator", fromLine("a") + "Content-Length: 0\n\n\n" + fromLine("b") + "S: b\n\n", []string{"Content-Length: 0\n\n", "S: b\n"}},
		{"content-length past EOF", fromLine("a") + "Content-Length: 999\n\nx\n\nFrom y\n\n", []string{"Content-Length: 999\n\nx\n", ""}},
		{"content-length on From_ line", fromLine("a") + "Content-Length: 5\n\nabc\n\n" + fromLine("b") + "S: b\n\n", []string{"Content-Length: 5\n\nabc\n", "S: b\n"}},
		{"content-length on From_ line after LF", fromLine("a") + "Content-Length: 12\n\nx\n\nFrom y\nz\nFrom b\nS: b\n\n", []string{"Content-Length: 12\n\nx\n\nFrom y\nz\n", "S: b\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := scan(strings.NewReader(tc.in), int64(len(tc.in)), -1, discardLog())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range res.units {
				got = append(got, tc.in[u.body:u.end])
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
			if sum := sha256.Sum256([]byte(tc.in)); res.sum != sum {
				t.Error("prefix hash wrong")
			}
		})
	}
}

func TestNotAnMbox(t *testing.T) {
	path := writeSpool(t, []byte("Subject: no From_ line\n\nbody\n"))
	o, _ := testOptions(t)
	_, err := Open(t.Context(), path, o)
	if !errors.Is(err, ErrFormat) {
		t.Fatalf("err = %v, want ErrFormat", err)
	}
}

func TestLimits(t *testing.T) {
	msg := fromLine("a") + "S: x\n\nbody\n\n"
	path := writeSpool(t, []byte(msg+msg+msg))
	o, _ := testOptions(t)
	o.MaxMessages = 2
	if _, err := Open(t.Context(), path, o); !errors.Is(err, ErrTooBig) {
		t.Errorf("MaxMessages: err = %v", err)
	}
	o.MaxMessages = 3
	s := openT(t, path, o)
	if len(s.Messages()) != 3 {
		t.Error("3 messages with MaxMessages 3")
	}
	s.Close()
	o.MaxBytes = int64(len(msg))
	if _, err := Open(t.Context(), path, o); !errors.Is(err, ErrTooBig) {
		t.Errorf("MaxBytes: err = %v", err)
	}
	// The pseudo message does not count.
	pseudo := mustRead(t, "testdata/pseudo.mbox")
	o2, _ := testOptions(t)
	o2.MaxMessages = 2
	s2 := openT(t, writeSpool(t, pseudo), o2)
	if len(s2.Messages()) != 2 {
		t.Error("pseudo message counted")
	}
}

func TestMissingSpoolIsEmpty(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nobody")
	o, _ := testOptions(t)
	s := openT(t, path, o)
	if len(s.Messages()) != 0 {
		t.Fatal("messages in a missing spool")
	}
	if err := s.Commit(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err == nil {
		t.Fatal("spool was created")
	}
	assertNoLeftovers(t, path, o)
}
