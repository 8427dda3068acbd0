package poppassd

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/lineserver"
	"github.com/popadm/popadm/internal/testkit"
)

// FuzzParseCommand: parsing never panics, round-trips, and only the four
// keywords are recognised.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"user alice", "PASS a b ", "newpass", "quit", "", " ", "useralice", "uſer x", "NeWpAsS  x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd := parseCommand(line)
		if cmd.raw() != line {
			t.Fatalf("raw() = %q, want %q", cmd.raw(), line)
		}
		switch cmd.verb {
		case "":
		case verbUSER, verbPASS, verbNEWPASS, verbQUIT:
			if !strings.EqualFold(cmd.keyword, cmd.verb) || len(cmd.keyword) != len(cmd.verb) {
				t.Fatalf("keyword %q taken for %q", cmd.keyword, cmd.verb)
			}
		default:
			t.Fatalf("verb %q", cmd.verb)
		}
		if strings.Contains(cmd.keyword, " ") {
			t.Fatalf("keyword %q contains a space", cmd.keyword)
		}
	})
}

// fuzzPrefixes drive a conversation to each stage before the fuzz line.
var fuzzPrefixes = []string{
	stateUser:    "",
	statePass:    "user alice\r\n",
	stateNewpass: "user alice\r\npass " + alicePass + "\r\n",
	stateDone:    "user alice\r\npass " + alicePass + "\r\nnewpass Fuzz-New-Pw1\r\n",
}

var replyLine = regexp.MustCompile(`^(200|500) [^\r\n]*\r\n$`)

// FuzzSession sends one fuzz line (and whatever lines it contains) after
// each stage of a conversation, over the inetd pipes. Invariants: no
// panic; the output is only "200 ..."/"500 ..." lines; one reply per
// complete line until a 500 or "200 Bye." ends the conversation, which
// only the last reply may do; the password changes exactly when a
// "200 Password changed" was sent.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"user alice", "pass " + alicePass, "newpass Fuzz-New-Pw2", "quit", "QUIT", "",
		"newpass short", "pass wrong", "user bob\r\npass x", "pass a\x00b", "newpass ab\r\npadding",
		"\x16\x03\x01\x00", "GET / HTTP/1.1", strings.Repeat("x", 600), "newpass Trigger-Failure",
		"newpass Cut-Off", "useralice", "NEWPASS  spaced new pw ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		for st, prefix := range fuzzPrefixes {
			fuzzOne(t, state(st), prefix, line)
		}
	})
}

func fuzzOne(t *testing.T, st state, prefix, line string) {
	be := newTestBackend()
	logs := &testkit.SyncBuffer{}
	srv := New(&Options{
		Backend:      be,
		Version:      "1.2.3",
		IdleTimeout:  ioTimeout,
		FailureDelay: -1,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	defer srv.Close()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeConn(context.Background(), lineserver.StdioConn(inR, outW))
	}()
	input := prefix + line + "\r\n"
	go func() {
		_ = inW.SetWriteDeadline(time.Now().Add(ioTimeout))
		_, _ = io.WriteString(inW, input) // the server may close early
		inW.Close()
	}()
	_ = outR.SetReadDeadline(time.Now().Add(ioTimeout))
	out, err := io.ReadAll(outR)
	if err != nil {
		t.Fatalf("stage %s: reading replies: %v", st, err)
	}
	<-done

	if strings.Contains(logs.String(), "panic") {
		t.Fatalf("stage %s: server panicked:\n%s", st, logs.String())
	}
	var replies []string
	r := bufio.NewReader(strings.NewReader(string(out)))
	for {
		l, err := r.ReadString('\n')
		if err == io.EOF {
			if l != "" {
				t.Fatalf("stage %s: unterminated output %q", st, l)
			}
			break
		}
		if !replyLine.MatchString(l) {
			t.Fatalf("stage %s: bad reply line %q", st, l)
		}
		replies = append(replies, strings.TrimSuffix(l, "\r\n"))
	}
	// Greeting plus one 200 per prefix line.
	head := 1 + strings.Count(prefix, "\n")
	if len(replies) < head+1 {
		t.Fatalf("stage %s: %d replies for %d prefix lines and the fuzz line: %q", st, len(replies), head-1, replies)
	}
	for i, l := range replies[:head] {
		if !strings.HasPrefix(l, "200 ") {
			t.Fatalf("stage %s: prefix reply %d is %q", st, i, l)
		}
	}
	tail := replies[head:]
	lines := strings.Count(line+"\r\n", "\n")
	for i, l := range tail {
		final := strings.HasPrefix(l, "500 ") || l == "200 Bye."
		if final && i != len(tail)-1 {
			t.Fatalf("stage %s: %q is followed by more replies: %q", st, l, tail)
		}
		if !final && i == len(tail)-1 && len(tail) != lines {
			t.Fatalf("stage %s: %d replies for %d lines: %q", st, len(tail), lines, tail)
		}
	}
	if len(tail) > lines {
		t.Fatalf("stage %s: %d replies for %d lines: %q", st, len(tail), lines, tail)
	}
	changed := be.password("alice") != alicePass
	said := strings.Contains(strings.Join(replies, "\n"), "200 Password changed, thank-you.")
	if changed != said {
		t.Fatalf("stage %s: password changed %v, reply said so %v: %q", st, changed, said, replies)
	}
}
