package socketmap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/popadm/popadm/authdb"
)

var req = authdb.Request{Service: authdb.ServiceCLI, Actor: "test"}

// newDB makes a real database with example.com (enabled), off.example
// (disabled) and the accounts alice (enabled), bob (disabled), carol in
// off.example, and dave with a Maildir override.
func newDB(t *testing.T) *authdb.DB {
	t.Helper()
	ctx := context.Background()
	db, err := authdb.Open(ctx, filepath.Join(t.TempDir(), "auth.db"), authdb.Options{
		Create: true, Scheme: "SHA512-CRYPT", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, d := range []string{"example.com", "off.example"} {
		if err := db.AddDomain(ctx, req, authdb.Domain{Name: d}); err != nil {
			t.Fatal(err)
		}
	}
	pw := authdb.PasswordInput{Hash: "{PLAIN}Tr0ub4dor&3"}
	for _, u := range []authdb.NewUser{
		{Name: "alice@example.com"},
		{Name: "bob@example.com", Disabled: true},
		{Name: "carol@off.example"},
		{Name: "dave@example.com", Maildrop: "maildir:/var/vmail/other/dave"},
		{Name: "erin@example.com", Maildrop: "mbox:/var/vmail/mbox/erin"},
		{Name: "frank@example.com", Maildrop: "maildir:/srv/elsewhere/frank"},
	} {
		if _, err := db.AddUser(ctx, req, u, pw); err != nil {
			t.Fatalf("add %s: %v", u.Name, err)
		}
	}
	yes := true
	if _, err := db.ModifyDomain(ctx, req, "off.example", authdb.DomainMod{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	return db
}

func newServer(t *testing.T, db Store) *Server {
	t.Helper()
	s, err := New(Options{Store: db, MailLocation: "maildir:/var/vmail/%d/%n",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTemplateBase(t *testing.T) {
	for in, want := range map[string]string{
		"maildir:/var/vmail/%d/%n":         "/var/vmail",
		"maildir:/var/vmail/%d/%n/Maildir": "/var/vmail",
		"/home/%n/Maildir":                 "/home",
		"mbox:/var/mail/%u":                "/var/mail",
		"maildir:/var/vmail/x%d":           "/var/vmail",
		"maildir:/%d/%n":                   "/",
	} {
		got, err := TemplateBase(in)
		if err != nil || got != want {
			t.Errorf("TemplateBase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"imap:/x/%n", "maildir:rel/%n", "maildir:%d"} {
		if _, err := TemplateBase(bad); err == nil {
			t.Errorf("TemplateBase(%q) succeeded", bad)
		}
	}
}

func TestLookups(t *testing.T) {
	s := newServer(t, newDB(t))
	ctx := context.Background()
	for _, tc := range []struct{ name, key, want string }{
		{"domain", "example.com", "OK example.com"},
		{"domain", "EXAMPLE.COM", "OK example.com"},
		{"domain", "off.example", "NOTFOUND "},
		{"domain", "unknown.example", "NOTFOUND "},
		{"domain", "[127.0.0.1]", "NOTFOUND "},
		{"mailbox", "alice@example.com", "OK example.com/alice/"},
		{"mailbox", "Alice@Example.COM", "OK example.com/alice/"},
		{"mailbox", "bob@example.com", "NOTFOUND "},
		{"mailbox", "carol@off.example", "NOTFOUND "},
		{"mailbox", "nobody@example.com", "NOTFOUND "},
		{"mailbox", "alice@unknown.example", "NOTFOUND "},
		{"mailbox", "alice", "NOTFOUND "},
		{"mailbox", "@example.com", "NOTFOUND "},
		{"mailbox", "alice@", "NOTFOUND "},
		{"mailbox", "x'; DROP TABLE users;--@example.com", "NOTFOUND "},
		{"mailbox", "dave@example.com", "OK other/dave/"},
		{"mailbox", "erin@example.com", "OK mbox/erin"},
		{"mailbox", "frank@example.com", "TEMP mail location outside virtual_mailbox_base"},
		{"alias", "alice@example.com", `PERM unknown map "alias"`},
	} {
		if got := s.Lookup(ctx, tc.name, tc.key).String(); got != tc.want {
			t.Errorf("%s %s = %q, want %q", tc.name, tc.key, got, tc.want)
		}
	}
	// The database still answers after the injection attempt.
	if got := s.Lookup(ctx, "mailbox", "alice@example.com").String(); got != "OK example.com/alice/" {
		t.Errorf("after injection attempt: %q", got)
	}
}

// failStore fails every lookup like a broken database.
type failStore struct{}

func (failStore) GetDomain(context.Context, string) (*authdb.Domain, error) {
	return nil, fmt.Errorf("authdb: get domain: %w", authdb.ErrTemporary)
}

func (failStore) GetUser(context.Context, string) (*authdb.Account, error) {
	return nil, fmt.Errorf("authdb: get user: %w", authdb.ErrTemporary)
}

func TestStoreFailureIsTemp(t *testing.T) {
	s := newServer(t, failStore{})
	for _, m := range []string{"domain example.com", "mailbox alice@example.com"} {
		name, key, _ := strings.Cut(m, " ")
		if got := s.Lookup(context.Background(), name, key); got.Status != "TEMP" {
			t.Errorf("%s: %v, want TEMP", m, got)
		}
	}
}

// serve starts s on a unix socket in a temp directory and returns its path.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "sm.sock")
	ln, err := Listen("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return sock
}

type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, sock string) *client {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

// raw sends bytes and reads one reply netstring.
func (c *client) raw(b []byte) (string, error) {
	if _, err := c.c.Write(b); err != nil {
		return "", err
	}
	rep, err := ReadNetstring(c.r, MaxSize)
	return string(rep), err
}

func (c *client) ask(req string) string {
	rep, err := c.raw(AppendNetstring(nil, []byte(req)))
	if err != nil {
		c.t.Errorf("ask %q: %v", req, err)
	}
	return rep
}

// closed reports whether the server closed the connection.
func (c *client) closed() bool {
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.r.ReadByte()
	// Closing with unread data pending resets instead (Linux unix
	// sockets give ECONNRESET).
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET)
}

func TestWire(t *testing.T) {
	s := newServer(t, newDB(t))
	sock := serve(t, s)
	c := dial(t, sock)
	// One persistent connection answers many requests.
	for range 3 {
		if got := c.ask("mailbox alice@example.com"); got != "OK example.com/alice/" {
			t.Fatalf("got %q", got)
		}
		if got := c.ask("domain example.com"); got != "OK example.com" {
			t.Fatalf("got %q", got)
		}
		if got := c.ask("mailbox bob@example.com"); got != "NOTFOUND " {
			t.Fatalf("got %q", got)
		}
	}
	// Malformed requests inside a good netstring: PERM, connection stays.
	for _, bad := range []string{"", "mailbox", "mailbox ", " alice@example.com", "nomap x"} {
		if got := c.ask(bad); !strings.HasPrefix(got, "PERM ") {
			t.Errorf("%q: %q, want PERM", bad, got)
		}
	}
	if got := c.ask("domain example.com"); got != "OK example.com" {
		t.Fatalf("after malformed requests: %q", got)
	}
}

func TestBadFramingClosed(t *testing.T) {
	s := newServer(t, newDB(t))
	sock := serve(t, s)
	for _, in := range []string{"100001:", "999999999:x", "5:abcdef", "abc", "07:domain ,"} {
		c := dial(t, sock)
		got, err := c.raw([]byte(in))
		if err != nil || !strings.HasPrefix(got, "PERM ") {
			t.Errorf("%q: %q, %v; want PERM", in, got, err)
			continue
		}
		if !c.closed() {
			t.Errorf("%q: connection left open", in)
		}
	}
	// An oversized request of real bytes is refused before it is read.
	c := dial(t, sock)
	big := AppendNetstring(nil, []byte("mailbox "+strings.Repeat("a", MaxSize)))
	go c.c.Write(big) // the server stops reading, so the write may block
	rep, err := ReadNetstring(c.r, MaxSize)
	if err != nil || !strings.HasPrefix(string(rep), "PERM ") || !strings.Contains(string(rep), "too long") {
		t.Fatalf("oversized: %q, %v", rep, err)
	}
	if !c.closed() {
		t.Fatal("oversized: connection left open")
	}
}

func TestIdleTimeout(t *testing.T) {
	s, err := New(Options{Store: newDB(t), IdleTimeout: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, serve(t, s))
	if got := c.ask("domain example.com"); got != "OK example.com" {
		t.Fatalf("got %q", got)
	}
	if !c.closed() {
		t.Fatal("idle connection not closed")
	}
}

// TestManyPersistentConnections keeps 50 connections open at once, the way
// several Postfix processes hold theirs, and looks up on all of them
// concurrently.
func TestManyPersistentConnections(t *testing.T) {
	s := newServer(t, newDB(t))
	sock := serve(t, s)
	const n, rounds = 50, 20
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, sock)
	}
	// Every connection is open and idle before any lookup: a server that
	// served one connection at a time would stall here.
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				req, want := "mailbox alice@example.com", "OK example.com/alice/"
				if (i+r)%2 == 1 {
					req, want = "mailbox nobody@example.com", "NOTFOUND "
				}
				rep, err := c.raw(AppendNetstring(nil, []byte(req)))
				if err != nil || rep != want {
					errs <- fmt.Sprintf("conn %d round %d: %q, %v", i, r, rep, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestShutdownClosesIdleConnections(t *testing.T) {
	s := newServer(t, newDB(t))
	sock := filepath.Join(t.TempDir(), "sm.sock")
	ln, err := Listen("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	c := dial(t, sock)
	if got := c.ask("domain example.com"); got != "OK example.com" {
		t.Fatalf("got %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !c.closed() {
		t.Fatal("connection open after shutdown")
	}
}

func TestListen(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "sm.sock")
	ln, err := Listen("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	// A live socket is not taken over.
	if _, err := Listen("unix:" + sock); err == nil {
		t.Fatal("second Listen on a live socket succeeded")
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	// A stale one is replaced.
	ln, err = Listen("unix:" + sock)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	ln.Close()
	for _, bad := range []string{"inet:0.0.0.0:0", "inet:192.0.2.1:25", "tcp:127.0.0.1:0", "unix:rel.sock", "none"} {
		if l, err := Listen(bad); err == nil {
			l.Close()
			t.Errorf("Listen(%q) succeeded", bad)
		}
	}
	l, err := Listen("inet:127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}
