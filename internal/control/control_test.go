package control

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// table is a Handler over a fixed list of sessions.
type table struct {
	mu       sync.Mutex
	sessions []Session
	reloads  int
	fail     error
}

func (h *table) Who() []Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Session(nil), h.sessions...)
}

func (h *table) Kick(t Target, _ string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var keep []Session
	n := 0
	for _, s := range h.sessions {
		addr, _ := net.ResolveTCPAddr("tcp", s.Remote)
		if t.Match(s.User, addr) {
			n++
			continue
		}
		keep = append(keep, s)
	}
	h.sessions = keep
	return n
}

func (h *table) Reload() (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail != nil {
		return "", h.fail
	}
	h.reloads++
	return "reloaded", nil
}

func serve(t *testing.T, h Handler) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "c.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(h, slog.New(slog.NewTextHandler(io.Discard, nil))).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return")
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket left behind: %v", err)
		}
	})
	return path
}

func TestListenModesAndStale(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	path := filepath.Join(dir, "c.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode %v, want socket 0660", fi.Mode())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o750 {
		t.Fatalf("directory mode %v, want 0750", di.Mode().Perm())
	}
	// A live socket is not taken over.
	if _, err := Listen(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("Listen on a live socket = %v, want ErrInUse", err)
	}
	// A stale socket file (nobody listening) is replaced.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket file missing: %v", err)
	}
	ln2, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ln2.Close()
	// A regular file is never removed.
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path); err == nil {
		t.Fatal("Listen replaced a regular file")
	}
	if b, _ := os.ReadFile(path); string(b) != "x" {
		t.Fatal("regular file changed")
	}
}

func TestClientServer(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := &table{sessions: []Session{
		{ID: "a-1", Service: "pop3", Proto: "pop3", User: "ann@example.com", Remote: "127.0.0.1:4000", Since: since},
		{ID: "a-2", Service: "pop3s", Proto: "pop3s", User: "bob@example.com", Remote: "10.1.2.3:4001", Since: since, TLS: true},
		{ID: "a-3", Service: "poppassd", Proto: "poppassd", Remote: "[2001:db8::1]:4002", Since: since},
	}}
	c := &Client{Path: serve(t, h)}
	ctx := context.Background()

	got, err := c.Who(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1] != h.sessions[1] || !got[1].Since.Equal(since) {
		t.Fatalf("Who = %+v", got)
	}

	n, err := c.Kick(ctx, "ANN@example.com", "bye")
	if err != nil || n != 1 {
		t.Fatalf("Kick(user) = %d, %v", n, err)
	}
	n, err = c.Kick(ctx, "nobody@example.com", "")
	if err != nil || n != 0 {
		t.Fatalf("Kick(nobody) = %d, %v", n, err)
	}
	n, err = c.Kick(ctx, "2001:db8::/32", "")
	if err != nil || n != 1 {
		t.Fatalf("Kick(net6) = %d, %v", n, err)
	}
	_, err = c.Kick(ctx, "10.0.0.0/99", "")
	var se *ServerError
	if !errors.As(err, &se) {
		t.Fatalf("Kick(bad) = %v, want *ServerError", err)
	}

	msg, err := c.Reload(ctx)
	h.mu.Lock()
	reloads := h.reloads
	h.mu.Unlock()
	if err != nil || msg != "reloaded" || reloads != 1 {
		t.Fatalf("Reload = %q, %v (reloads %d)", msg, err, reloads)
	}
	h.mu.Lock()
	h.fail = errors.New("bad key")
	h.mu.Unlock()
	if _, err := c.Reload(ctx); !errors.As(err, &se) || se.Msg != "bad key" {
		t.Fatalf("failing Reload = %v", err)
	}
	if _, err := c.Do(ctx, Request{Cmd: "dance"}); !errors.As(err, &se) {
		t.Fatalf("unknown command = %v", err)
	}
}

func TestClientUnreachable(t *testing.T) {
	c := &Client{Path: filepath.Join(t.TempDir(), "none.sock")}
	if _, err := c.Who(context.Background()); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Who without a server = %v, want ErrUnreachable", err)
	}
}

func TestParseTarget(t *testing.T) {
	tcp := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cases := []struct {
		target string
		user   string
		remote string
		want   bool
	}{
		{"ann@example.com", "Ann@Example.com", "127.0.0.1:1", true},
		{"ann@example.com", "bob@example.com", "127.0.0.1:1", false},
		{"ann@example.com", "", "127.0.0.1:1", false},
		{"127.0.0.1", "", "127.0.0.1:1", true},
		{"127.0.0.1", "x", "127.0.0.2:1", false},
		{"127.0.0.0/8", "x", "127.9.9.9:1", true},
		{"127.0.0.1/32", "x", "[::ffff:127.0.0.1]:1", true},
		{"192.168.1.7/24", "", "192.168.1.200:1", true},
		{"192.168.1.0/24", "", "192.168.2.1:1", false},
		{"::1", "", "[::1]:1", true},
		{"2001:db8::/32", "", "127.0.0.1:1", false},
	}
	for _, c := range cases {
		tg, err := ParseTarget(c.target)
		if err != nil {
			t.Fatalf("ParseTarget(%q): %v", c.target, err)
		}
		if got := tg.Match(c.user, tcp(c.remote)); got != c.want {
			t.Errorf("%q matches (%q, %s) = %v, want %v", c.target, c.user, c.remote, got, c.want)
		}
	}
	for _, bad := range []string{"", "  ", "10.0.0.0/33", "x/y", "a b"} {
		if _, err := ParseTarget(bad); !errors.Is(err, ErrBadTarget) {
			t.Errorf("ParseTarget(%q) = %v, want ErrBadTarget", bad, err)
		}
	}
	if tg, _ := ParseTarget("192.168.1.7/24"); tg.String() != "192.168.1.0/24" || tg.IsUser() {
		t.Errorf("String = %q", tg.String())
	}
}
