package maildrop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLockExclusive(t *testing.T) {
	dir := newMaildir(t)
	m1, err := Open(context.Background(), dir, Options{Hostname: "hosta"})
	if err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(filepath.Join(dir, lockName))
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(os.Getpid()) + ":hosta\n"; string(content) != want {
		t.Fatalf("lock content %q, want %q", content, want)
	}
	// Same process, same host: the OFD lock says the holder is alive.
	if _, err := Open(context.Background(), dir, Options{Hostname: "hosta"}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: err = %v, want ErrInUse", err)
	}
	// Even by a session that thinks the lock is stale by its mtime, a lock
	// whose OFD lock is held is not broken.
	time.Sleep(20 * time.Millisecond)
	short := Options{Hostname: "hostb", StaleLock: 5 * time.Millisecond, LockRefresh: time.Millisecond}
	if _, err := Open(context.Background(), dir, short); !errors.Is(err, ErrInUse) {
		t.Fatalf("Open with short StaleLock: err = %v, want ErrInUse", err)
	}
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, lockName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock file left after Close: %v", err)
	}
	m2 := openT(t, dir, Options{})
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeLock plants a lock file as another session would have left it.
func writeLock(t *testing.T, dir, content string, age time.Duration) {
	t.Helper()
	p := filepath.Join(dir, lockName)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-age)
	if err := os.Chtimes(p, when, when); err != nil {
		t.Fatal(err)
	}
}

func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if pidAlive(pid) {
		t.Skipf("pid %d was reused at once", pid)
	}
	return pid
}

func TestLockStaleByMtime(t *testing.T) {
	dir := newMaildir(t)
	opts := Options{Hostname: "here", StaleLock: time.Minute, LockRefresh: time.Second}
	writeLock(t, dir, "12345:elsewhere\n", 10*time.Second)
	if _, err := Open(context.Background(), dir, opts); !errors.Is(err, ErrInUse) {
		t.Fatalf("fresh foreign lock: err = %v, want ErrInUse", err)
	}
	writeLock(t, dir, "12345:elsewhere\n", time.Hour)
	log, logs := newLogger()
	opts.Logger = log
	m := openT(t, dir, opts)
	if !strings.Contains(logs.String(), "broke stale session lock") {
		t.Errorf("breaking not logged: %s", logs)
	}
	content, _ := os.ReadFile(filepath.Join(dir, lockName))
	if want := fmt.Sprintf("%d:here\n", os.Getpid()); string(content) != want {
		t.Fatalf("lock content %q, want %q", content, want)
	}
	m.Close()
}

func TestLockDeadLocalPID(t *testing.T) {
	dir := newMaildir(t)
	pid := deadPID(t)
	opts := Options{Hostname: "here"}
	// The same dead PID on another host proves nothing: in use.
	writeLock(t, dir, fmt.Sprintf("%d:elsewhere\n", pid), 0)
	if _, err := Open(context.Background(), dir, opts); !errors.Is(err, ErrInUse) {
		t.Fatalf("foreign host lock: err = %v, want ErrInUse", err)
	}
	writeLock(t, dir, fmt.Sprintf("%d:here\n", pid), 0)
	m := openT(t, dir, opts)
	m.Close()
	// A live local PID without a held OFD lock and a fresh mtime (for
	// example a lock still being created) is not broken.
	writeLock(t, dir, fmt.Sprintf("%d:here\n", os.Getpid()), 0)
	if _, err := Open(context.Background(), dir, opts); !errors.Is(err, ErrInUse) {
		t.Fatalf("live local pid: err = %v, want ErrInUse", err)
	}
	writeLock(t, dir, "", 0) // being written
	if _, err := Open(context.Background(), dir, opts); !errors.Is(err, ErrInUse) {
		t.Fatalf("empty fresh lock: err = %v, want ErrInUse", err)
	}
}

func TestLockHeartbeat(t *testing.T) {
	dir := newMaildir(t)
	m := openT(t, dir, Options{StaleLock: 10 * time.Second, LockRefresh: 20 * time.Millisecond})
	p := filepath.Join(dir, lockName)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(st.ModTime()) < time.Minute {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock mtime not refreshed: %v", st.ModTime())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Because it is refreshed, a session with the same StaleLock on
	// another host (no shared OFD locks) does not consider it stale.
	if _, _, err := breakIfStale(p, &Options{Hostname: "other", StaleLock: 10 * time.Second}, m.log); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("refreshed lock was broken: %v", err)
	}
}

func TestCloseKeepsForeignLock(t *testing.T) {
	dir := newMaildir(t)
	log, logs := newLogger()
	m, err := Open(context.Background(), dir, Options{Logger: log, StaleLock: 10 * time.Second, LockRefresh: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, lockName)
	// Someone broke our lock and took the maildrop.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	writeLock(t, dir, "1:elsewhere\n", 0)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "removed by someone else") {
		if time.Now().After(deadline) {
			t.Fatal("heartbeat did not notice the lost lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "1:elsewhere\n" {
		t.Fatalf("Close removed or changed another session's lock: %q, %v", b, err)
	}
}

// TestHelperHoldLock is not a test: it is the child process of
// TestKilledHolder, selected by MAILDROP_HELPER_DIR.
func TestHelperHoldLock(t *testing.T) {
	dir := os.Getenv("MAILDROP_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	m, err := Open(context.Background(), dir, Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println("locked")
	time.Sleep(30 * time.Second) // the parent kills us long before
	m.Close()
	os.Exit(0)
}

func TestKilledHolder(t *testing.T) {
	dir := newMaildir(t)
	put(t, dir, "new", "1700000001.M1P1.h", "x\n")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MAILDROP_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	if _, err := Open(context.Background(), dir, Options{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("Open while another process holds the lock: err = %v, want ErrInUse", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, lockName)); err != nil {
		t.Fatalf("killed holder's lock file should still exist: %v", err)
	}
	// The holder is gone: its OFD lock is released and its PID is dead, so
	// the next Open breaks the lock at once (StaleLock is long).
	m := openT(t, dir, Options{})
	if n := len(m.Messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}
