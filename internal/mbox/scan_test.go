package mbox

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/popadm/popadm/internal/testkit"
)

// scanT scans s and fails the test on an error.
func scanT(t *testing.T, s string) *scanResult {
	t.Helper()
	res, err := scanBytes([]byte(s), -1)
	if err != nil {
		t.Fatalf("scan %q: %v", s, err)
	}
	return res
}

// repaired is s with the separator Commit appends to a spool that does not
// end in a blank line.
func repaired(s string) string { return s + string(separator([]byte(s))) }

// messagesOf returns the stored message of every unit of res in s.
func messagesOf(res *scanResult, s string) []string {
	var out []string
	for _, u := range res.units {
		out = append(out, s[u.body:u.end])
	}
	return out
}

// assertSameAfterRepair checks that s and repaired(s) scan as the same
// messages: same count, digests and sizes, and stored bytes that differ
// at most by the LF the repair adds to an unfinished last line.
func assertSameAfterRepair(t *testing.T, s string) (before, after *scanResult) {
	t.Helper()
	r := repaired(s)
	before, after = scanT(t, s), scanT(t, r)
	if len(before.units) != len(after.units) {
		t.Fatalf("%q: %d messages, %d after the repair", s, len(before.units), len(after.units))
	}
	for i, u := range before.units {
		v := after.units[i]
		if u.digest != v.digest || u.size != v.size {
			t.Errorf("%q: message %d: digest or size (%d, %d) changed by the repair", s, i, u.size, v.size)
		}
		old, now := s[u.body:u.end], r[v.body:v.end]
		if old != now && !(!strings.HasSuffix(old, "\n") && now == old+"\n") {
			t.Errorf("%q: message %d: %q became %q", s, i, old, now)
		}
	}
	return before, after
}

// TestScanDigestsUnfinishedFromLineWithItsLF: a From_ line alone at the
// end without its LF is digested with it, as it is once Commit has added
// the missing newline.
func TestScanDigestsUnfinishedFromLineWithItsLF(t *testing.T) {
	for _, s := range []string{
		"From ",
		strings.TrimSuffix(fromLine("a"), "\n"),
		fromLine("a") + "S: a\n\nx\n\nFrom b",
	} {
		before, _ := assertSameAfterRepair(t, s)
		last := before.units[len(before.units)-1]
		if last.body != int64(len(s)) || last.end != last.body || last.next != int64(len(s)) {
			t.Errorf("%q: last unit %+v, want an empty message at the end", s, last)
		}
		// The From_ line is digested with its LF: the same UIDL as the
		// empty message with a complete From_ line.
		line := s[last.start:]
		if d := scanT(t, line+"\n\n").units[0].digest; d != last.digest {
			t.Errorf("%q: the unfinished From_ line is not digested as %q", s, line+"\n")
		}
	}
}

// TestScanClassifiesUnfinishedLastLineWithItsLF: an unfinished last line
// that is a strict From_ line once it has its LF starts a message before
// the repair as it does after it, and one that is not stays body text.
func TestScanClassifiesUnfinishedLastLineWithItsLF(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"From \nFrom  Thu Apr 0 0:00 0000", []string{"", ""}},
		{fromLine("a") + "S: a\n\nx\nFrom b@example.com Sat Nov 28 06:19:19 2026", []string{"S: a\n\nx\n", ""}},
		{fromLine("a") + "S: a\n\nx\nFrom b@example.com Sat Nov 28 06:19:19", []string{"S: a\n\nx\nFrom b@example.com Sat Nov 28 06:19:19"}},
	}
	for _, tc := range cases {
		before, _ := assertSameAfterRepair(t, tc.in)
		if got := messagesOf(before, tc.in); strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("%q: messages %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestScanUnfinishedVolatileHeaderLeftOutOfDigest: an unfinished last
// header field that the digest leaves out (Status) is left out with its
// LF, so the UIDL neither depends on its value nor changes when the
// repair gives it its LF.
func TestScanUnfinishedVolatileHeaderLeftOutOfDigest(t *testing.T) {
	base := "From a@example.com  Sat Nov 28 06:19:19 2026\nSubject: s\n"
	ro, _ := assertSameAfterRepair(t, base+"Status: RO")
	o, _ := assertSameAfterRepair(t, base+"Status: O")
	none := scanT(t, base+"\n")
	if ro.units[0].digest != o.units[0].digest || ro.units[0].digest != none.units[0].digest {
		t.Error("the Status field changes the UIDL")
	}
	if other := scanT(t, strings.Replace(base, "Subject: s", "Subject: t", 1)+"Status: RO"); other.units[0].digest == ro.units[0].digest {
		t.Error("the Subject does not change the UIDL")
	}
}

// TestContentLengthDecidedOnPaddedFile: whether a Content-Length field is
// honoured does not depend on the newline Commit adds at the end of the
// file: a body that would take the added blank line is refused before
// and after the repair, a body that needs only the LF of an unfinished
// last line is honoured before and after.
func TestContentLengthDecidedOnPaddedFile(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{
		{"length 1 past the end", "From \nContent-Length:7\n\nFrom \n", []string{"Content-Length:7\n", ""}},
		{"length up to the end", "From \nContent-Length:6\n\nFrom \n", []string{"Content-Length:6\n\nFrom \n"}},
		{"body without LF at the end", fromLine("a") + "Content-Length: 3\n\nabc", []string{"Content-Length: 3\n\nabc"}},
		{"body with the LF to be added", fromLine("a") + "Content-Length: 9\n\nFrom abc", []string{"Content-Length: 9\n\nFrom abc"}},
		{"body without the LF to be added", fromLine("a") + "Content-Length: 8\n\nFrom abc", []string{"Content-Length: 8\n\nFrom abc"}},
		{"body taking the blank line to be added", fromLine("a") + "Content-Length: 5\n\nab\n\nFrom x", []string{"Content-Length: 5\n\nab\n", ""}},
		{"body taking the last blank line", fromLine("a") + "Content-Length: 5\n\nab\n\nFrom x\n\n", []string{"Content-Length: 5\n\nab\n", ""}},
		{"body and separator", fromLine("a") + "Content-Length: 4\n\nab\n\n", []string{"Content-Length: 4\n\nab\n"}},
		{"body and two line ends", fromLine("a") + "Content-Length: 3\n\nab\n\n\n", []string{"Content-Length: 3\n\nab\n"}},
		{"header only, length 0", fromLine("a") + "Content-Length: 0\n", []string{"Content-Length: 0\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := assertSameAfterRepair(t, tc.in)
			if got := messagesOf(before, tc.in); strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("messages %q, want %q", got, tc.want)
			}
		})
	}
}

// TestContentLengthWellFormedMboxcl: well-formed mboxcl and mboxcl2
// messages (the body, then one blank line or the end of the file; LF or
// CRLF) are read by their Content-Length, so "From " lines in the body,
// even after a blank line, stay in it.
func TestContentLengthWellFormedMboxcl(t *testing.T) {
	for _, nl := range []string{"\n", "\r\n"} {
		lf := func(s string) string { return strings.ReplaceAll(s, "\n", nl) }
		body := lf("x\n\nFrom inside the body\n>From quoted\n")
		msg := lf("Content-Length: "+strconv.Itoa(len(body))+"\nStatus: RO\n\n") + body
		empty := lf("Content-Length: 0\n\n")
		for _, end := range []string{"", lf("\n")} {
			in := lf(fromLine("a")) + msg + nl + lf(fromLine("b")) + empty + nl + lf(fromLine("c")) + msg + end
			got := messagesOf(assertSameAfterRepairT(t, in), in)
			if want := []string{msg, empty, msg}; strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%q: messages %q, want %q", in, got, want)
			}
		}
	}
}

// assertSameAfterRepairT is assertSameAfterRepair returning the scan of s.
func assertSameAfterRepairT(t *testing.T, s string) *scanResult {
	t.Helper()
	before, _ := assertSameAfterRepair(t, s)
	return before
}

// TestScanLoneCRAtEnd documents the one difference the repair still
// makes: a last message ending in a lone CR keeps its UIDL, but is sent
// as "x\r\r\n" before (CRLF appended) and as "x\r\n" after (the CR and
// the added LF form a line end), one octet less.
func TestScanLoneCRAtEnd(t *testing.T) {
	s := fromLine("a") + "S: a\n\nx\r"
	before, after := scanT(t, s), scanT(t, repaired(s))
	u, v := before.units[0], after.units[0]
	if u.digest != v.digest {
		t.Error("UIDL changed by the repair")
	}
	if u.size != int64(len(testkit.Transmitted([]byte("S: a\n\nx\r")))) || v.size != u.size-1 {
		t.Errorf("sizes %d and %d", u.size, v.size)
	}
	if !bytes.Equal([]byte(s[u.body:u.end]), []byte("S: a\n\nx\r")) {
		t.Errorf("stored %q", s[u.body:u.end])
	}
}
