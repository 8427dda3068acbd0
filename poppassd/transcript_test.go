package poppassd

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Transcript files (testdata/transcripts/*.txt) are conversations, one
// directive per line:
//
//	# comment
//	S: <pattern>        expect a reply line (path.Match; * and ? are wildcards)
//	S.                  expect the server to close the connection
//	C: <text>           send text + CRLF
//	C| "<go string>"    send exactly these bytes (bare LF, NUL, no terminator...)
//	C.                  half-close: the client sends EOF
//	=== new connection  finish the current connection, open another
//	= <user> "<go string>"  after finishing the connection: user's password is this
//	= calls <auth> <change> after finishing: backend call counts so far
//
// Every transcript runs over TCP and over the inetd pipes, and afterwards
// no password sent in it may appear in the logs or the (redacted) trace.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/transcripts/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d transcripts", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range transports {
			t.Run(strings.TrimSuffix(filepath.Base(f), ".txt")+"/"+mode, func(t *testing.T) {
				t.Parallel()
				runTranscript(t, mode, string(data))
			})
		}
	}
}

// runTranscript plays one transcript against a fresh server.
func runTranscript(t *testing.T, mode, script string) {
	e := newEnv(t, mode, nil)
	var secrets []string
	c := e.dial()
	open := true // the current connection may still be open
	finish := func() {
		if open {
			if rest := c.drain(); rest != "" {
				t.Fatalf("unexpected output at the end of the connection: %q", rest)
			}
			open = false
		}
	}
	unquote := func(n int, s string) string {
		u, err := strconv.Unquote(strings.TrimSpace(s))
		if err != nil {
			t.Fatalf("line %d: bad quoted string %s: %v", n, s, err)
		}
		return u
	}
	for i, line := range strings.Split(script, "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "S: "):
			c.expect(line[3:])
		case line == "S.":
			c.expectClosed()
			open = false
		case strings.HasPrefix(line, "C: "):
			secrets = append(secrets, secretOf(line[3:]))
			t.Logf("> %s", line[3:])
			c.cmd(line[3:])
		case strings.HasPrefix(line, "C| "):
			raw := unquote(n, line[3:])
			for _, l := range strings.Split(raw, "\n") {
				secrets = append(secrets, secretOf(strings.TrimSuffix(l, "\r")))
			}
			t.Logf("> %q", raw)
			c.send(raw)
		case line == "C.":
			_ = c.closeWrite()
		case line == "=== new connection":
			finish()
			c = e.dial()
			open = true
		case strings.HasPrefix(line, "= calls "):
			finish()
			f := strings.Fields(line[len("= calls "):])
			auth, change := e.be.calls()
			if len(f) != 2 || f[0] != strconv.Itoa(auth) || f[1] != strconv.Itoa(change) {
				t.Fatalf("line %d: %s: backend calls are %d %d", n, line, auth, change)
			}
		case strings.HasPrefix(line, "= "):
			finish()
			user, pw, ok := strings.Cut(line[2:], " ")
			if !ok {
				t.Fatalf("line %d: bad assertion %q", n, line)
			}
			want := unquote(n, pw)
			secrets = append(secrets, want)
			if got := e.be.password(user); got != want {
				t.Fatalf("line %d: password of %s is %q, want %q", n, user, got, want)
			}
		default:
			t.Fatalf("line %d: unknown directive %q", n, line)
		}
	}
	finish()
	e.noSecrets(secrets...)
}

// secretOf returns the argument of a pass or newpass line, or "".
func secretOf(line string) string {
	cmd := parseCommand(line)
	if cmd.verb == verbPASS || cmd.verb == verbNEWPASS {
		return cmd.arg
	}
	return ""
}
