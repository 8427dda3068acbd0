package hard

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/maildrop"
	"github.com/popadm/popadm/internal/testkit"
	"github.com/popadm/popadm/internal/tlsutil"
)

// abSkip skips unless POPADM_HARD is set and reports whether the long form
// (HARD=long) was asked for.
func abSkip(t *testing.T) bool {
	t.Helper()
	hard(t)
	return os.Getenv("HARD") == "long"
}

// abEnv is one popadm database, mail root, certificate and server.
type abEnv struct {
	t        *testing.T
	dir      string
	db       string
	mailRoot string
	cert     string
	key      string
	srv      *testkit.Server
	log      *testkit.SyncBuffer
}

// abNewEnv prepares a database with domain example.com.
func abNewEnv(t *testing.T) *abEnv {
	t.Helper()
	dir := t.TempDir()
	e := &abEnv{t: t, dir: dir, db: filepath.Join(dir, "auth.db"), mailRoot: filepath.Join(dir, "mail"),
		cert: filepath.Join(dir, "tls", "cert.pem"), key: filepath.Join(dir, "tls", "key.pem"), log: &testkit.SyncBuffer{}}
	if err := tlsutil.WriteSelfSigned(e.cert, e.key, false, "localhost", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	e.cli("", "db", "init")
	e.cli("", "domain", "add", "example.com")
	return e
}

// cli runs popadm with the environment's database and returns stdout.
func (e *abEnv) cli(stdin string, args ...string) string {
	e.t.Helper()
	return testkit.CLI{T: e.t, DB: e.db}.Must(stdin, args...)
}

// addUser creates local@example.com with a SHA512-CRYPT credential and an
// empty Maildir holding msgs.
func (e *abEnv) addUser(local, password string, msgs ...string) string {
	e.t.Helper()
	user := local + "@example.com"
	e.cli(password+"\n", "user", "add", user, "--password-stdin", "--scheme", "SHA512-CRYPT")
	dir := filepath.Join(e.mailRoot, "example.com", local)
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, m := range msgs {
		if _, err := maildrop.Deliver(dir, []byte(m)); err != nil {
			e.t.Fatal(err)
		}
	}
	return user
}

// abStart runs `popadm serve` on loopback ephemeral ports with extra flags.
func (e *abEnv) abStart(extra ...string) {
	e.t.Helper()
	ready := filepath.Join(e.dir, "ready.json")
	args := []string{"--db", e.db, "serve",
		"--pop3-listen", "127.0.0.1:0", "--pop3s-listen", "127.0.0.1:0",
		"--poppassd-listen", "127.0.0.1:0", "--metrics-listen", "none", "--control-socket", "none",
		"--tls-cert", e.cert, "--tls-key", e.key,
		"--mail-location", "maildir:" + e.mailRoot + "/%d/%n",
		"--journal-dir", filepath.Join(e.dir, "journal"),
		"--hostname", "localhost", "--scheme", "SHA512-CRYPT",
		"--ready-file", ready}
	args = append(args, extra...)
	e.srv = testkit.StartServer(e.t, exec.Command(testkit.Popadm(e.t), args...), ready, e.log)
}

// alive fails the test when the server process has exited.
func (e *abEnv) alive() {
	e.t.Helper()
	if e.srv.Exited() {
		e.t.Fatalf("server exited; log:\n%s", e.log.String())
	}
}

func (e *abEnv) addr(proto string) string {
	e.t.Helper()
	return e.srv.Addr(e.t, proto)
}

// rssKiB reads VmRSS of the server from /proc.
func (e *abEnv) rssKiB() int {
	e.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.srv.Cmd.Process.Pid))
	if err != nil {
		e.t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	e.t.Fatal("no VmRSS")
	return 0
}

// waitLog waits up to 5 s until the server log contains every substring.
func (e *abEnv) waitLog(subs ...string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, all := e.log.String(), true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// abLife is the deadline of an abuse test's conversation.
const abLife = 30 * time.Second

// abDialFrom connects from the loopback source address src ("" for any).
func abDialFrom(t *testing.T, src, addr string) (*testkit.LineConn, error) {
	return testkit.DialLine(t, src, addr, abLife)
}

// abDial connects and reads the greeting, which must start with want.
func abDial(t *testing.T, addr, want string) *testkit.LineConn {
	t.Helper()
	return testkit.DialGreeting(t, addr, want, abLife)
}

// abSession logs in over POP3, runs STAT and QUIT.
func abSession(addr, user, pass string) error {
	p, err := abDialFrom(nil, "", addr)
	if err != nil {
		return err
	}
	defer p.C.Close()
	p.C.SetDeadline(time.Now().Add(10 * time.Second))
	for _, step := range [][2]string{{"", "+OK"}, {"USER " + user, "+OK"}, {"PASS " + pass, "+OK"}, {"STAT", "+OK 1 "}, {"QUIT", "+OK"}} {
		var r string
		if step[0] == "" {
			r = p.Line()
		} else {
			r = p.Cmd(step[0])
		}
		if !strings.HasPrefix(r, step[1]) {
			return fmt.Errorf("%q: got %q", step[0], r)
		}
	}
	return nil
}

func abPct(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p * float64(len(s)-1))
	return s[i]
}

const abMsg = "From: a@example.com\nTo: b@example.com\nSubject: x\n\nbody\n"

// TestSlowloris holds 200 connections that trickle one byte every 100 ms
// of a line that never ends, from 20 loopback addresses (10 each, the
// per-address limit), while a well-behaved client logs in 20 times.
func TestSlowloris(t *testing.T) {
	long := abSkip(t)
	e := abNewEnv(t)
	user := e.addUser("sam", "Sam-pass 1", abMsg)
	e.abStart("--max-conns-per-ip", "10", "--failure-delay", "10ms", "--max-failure-delay", "10ms")
	addr := e.addr("pop3")
	before := e.rssKiB()
	n, hold := 200, 8*time.Second
	if long {
		n, hold = 500, 30*time.Second
	}
	perIP := 10
	ctx, cancel := context.WithTimeout(context.Background(), hold+30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	opened, dialErrs, writeErrs := 0, 0, 0
	for i := range n {
		src := fmt.Sprintf("127.0.%d.%d", 1+i/perIP/250, 1+(i/perIP)%250)
		c, err := abDialFrom(t, src, addr)
		if err != nil {
			dialErrs++
			continue
		}
		opened++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.C.Close()
			c.C.SetDeadline(time.Now().Add(hold + 10*time.Second))
			stop := time.Now().Add(hold)
			for time.Now().Before(stop) && ctx.Err() == nil {
				if _, err := c.C.Write([]byte("X")); err != nil {
					mu.Lock()
					writeErrs++
					mu.Unlock()
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	if dialErrs > 0 {
		t.Fatalf("%d of %d slow connections failed", dialErrs, n)
	}
	time.Sleep(300 * time.Millisecond)

	// An 11th connection from a slow address is refused at once.
	start := time.Now()
	x, err := abDialFrom(t, "127.0.1.1", addr)
	if err != nil {
		t.Fatal(err)
	}
	lines, closed := x.Rest(3 * time.Second)
	x.C.Close()
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "-ERR [SYS/TEMP]") || !closed {
		t.Fatalf("over-limit connection got %q (closed %v)", lines, closed)
	}
	t.Logf("per-ip refusal after %v: %q", time.Since(start), lines[0])

	var times []time.Duration
	for i := range 20 {
		s := time.Now()
		if err := abSession(addr, user, "Sam-pass 1"); err != nil {
			t.Fatalf("session %d during slowloris: %v", i, err)
		}
		d := time.Since(s)
		if d > 2*time.Second {
			t.Fatalf("session %d took %v", i, d)
		}
		times = append(times, d)
		time.Sleep(150 * time.Millisecond) // spread the sessions over the trickle
	}
	mid := e.rssKiB()
	mu.Lock()
	dropped := writeErrs
	mu.Unlock()
	cancel()
	wg.Wait()
	e.alive()
	time.Sleep(500 * time.Millisecond)
	after := e.rssKiB()
	t.Logf("slowloris: %d conns opened, %d closed by the server while trickling; sessions p50 %v p99 %v; VmRSS before %d KiB, during %d KiB, after %d KiB",
		opened, dropped, abPct(times, 0.5), abPct(times, 0.99), before, mid, after)
	if mid > before+64*1024 {
		t.Fatalf("VmRSS grew from %d to %d KiB under %d slow connections", before, mid, opened)
	}
	if err := abSession(addr, user, "Sam-pass 1"); err != nil {
		t.Fatalf("session after slowloris: %v", err)
	}
}

// TestFlood opens more connections than --max-conns: the excess gets one
// refusal line and a close; the server keeps serving afterwards.
func TestFlood(t *testing.T) {
	long := abSkip(t)
	e := abNewEnv(t)
	user := e.addUser("fred", "Fred-pass 1", abMsg)
	max, extra := 30, 30
	if long {
		max, extra = 200, 300
	}
	e.abStart("--max-conns", strconv.Itoa(max), "--max-conns-per-ip", strconv.Itoa(max+extra+10), "--failure-delay", "10ms", "--max-failure-delay", "10ms")
	for _, svc := range []struct{ proto, greet, refuse string }{
		{"pop3", "+OK", "-ERR [SYS/TEMP]"},
		{"poppassd", "200 ", "500 "},
	} {
		var held []*testkit.LineConn
		for range max {
			held = append(held, abDial(t, e.addr(svc.proto), svc.greet))
		}
		refused := 0
		for range extra {
			c, err := abDialFrom(t, "", e.addr(svc.proto))
			if err != nil {
				t.Fatal(err)
			}
			lines, closed := c.Rest(3 * time.Second)
			c.C.Close()
			if len(lines) != 1 || !strings.HasPrefix(lines[0], svc.refuse) || !closed {
				t.Fatalf("%s: excess connection got %q (closed %v)", svc.proto, lines, closed)
			}
			refused++
		}
		for _, c := range held {
			c.C.Close()
		}
		t.Logf("%s: %d held, %d excess refused with one line", svc.proto, max, refused)
	}
	e.alive()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := abSession(e.addr("pop3"), user, "Fred-pass 1")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no service after the flood: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOversized sends a 64 KiB line and 1 MiB without a newline (one
// -ERR, then close) and 10,000 pipelined NOOPs (all answered in order).
func TestOversized(t *testing.T) {
	abSkip(t)
	e := abNewEnv(t)
	user := e.addUser("olga", "Olga-pass 1", abMsg)
	e.abStart("--failure-delay", "10ms", "--max-failure-delay", "10ms")
	before := e.rssKiB()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"64KiB line", append(bytes.Repeat([]byte("A"), 64<<10), '\r', '\n')},
		{"1MiB no newline", bytes.Repeat([]byte("B"), 1<<20)},
	} {
		for _, proto := range []string{"pop3", "poppassd"} {
			greet := map[string]string{"pop3": "+OK", "poppassd": "200 "}[proto]
			bad := map[string]string{"pop3": "-ERR", "poppassd": "500 "}[proto]
			c := abDial(t, e.addr(proto), greet)
			go func() { c.C.Write(tc.data) }()
			lines, closed := c.Rest(10 * time.Second)
			c.C.Close()
			if !closed || len(lines) > 1 || (len(lines) == 1 && !strings.HasPrefix(lines[0], bad)) {
				t.Fatalf("%s %s: got %q (closed %v)", proto, tc.name, lines, closed)
			}
			if len(lines) == 0 {
				// The reset for the unread tail can overtake the reply.
				t.Logf("%s %s: closed; the reply was lost to the reset", proto, tc.name)
			} else {
				t.Logf("%s %s: %q then close", proto, tc.name, lines[0])
			}
		}
	}

	p := abDial(t, e.addr("pop3"), "+OK")
	defer p.C.Close()
	p.Cmd("USER " + user)
	if r := p.Cmd("PASS Olga-pass 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("PASS: %q", r)
	}
	const n = 10000
	var buf bytes.Buffer
	for i := range n {
		if i%2 == 0 {
			buf.WriteString("NOOP\r\n")
		} else {
			buf.WriteString("STAT\r\n")
		}
	}
	p.C.SetDeadline(time.Now().Add(60 * time.Second))
	werr := make(chan error, 1)
	go func() { _, err := p.C.Write(buf.Bytes()); werr <- err }()
	for i := range n {
		l := p.Line()
		want := "+OK"
		if i%2 == 1 {
			want = "+OK 1 "
		}
		if !strings.HasPrefix(l, want) || (i%2 == 0 && strings.HasPrefix(l, "+OK 1 ")) {
			t.Fatalf("reply %d = %q, want %q", i, l, want)
		}
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if r := p.Cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("QUIT after flood: %q", r)
	}
	after := e.rssKiB()
	t.Logf("oversized: VmRSS before %d KiB, after %d KiB", before, after)
	if after > before+64*1024 {
		t.Fatalf("VmRSS grew from %d to %d KiB", before, after)
	}
	e.alive()
}

// TestSTLSInjection pipelines plaintext CAPA after STLS in one write: it
// must never be answered (RFC 2595 §3.1 / CVE-2011-0411 class).
func TestSTLSInjection(t *testing.T) {
	abSkip(t)
	e := abNewEnv(t)
	e.abStart()
	c := abDial(t, e.addr("pop3"), "+OK")
	defer c.C.Close()
	if _, err := c.C.Write([]byte("STLS\r\nCAPA\r\n")); err != nil {
		t.Fatal(err)
	}
	r := c.Line()
	if !strings.HasPrefix(r, "+OK") && !strings.HasPrefix(r, "-ERR") {
		t.Fatalf("STLS reply %q", r)
	}
	if strings.HasPrefix(r, "-ERR") {
		t.Logf("STLS with pipelined data refused: %q", r)
		lines, _ := c.Rest(time.Second)
		for _, l := range lines {
			if strings.HasPrefix(l, "+OK") {
				t.Fatalf("pipelined CAPA answered in plaintext: %q", lines)
			}
		}
		return
	}
	// Before the ClientHello, the server must send nothing in plaintext.
	lines, closed := c.Rest(700 * time.Millisecond)
	if len(lines) > 0 || c.R.Buffered() > 0 {
		t.Fatalf("plaintext after STLS +OK: %q", lines)
	}
	if closed {
		t.Log("server closed after STLS with pipelined data")
		return
	}
	c.C.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(c.C, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		t.Logf("handshake failed as the injected bytes were taken for TLS: %v", err)
		return
	}
	tr := bufio.NewReader(tc)
	fmt.Fprintf(tc, "CAPA\r\n")
	var capa []string
	for len(capa) < 100 {
		l, err := tr.ReadString('\n')
		if err != nil {
			t.Fatalf("CAPA over TLS: %v after %q", err, capa)
		}
		capa = append(capa, strings.TrimRight(l, "\r\n"))
		if capa[len(capa)-1] == "." {
			break
		}
	}
	if !strings.HasPrefix(capa[0], "+OK") || strings.Contains(strings.Join(capa, " "), "STLS") {
		t.Fatalf("CAPA over TLS: %q", capa)
	}
	// The injected CAPA would add a second listing.
	tc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if extra, _ := tr.ReadString('\n'); extra != "" {
		t.Fatalf("pipelined CAPA executed inside TLS: extra %q after %q", extra, capa)
	}
	t.Log("pipelined CAPA discarded; TLS session works")
}

// abClientHello returns the first flight of a TLS client.
func abClientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		tc := tls.Client(a, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		tc.Handshake()
	}()
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// TestCrossProtocol sends an HTTP request and a TLS ClientHello to the
// plaintext POP3 port and to poppassd: one error line or nothing, a close,
// never success, and the server stays up.
func TestCrossProtocol(t *testing.T) {
	abSkip(t)
	e := abNewEnv(t)
	e.abStart("--poppassd-idle-timeout", "3s")
	hello := abClientHello(t)
	payloads := map[string][]byte{
		"http":  []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: x\r\n\r\n"),
		"post":  []byte("POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nUSER"),
		"tls":   hello,
		"tls+n": append(append([]byte(nil), hello...), '\r', '\n'),
	}
	for _, proto := range []string{"pop3", "poppassd"} {
		greet := map[string]string{"pop3": "+OK", "poppassd": "200 "}[proto]
		for name, data := range payloads {
			c := abDial(t, e.addr(proto), greet)
			c.C.Write(data)
			lines, closed := c.Rest(6 * time.Second)
			c.C.Close()
			for _, l := range lines {
				if strings.HasPrefix(l, "+OK") || strings.HasPrefix(l, "200") {
					t.Fatalf("%s %s: success reply %q in %q", proto, name, l, lines)
				}
			}
			if len(lines) > 2 {
				t.Fatalf("%s %s: %d reply lines %q", proto, name, len(lines), lines)
			}
			if !closed {
				if name == "tls" {
					// No line end yet: the server waits for the rest of
					// the line until its login/idle timeout.
					t.Logf("%s %s: still open after 6 s (waiting for a line end), replies %q", proto, name, lines)
					continue
				}
				t.Fatalf("%s %s: not closed, replies %q", proto, name, lines)
			}
			t.Logf("%s %s: %q then close", proto, name, lines)
		}
	}
	e.alive()
	c := abDial(t, e.addr("pop3"), "+OK")
	if r := c.Cmd("CAPA"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("CAPA after cross-protocol: %q", r)
	}
	c.C.Close()
}

// TestTLSOpenSSL checks protocol versions and weak ciphers with openssl
// s_client on POP3S and STLS.
func TestTLSOpenSSL(t *testing.T) {
	abSkip(t)
	ossl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is not installed")
		}
		t.Skip("openssl not installed")
	}
	e := abNewEnv(t)
	e.abStart()
	run := func(args ...string) (string, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, ossl, append([]string{"s_client"}, args...)...)
		cmd.Stdin = strings.NewReader("QUIT\r\n")
		out, err := cmd.CombinedOutput()
		s := string(out)
		ok := err == nil && strings.Contains(s, "Cipher is ") && !strings.Contains(s, "Cipher is (NONE)")
		return s, ok
	}
	for _, mode := range []struct {
		name string
		args []string
	}{
		{"pop3s", []string{"-connect", e.addr("pop3s")}},
		{"stls", []string{"-connect", e.addr("pop3"), "-starttls", "pop3"}},
	} {
		for _, v := range []struct {
			flag string
			want bool
		}{{"-tls1_1", false}, {"-tls1", false}, {"-tls1_2", true}, {"-tls1_3", true}} {
			out, ok := run(append(append([]string{}, mode.args...), v.flag, "-servername", "localhost")...)
			if ok != v.want {
				t.Fatalf("%s %s: handshake ok=%v, want %v\n%s", mode.name, v.flag, ok, v.want, out)
			}
			proto := ""
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, "Cipher is") || strings.Contains(l, "Protocol  :") {
					proto += strings.TrimSpace(l) + "; "
				}
			}
			t.Logf("%s %s: ok=%v %s", mode.name, v.flag, ok, proto)
		}
		out, ok := run(append(append([]string{}, mode.args...), "-tls1_2", "-cipher", "RC4:3DES:NULL:EXPORT:aNULL:DES:MD5:@SECLEVEL=0")...)
		if ok {
			t.Fatalf("%s: weak cipher accepted\n%s", mode.name, out)
		}
		// Static-RSA key exchange has no forward secrecy: only ECDHE suites
		// are offered for TLS 1.2.
		out, ok = run(append(append([]string{}, mode.args...), "-tls1_2", "-cipher", "kRSA:@SECLEVEL=0")...)
		if ok {
			t.Fatalf("%s: static-RSA key exchange accepted\n%s", mode.name, out)
		}
	}
	e.alive()
}

// TestBruteForce checks the per-address limit on POP3 and poppassd and
// the account lockout with repeated identical passwords counted once.
func TestBruteForce(t *testing.T) {
	abSkip(t)
	e := abNewEnv(t)
	bob := e.addUser("bob", "Bob-pass 1", abMsg)
	e.addUser("pat", "Pat-pass 1")
	cat := e.addUser("cat", "Cat-pass 1", abMsg)
	e.cli("", "policy", "set", "--lockout", "3/15m")
	e.abStart("--ip-fail-limit", "4", "--failure-delay", "20ms", "--max-failure-delay", "50ms")

	pop := func(src, user, pass string) string {
		c, err := abDialFrom(t, src, e.addr("pop3"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.C.Close()
		c.Line()
		c.Cmd("USER " + user)
		return c.Cmd("PASS " + pass)
	}
	pass := func(src, user, pass string) []string {
		c, err := abDialFrom(t, src, e.addr("poppassd"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.C.Close()
		out := []string{c.Line(), c.Cmd("user " + user), c.Cmd("pass " + pass)}
		return out
	}
	// POP3 from 127.0.2.1: four failures over unknown users, then even
	// the right password gets [LOGIN-DELAY].
	for i := range 4 {
		if r := pop("127.0.2.1", fmt.Sprintf("nobody%d@example.com", i), "x"); r != "-ERR [AUTH] authentication failed" {
			t.Fatalf("failure %d: %q", i, r)
		}
	}
	for range 3 {
		if r := pop("127.0.2.1", bob, "Bob-pass 1"); !strings.HasPrefix(r, "-ERR [LOGIN-DELAY]") {
			t.Fatalf("throttled POP3 attempt got %q", r)
		}
	}
	if r := pop("127.0.2.2", bob, "Bob-pass 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("another address is refused too: %q", r)
	}
	// poppassd from 127.0.2.3.
	for i := range 4 {
		if r := pass("127.0.2.3", fmt.Sprintf("nobody%d@example.com", i), "x"); !strings.HasPrefix(r[2], "500 ") {
			t.Fatalf("poppassd failure %d: %q", i, r)
		}
	}
	if r := pass("127.0.2.3", "pat@example.com", "Pat-pass 1"); !strings.HasPrefix(r[2], "500 ") {
		t.Fatalf("throttled poppassd attempt got %q", r)
	}
	if r := pass("127.0.2.4", "pat@example.com", "Pat-pass 1"); !strings.HasPrefix(r[2], "200 ") {
		t.Fatalf("poppassd from another address: %q", r)
	}
	if !e.waitLog("proto=poppassd", "reason=throttled") {
		t.Fatalf("no throttled poppassd log line:\n%s", e.log.String())
	}

	// Lockout 3/15m: the same wrong password three times counts once.
	show := func() map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(e.cli("", "user", "show", cat, "--json")), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	locked := func(m map[string]any) bool {
		b, _ := json.Marshal(m)
		s := strings.ToLower(string(b))
		return strings.Contains(s, `"locked":true`) || strings.Contains(s, `"status":"locked"`)
	}
	srcs := []string{"127.0.3.1", "127.0.3.2", "127.0.3.3"}
	for i := range 3 {
		if r := pop(srcs[i], cat, "Same wrong 1"); r != "-ERR [AUTH] authentication failed" {
			t.Fatalf("repeat %d: %q", i, r)
		}
	}
	if m := show(); locked(m) {
		t.Fatalf("locked after one distinct wrong password repeated: %v", m)
	}
	if r := pop("127.0.3.4", cat, "Cat-pass 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("right password after repeats: %q", r)
	}
	for i := range 3 {
		if r := pop("127.0.3.5", cat, fmt.Sprintf("Wrong %d", i)); r != "-ERR [AUTH] authentication failed" {
			t.Fatalf("distinct %d: %q", i, r)
		}
	}
	m := show()
	if !locked(m) {
		t.Fatalf("not locked after three distinct wrong passwords: %v", m)
	}
	if r := pop("127.0.3.6", cat, "Cat-pass 1"); r != "-ERR [AUTH] authentication failed" {
		t.Fatalf("locked account with right password: %q", r)
	}
	b, _ := json.Marshal(m)
	t.Logf("locked account: %s", b)
	e.alive()
}
