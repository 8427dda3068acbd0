package mbox

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/popadm/popadm/internal/testkit"
)

// fuzzMaxInput bounds the inputs the fuzz targets look at, so that one
// execution stays fast.
const fuzzMaxInput = 1 << 20

// fuzzFrom is a strict From_ line as Postfix writes it.
const fuzzFrom = "From fuzz@example.com  Sat Nov 28 06:19:19 2026"

// mmdfDelim is the MMDF message delimiter line.
const mmdfDelim = "\x01\x01\x01\x01\n"

// scanSeeds are spool shapes the scanner must handle, beyond the files in
// testdata: mboxo, mboxrd, mboxcl and mboxcl2, MMDF, From_ line variants,
// CRLF, missing final newlines and odd Content-Length values.
var scanSeeds = []string{
	"",
	"\n\n\r\n",
	"\r",
	"From",
	"Subject: not an mbox\n\nbody\n",
	// mboxo (Postfix): a quoted body line that cannot be unquoted.
	fuzzFrom + "\nSubject: o\n\n>From the start\nFrom is fine here\n\n",
	// mboxrd: quoted and double-quoted lines.
	fuzzFrom + "\nSubject: rd\n\n>From a\n>>From b\n>>>From c\n\n" + fuzzFrom + "\nSubject: rd2\n\nx\n\n",
	// mboxcl: Content-Length and a quoted body.
	fuzzFrom + "\nContent-Length: 12\nSubject: cl\n\n>From quote\n\n" + fuzzFrom + "\nS: 2\n\n2\n\n",
	// mboxcl2: an unescaped From_ line after a blank line inside the body.
	fuzzFrom + "\nContent-Length: 21\n\nx\n\nFrom inside body\n\n" + fuzzFrom + "\nS: 2\n\n2\n\n",
	// mboxcl2 whose body ends exactly at EOF, without a newline.
	fuzzFrom + "\nContent-Length: 3\nStatus: RO\n\nabc",
	// Content-Length values: huge, overflowing, negative, signed, spaced, twice.
	fuzzFrom + "\nContent-Length: 9223372036854775807\n\nx\n\n",
	fuzzFrom + "\nContent-Length: 99999999999999999999\n\nx\n\n",
	fuzzFrom + "\nContent-Length: -1\n\nx\n\n",
	fuzzFrom + "\nContent-Length: +2\n\nx\n\n" + fuzzFrom + "\n\n",
	fuzzFrom + "\ncontent-length :  2 \n\nx\n\n" + fuzzFrom + "\n\n",
	fuzzFrom + "\nContent-Length: 0\nContent-Length: 2\n\n" + fuzzFrom + "\n\n",
	fuzzFrom + "\r\nContent-Length: 4\r\n\r\nab\r\n\r\n" + fuzzFrom + "\r\nS: x\r\n\r\ny\r\n\r\n",
	// MMDF: CRLF delimiters, junk between messages, an unclosed last
	// message, a From_ line after the opening delimiter, mbox after MMDF.
	mmdfDelim + "Subject: m\n\nbody\n" + mmdfDelim + mmdfDelim + "Subject: n\n\n" + mmdfDelim,
	"\x01\x01\x01\x01\r\nSubject: m\r\n\r\nbody\r\n\x01\x01\x01\x01\r\n",
	mmdfDelim + "S: a\n\na\n" + mmdfDelim + "junk\n\n" + mmdfDelim + "S: b\n\nb\n",
	mmdfDelim + fuzzFrom + "\nS: a\n\na\n" + mmdfDelim,
	mmdfDelim + "S: a\n\na\n" + mmdfDelim + fuzzFrom + "\nS: b\n\n" + mmdfDelim + "\n",
	mmdfDelim,
	// From_ line variants: strict dates with and without seconds, time
	// zones before and after the year, UUCP "remote from", quoted and
	// empty senders, and loose lines that only count after a blank line.
	"From a Mon Jan  1 00:00 2026\nS: 1\n\nx\nFrom b Tue Feb 2 03:04:05 PST 2026\nS: 2\n\ny\n" +
		"From c Wed, Mar 3 04:05:06 2026 +0100\nS: 3\n\nz\nFrom d Thu Apr 4 05:06:07 2026 remote from uucp\nS: 4\n\n",
	`From "a b"@example.com Fri May 5 06:07:08 2026` + "\nS: q\n\nx\nFrom  Sat Jun 6 07:08:09 2026\nS: e\n\n",
	"From loose\nS: 1\n\nx\nFrom not a date\n\nFrom after blank\nS: 2\n\n",
	// CRLF spool, mixed line ends, lone CR, NUL, 8-bit, dot lines.
	fuzzFrom + "\r\nSubject: c\r\n\r\nline\r\nbare\n\r\n" + fuzzFrom + "\r\n\r\n",
	fuzzFrom + "\nS: b\n\n.\n..\n.x\r\r\n\x00\xff\rcr\n\n",
	// No trailing newline, a From_ line alone at EOF, a header-only
	// message, an empty message, leading blank lines.
	fuzzFrom + "\nSubject: t\n\nno newline",
	fuzzFrom + "\nS: a\n\nx\n\nFrom b\n",
	fuzzFrom + "\nS: header only",
	"\n\r\n" + fuzzFrom + "\n\n" + fuzzFrom + "\nS: b\n\n",
	// Folder-internal message of c-client and Dovecot, then a real one.
	fuzzFrom + "\nX-IMAPbase: 1 2\nSubject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n\nint\n\n" + fuzzFrom + "\nS: r\n\nr\n\n",
	// Volatile fields with continuation lines, identical messages.
	fuzzFrom + "\nStatus: RO\n\tcont\nX-UID: 1\nS: v\n\nv\n\n" + fuzzFrom + "\nS: v\n\nv\n\n" + fuzzFrom + "\nS: v\n\nv\n\n",
	// Long lines (the seeds stay far below the scanner's 64 KiB buffer:
	// the fuzzer minimizes every new input octet by octet, and lines
	// longer than the buffer are tested in parse_test.go).
	fuzzFrom + "\nS: long\n\n" + strings.Repeat("x", 2000) + "From \n\nFrom " + strings.Repeat("y", 1100) + " Sat Nov 28 06:19:19 2026\nS: z\n\n",
}

// FuzzScan parses arbitrary bytes as a spool and checks what the scanner
// reports against the bytes themselves: errors only for files that do not
// start with a From_ line or MMDF delimiter; units in order, contiguous,
// inside the file and starting at a line start with their From_ line or
// delimiter; only line ends between a message and the next From_ line;
// no message holding a line that should have started a new one; sizes
// equal to what the message reader yields, which equals the reference
// CRLF conversion (CRLF line ends only, ending in CRLF, not byte-stuffed);
// a failed check withholds the end of a message; UIDLs valid and unique;
// the same result on a second scan; MaxMessages enforced exactly; UIDLs
// and sizes unchanged by the newline repair Commit performs; and a spool
// built from valid messages of every supported flavour scanning back to
// exactly those messages.
func FuzzScan(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.mbox"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		f.Add(mustRead(f, p))
	}
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzMaxInput {
			t.Skip("input too large")
		}
		if res := checkScan(t, data); res != nil {
			checkRepair(t, data, res)
		}
		checkRoundTrip(t, data)
	})
}

// scanBytes scans data with no message limit.
func scanBytes(data []byte, maxN int) (*scanResult, error) {
	return scan(bytes.NewReader(data), int64(len(data)), maxN, discardLog())
}

// fuzzLineEnd returns the end of the line starting at i in b (after its
// LF, or len(b)).
func fuzzLineEnd(b []byte, i int) int {
	if k := bytes.IndexByte(b[i:], '\n'); k >= 0 {
		return i + k + 1
	}
	return len(b)
}

// fuzzBlank reports whether line is an empty line.
func fuzzBlank(line []byte) bool {
	return string(line) == "\n" || string(line) == "\r\n"
}

// fuzzDelim reports whether line is the MMDF delimiter.
func fuzzDelim(line []byte) bool {
	return string(line) == mmdfDelim || string(line) == "\x01\x01\x01\x01\r\n"
}

// startsLikeMbox reports whether the first line that is not empty starts
// with "From " or is the MMDF delimiter (or there is none).
func startsLikeMbox(data []byte) bool {
	i := 0
	for i < len(data) {
		e := fuzzLineEnd(data, i)
		line := data[i:e]
		if !fuzzBlank(line) {
			return bytes.HasPrefix(line, []byte("From ")) || fuzzDelim(line)
		}
		i = e
	}
	return true
}

// onlyLineEnds reports whether b is at most max line ends (LF or CRLF).
func onlyLineEnds(b []byte, max int) bool {
	n := 0
	for len(b) > 0 {
		switch {
		case b[0] == '\n':
			b = b[1:]
		case len(b) > 1 && b[0] == '\r' && b[1] == '\n':
			b = b[2:]
		default:
			return false
		}
		n++
	}
	return n <= max
}

// checkScan scans data and checks the result; it returns nil if the
// scanner rightly refused the data.
func checkScan(t *testing.T, data []byte) *scanResult {
	t.Helper()
	size := int64(len(data))
	res, err := scanBytes(data, -1)
	if err != nil {
		if !errors.Is(err, ErrFormat) {
			t.Fatalf("scan: unexpected error %v", err)
		}
		if startsLikeMbox(data) {
			t.Fatalf("scan: %v, but the first line is a From_ line or MMDF delimiter", err)
		}
		return nil
	}
	if !startsLikeMbox(data) {
		t.Fatal("scan accepted a file whose first line is no From_ line")
	}
	if res.size != size || res.sum != sha256.Sum256(data) {
		t.Fatalf("scan size %d (want %d) or hash wrong", res.size, size)
	}
	for i := int64(0); i < res.prefixEnd; {
		e := int64(fuzzLineEnd(data, int(i)))
		if !fuzzBlank(data[i:e]) {
			t.Fatalf("prefix [0,%d) holds a line that is not empty at %d", res.prefixEnd, i)
		}
		i = e
	}
	if len(res.units) == 0 {
		if res.prefixEnd != size {
			t.Fatalf("no units, but prefixEnd %d != size %d", res.prefixEnd, size)
		}
	} else if res.units[0].start != res.prefixEnd {
		t.Fatalf("first unit at %d, prefix ends at %d", res.units[0].start, res.prefixEnd)
	}
	if res.mmdf != (len(res.units) > 0 && res.units[0].mmdf) {
		t.Fatalf("mmdf flag %v does not match the first unit", res.mmdf)
	}
	for i, u := range res.units {
		checkUnit(t, data, res, i, u)
	}
	checkUIDLs(t, res)

	res2, err := scanBytes(data, -1)
	if err != nil || !reflect.DeepEqual(res, res2) {
		t.Fatalf("second scan differs: %v", err)
	}
	if n := len(res.units); n > 0 {
		r, err := scanBytes(data, n-1)
		if err != nil || !reflect.DeepEqual(res, r) {
			t.Fatalf("scan with MaxMessages %d (the pseudo allowance) failed: %v", n-1, err)
		}
		if n >= 2 {
			if _, err := scanBytes(data, n-2); !errors.Is(err, ErrTooBig) {
				t.Fatalf("scan of %d units with MaxMessages %d: err = %v, want ErrTooBig", n, n-2, err)
			}
		}
	}
	return res
}

// checkUnit checks unit i of res against data.
func checkUnit(t *testing.T, data []byte, res *scanResult, i int, u unit) {
	t.Helper()
	size := int64(len(data))
	next := size
	if i+1 < len(res.units) {
		next = res.units[i+1].start
	}
	if !(0 <= u.start && u.start < u.body && u.body <= u.end && u.end <= u.next && u.next == next && u.start < u.next) {
		t.Fatalf("unit %d: bad offsets start %d body %d end %d next %d (want next %d, size %d)",
			i, u.start, u.body, u.end, u.next, next, size)
	}
	if u.start > 0 && data[u.start-1] != '\n' {
		t.Fatalf("unit %d starts at %d, not at a line start", i, u.start)
	}
	if u.pseudo && (i != 0 || u.mmdf) {
		t.Fatalf("unit %d is marked as the folder-internal message", i)
	}
	stored := data[u.body:u.end]
	if u.mmdf {
		checkMMDFUnit(t, data, i, u)
	} else {
		checkMboxUnit(t, data, i, u)
	}
	checkReader(t, i, u, stored)
}

// checkMboxUnit checks a unit that starts with a From_ line.
func checkMboxUnit(t *testing.T, data []byte, i int, u unit) {
	t.Helper()
	fromLine := data[u.start:u.body]
	if !bytes.HasPrefix(data[u.start:], []byte("From ")) {
		t.Fatalf("unit %d does not start with \"From \"", i)
	}
	if k := bytes.IndexByte(fromLine, '\n'); k != len(fromLine)-1 {
		// No LF in the From_ line: only at EOF, with nothing after it.
		if k >= 0 || u.body != int64(len(data)) || u.end != u.body {
			t.Fatalf("unit %d: From_ line %q is not one line", i, fromLine)
		}
	}
	gap := data[u.end:u.next]
	if u.next == int64(len(data)) && bytes.HasSuffix(gap, []byte("\r")) {
		// The scanner reads the file as padded with the LF Commit adds,
		// which makes a CR at EOF a line end.
		gap = append(bytes.Clone(gap), '\n')
	}
	if !onlyLineEnds(gap, 2) {
		t.Fatalf("unit %d: more than two line ends between the message and the next unit: %q", i, data[u.end:u.next])
	}
	msg := data[u.body:u.end]
	if bytes.Contains(bytes.ToLower(msg), []byte("content-length")) {
		return // a Content-Length body may hold anything
	}
	prevBlank := false
	for p := 0; p < len(msg); {
		e := fuzzLineEnd(msg, p)
		line := msg[p:e]
		if bytes.HasPrefix(line, []byte("From ")) && (prevBlank || isStrictFrom(line)) {
			t.Fatalf("unit %d: line at %d should have started a message: %q", i, u.body+int64(p), line)
		}
		prevBlank = fuzzBlank(line)
		p = e
	}
}

// checkMMDFUnit checks a unit that starts with an MMDF delimiter.
func checkMMDFUnit(t *testing.T, data []byte, i int, u unit) {
	t.Helper()
	open := data[u.start:fuzzLineEnd(data, int(u.start))]
	if !fuzzDelim(open) {
		t.Fatalf("MMDF unit %d does not start with a delimiter: %q", i, open)
	}
	if from := data[u.start+int64(len(open)) : u.body]; len(from) > 0 && !isStrictFrom(from) {
		t.Fatalf("MMDF unit %d: %q between delimiter and message", i, from)
	}
	for p := u.body; p < u.end; {
		e := int64(fuzzLineEnd(data, int(p)))
		if fuzzDelim(data[p:e]) {
			t.Fatalf("MMDF unit %d holds a delimiter line at %d", i, p)
		}
		p = e
	}
	if u.end == u.next {
		if u.next != int64(len(data)) {
			t.Fatalf("MMDF unit %d has no closing delimiter but is not last", i)
		}
		return
	}
	closing := data[u.end:fuzzLineEnd(data, int(u.end))]
	if !fuzzDelim(closing) {
		t.Fatalf("MMDF unit %d: message ends at %d, not at a delimiter", i, u.end)
	}
	for p := u.end + int64(len(closing)); p < u.next; {
		e := int64(fuzzLineEnd(data, int(p)))
		if line := data[p:e]; fuzzDelim(line) || bytes.HasPrefix(line, []byte("From ")) {
			t.Fatalf("MMDF unit %d: line %q after the closing delimiter did not start a unit", i, line)
		}
		p = e
	}
}

// errCheck is the error of a failing spool check in the reader tests.
var errCheck = errors.New("spool changed")

// checkReader reads the message in its transmitted form and compares it
// with the size and the reference conversion.
func checkReader(t *testing.T, i int, u unit, stored []byte) {
	t.Helper()
	want := testkit.Transmitted(stored)
	if u.size != int64(len(want)) {
		t.Fatalf("unit %d: size %d, transmitted form has %d octets", i, u.size, len(want))
	}
	checks := 0
	r := newMsgReader(io.NewSectionReader(bytes.NewReader(stored), 0, int64(len(stored))), func() error {
		checks++
		return nil
	})
	got, err := readChunks(r, len(want))
	if err != nil {
		t.Fatalf("unit %d: read: %v", i, err)
	}
	if int64(len(got)) != u.size {
		t.Fatalf("unit %d: size %d, reader yields %d octets", i, u.size, len(got))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("unit %d: reader yields %q, want %q", i, got, want)
	}
	for k, c := range got {
		if c == '\n' && (k == 0 || got[k-1] != '\r') {
			t.Fatalf("unit %d: bare LF at %d of the transmitted form", i, k)
		}
	}
	if len(got) > 0 && !bytes.HasSuffix(got, []byte("\r\n")) {
		t.Fatalf("unit %d: transmitted form does not end in CRLF", i)
	}
	if (len(stored) > 0) != (len(got) > 0) {
		t.Fatalf("unit %d: %d stored octets, %d transmitted", i, len(stored), len(got))
	}
	if wantChecks := min(len(stored), 1); checks != wantChecks {
		t.Fatalf("unit %d: check ran %d times, want %d", i, checks, wantChecks)
	}
	if len(stored) == 0 {
		return
	}
	// A failing check withholds the last block: never the whole message.
	r = newMsgReader(io.NewSectionReader(bytes.NewReader(stored), 0, int64(len(stored))), func() error { return errCheck })
	got, err = readChunks(r, len(want))
	if !errors.Is(err, errCheck) || len(got) >= len(want) || !bytes.HasPrefix(want, got) {
		t.Fatalf("unit %d: failing check: read %d of %d octets, err %v", i, len(got), len(want), err)
	}
	if n, err := r.Read(make([]byte, 16)); n != 0 || !errors.Is(err, errCheck) {
		t.Fatalf("unit %d: read after a failed check: %d, %v", i, n, err)
	}
}

// readChunks reads r to its end with reads of varying sizes, at most
// about want octets' worth of calls.
func readChunks(r io.Reader, want int) ([]byte, error) {
	sizes := []int{1, 2, 3, 7, 64, 4093, readBufSize + 5}
	buf := make([]byte, readBufSize+5)
	var out []byte
	for k := 0; k <= want+len(sizes); k++ {
		n, err := r.Read(buf[:sizes[(k+want)%len(sizes)]])
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
	return out, errors.New("reader does not end")
}

// checkUIDLs checks the UIDLs of the listed messages: RFC 1939 syntax,
// 32 hex digits with an optional "-N" suffix, unique.
func checkUIDLs(t *testing.T, res *scanResult) {
	t.Helper()
	var digests [][16]byte
	for _, u := range res.units {
		if !u.pseudo {
			digests = append(digests, u.digest)
		}
	}
	seen := map[string]bool{}
	for i, id := range uidls(digests) {
		base, suffix, dup := strings.Cut(id, "-")
		if !validUIDL(id) || len(base) != 32 || strings.Trim(base, "0123456789abcdef") != "" {
			t.Fatalf("message %d: bad UIDL %q", i, id)
		}
		if dup {
			if n, err := strconv.Atoi(suffix); err != nil || n < 2 || strconv.Itoa(n) != suffix {
				t.Fatalf("message %d: bad UIDL suffix %q", i, id)
			}
		}
		if seen[id] {
			t.Fatalf("message %d: duplicate UIDL %q", i, id)
		}
		seen[id] = true
	}
}

// repairSep is what Commit appends to a spool ending in tail so that it
// ends in a blank line.
func repairSep(data []byte) []byte {
	switch {
	case len(data) == 0, bytes.HasSuffix(data, []byte("\n\n")), bytes.HasSuffix(data, []byte("\n\r\n")):
		return nil
	case bytes.HasSuffix(data, []byte("\n")):
		return []byte("\n")
	}
	return []byte("\n\n")
}

// checkRepair appends the separator Commit adds at the end of an mbox
// spool and checks that no message changed its UIDL digest, and none its
// size unless its stored bytes end in a lone CR that the repair turns into
// CRLF.
func checkRepair(t *testing.T, data []byte, res *scanResult) {
	t.Helper()
	sep := repairSep(data)
	if res.mmdf || len(res.units) == 0 || sep == nil {
		return
	}
	fixed := append(bytes.Clone(data), sep...)
	res2, err := scanBytes(fixed, -1)
	if err != nil {
		t.Fatalf("scan after appending %q: %v", sep, err)
	}
	if len(res2.units) != len(res.units) {
		t.Fatalf("appending %q changed the unit count from %d to %d", sep, len(res.units), len(res2.units))
	}
	for i, u := range res.units {
		v := res2.units[i]
		if u.digest != v.digest || u.pseudo != v.pseudo {
			t.Fatalf("appending %q changed the UIDL of message %d: %q became %q",
				sep, i, data[u.start:u.next], fixed[v.start:v.next])
		}
		if u.size != v.size && !bytes.HasSuffix(data[u.body:u.end], []byte("\r")) {
			t.Fatalf("appending %q changed the size of message %d from %d to %d", sep, i, u.size, v.size)
		}
	}
}

// buildSpool turns the fuzz input into a valid spool: the parts of data
// between NUL octets become the bodies of its messages. It returns the
// spool and the stored bytes of each message, as the scanner must find
// them. The first octet picks mbox or MMDF, LF or CRLF and leading blank
// lines; the first octet of each part picks a quoted (mboxrd) body or an
// unquoted one with a Content-Length field (mboxcl2), or a header-only
// message.
func buildSpool(data []byte) ([]byte, [][]byte) {
	if len(data) == 0 {
		return nil, nil
	}
	mode := data[0]
	parts := bytes.SplitN(data[1:], []byte{0}, 32)
	nl := "\n"
	if mode&2 != 0 {
		nl = "\r\n"
	}
	var spool bytes.Buffer
	var want [][]byte
	if mode&1 != 0 {
		for i, body := range parts {
			msg := []byte("Subject: mmdf " + strconv.Itoa(i) + "\n\n")
			msg = append(msg, bytes.ReplaceAll(body, []byte{1}, []byte{2})...)
			if !bytes.HasSuffix(msg, []byte("\n")) {
				msg = append(msg, '\n')
			}
			spool.WriteString(mmdfDelim)
			spool.Write(msg)
			spool.WriteString(mmdfDelim)
			want = append(want, msg)
		}
		return spool.Bytes(), want
	}
	if mode&4 != 0 {
		spool.WriteString(nl + nl)
	}
	for i, body := range parts {
		var msg []byte
		hdr := "Subject: part " + strconv.Itoa(i) + nl
		kind := 0
		if len(body) > 0 {
			kind = int(body[0]) % 3
		}
		switch kind {
		case 0: // mboxrd: every ">*From " line gains a '>'
			msg = append([]byte(hdr+nl), quoteFrom(body)...)
			if !bytes.HasSuffix(msg, []byte("\n")) {
				msg = append(msg, nl...)
			}
		case 1: // mboxcl2: Content-Length, nothing quoted
			msg = append([]byte(hdr+"Content-Length: "+strconv.Itoa(len(body))+nl+nl), body...)
		case 2: // header section only
			msg = []byte(hdr + "X-Part: " + strconv.Quote(string(body)) + nl)
		}
		spool.WriteString(fuzzFrom + nl)
		spool.Write(msg)
		spool.WriteString(nl)
		want = append(want, msg)
	}
	return spool.Bytes(), want
}

// quoteFrom quotes body the mboxrd way: a '>' before every line that
// starts with zero or more '>' and "From ".
func quoteFrom(body []byte) []byte {
	var out []byte
	for p := 0; p < len(body); {
		e := fuzzLineEnd(body, p)
		if bytes.HasPrefix(bytes.TrimLeft(body[p:e], ">"), []byte("From ")) {
			out = append(out, '>')
		}
		out = append(out, body[p:e]...)
		p = e
	}
	return out
}

// checkRoundTrip builds a valid spool from data and checks that the
// scanner finds exactly the messages it was built from.
func checkRoundTrip(t *testing.T, data []byte) {
	t.Helper()
	spool, want := buildSpool(data)
	if spool == nil {
		return
	}
	res, err := scanBytes(spool, -1)
	if err != nil {
		t.Fatalf("built spool: scan: %v\n%q", err, spool)
	}
	if len(res.units) != len(want) {
		t.Fatalf("built spool of %d messages scans as %d units\n%q", len(want), len(res.units), spool)
	}
	for i, u := range res.units {
		if got := spool[u.body:u.end]; !bytes.Equal(got, want[i]) || u.pseudo {
			t.Fatalf("built spool, message %d:\n got %q\nwant %q", i, got, want[i])
		}
		if u.size != int64(len(testkit.Transmitted(want[i]))) {
			t.Fatalf("built spool, message %d: size %d, want %d", i, u.size, len(testkit.Transmitted(want[i])))
		}
	}
}

// FuzzJournal decodes arbitrary bytes as an UPDATE journal, once as they
// are and once sealed with a valid checksum, so that the decoder's own
// checks are reached. An accepted journal must describe a rewrite inside
// the old file (0 <= F, 0 <= L, F+L <= S_old without overflow), account
// for every byte of the file, and encode back to the same header; every
// refusal is errBadJournal. A journal built from the input round-trips
// through fillJournal and parseJournal, and one changed octet or a
// truncation makes it damaged.
func FuzzJournal(f *testing.F) {
	fl := scratchFile(f)
	f.Add([]byte(nil))
	f.Add([]byte(journalMagic))
	f.Add(fuzzJournalBytes(f, fl, &journal{dev: 2049, ino: 131, F: 100, L: 5, sOld: 300, path: "/var/mail/alice"}, []byte("From ")))
	f.Add(fuzzJournalBytes(f, fl, &journal{dev: 1, ino: 2, F: 0, L: 0, sOld: 0, path: ""}, nil))
	f.Add(fuzzJournalBytes(f, fl, &journal{dev: 1, ino: 2, F: 7, L: 3, sOld: 10, path: "/var/mail/x"}, []byte("abc"))[:90])
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzMaxInput {
			t.Skip("input too large")
		}
		if j, err := decodeHeader(bytes.NewReader(data)); err != nil {
			if !errors.Is(err, errBadJournal) {
				t.Fatalf("decodeHeader: %v is not errBadJournal", err)
			}
		} else if !bytes.Equal(j.header(), data[:j.nOff]) || j.nOff != journalHeaderLen+int64(len(j.path)) {
			t.Fatalf("decodeHeader does not round-trip: %+v", j)
		}
		checkJournalFile(t, fl, data)
		sum := sha256.Sum256(data)
		checkJournalFile(t, fl, append(bytes.Clone(data), sum[:]...))

		j := &journal{dev: uint64(len(data)) << 32, ino: 0xfeedface, F: int64(len(data)) * 3, L: int64(len(data)),
			path: string(data[:min(len(data), 4096, len(data)%300)])}
		j.sOld = j.F + j.L + int64(len(data)%5)
		j.garbage = sum
		enc := fuzzJournalBytes(t, fl, j, data)
		got := checkJournalFile(t, fl, enc)
		if got == nil {
			t.Fatal("a journal written by fillJournal is refused")
		}
		if got.dev != j.dev || got.ino != j.ino || got.F != j.F || got.L != j.L || got.sOld != j.sOld ||
			got.garbage != j.garbage || got.path != j.path || got.nOff != j.nOff || got.nHash != sha256.Sum256(data) {
			t.Fatalf("journal round trip:\n got %+v\nwant %+v", got, j)
		}
		if !bytes.Equal(enc[got.nOff:got.nOff+got.L], data) {
			t.Fatal("journal round trip: N differs")
		}
		pos := int(sum[0]) | int(sum[1])<<8 | int(sum[2])<<16
		bad := bytes.Clone(enc)
		bad[pos%len(bad)] ^= 1 << (sum[3] % 8)
		if checkJournalFile(t, fl, bad) != nil {
			t.Fatalf("journal with octet %d changed accepted", pos%len(bad))
		}
		if checkJournalFile(t, fl, enc[:pos%len(enc)]) != nil {
			t.Fatalf("journal truncated to %d octets accepted", pos%len(enc))
		}
	})
}

// scratchFile returns a file that the executions of a fuzz target reuse;
// they run one at a time in a process.
func scratchFile(f *testing.F) *os.File {
	fl, err := os.Create(filepath.Join(f.TempDir(), "scratch"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { fl.Close() })
	return fl
}

// setContent makes data the whole content of fl, with the offset at 0.
func setContent(tb testing.TB, fl *os.File, data []byte) {
	tb.Helper()
	if err := fl.Truncate(0); err != nil {
		tb.Fatal(err)
	}
	if _, err := fl.WriteAt(data, 0); err != nil {
		tb.Fatal(err)
	}
	if _, err := fl.Seek(0, io.SeekStart); err != nil {
		tb.Fatal(err)
	}
}

// fuzzJournalBytes encodes j with new content n as writeJournal does,
// using fl; it sets j.nOff and j.nHash.
func fuzzJournalBytes(tb testing.TB, fl *os.File, j *journal, n []byte) []byte {
	tb.Helper()
	setContent(tb, fl, nil)
	if err := fillJournal(fl, j, func(w io.Writer) error { _, err := w.Write(n); return err }, &Options{}); err != nil {
		tb.Fatal(err)
	}
	j.nOff = int64(journalHeaderLen + len(j.path))
	st, err := fl.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	b := make([]byte, st.Size())
	if _, err := fl.ReadAt(b, 0); err != nil {
		tb.Fatal(err)
	}
	return b
}

// checkJournalFile makes data the content of fl, parses it as a journal
// and checks the outcome; it returns the journal if it was accepted.
func checkJournalFile(t *testing.T, fl *os.File, data []byte) *journal {
	t.Helper()
	setContent(t, fl, data)
	j, err := parseJournal(fl)
	if err != nil {
		if !errors.Is(err, errBadJournal) {
			t.Fatalf("parseJournal: %v is not errBadJournal", err)
		}
		return nil
	}
	size := int64(len(data))
	if j.F < 0 || j.L < 0 || j.sOld < 0 || j.F > j.sOld || j.L > j.sOld-j.F {
		t.Fatalf("accepted journal with F %d, L %d, S_old %d: not a range of the old file", j.F, j.L, j.sOld)
	}
	if len(j.path) > maxJournalPath || j.nOff != journalHeaderLen+int64(len(j.path)) || j.nOff+j.L+journalTrailer != size {
		t.Fatalf("accepted journal does not account for its %d octets: %+v", size, j)
	}
	if !bytes.Equal(j.header(), data[:j.nOff]) || !bytes.Equal(j.nHash[:], data[size-journalTrailer:size-32]) {
		t.Fatal("accepted journal does not encode back to its bytes")
	}
	return j
}

// FuzzRewrite plans the UPDATE that deletes the listed messages picked by
// mask (bit k%64 for message k) from a spool, optionally with a message
// delivered after the scan, applies the plan in memory and scans the
// result. The plan must not grow the file; the new spool must end in a
// blank line; it must list exactly the kept messages, then the delivered
// one, with the same UIDL digests and stored bytes (a message lacking its
// final LF may gain one) and sizes, and keep the folder-internal message.
func FuzzRewrite(f *testing.F) {
	addRewriteSeeds(f)
	fl := scratchFile(f)
	f.Fuzz(func(t *testing.T, data []byte, mask uint64, deliver bool) {
		in, ok := rewriteInput(t, data, mask, deliver)
		if !ok {
			return
		}
		res, del, kept, content, delivered := in.res, in.del, in.kept, in.content, in.delivered
		setContent(t, fl, content)
		s := &Spool{path: fl.Name(), f: fl, res: res, atScan: fileState{size: int64(len(data))}}
		p, err := s.makePlan(del, int64(len(content)))
		if errors.Is(err, errPlanCheck) {
			// Commit refuses a rewrite that would change how a kept
			// message reads (a wrong Content-Length that fits once its
			// neighbour is gone). The refusal must be justified: the
			// unchecked rewrite must really change a kept message.
			// FuzzCheckPlan checks that the check is exact.
			bp, berr := s.buildPlan(del, int64(len(content)))
			if berr != nil {
				t.Fatalf("buildPlan: %v", berr)
			}
			if rewriteResult(t, fl, data, content, res, kept, bp, delivered) == nil {
				t.Fatalf("makePlan refused a rewrite that keeps every message: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("makePlan: %v", err)
		}
		if err := rewriteResult(t, fl, data, content, res, kept, p, delivered); err != nil {
			t.Fatalf("rewritten spool: %v", err)
		}
	})
}

// addRewriteSeeds seeds a rewrite target (data, deletion mask, delivery)
// with the sample spools and the scanner seeds.
func addRewriteSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.mbox"))
	if err != nil {
		f.Fatal(err)
	}
	for k, p := range files {
		f.Add(mustRead(f, p), uint64(1)<<(k%3), k%2 == 0)
	}
	for k, s := range scanSeeds {
		f.Add([]byte(s), uint64(k)*0x9e3779b97f4a7c15, k%2 == 1)
	}
}

// rewriteCase is one UPDATE drawn from a fuzz input: the scan of the
// spool, the units to delete and the ones kept, and the file content at
// UPDATE time, with a message delivered after the scan (delivered) when
// the input asks for one and the spool is not MMDF.
type rewriteCase struct {
	res                *scanResult
	del                []bool
	kept               []int
	content, delivered []byte
}

// rewriteInput turns a fuzz input into a rewriteCase; ok is false when
// the input is not an mbox or deletes nothing (Commit then writes
// nothing).
func rewriteInput(t *testing.T, data []byte, mask uint64, deliver bool) (c rewriteCase, ok bool) {
	t.Helper()
	if len(data) > fuzzMaxInput {
		t.Skip("input too large")
	}
	res, err := scanBytes(data, -1)
	if err != nil {
		return c, false
	}
	c.res = res
	c.del = make([]bool, len(res.units))
	k := 0
	for i, u := range res.units {
		if u.pseudo {
			continue
		}
		c.del[i] = mask>>(k%64)&1 == 1
		if !c.del[i] {
			c.kept = append(c.kept, i)
		}
		k++
	}
	if len(c.kept) == k {
		return c, false
	}
	c.content = bytes.Clone(data)
	if deliver && !res.mmdf {
		c.delivered = []byte("Subject: delivered\n\nnew\n")
		c.content = append(append(append(c.content, fuzzFrom+"\n"...), c.delivered...), '\n')
	}
	return c, true
}
