package pop3d

import (
	"bufio"
	"bytes"
	"io"
	"net/textproto"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		rest    string
		hasRest bool
		err     error
	}{
		{"STAT", "STAT", "", false, nil},
		{"stat", "STAT", "", false, nil},
		{"LiSt 1", "LIST", "1", true, nil},
		{"PASS a b  c ", "PASS", "a b  c ", true, nil},
		{"USER jösé", "USER", "jösé", true, nil},
		{"STAT ", "STAT", "", true, nil},
		{"", "", "", false, errEmptyLine},
		{" STAT", "", "", false, errBadKeyword},
		{"ST@T", "", "", false, errBadKeyword},
		{"ABCDEFGHIJKLMNOPQ", "", "", false, errBadKeyword},
		{"NOOP\x00", "", "", false, errBadChar},
		{"PASS a\tb", "", "", false, errBadChar},
		{"USER a\rb", "", "", false, errBadChar},
		{"NOOP\x7f", "", "", false, errBadChar},
	}
	for _, tt := range tests {
		c, err := parseCommand([]byte(tt.in))
		if err != tt.err {
			t.Errorf("parseCommand(%q) error = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && (c.Name != tt.name || c.Rest != tt.rest || c.HasRest != tt.hasRest) {
			t.Errorf("parseCommand(%q) = %+v", tt.in, c)
		}
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		ok   bool
	}{
		{"", nil, true},
		{"1", []string{"1"}, true},
		{"1 2", []string{"1", "2"}, true},
		{"1  2", nil, false},
		{" 1", nil, false},
		{"1 ", nil, false},
	}
	for _, tt := range tests {
		got, ok := splitArgs(tt.in)
		if ok != tt.ok || strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("splitArgs(%q) = %q, %v", tt.in, got, ok)
		}
	}
}

func TestParseMsgNum(t *testing.T) {
	tests := map[string]int{
		"1": 1, "2": 2, "01": 1, "2147483647": 2147483647,
		"0": 0, "-1": 0, "+1": 0, "1abc": 0, "abc": 0, "": 0, " 1": 0, "1 ": 0,
		"4294967297": 0, "2147483648": 0, "18446744073709551617": 0, "99999999999": 0, "١": 0,
	}
	for in, want := range tests {
		if got := parseMsgNum(in); got != want {
			t.Errorf("parseMsgNum(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestParseLineCount(t *testing.T) {
	max := ^uint64(0)
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"10", 10, true},
		{"99999999", 99999999, true},
		{"18446744073709551615", max, true},
		{"18446744073709551616", max, true},
		{"999999999999999999999999999999", max, true},
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1x", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseLineCount(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseLineCount(%q) = %d, %v", tt.in, got, ok)
		}
	}
}

// stuff runs data through a dotWriter in chunks of the given size.
func stuff(t *testing.T, data string, chunk int) string {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	dw := newDotWriter(bw)
	for i := 0; i < len(data); i += chunk {
		end := min(i+chunk, len(data))
		if n, err := dw.Write([]byte(data[i:end])); err != nil || n != end-i {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if err := dw.Close(); err != nil {
		t.Fatal(err)
	}
	_ = bw.Flush()
	if int64(buf.Len()) != dw.n+int64(len(".\r\n"))+int64(boolInt(!strings.HasSuffix(data, "\n") && data != ""))*2 {
		t.Fatalf("dotWriter counted %d octets, wrote %d", dw.n, buf.Len())
	}
	return buf.String()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestDotWriter(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ".\r\n"},
		{"a\r\n", "a\r\n.\r\n"},
		{".\r\n", "..\r\n.\r\n"},
		{"..\r\n", "...\r\n.\r\n"},
		{"a\r\n.b\r\n", "a\r\n..b\r\n.\r\n"},
		{"a\r.b\r\n", "a\r.b\r\n.\r\n"},       // lone CR is not a line end
		{"a\r\r\n", "a\r\r\n.\r\n"},           // textproto.DotWriter would add a CR here
		{"\r\n.\r\n", "\r\n..\r\n.\r\n"},      // dot after an empty line
		{"no newline", "no newline\r\n.\r\n"}, // CRLF added before the terminator
		{"ends in cr\r", "ends in cr\r\r\n.\r\n"},
		{"bare\nlf\n.x\n", "bare\r\nlf\r\n..x\r\n.\r\n"}, // outside the contract: no bare LF on the wire
		{"nul\x00\xff\r\n", "nul\x00\xff\r\n.\r\n"},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 2, 3, 4096} {
			if got := stuff(t, tt.in, chunk); got != tt.want {
				t.Errorf("stuff(%q, chunk %d) = %q, want %q", tt.in, chunk, got, tt.want)
			}
		}
	}
}

// TestDotWriterRoundTrip: CRLF input survives stuffing and
// textproto.DotReader (which maps CRLF to LF) unchanged.
func TestDotWriterRoundTrip(t *testing.T) {
	inputs := []string{
		"Subject: x\r\n\r\n.\r\n..\r\n.hidden\r\nend\r\n",
		".\r\n",
		"a\r\n\r\n\r\n",
		strings.Repeat(".line\r\n", 1000),
	}
	for _, in := range inputs {
		out := stuff(t, in, 7)
		got, err := io.ReadAll(textproto.NewReader(bufio.NewReader(strings.NewReader(out))).DotReader())
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.ReplaceAll(in, "\r\n", "\n"); string(got) != want {
			t.Errorf("round trip of %q = %q", in, got)
		}
	}
}

func TestCopyTop(t *testing.T) {
	msg := "H1: a\r\nH2: b\r\n\r\nl1\r\nl2\r\n\r\nl4\r\n"
	tests := []struct {
		msg  string
		k    uint64
		want string
	}{
		{msg, 0, "H1: a\r\nH2: b\r\n\r\n"},
		{msg, 1, "H1: a\r\nH2: b\r\n\r\nl1\r\n"},
		{msg, 3, "H1: a\r\nH2: b\r\n\r\nl1\r\nl2\r\n\r\n"},
		{msg, 4, msg},
		{msg, ^uint64(0), msg},
		{"H: only\r\nH2: x\r\n", 5, "H: only\r\nH2: x\r\n"}, // no body separator: all header
		{"\r\nbody\r\n", 0, "\r\n"},                         // empty header
		{"", 3, ""},
		{"H: " + strings.Repeat("x", 10000) + "\r\n\r\nb1\r\nb2\r\n", 1, "H: " + strings.Repeat("x", 10000) + "\r\n\r\nb1\r\n"},
		{"H: x\r\n\r\n" + strings.Repeat("y", 9000) + "\r\nb2\r\n", 1, "H: x\r\n\r\n" + strings.Repeat("y", 9000) + "\r\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := copyTop(&buf, iotest.OneByteReader(strings.NewReader(tt.msg)), tt.k); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tt.want {
			t.Errorf("copyTop(%.30q, %d) = %.60q, want %.60q", tt.msg, tt.k, buf.String(), tt.want)
		}
	}
	var buf bytes.Buffer
	if err := copyTop(&buf, iotest.ErrReader(io.ErrClosedPipe), 1); err == nil {
		t.Fatal("read error not reported")
	}
}

func TestRedact(t *testing.T) {
	tests := map[string]string{
		"PASS secret":                "PASS ***",
		"pass two words":             "pass ***",
		"PASS":                       "PASS",
		"APOP mrose c4c9334b":        "APOP mrose ***",
		"AUTH PLAIN AG1yb3NlAHRhbnN": "AUTH PLAIN ***",
		"AUTH PLAIN":                 "AUTH PLAIN",
		"USER mrose":                 "USER mrose",
		"PASS\tsecret":               "PASS ***",
	}
	for in, want := range tests {
		if got := string(redact([]byte(in), false)); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
		if got := string(redact([]byte(in), true)); got != in {
			t.Errorf("redact(%q, traceAuth) = %q", in, got)
		}
	}
}

func TestLooksLikeHTTP(t *testing.T) {
	for in, want := range map[string]bool{
		"GET / HTTP/1.1":            true,
		"POST /x HTTP/1.0":          true,
		"CONNECT host:443 HTTP/1.1": true,
		"GET / HTTP":                false,
		"GET /":                     false,
		"USER GET":                  false,
		"get / HTTP/1.1":            false,
	} {
		if got := looksLikeHTTP([]byte(in)); got != want {
			t.Errorf("looksLikeHTTP(%q) = %v", in, got)
		}
	}
}

func TestErrorLine(t *testing.T) {
	long := &Error{Code: "SYS/PERM", Text: strings.Repeat("x", 1000) + "\r\n+OK injected"}
	line := errorLine(long)
	if len(line)+2 > maxReply {
		t.Fatalf("error line of %d octets", len(line)+2)
	}
	if strings.ContainsAny(line, "\r\n") {
		t.Fatal("control characters in the error line")
	}
	if errorLine(ErrInUse) != "-ERR [IN-USE] maildrop is locked by another session" {
		t.Fatalf("ErrInUse line %q", errorLine(ErrInUse))
	}
}

// TestCommandTable checks the table's internal consistency.
func TestCommandTable(t *testing.T) {
	for name, c := range commands {
		if c.handle == nil || c.states == 0 || c.minArgs > c.maxArgs || strings.ToUpper(name) != name {
			t.Errorf("command %s: bad entry %+v", name, c)
		}
		if c.restOfLine && c.maxArgs != 1 {
			t.Errorf("command %s: restOfLine needs maxArgs 1", name)
		}
	}
}
