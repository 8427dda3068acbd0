package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testPass = "fake-password-1"

var testVars = map[string]string{passwordEnv: testPass}

func TestCheckLoopback(t *testing.T) {
	for _, a := range []string{"127.0.0.1:110", "127.5.6.7:1", "[::1]:995", "localhost:106"} {
		if err := checkLoopback(a); err != nil {
			t.Errorf("checkLoopback(%q) = %v, want nil", a, err)
		}
	}
	for _, a := range []string{"", ":110", "0.0.0.0:110", "10.0.0.1:110", "[::]:110", "example.com:110", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:x"} {
		if err := checkLoopback(a); err == nil {
			t.Errorf("checkLoopback(%q) = nil, want a refusal", a)
		}
	}
}

func TestNonLoopbackRefusedByEverySubcommand(t *testing.T) {
	for _, sub := range [][]string{
		{"logins", "-n-users", "1"},
		{"retr", "-user", "a@example.com"},
		{"uidl", "-user", "a@example.com"},
		{"idle", "-pid", "1"},
		{"passwd"},
	} {
		args := append(sub, "-addr", "192.0.2.1:110")
		out, errText, code := runCmd(t, testVars, args...)
		if code != 2 || out != "" || !strings.Contains(errText, "not a loopback address") {
			t.Errorf("%v: code %d, stdout %q, stderr %q; want usage refusal", args, code, out, errText)
		}
	}
}

func TestPercentileAndMedian(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if got := percentile(ds, 50); got != 50*time.Millisecond {
		t.Errorf("p50 = %v", got)
	}
	if got := percentile(ds, 99); got != 99*time.Millisecond {
		t.Errorf("p99 = %v", got)
	}
	if got := percentile(ds[:1], 99); got != time.Millisecond {
		t.Errorf("p99 of one = %v", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of none = %v", got)
	}
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median odd = %v", got)
	}
	if got := median([]float64{4, 1, 2, 3}); got != 2.5 {
		t.Errorf("median even = %v", got)
	}
}

func TestUserName(t *testing.T) {
	if got := userName("load%d@example.com", 12); got != "load12@example.com" {
		t.Errorf("got %q", got)
	}
	if got := userName("alice@example.com", 3); got != "alice@example.com" {
		t.Errorf("got %q", got)
	}
}

// serveBytes starts a server that writes raw to each connection after
// reading one line.
func serveBytes(t *testing.T, raw string) string {
	t.Helper()
	s := startFake(t, func(c net.Conn, r *bufio.Reader) {
		if _, err := r.ReadString('\n'); err != nil {
			return
		}
		io.WriteString(c, raw)
	})
	return s.addr()
}

func TestReadMulti(t *testing.T) {
	long := strings.Repeat("x", readBufSize*2+10)
	cases := []struct {
		name  string
		raw   string
		bytes int64
		lines []string
		err   bool
	}{
		{name: "plain", raw: "+OK\r\nab\r\ncd\r\n.\r\n", bytes: 8, lines: []string{"ab\r\n", "cd\r\n"}},
		{name: "stuffed", raw: "+OK\r\n..x\r\n...\r\n.\r\n", bytes: 8, lines: []string{".x\r\n", "..\r\n"}},
		{name: "empty", raw: "+OK\r\n.\r\n", bytes: 0},
		{name: "long line", raw: "+OK\r\n." + long + "\r\nz\r\n.\r\n", bytes: int64(len(long)) + 2 + 3, lines: []string{"z\r\n"}},
		{name: "no terminator", raw: "+OK\r\nab\r\n", err: true},
		{name: "bare LF terminator", raw: "+OK\r\nab\r\n.\n", err: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveBytes(t, tc.raw)
			lc, err := dialLine(addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer lc.Close()
			p := &pop3Conn{lc}
			if _, err := p.cmd("X", "X"); err != nil {
				t.Fatal(err)
			}
			var got []string
			n, err := p.readMulti(func(l []byte) { got = append(got, string(l)) })
			if tc.err {
				if err == nil {
					t.Fatalf("no error, read %d bytes", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.bytes {
				t.Errorf("bytes = %d, want %d", n, tc.bytes)
			}
			if strings.Join(got, "|") != strings.Join(tc.lines, "|") {
				t.Errorf("lines = %q, want %q", got, tc.lines)
			}
		})
	}
}

func newFakePOP3(msgs ...string) *fakePOP3 {
	f := &fakePOP3{pass: testPass, inUse: map[string]bool{}}
	for _, m := range msgs {
		f.msgs = append(f.msgs, []byte(m))
	}
	return f
}

func TestLoginsBoundedAndCollisionFree(t *testing.T) {
	f := newFakePOP3()
	s := startFake(t, f.serve)
	out, errText, code := runCmd(t, testVars, "logins", "-addr", s.addr(), "-users", "u%d@example.com",
		"-n-users", "4", "-c", "4", "-max", "40", "-duration", "30s", "-label", "t")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errText)
	}
	m := decodeResult(t, out)
	if num(t, m, "logins") != 40 || num(t, m, "errors") != 0 || m["label"] != "t" || m["ok"] != true {
		t.Errorf("result %v", m)
	}
	if num(t, m, "logins_per_s") <= 0 || num(t, m, "p99_ms") < num(t, m, "p50_ms") {
		t.Errorf("figures %v", m)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logins != 40 || f.inUseErr != 0 {
		t.Errorf("server saw %d logins, %d lock collisions", f.logins, f.inUseErr)
	}
	if !strings.Contains(errText, "logins/s") {
		t.Errorf("no human line: %q", errText)
	}
}

func TestLoginsWrongPasswordFails(t *testing.T) {
	f := newFakePOP3()
	s := startFake(t, f.serve)
	out, _, code := runCmd(t, map[string]string{passwordEnv: "wrong-one"}, "logins", "-addr", s.addr(),
		"-n-users", "1", "-max", "3", "-duration", "10s")
	if code != 1 {
		t.Fatalf("code %d, want 1", code)
	}
	m := decodeResult(t, out)
	if m["ok"] != false || num(t, m, "errors") != 3 || !strings.Contains(m["first_error"].(string), "PASS: -ERR") {
		t.Errorf("result %v", m)
	}
}

func TestLoginsNeedsPassword(t *testing.T) {
	_, errText, code := runCmd(t, nil, "logins", "-addr", "127.0.0.1:1")
	if code != 2 || !strings.Contains(errText, passwordEnv) {
		t.Errorf("code %d, stderr %q", code, errText)
	}
}

func TestRetrCountsPayload(t *testing.T) {
	m1 := "Subject: a\r\n\r\n.dot line\r\nbody\r\n"
	m2 := strings.Repeat("0123456789abcdef\r\n", 5000)
	f := newFakePOP3(m1, m2)
	s := startFake(t, f.serve)
	out, errText, code := runCmd(t, testVars, "retr", "-addr", s.addr(), "-user", "r@example.com", "-max", "6", "-duration", "30s")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errText)
	}
	m := decodeResult(t, out)
	want := float64(3 * (len(m1) + len(m2)))
	if num(t, m, "retrs") != 6 || num(t, m, "bytes") != want || num(t, m, "size_mismatch") != 0 || num(t, m, "messages") != 2 {
		t.Errorf("result %v, want %v bytes", m, want)
	}
	if num(t, m, "mb_per_s") <= 0 {
		t.Errorf("rate %v", m)
	}
}

func TestRetrRefusesSharedAccount(t *testing.T) {
	_, _, code := runCmd(t, testVars, "retr", "-addr", "127.0.0.1:1", "-user", "r@example.com", "-c", "2")
	if code != 2 {
		t.Errorf("code %d, want 2", code)
	}
}

func TestUIDLColdWarm(t *testing.T) {
	var msgs []string
	for i := 0; i < 50; i++ {
		msgs = append(msgs, "x\r\n")
	}
	f := newFakePOP3(msgs...)
	s := startFake(t, f.serve)
	out, errText, code := runCmd(t, testVars, "uidl", "-addr", s.addr(), "-user", "u@example.com", "-repeat", "3")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errText)
	}
	m := decodeResult(t, out)
	if num(t, m, "messages") != 50 || num(t, m, "sessions") != 3 {
		t.Errorf("result %v", m)
	}
	for _, k := range []string{"login_cold_ms", "login_warm_ms", "uidl_cold_ms", "uidl_warm_ms"} {
		if num(t, m, k) < 0 {
			t.Errorf("%s negative", k)
		}
	}
}

func TestIdleHoldsAndQuitsSessions(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	f := newFakePOP3()
	s := startFake(t, f.serve)
	out, errText, code := runCmd(t, testVars, "idle", "-addr", s.addr(), "-users", "i%d@example.com",
		"-n", "25", "-c", "5", "-pid", strconv.Itoa(os.Getpid()), "-settle", "0s")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errText)
	}
	m := decodeResult(t, out)
	if num(t, m, "opened") != 25 || num(t, m, "quit_ok") != 25 || num(t, m, "rss_before_kib") <= 0 {
		t.Errorf("result %v", m)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logins != 25 || len(f.inUse) != 0 {
		t.Errorf("server: %d logins, %d still locked", f.logins, len(f.inUse))
	}
}

func TestPasswdAlternatesAndRestores(t *testing.T) {
	f := &fakePoppassd{pw: map[string]string{}}
	for i := 1; i <= 6; i++ {
		f.pw[userName("p%d@example.com", i)] = testPass
	}
	s := startFake(t, f.serve)
	// 9 changes over 6 accounts with 3 workers: every account changed an
	// odd number of times must be changed back afterwards.
	out, errText, code := runCmd(t, testVars, "passwd", "-addr", s.addr(), "-users", "p%d@example.com",
		"-n-users", "6", "-c", "3", "-max", "9", "-duration", "30s")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errText)
	}
	m := decodeResult(t, out)
	restored := num(t, m, "restored")
	if num(t, m, "changes") != 9 || num(t, m, "errors") != 0 || restored < 1 || restored > 6 || num(t, m, "restore_errors") != 0 {
		t.Errorf("result %v", m)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for u, pw := range f.pw {
		if pw != testPass {
			t.Errorf("%s left on another password", u)
		}
	}
	if f.changes != 9+int(restored) {
		t.Errorf("server saw %d changes, want 9 + %v restored", f.changes, restored)
	}
}

func TestHashFloor(t *testing.T) {
	for _, op := range []string{"set", "verify"} {
		out, errText, code := runCmd(t, nil, "hashfloor", "-scheme", "SHA512-CRYPT", "-op", op, "-c", "2", "-max", "4", "-duration", "1m")
		if code != 0 {
			t.Fatalf("%s: code %d: %s", op, code, errText)
		}
		m := decodeResult(t, out)
		if num(t, m, "ops") != 4 || num(t, m, "ops_per_s") <= 0 || m["op"] != op {
			t.Errorf("%s: result %v", op, m)
		}
	}
	if _, _, code := runCmd(t, nil, "hashfloor", "-scheme", "NO-SUCH", "-max", "1"); code != 2 {
		t.Errorf("unknown scheme: code %d, want 2", code)
	}
}

func TestRawTCP(t *testing.T) {
	out, errText, code := runCmd(t, nil, "rawtcp", "-bytes", "100000", "-c", "2", "-max", "7", "-duration", "1m")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errText)
	}
	m := decodeResult(t, out)
	if num(t, m, "transfers") != 7 || num(t, m, "bytes") != 700000 {
		t.Errorf("result %v", m)
	}
	file := t.TempDir() + "/f"
	if err := os.WriteFile(file, []byte(strings.Repeat("y", 300001)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errText, code = runCmd(t, nil, "rawtcp", "-file", file, "-max", "3", "-duration", "1m")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errText)
	}
	if m := decodeResult(t, out); num(t, m, "bytes") != 900003 {
		t.Errorf("result %v", m)
	}
}
