package pop3d_test

import (
	"bufio"
	"crypto/tls"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/popadm/popadm/pop3d/memdrop"
)

// TestTranscripts replays every testdata/transcripts/*.txt session against
// a server over loopback. The format:
//
//	# comment
//	#! option [value]   server/test options, before the first exchange
//	C: line             a client line, sent with CRLF ("C:" alone: empty line)
//	R: "quoted"         raw client bytes (Go string syntax), no CRLF added
//	S: pattern          one server line, matched with match() ("S:" alone: empty)
//	STLS                the client starts TLS on the connection
//	CLOSED              the server closes the connection, sending nothing more
//
// Consecutive C: and R: lines are sent in one write, so a transcript that
// lists several before the replies tests PIPELINING.
//
// Options: tls (STLS available), implicit-tls (connect to the ServeTLS
// listener), nonlocal (every client counts as remote), insecure
// (AllowInsecureAuth), apop (APOP with the RFC 1939 timestamp), sasl
// (memdrop's mechanisms), expire X, login-delay N, implementation TEXT,
// max-errors N (default 100), maxline N, remaining USER N (messages left
// after the session).
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/transcripts/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found only %d transcripts", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runTranscript(t, f)
		})
	}
}

type transcriptStep struct {
	kind string // "C", "R", "S", "STLS", "CLOSED"
	text string
	line int
}

func runTranscript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var hc harnessConfig
	hc.opts.MaxErrors = 100
	implicit := false
	var remaining []struct {
		user string
		n    int
	}
	var steps []transcriptStep
	for i, raw := range strings.Split(string(data), "\n") {
		ln := i + 1
		line := strings.TrimSuffix(raw, "\r")
		switch {
		case strings.HasPrefix(line, "#!"):
			f := strings.Fields(strings.TrimPrefix(line, "#!"))
			if len(f) == 0 {
				t.Fatalf("%s:%d: empty option", file, ln)
			}
			arg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(line, "#!")), f[0]))
			switch f[0] {
			case "tls":
				hc.tls = true
			case "implicit-tls":
				hc.tls, implicit = true, true
			case "nonlocal":
				hc.opts.IsLocal = nonLocal
			case "insecure":
				hc.opts.AllowInsecureAuth = true
			case "apop":
				hc.opts.APOP, hc.stamp = true, rfcStamp
			case "sasl":
				hc.opts.SASLMechanisms = memdrop.Mechanisms
			case "expire":
				hc.opts.Expire = arg
			case "login-delay":
				hc.opts.LoginDelay = atoi(t, arg)
			case "implementation":
				hc.opts.Implementation = arg
			case "max-errors":
				hc.opts.MaxErrors = atoi(t, arg)
			case "maxline":
				hc.opts.MaxLine = atoi(t, arg)
			case "remaining":
				if len(f) != 3 {
					t.Fatalf("%s:%d: remaining USER N", file, ln)
				}
				remaining = append(remaining, struct {
					user string
					n    int
				}{f[1], atoi(t, f[2])})
			default:
				t.Fatalf("%s:%d: unknown option %q", file, ln, f[0])
			}
		case strings.HasPrefix(line, "#"), strings.TrimSpace(line) == "":
		case line == "C:" || line == "S:":
			steps = append(steps, transcriptStep{kind: line[:1], line: ln})
		case strings.HasPrefix(line, "C: "), strings.HasPrefix(line, "S: "):
			steps = append(steps, transcriptStep{kind: line[:1], text: line[3:], line: ln})
		case strings.HasPrefix(line, "R: "):
			s, err := strconv.Unquote(line[3:])
			if err != nil {
				t.Fatalf("%s:%d: bad raw string: %v", file, ln, err)
			}
			steps = append(steps, transcriptStep{kind: "R", text: s, line: ln})
		case line == "STLS" || line == "CLOSED":
			steps = append(steps, transcriptStep{kind: line, line: ln})
		default:
			t.Fatalf("%s:%d: cannot parse %q", file, ln, line)
		}
	}

	h := startHarness(t, hc)
	var c *client
	if implicit {
		c = h.dialTLS(t)
	} else {
		c = h.dial(t)
	}
	var pending strings.Builder
	flush := func() {
		if pending.Len() > 0 {
			c.send(pending.String())
			pending.Reset()
		}
	}
	for _, st := range steps {
		switch st.kind {
		case "C":
			t.Logf("> %s", st.text)
			pending.WriteString(st.text + "\r\n")
		case "R":
			t.Logf("> %q", st.text)
			pending.WriteString(st.text)
		case "S":
			flush()
			got, err := c.readLine()
			if err != nil {
				t.Fatalf("%s:%d: read: %v (partial %q), want %q", file, st.line, err, got, st.text)
			}
			t.Logf("< %s", got)
			if !match(st.text, got) {
				t.Fatalf("%s:%d: got %q, want %q", file, st.line, got, st.text)
			}
			if len(got)+2 > 512 && (strings.HasPrefix(got, "+OK") || strings.HasPrefix(got, "-ERR")) {
				t.Fatalf("%s:%d: status line of %d octets", file, st.line, len(got)+2)
			}
		case "STLS":
			flush()
			if c.r.Buffered() != 0 {
				t.Fatalf("%s:%d: %d unread bytes before TLS", file, st.line, c.r.Buffered())
			}
			tc := tls.Client(c.nc, h.clientTLS)
			if err := tc.Handshake(); err != nil {
				t.Fatalf("%s:%d: TLS handshake: %v", file, st.line, err)
			}
			t.Logf("= TLS %x", tc.ConnectionState().Version)
			c.nc, c.r = tc, bufio.NewReader(tc)
		case "CLOSED":
			flush()
			c.closed()
			t.Logf("= closed")
		}
	}
	flush()
	for _, r := range remaining {
		if got := len(h.be.Messages(r.user)); got != r.n {
			t.Errorf("%s: %d messages left for %s, want %d", file, got, r.user, r.n)
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("bad number %q", s)
	}
	return n
}
