package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// runCmd runs popadm-load with args and returns stdout, stderr and the
// exit status.
func runCmd(t *testing.T, vars map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, e, args)
	return out.String(), errb.String(), code
}

// decodeResult parses the single JSON line a measuring subcommand prints.
func decodeResult(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one JSON line, got %d: %q", len(lines), out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("bad JSON %q: %v", lines[0], err)
	}
	return m
}

// num returns a numeric field of a result.
func num(t *testing.T, m map[string]any, k string) float64 {
	t.Helper()
	v, ok := m[k].(float64)
	if !ok {
		t.Fatalf("field %q missing or not a number in %v", k, m)
	}
	return v
}

// fakeServer is a small scripted line server on loopback used to test the
// client side of popadm-load (the protocol edge cases the real server never
// produces, and precise bookkeeping such as lock collisions).
type fakeServer struct {
	ln      net.Listener
	wg      sync.WaitGroup
	handler func(c net.Conn, r *bufio.Reader)
}

func startFake(t *testing.T, handler func(c net.Conn, r *bufio.Reader)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, handler: handler}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(time.Minute))
				s.handler(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

// fakePOP3 is a POP3 maildrop service: one password for every account,
// the same messages for every account, and an in-use lock per account.
type fakePOP3 struct {
	pass     string
	msgs     [][]byte // message contents with CRLF line ends
	mu       sync.Mutex
	inUse    map[string]bool
	logins   int
	inUseErr int
}

func (f *fakePOP3) serve(c net.Conn, r *bufio.Reader) {
	w := bufio.NewWriter(c)
	reply := func(s string) { w.WriteString(s + "\r\n"); w.Flush() }
	reply("+OK fake ready")
	user, locked := "", ""
	defer func() {
		if locked != "" {
			f.mu.Lock()
			delete(f.inUse, locked)
			f.mu.Unlock()
		}
	}()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch strings.ToUpper(cmd) {
		case "USER":
			user = arg
			reply("+OK")
		case "PASS":
			if arg != f.pass {
				reply("-ERR [AUTH] bad")
				continue
			}
			f.mu.Lock()
			if f.inUse[user] {
				f.inUseErr++
				f.mu.Unlock()
				reply("-ERR [IN-USE] locked")
				continue
			}
			f.inUse[user] = true
			f.logins++
			f.mu.Unlock()
			locked = user
			reply("+OK logged in")
		case "LIST":
			reply("+OK")
			for i, m := range f.msgs {
				fmt.Fprintf(w, "%d %d\r\n", i+1, len(m))
			}
			reply(".")
		case "UIDL":
			reply("+OK")
			for i := range f.msgs {
				fmt.Fprintf(w, "%d uid%d\r\n", i+1, i)
			}
			reply(".")
		case "RETR":
			n, _ := strconv.Atoi(arg)
			if n < 1 || n > len(f.msgs) {
				reply("-ERR no such message")
				continue
			}
			reply("+OK")
			for _, l := range strings.SplitAfter(string(f.msgs[n-1]), "\r\n") {
				if strings.HasPrefix(l, ".") {
					w.WriteString(".")
				}
				w.WriteString(l)
			}
			reply(".")
		case "QUIT":
			// Unlock before the reply, as a real server commits first.
			f.mu.Lock()
			delete(f.inUse, locked)
			f.mu.Unlock()
			locked = ""
			reply("+OK bye")
			return
		default:
			reply("-ERR unknown")
		}
	}
}

// fakePoppassd keeps one password per account.
type fakePoppassd struct {
	mu      sync.Mutex
	pw      map[string]string
	changes int
}

func (f *fakePoppassd) serve(c net.Conn, r *bufio.Reader) {
	reply := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
	reply("200 hello, who are you?")
	var user string
	okPass := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch strings.ToLower(cmd) {
		case "user":
			user = arg
			reply("200 Your password please.")
		case "pass":
			f.mu.Lock()
			okPass = f.pw[user] == arg
			f.mu.Unlock()
			if !okPass {
				reply("500 Old password is incorrect.")
				return
			}
			reply("200 Your new password please.")
		case "newpass":
			if !okPass {
				reply("500 Password required.")
				return
			}
			f.mu.Lock()
			f.pw[user] = arg
			f.changes++
			f.mu.Unlock()
			reply("200 Password changed, thank-you.")
		case "quit":
			reply("200 Bye.")
			return
		default:
			reply("500 Username required.")
			return
		}
	}
}
