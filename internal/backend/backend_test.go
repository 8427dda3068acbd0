package backend

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/popadm/popadm/authdb"
	"github.com/popadm/popadm/internal/mbox"
	"github.com/popadm/popadm/internal/throttle"
	"github.com/popadm/popadm/pop3d"
	"github.com/popadm/popadm/poppassd"
)

// fixture is a real store, a real Maildir root and a POP3 server on
// loopback, joined by the glue under test.
type fixture struct {
	t    *testing.T
	db   *authdb.DB
	root string
	addr string
	pp   string
	log  *syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := authdb.Open(ctx, filepath.Join(dir, "auth.db"), authdb.Options{Create: true, Scheme: "SHA512-CRYPT", VerifyCacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	req := authdb.Request{Service: authdb.ServiceCLI, Actor: "test"}
	if err := db.AddDomain(ctx, req, authdb.Domain{Name: "example.com"}); err != nil {
		t.Fatal(err)
	}
	add := func(name string, mechs []string) {
		if _, err := db.AddUser(ctx, req, authdb.NewUser{Name: name, Mechs: mechs}, authdb.PasswordInput{Password: "Tr0ub4dor&3 ok"}); err != nil {
			t.Fatal(err)
		}
	}
	add("all@example.com", []string{"plain", "scram-sha-256", "scram-sha-1", "cram-md5", "apop"})
	add("plain@example.com", []string{"plain"})

	f := &fixture{t: t, db: db, root: filepath.Join(dir, "mail"), log: &syncBuf{}}
	log := slog.New(slog.NewTextHandler(f.log, nil))
	be, err := New(Options{
		Store:        db,
		MailLocation: "maildir:" + f.root + "/%d/%n",
		Limiter:      throttle.New(throttle.Options{BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond}),
		Hostname:     "test.example",
		Logger:       log,
		Mbox:         mbox.Options{JournalDir: filepath.Join(dir, "journal")},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := pop3d.New(&pop3d.Options{
		Backend:        be.POP3(),
		Hostname:       "test.example",
		APOP:           true,
		SASLMechanisms: []string{"CRAM-MD5", "SCRAM-SHA-256", "SCRAM-SHA-1"},
		Logger:         log,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	f.addr = ln.Addr().String()

	pps := poppassd.New(&poppassd.Options{Backend: be.Passwd(), Version: "test", FailureDelay: 10 * time.Millisecond, Logger: log})
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go pps.Serve(pln)
	t.Cleanup(func() { pps.Close() })
	f.pp = pln.Addr().String()
	return f
}

type client struct {
	t        *testing.T
	c        net.Conn
	r        *bufio.Reader
	greeting string
}

func (f *fixture) dial() *client {
	f.t.Helper()
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		f.t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	cl := &client{t: f.t, c: c, r: bufio.NewReader(c)}
	cl.greeting = cl.line()
	f.t.Cleanup(func() { c.Close() })
	return cl
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

func (c *client) cmd(s string) string {
	c.t.Helper()
	fmt.Fprintf(c.c, "%s\r\n", s)
	return c.line()
}

func TestAPOP(t *testing.T) {
	f := newFixture(t)
	c := f.dial()
	ts := regexp.MustCompile(`<[^>]+>`).FindString(c.greeting)
	if ts == "" {
		t.Fatalf("no APOP timestamp in %q", c.greeting)
	}
	sum := md5.Sum([]byte(ts + "Tr0ub4dor&3 ok"))
	if r := c.cmd("APOP all@example.com " + hex.EncodeToString(sum[:])); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("APOP: %q\n%s", r, f.log)
	}
	// An account without the apop mechanism fails like a wrong password.
	c2 := f.dial()
	ts2 := regexp.MustCompile(`<[^>]+>`).FindString(c2.greeting)
	sum = md5.Sum([]byte(ts2 + "Tr0ub4dor&3 ok"))
	if r := c2.cmd("APOP plain@example.com " + hex.EncodeToString(sum[:])); r != "-ERR [AUTH] authentication failed" {
		t.Fatalf("APOP for an account without the secret: %q", r)
	}
	if !strings.Contains(f.log.String(), "reason=mechanism-unavailable") {
		t.Fatalf("log lacks the reason:\n%s", f.log)
	}
}

func TestCRAMMD5(t *testing.T) {
	f := newFixture(t)
	c := f.dial()
	r := c.cmd("AUTH CRAM-MD5")
	if !strings.HasPrefix(r, "+ ") {
		t.Fatalf("challenge: %q", r)
	}
	chal, err := base64.StdEncoding.DecodeString(r[2:])
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(md5.New, []byte("Tr0ub4dor&3 ok"))
	m.Write(chal)
	resp := "all@example.com " + hex.EncodeToString(m.Sum(nil))
	if r := c.cmd(base64.StdEncoding.EncodeToString([]byte(resp))); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("CRAM-MD5: %q\n%s", r, f.log)
	}
}

// scramLogin runs a full SCRAM exchange with xdg-go's client.
func scramLogin(t *testing.T, f *fixture, mech string, hf scram.HashGeneratorFcn, user, pass string) string {
	t.Helper()
	cl, err := hf.NewClient(user, pass, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	c := f.dial()
	first, _ := conv.Step("")
	r := c.cmd("AUTH " + mech + " " + base64.StdEncoding.EncodeToString([]byte(first)))
	if !strings.HasPrefix(r, "+ ") {
		return r
	}
	sfirst, _ := base64.StdEncoding.DecodeString(r[2:])
	final, err := conv.Step(string(sfirst))
	if err != nil {
		t.Fatalf("client step: %v", err)
	}
	r = c.cmd(base64.StdEncoding.EncodeToString([]byte(final)))
	if !strings.HasPrefix(r, "+ ") {
		return r
	}
	sfinal, _ := base64.StdEncoding.DecodeString(r[2:])
	if _, err := conv.Step(string(sfinal)); err != nil {
		t.Fatalf("server signature rejected: %v", err)
	}
	r = c.cmd("")
	if strings.HasPrefix(r, "+OK") {
		c.cmd("QUIT")
	}
	return r
}

func TestSCRAM(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		mech string
		hf   scram.HashGeneratorFcn
	}{{"SCRAM-SHA-256", scram.SHA256}, {"SCRAM-SHA-1", scram.SHA1}} {
		if r := scramLogin(t, f, tc.mech, tc.hf, "all@example.com", "Tr0ub4dor&3 ok"); !strings.HasPrefix(r, "+OK") {
			t.Fatalf("%s good password: %q\n%s", tc.mech, r, f.log)
		}
		bad := scramLogin(t, f, tc.mech, tc.hf, "all@example.com", "wrong")
		unknown := scramLogin(t, f, tc.mech, tc.hf, "nobody@example.com", "wrong")
		missing := scramLogin(t, f, tc.mech, tc.hf, "plain@example.com", "Tr0ub4dor&3 ok")
		for _, r := range []string{bad, unknown, missing} {
			if r != "-ERR [AUTH] authentication failed" {
				t.Fatalf("%s refusals differ: bad %q, unknown %q, no verifier %q", tc.mech, bad, unknown, missing)
			}
		}
	}
}

// TestUserPassStates covers the replies that depend on account state: only
// a client with the right password learns about expiry or disabling.
func TestUserPassStates(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	req := authdb.Request{Service: authdb.ServiceCLI}
	yes := true
	if _, err := f.db.ModifyUser(ctx, req, "plain@example.com", authdb.UserMod{MustChange: &yes}); err != nil {
		t.Fatal(err)
	}
	login := func(user, pass string) string {
		c := f.dial()
		c.cmd("USER " + user)
		return c.cmd("PASS " + pass)
	}
	if r := login("plain@example.com", "Tr0ub4dor&3 ok"); !strings.HasPrefix(r, "-ERR [AUTH] password expired") {
		t.Fatalf("must-change with right password: %q", r)
	}
	wrong, unknown := login("plain@example.com", "nope"), login("ghost@example.com", "nope")
	if wrong != unknown || wrong != "-ERR [AUTH] authentication failed" {
		t.Fatalf("wrong %q vs unknown %q", wrong, unknown)
	}
	if _, err := f.db.ModifyUser(ctx, req, "all@example.com", authdb.UserMod{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if r := login("all@example.com", "Tr0ub4dor&3 ok"); r != "-ERR [AUTH] account disabled" {
		t.Fatalf("disabled with right password: %q", r)
	}
	if r := login("all@example.com", "nope"); r != "-ERR [AUTH] authentication failed" {
		t.Fatalf("disabled with wrong password: %q", r)
	}
}

// TestRepeatedWrongPasswordCountsOnce: an old phone polling with the same
// wrong password does not lock the account; distinct guesses do.
func TestRepeatedWrongPasswordCountsOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pol, err := f.db.GetPolicy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pol.LockoutFails = 3
	if err := f.db.SetPolicy(ctx, authdb.Request{Service: authdb.ServiceCLI}, *pol); err != nil {
		t.Fatal(err)
	}
	login := func(pass string) string {
		c := f.dial()
		c.cmd("USER plain@example.com")
		return c.cmd("PASS " + pass)
	}
	for range 5 {
		login("old-password")
	}
	if r := login("Tr0ub4dor&3 ok"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("account locked by one repeated wrong password: %q", r)
	}
	for i := range 3 {
		login(fmt.Sprintf("guess-%d", i))
	}
	acct, err := f.db.GetUser(ctx, "plain@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !acct.Locked {
		t.Fatalf("3 distinct wrong passwords did not lock (failures=%d)", acct.Failures)
	}
	if r := login("Tr0ub4dor&3 ok"); r != "-ERR [AUTH] authentication failed" {
		t.Fatalf("locked account with right password: %q", r)
	}
}

// TestPoppassdRefusalsAlike: unknown user, wrong password and an account
// that may not change its password get the same poppassd reply.
func TestPoppassdRefusalsAlike(t *testing.T) {
	f := newFixture(t)
	yes := true
	if _, err := f.db.ModifyUser(context.Background(), authdb.Request{Service: authdb.ServiceCLI}, "all@example.com", authdb.UserMod{NoPasswd: &yes}); err != nil {
		t.Fatal(err)
	}
	talk := func(user, pass string) string {
		c, err := net.Dial("tcp", f.pp)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		r.ReadString('\n')
		fmt.Fprintf(c, "user %s\r\npass %s\r\n", user, pass)
		var out strings.Builder
		for {
			l, err := r.ReadString('\n')
			out.WriteString(l)
			if err != nil {
				return out.String()
			}
		}
	}
	a := talk("plain@example.com", "wrong")
	b := talk("ghost@example.com", "wrong")
	c := talk("all@example.com", "Tr0ub4dor&3 ok")
	if a != b || a != c || !strings.HasSuffix(a, "500 Old password is incorrect.\r\n") {
		t.Fatalf("replies differ:\n%q\n%q\n%q", a, b, c)
	}
	if !strings.Contains(f.log.String(), "reason=not-allowed") {
		t.Fatalf("log lacks not-allowed:\n%s", f.log)
	}
}

// TestMboxOverride serves an account whose mail location is an mbox file
// (a per-user override): listing, byte-exact RETR with CRLF, and a DELE
// committed at QUIT that leaves the other message and the file's inode.
func TestMboxOverride(t *testing.T) {
	f := newFixture(t)
	spool := filepath.Join(t.TempDir(), "spool")
	content := "From a@example.net  Sat Nov 28 06:19:19 2026\nSubject: one\n\nfirst\n>From quoted\n\n" +
		"From b@example.net  Sat Nov 28 06:20:19 2026\nSubject: two\n\nsecond\n\n"
	if err := os.WriteFile(spool, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	st0, _ := os.Stat(spool)
	loc := "mbox:" + spool
	if _, err := f.db.ModifyUser(context.Background(), authdb.Request{Service: authdb.ServiceCLI}, "plain@example.com", authdb.UserMod{Maildrop: &loc}); err != nil {
		t.Fatal(err)
	}
	c := f.dial()
	c.cmd("USER plain@example.com")
	if r := c.cmd("PASS Tr0ub4dor&3 ok"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("PASS: %q\n%s", r, f.log)
	}
	msg1 := "Subject: one\r\n\r\nfirst\r\n>From quoted\r\n"
	if r := c.cmd("LIST 1"); r != fmt.Sprintf("+OK 1 %d", len(msg1)) {
		t.Fatalf("LIST 1 = %q, want size %d", r, len(msg1))
	}
	if r := c.cmd("RETR 1"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("RETR: %q", r)
	}
	var got strings.Builder
	for {
		l := c.line()
		if l == "." {
			break
		}
		got.WriteString(l + "\r\n")
	}
	if got.String() != msg1 {
		t.Fatalf("RETR 1 = %q, want %q", got.String(), msg1)
	}
	c.cmd("DELE 1")
	if r := c.cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("QUIT: %q", r)
	}
	b, _ := os.ReadFile(spool)
	if strings.Contains(string(b), "first") || !strings.Contains(string(b), "second") || !strings.HasSuffix(string(b), "\n\n") {
		t.Fatalf("spool after UPDATE: %q", b)
	}
	if st1, _ := os.Stat(spool); !os.SameFile(st0, st1) {
		t.Fatal("UPDATE replaced the spool file instead of rewriting it in place")
	}
}

// TestMboxRefusedUpdate deletes the message after one whose wrong
// Content-Length would fit once its neighbour is gone, so the rewrite
// would merge two kept messages: QUIT must answer -ERR [SYS/TEMP], the
// spool must be unchanged, and the next session must see all four
// messages again.
func TestMboxRefusedUpdate(t *testing.T) {
	f := newFixture(t)
	w := "From w@example.com  Sat Nov 28 06:19:19 2026\nS: w\n\nxy\n\n"
	x := "From x@example.com  Sat Nov 28 06:19:19 2026\nS: x\n\nx\n\n"
	n := len("abc\n\n") + len(w) - 1 // fits once v is gone
	u := "From u@example.com  Sat Nov 28 06:19:19 2026\nContent-Length: " + strconv.Itoa(n) + "\n\nabc\n\n"
	v := "From v@example.com  Sat Nov 28 06:19:19 2026\nS: v\n\n" + strings.Repeat("v", 40) + "\n\n"
	content := u + v + w + x
	spool := filepath.Join(t.TempDir(), "spool")
	if err := os.WriteFile(spool, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	loc := "mbox:" + spool
	if _, err := f.db.ModifyUser(context.Background(), authdb.Request{Service: authdb.ServiceCLI}, "plain@example.com", authdb.UserMod{Maildrop: &loc}); err != nil {
		t.Fatal(err)
	}
	login := func() *client {
		c := f.dial()
		c.cmd("USER plain@example.com")
		if r := c.cmd("PASS Tr0ub4dor&3 ok"); !strings.HasPrefix(r, "+OK") {
			t.Fatalf("PASS: %q\n%s", r, f.log)
		}
		if r := c.cmd("STAT"); !strings.HasPrefix(r, "+OK 4 ") {
			t.Fatalf("STAT = %q, want 4 messages", r)
		}
		return c
	}
	c := login()
	if r := c.cmd("DELE 2"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("DELE 2: %q", r)
	}
	if r := c.cmd("QUIT"); !strings.HasPrefix(r, "-ERR [SYS/TEMP]") {
		t.Fatalf("QUIT = %q, want -ERR [SYS/TEMP]", r)
	}
	if b, _ := os.ReadFile(spool); string(b) != content {
		t.Fatalf("a refused UPDATE changed the spool:\n%q", b)
	}
	c = login()
	c.cmd("QUIT")
}

func TestExpandLocation(t *testing.T) {
	for _, tc := range []struct{ tmpl, user, local, domain, want, err string }{
		{"/var/vmail/%d/%n", "a@b.c", "a", "b.c", "/var/vmail/b.c/a", ""},
		{"/m/%u/Maildir", "a@b.c", "a", "b.c", "/m/a@b.c/Maildir", ""},
		{"/m/100%%/%n", "a@b.c", "a", "b.c", "/m/100%/a", ""},
		{"/m/%x", "a@b.c", "a", "b.c", "", "unknown"},
		{"/m/%d/%n", "../x@b.c", "..", "b.c", "", "unsafe"},
		{"/m/%d/%n", "a/b@b.c", "a/b", "b.c", "", "unsafe"},
	} {
		got, err := ExpandLocation(tc.tmpl, tc.user, tc.local, tc.domain)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.tmpl, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.tmpl, got, err, tc.want)
		}
	}
	if _, err := New(Options{Store: (*authdb.DB)(nil), MailLocation: "/var/mail/shared"}); err == nil {
		t.Error("a location without a user part was accepted")
	}
}
