package hard

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/maildrop"
	"github.com/popadm/popadm/internal/pwscheme"
)

// wantNoFile is the open-file limit the load tests ask for: 10,000
// sessions take two descriptors each in the server.
const wantNoFile = 1 << 16

// raiseNoFile raises the soft open-file limit of the test process to its
// hard limit (popadm serve inherits it) and returns the new soft limit. As
// root it first raises the hard limit to wantNoFile when it is lower.
func raiseNoFile(t *testing.T) uint64 {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max < wantNoFile && os.Geteuid() == 0 {
		raised := syscall.Rlimit{Cur: wantNoFile, Max: wantNoFile}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			t.Logf("raising the open-file hard limit to %d: %v", wantNoFile, err)
		} else {
			lim = raised
		}
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatalf("setrlimit: %v", err)
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	return lim.Cur
}

// sharedHash returns a SHA512-CRYPT hash of password.
func sharedHash(t *testing.T, password string) string {
	t.Helper()
	h, err := pwscheme.Generate("SHA512-CRYPT", password, pwscheme.Params{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// userCSV returns an import CSV giving every user the same hash.
func userCSV(t *testing.T, users []string, hash string) string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"user", "hash"})
	for _, u := range users {
		_ = w.Write([]string{u, hash})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// vmRSS returns the resident set size of process pid in KiB.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// lc is a POP3 client that returns errors instead of failing the test, for
// use from worker goroutines.
type lc struct {
	c net.Conn
	r *bufio.Reader
}

// dialLC connects and reads the greeting.
func dialLC(addr string) (*lc, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	p := &lc{c: c, r: bufio.NewReader(c)}
	l, err := p.line()
	if err != nil || !strings.HasPrefix(l, "+OK") {
		c.Close()
		return nil, fmt.Errorf("greeting %q: %v", l, err)
	}
	return p, nil
}

func (p *lc) line() (string, error) {
	l, err := p.r.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// ok sends one command and returns its +OK line, or an error.
func (p *lc) ok(format string, a ...any) (string, error) {
	if _, err := fmt.Fprintf(p.c, format+"\r\n", a...); err != nil {
		return "", fmt.Errorf("%s: write: %w", strings.Fields(format)[0], err)
	}
	l, err := p.line()
	if err != nil {
		return l, fmt.Errorf("%s: read: %w", strings.Fields(format)[0], err)
	}
	if !strings.HasPrefix(l, "+OK") {
		return l, fmt.Errorf("%s: %q", strings.Fields(format)[0], l)
	}
	return l, nil
}

// multi reads a dot-terminated body, unstuffed, with CRLF line ends.
func (p *lc) multi() (string, error) {
	var sb strings.Builder
	for range 1_000_000 {
		l, err := p.r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("multi-line: %w", err)
		}
		if l == ".\r\n" {
			return sb.String(), nil
		}
		sb.WriteString(strings.TrimPrefix(l, "."))
	}
	return "", errors.New("multi-line: endless body")
}

// login logs in with USER/PASS.
func (p *lc) login(user, pass string) error {
	if _, err := p.ok("USER %s", user); err != nil {
		return err
	}
	_, err := p.ok("PASS %s", pass)
	return err
}

// list returns the message numbers of a LIST.
func (p *lc) list() ([]int, error) {
	if _, err := p.ok("LIST"); err != nil {
		return nil, err
	}
	body, err := p.multi()
	if err != nil {
		return nil, err
	}
	var nums []int
	for _, l := range strings.Split(body, "\r\n") {
		if l == "" {
			continue
		}
		var n, size int
		if _, err := fmt.Sscanf(l, "%d %d", &n, &size); err != nil {
			return nil, fmt.Errorf("LIST line %q", l)
		}
		nums = append(nums, n)
	}
	return nums, nil
}

// retr returns message n in its transmitted form.
func (p *lc) retr(n int) (string, error) {
	if _, err := p.ok("RETR %d", n); err != nil {
		return "", err
	}
	return p.multi()
}

// errLog collects errors from workers.
type errLog struct {
	mu   sync.Mutex
	n    int
	msgs []string
}

func (e *errLog) add(format string, a ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.msgs) < 30 {
		e.msgs = append(e.msgs, fmt.Sprintf(format, a...))
	}
}

func (e *errLog) check(t *testing.T, what string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n > 0 {
		t.Errorf("%s: %d error(s), first ones:\n%s", what, e.n, strings.Join(e.msgs, "\n"))
	}
}

// latencies records durations per operation.
type latencies struct {
	mu sync.Mutex
	m  map[string][]time.Duration
}

func (l *latencies) add(op string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string][]time.Duration{}
	}
	l.m[op] = append(l.m[op], d)
}

func (l *latencies) report(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	ops := make([]string, 0, len(l.m))
	for op := range l.m {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	for _, op := range ops {
		d := slices.Clone(l.m[op])
		slices.Sort(d)
		pct := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
		t.Logf("latency %-18s n=%-6d p50=%-10v p90=%-10v p99=%-10v max=%v", op, len(d),
			pct(0.50).Round(10*time.Microsecond), pct(0.90).Round(10*time.Microsecond),
			pct(0.99).Round(10*time.Microsecond), d[len(d)-1].Round(10*time.Microsecond))
	}
}

// TestManySessions holds thousands of logged-in POP3 sessions open at once
// (the server needs two descriptors per session), reports the server's
// resident memory per session, then ends every session with QUIT, each of
// which must answer +OK.
func TestManySessions(t *testing.T) {
	hard(t)
	lim := raiseNoFile(t)
	n := iterations(2000, 10000)
	if lim < 300 {
		t.Skipf("open-file limit %d too low", lim)
	}
	if m := int((lim - 100) / 2); n > m {
		t.Logf("open-file limit %d: %d sessions instead of %d", lim, m, n)
		n = m
	}
	e := newEnv(t, "")
	const pass = "Many-pass 0001"
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("m%05d@example.com", i)
	}
	e.cli(userCSV(t, users, sharedHash(t, pass)), "import", "csv", "-")

	limit := strconv.Itoa(n + 100)
	s := e.start("pop3d", "--max-conns", limit, "--max-conns-per-ip", limit)
	pid := s.Cmd.Process.Pid
	addr := s.addr("pop3")
	base := vmRSS(t, pid)

	conns := make([]*lc, n)
	var errs errLog
	var lat latencies
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				c, err := dialLC(addr)
				if err != nil {
					errs.add("session %d: %v", i, err)
					continue
				}
				if err := c.login(users[i], pass); err != nil {
					errs.add("session %d: %v", i, err)
					c.c.Close()
					continue
				}
				lat.add("open+login", time.Since(t0))
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	t.Logf("opened %d sessions in %v", n, time.Since(start).Round(time.Millisecond))
	errs.check(t, "opening sessions")
	if t.Failed() {
		for _, c := range conns {
			if c != nil {
				c.c.Close()
			}
		}
		t.FailNow()
	}
	// Every session is alive: a STAT on each answers +OK.
	for i, c := range conns {
		if _, err := c.ok("STAT"); err != nil {
			errs.add("session %d: %v", i, err)
		}
	}
	rss := vmRSS(t, pid)
	t.Logf("server VmRSS: %d KiB idle, %d KiB with %d sessions: %.1f KiB per session",
		base, rss, n, float64(rss-base)/float64(n))

	next.Store(0)
	var quits atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c := conns[i]
				t0 := time.Now()
				if _, err := c.ok("QUIT"); err != nil {
					errs.add("session %d: %v", i, err)
				} else {
					quits.Add(1)
					lat.add("quit", time.Since(t0))
				}
				c.c.Close()
			}
		}()
	}
	wg.Wait()
	errs.check(t, "QUIT")
	if int(quits.Load()) != n {
		t.Errorf("%d of %d QUITs answered +OK", quits.Load(), n)
	}
	lat.report(t)
	if strings.Contains(s.log.String(), "panic") {
		t.Errorf("server log mentions a panic:\n%s", s.log)
	}
}

// ledger records every delivered message of one user by Message-ID.
type ledger struct {
	mu      sync.Mutex
	want    map[string]string // id -> sha of the transmitted form
	deleted map[string]bool   // removed by a committed QUIT
}

func newLedger() *ledger {
	return &ledger{want: map[string]string{}, deleted: map[string]bool{}}
}

// msgID returns the Message-ID of a transmitted message.
func msgID(m string) string {
	for _, l := range strings.Split(m, "\r\n") {
		if l == "" {
			break
		}
		if v, ok := strings.CutPrefix(l, "Message-ID: "); ok {
			return v
		}
	}
	return ""
}

// loadMessage returns a stored (LF) message with id.
func loadMessage(id string, size int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: load@example.org\nTo: user@example.com\nSubject: load %s\nMessage-ID: %s\n\n", id, id)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "line %d of %s\n", i, id)
		if i%17 == 0 {
			b.WriteString(".dot line\n")
		}
	}
	return b.String()
}

// deliver delivers one new message into dir and records it.
func (g *ledger) deliver(dir, id string, size int) error {
	m := loadMessage(id, size)
	g.mu.Lock()
	g.want[id] = sha([]byte(crlf(m)))
	g.mu.Unlock()
	if _, err := maildrop.Deliver(dir, []byte(m)); err != nil {
		return fmt.Errorf("deliver %s: %w", id, err)
	}
	return nil
}

// check verifies a retrieved message against the ledger and returns its id.
func (g *ledger) check(m string) (string, error) {
	id := msgID(m)
	g.mu.Lock()
	defer g.mu.Unlock()
	w, ok := g.want[id]
	switch {
	case id == "":
		return "", fmt.Errorf("message without Message-ID (%d octets)", len(m))
	case !ok:
		return "", fmt.Errorf("message %s was never delivered", id)
	case g.deleted[id]:
		return "", fmt.Errorf("message %s came back after a committed DELE", id)
	case sha([]byte(m)) != w:
		return "", fmt.Errorf("message %s damaged", id)
	}
	return id, nil
}

// TestSustainedMixedLoad runs at once, for a while: retrieving sessions
// that keep their messages, sessions that delete theirs while new mail
// is delivered, poppassd password changes, and bulk imports that replace
// the hashes of users being logged in. Afterwards there must be no error,
// every delivered message must be either deleted by a committed QUIT or
// still present exactly once, and latency percentiles are reported.
func TestSustainedMixedLoad(t *testing.T) {
	hard(t)
	dur := time.Duration(iterations(20, 180)) * time.Second
	e := newEnv(t, "")
	const (
		keepN, deleN, passwdN, importN = 4, 4, 2, 16
		pass                           = "Load-pass 0001"
		passB                          = "Load-pass 0002"
	)
	name := func(kind string, i int) string { return fmt.Sprintf("%s%02d@example.com", kind, i) }
	var all, batch []string
	for i := range keepN {
		all = append(all, name("keep", i))
		batch = append(batch, name("keep", i))
	}
	for i := range importN {
		all = append(all, name("imp", i))
		batch = append(batch, name("imp", i))
	}
	for i := range deleN {
		all = append(all, name("dele", i))
	}
	for i := range passwdN {
		all = append(all, name("pw", i))
	}
	hashes := []string{sharedHash(t, pass), sharedHash(t, pass)} // two salts
	e.cli(userCSV(t, all, hashes[0]), "import", "csv", "-")
	dirOf := func(user string) string {
		local, _, _ := strings.Cut(user, "@")
		return filepath.Join(e.mailRoot, "example.com", local)
	}
	ledgers := map[string]*ledger{}
	for i := range keepN {
		u := name("keep", i)
		ledgers[u] = newLedger()
		for k := range 6 {
			if err := ledgers[u].deliver(dirOf(u), fmt.Sprintf("<keep.%d.%d@load>", i, k), 500+k*3000); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range deleN {
		u := name("dele", i)
		ledgers[u] = newLedger()
		if err := os.MkdirAll(dirOf(u), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s := e.start("")
	pop3, ppd := s.addr("pop3"), s.addr("poppassd")

	var errs errLog
	var lat latencies
	stop := time.Now().Add(dur)
	running := func() bool { return time.Now().Before(stop) }
	var wg sync.WaitGroup
	var counts struct{ keep, dele, deleted, passwd, imports, delivered atomic.Int64 }

	// Retrieving sessions on users whose hash the imports replace.
	for i := range keepN {
		u := name("keep", i)
		g := ledgers[u]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := 0; running() && it < 1_000_000; it++ {
				if err := keepSession(pop3, u, pass, g, &lat); err != nil {
					errs.add("keep %s: %v", u, err)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				counts.keep.Add(1)
			}
		}()
	}
	// Deleting sessions, and a deliverer feeding their maildrops.
	for i := range deleN {
		u := name("dele", i)
		g := ledgers[u]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := 0; running() && it < 1_000_000; it++ {
				n, err := deleSession(pop3, u, pass, g, &lat)
				if err != nil {
					errs.add("dele %s: %v", u, err)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				counts.dele.Add(1)
				counts.deleted.Add(int64(n))
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := 0; running() && seq < 1_000_000; seq++ {
			i := seq % deleN
			u := name("dele", i)
			t0 := time.Now()
			if err := ledgers[u].deliver(dirOf(u), fmt.Sprintf("<dele.%d.%d@load>", i, seq), 300+(seq%7)*1500); err != nil {
				errs.add("%v", err)
				continue
			}
			lat.add("deliver", time.Since(t0))
			counts.delivered.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	// poppassd changes alternating two passwords.
	final := make([]string, passwdN)
	for i := range passwdN {
		u := name("pw", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			cur, next := pass, passB
			for it := 0; running() && it < 1_000_000; it++ {
				t0 := time.Now()
				if err := passwdChange(ppd, u, cur, next); err != nil {
					errs.add("poppassd %s: %v", u, err)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				lat.add("poppassd-change", time.Since(t0))
				counts.passwd.Add(1)
				cur, next = next, cur
			}
			final[i] = cur
		}()
	}
	// Bulk imports replacing the hashes of the batch every few seconds.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for it := 1; running() && it < 1_000_000; it++ {
			t0 := time.Now()
			out, errOut, code := e.run(userCSV(t, batch, hashes[it%2]), "import", "csv", "-", "--on-conflict", "update")
			if code != 0 {
				errs.add("import: exit %d\n%s%s", code, out, errOut)
			} else {
				lat.add("import-csv", time.Since(t0))
				counts.imports.Add(1)
			}
			for j := 0; j < 20 && running(); j++ {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	wg.Wait()
	t.Logf("%v: %d keep sessions, %d dele sessions (%d messages deleted), %d deliveries, %d poppassd changes, %d imports",
		dur, counts.keep.Load(), counts.dele.Load(), counts.deleted.Load(), counts.delivered.Load(), counts.passwd.Load(), counts.imports.Load())
	errs.check(t, "mixed load")
	lat.report(t)

	// Ledger: every message delivered to a dele user is either deleted by
	// a committed QUIT or present exactly once; keep users have all theirs.
	lost := 0
	for u, g := range ledgers {
		p, err := dialLC(pop3)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.login(u, pass); err != nil {
			t.Fatalf("final login %s: %v", u, err)
		}
		nums, err := p.list()
		if err != nil {
			t.Fatal(err)
		}
		present := map[string]bool{}
		for _, n := range nums {
			m, err := p.retr(n)
			if err != nil {
				t.Fatal(err)
			}
			id, err := g.check(m)
			if err != nil {
				t.Errorf("%s: %v", u, err)
				continue
			}
			if present[id] {
				t.Errorf("%s: message %s present twice", u, id)
			}
			present[id] = true
		}
		if _, err := p.ok("QUIT"); err != nil {
			t.Error(err)
		}
		p.c.Close()
		for id := range g.want {
			if !present[id] && !g.deleted[id] {
				lost++
				t.Errorf("%s: message %s lost", u, id)
			}
		}
		t.Logf("%s: %d delivered, %d deleted, %d present", u, len(g.want), len(g.deleted), len(present))
	}
	if lost > 0 {
		t.Errorf("%d message(s) lost", lost)
	}
	for i := range passwdN {
		if final[i] != "" && !e.authOK(name("pw", i), final[i]) {
			t.Errorf("%s: final password not accepted", name("pw", i))
		}
	}
	for _, u := range batch[:2] {
		if !e.authOK(u, pass) {
			t.Errorf("%s: password not accepted after the imports", u)
		}
	}
	if strings.Contains(s.log.String(), "panic") {
		t.Errorf("server log mentions a panic:\n%s", s.log)
	}
}

// keepSession logs in, lists and retrieves every message without deleting
// any; the maildrop must hold exactly the ledger's messages.
func keepSession(addr, user, pass string, g *ledger, lat *latencies) error {
	t0 := time.Now()
	p, err := dialLC(addr)
	if err != nil {
		return err
	}
	defer p.c.Close()
	if err := p.login(user, pass); err != nil {
		return err
	}
	lat.add("pop3-login", time.Since(t0))
	t1 := time.Now()
	nums, err := p.list()
	if err != nil {
		return err
	}
	lat.add("pop3-list", time.Since(t1))
	seen := map[string]bool{}
	for _, n := range nums {
		t2 := time.Now()
		m, err := p.retr(n)
		if err != nil {
			return err
		}
		lat.add("pop3-retr", time.Since(t2))
		id, err := g.check(m)
		if err != nil {
			return err
		}
		if seen[id] {
			return fmt.Errorf("message %s listed twice", id)
		}
		seen[id] = true
	}
	g.mu.Lock()
	want := len(g.want)
	g.mu.Unlock()
	if len(seen) != want {
		return fmt.Errorf("%d messages listed, %d delivered", len(seen), want)
	}
	t3 := time.Now()
	if _, err := p.ok("QUIT"); err != nil {
		return err
	}
	lat.add("pop3-quit", time.Since(t3))
	lat.add("pop3-keep-session", time.Since(t0))
	return nil
}

// deleSession logs in, retrieves and deletes every listed message and
// commits with QUIT; on +OK the ledger marks them deleted.
func deleSession(addr, user, pass string, g *ledger, lat *latencies) (int, error) {
	t0 := time.Now()
	p, err := dialLC(addr)
	if err != nil {
		return 0, err
	}
	defer p.c.Close()
	if err := p.login(user, pass); err != nil {
		return 0, err
	}
	lat.add("pop3-login", time.Since(t0))
	nums, err := p.list()
	if err != nil {
		return 0, err
	}
	var ids []string
	for _, n := range nums {
		m, err := p.retr(n)
		if err != nil {
			return 0, err
		}
		id, err := g.check(m)
		if err != nil {
			return 0, err
		}
		if slices.Contains(ids, id) {
			return 0, fmt.Errorf("message %s listed twice", id)
		}
		ids = append(ids, id)
		if _, err := p.ok("DELE %d", n); err != nil {
			return 0, err
		}
	}
	t1 := time.Now()
	if _, err := p.ok("QUIT"); err != nil {
		return 0, err
	}
	lat.add("pop3-dele-quit", time.Since(t1))
	lat.add("pop3-dele-session", time.Since(t0))
	g.mu.Lock()
	for _, id := range ids {
		g.deleted[id] = true
	}
	g.mu.Unlock()
	return len(ids), nil
}

// passwdChange changes user's password from cur to next over poppassd;
// every reply must be 200.
func passwdChange(addr, user, cur, next string) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	for i, l := range []string{"", "user " + user, "pass " + cur, "newpass " + next, "quit"} {
		if l != "" {
			if _, err := fmt.Fprintf(c, "%s\r\n", l); err != nil {
				return fmt.Errorf("step %d: write: %w", i, err)
			}
		}
		reply, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("step %d: read: %w", i, err)
		}
		if !strings.HasPrefix(reply, "200") {
			return fmt.Errorf("step %d: reply %q", i, strings.TrimSpace(reply))
		}
	}
	return nil
}
