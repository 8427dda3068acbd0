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
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// readOwner returns the owner the lock file of dir records ("pid:host" or
// freeMark), without the padding.
func readOwner(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, lockName))
	if err != nil {
		t.Fatal(err)
	}
	return ownerString(b)
}

// lockLost reports whether l's heartbeat found the lock taken over.
func lockLost(l *sessionLock) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// lockInode returns the lock file's identity.
func lockInode(t *testing.T, dir string) os.FileInfo {
	t.Helper()
	st, err := os.Lstat(filepath.Join(dir, lockName))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

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
	want := strconv.Itoa(os.Getpid()) + ":hosta"
	if len(content) != recordSize || ownerString(content) != want || content[recordSize-1] != '\n' {
		t.Fatalf("lock content %q, want %q padded to %d octets", content, want, recordSize)
	}
	first := lockInode(t, dir)
	// Same process, same host: the OFD lock says the holder is alive.
	start := time.Now()
	if _, err := Open(context.Background(), dir, Options{Hostname: "hosta"}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: err = %v, want ErrInUse", err)
	} else if !strings.Contains(err.Error(), want) {
		t.Errorf("ErrInUse does not name the holder %q: %v", want, err)
	}
	t.Logf("second Open refused after %v", time.Since(start))
	// Even a session that thinks the lock is stale by its mtime does not
	// break a lock whose OFD lock is held.
	time.Sleep(20 * time.Millisecond)
	short := Options{Hostname: "hostb", StaleLock: 5 * time.Millisecond, LockRefresh: time.Millisecond}
	if _, err := Open(context.Background(), dir, short); !errors.Is(err, ErrInUse) {
		t.Fatalf("Open with short StaleLock: err = %v, want ErrInUse", err)
	}
	if got := readOwner(t, dir); got != want {
		t.Fatalf("refused Opens changed the record to %q", got)
	}
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The lock file stays, marked free, and is the same file next time.
	if got := readOwner(t, dir); got != freeMark {
		t.Fatalf("record after Close %q, want %q", got, freeMark)
	}
	m2 := openT(t, dir, Options{})
	if !os.SameFile(first, lockInode(t, dir)) {
		t.Fatal("lock file was replaced between sessions")
	}
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	if st := lockInode(t, dir); !os.SameFile(first, st) || st.Size() != recordSize {
		t.Fatalf("lock file replaced or resized: size %d", st.Size())
	}
}

// writeLock plants a lock file as another session (or an earlier version,
// which wrote "pid:host\n" unpadded) would have left it.
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
	// A record of another host: its OFD lock may not be visible here, so
	// only its age counts.
	for _, rec := range []string{"12345:elsewhere\n", string(makeRecord("12345:elsewhere")[:])} {
		writeLock(t, dir, rec, 10*time.Second)
		if _, err := Open(context.Background(), dir, opts); !errors.Is(err, ErrInUse) {
			t.Fatalf("fresh foreign lock %q: err = %v, want ErrInUse", rec, err)
		}
		if got := readOwner(t, dir); got != "12345:elsewhere" {
			t.Fatalf("refused Open changed the record to %q", got)
		}
	}
	writeLock(t, dir, "12345:elsewhere\n", time.Hour)
	log, logs := newLogger()
	opts.Logger = log
	m := openT(t, dir, opts)
	if !strings.Contains(logs.String(), "broke stale session lock") {
		t.Errorf("breaking not logged: %s", logs)
	}
	if got, want := readOwner(t, dir), fmt.Sprintf("%d:here", os.Getpid()); got != want {
		t.Fatalf("lock record %q, want %q", got, want)
	}
	m.Close()
	if got := readOwner(t, dir); got != freeMark {
		t.Fatalf("record after Close %q, want %q", got, freeMark)
	}
}

func TestLockLocalHolderGone(t *testing.T) {
	dir := newMaildir(t)
	pid := deadPID(t)
	opts := Options{Hostname: "here"}
	// The same dead PID on another host proves nothing: in use.
	writeLock(t, dir, fmt.Sprintf("%d:elsewhere\n", pid), 0)
	if _, err := Open(context.Background(), dir, opts); !errors.Is(err, ErrInUse) {
		t.Fatalf("foreign host lock: err = %v, want ErrInUse", err)
	}
	// On this host the free OFD lock shows the holder is gone, whatever
	// the record says: a dead PID, a live one (its number reused), and
	// a lock file of an earlier version.
	for _, rec := range []string{
		fmt.Sprintf("%d:here\n", pid),
		string(makeRecord(fmt.Sprintf("%d:here", os.Getpid()))[:]),
		"1:here\n",
	} {
		writeLock(t, dir, rec, 0)
		m, err := Open(context.Background(), dir, opts)
		if err != nil {
			t.Fatalf("record %q of this host without OFD lock: %v", rec, err)
		}
		m.Close()
	}
	// An empty or malformed record with a fresh mtime names nobody: only
	// its age can free it.
	for _, rec := range []string{"", "garbage", "\x00\x00\x00\x00"} {
		writeLock(t, dir, rec, 0)
		if _, err := Open(context.Background(), dir, opts); !errors.Is(err, ErrInUse) {
			t.Fatalf("fresh record %q: err = %v, want ErrInUse", rec, err)
		}
		writeLock(t, dir, rec, time.Hour)
		m, err := Open(context.Background(), dir, opts)
		if err != nil {
			t.Fatalf("old record %q: %v", rec, err)
		}
		m.Close()
	}
}

// TestStaleRulesWithoutOFD covers the rules used where byte-range locks
// do not work (NFS without a lock manager): the record and its age alone.
func TestStaleRulesWithoutOFD(t *testing.T) {
	dead := deadPID(t)
	live := os.Getpid()
	const stale = time.Minute
	cases := []struct {
		rec   string
		age   time.Duration
		taken bool
	}{
		{fmt.Sprintf("%d:here", live), 0, false},
		{fmt.Sprintf("%d:here", dead), 0, true},
		{fmt.Sprintf("%d:here", live), 2 * stale, true},
		{fmt.Sprintf("%d:elsewhere", dead), 0, false},
		{fmt.Sprintf("%d:elsewhere", dead), 2 * stale, true},
		{"", 0, false},
		{"", 2 * stale, true},
	}
	for _, c := range cases {
		kind, pid, owner := parseLockRecord([]byte(c.rec))
		if kind == ownerFree {
			t.Fatalf("%q parsed as free", c.rec)
		}
		reason := staleReason(kind, pid, owner, "here", false, c.age, stale)
		if (reason != "") != c.taken {
			t.Errorf("record %q, age %v: reason %q, want taken=%v", c.rec, c.age, reason, c.taken)
		}
	}
	if kind, _, _ := parseLockRecord(freeRecord[:]); kind != ownerFree {
		t.Fatal("free record not recognised")
	}
}

func TestLockHostNameSanitised(t *testing.T) {
	dir := newMaildir(t)
	long := strings.Repeat("h", 300) + " x\ny"
	m := openT(t, dir, Options{Hostname: long})
	got := readOwner(t, dir)
	want := strconv.Itoa(os.Getpid()) + ":" + strings.Repeat("h", maxRecordHost)
	if got != want {
		t.Fatalf("record %q, want %q", got, want)
	}
	m.Close()
	odd := openT(t, dir, Options{Hostname: "a b\nc"})
	if got := readOwner(t, dir); got != strconv.Itoa(os.Getpid())+":a_b_c" {
		t.Fatalf("record %q", got)
	}
	odd.Close()
	// A dead holder of this (sanitised) host name is recognised as local.
	writeLock(t, dir, fmt.Sprintf("%d:a_b_c\n", os.Getpid()), 0)
	m2 := openT(t, dir, Options{Hostname: "a b\nc"})
	m2.Close()
}

func TestLockFileNotFollowed(t *testing.T) {
	dir := newMaildir(t)
	p := filepath.Join(dir, lockName)
	target := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(target, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), dir, Options{}); err == nil || errors.Is(err, ErrInUse) {
		t.Fatalf("Open through a symlinked lock file: err = %v, want a failure", err)
	}
	if os.Geteuid() == 0 {
		// A hard link to a file that does not belong to the maildir's
		// owner (as root, the file can be given away to test this).
		if err := os.Chown(target, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(target, p); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(context.Background(), dir, Options{}); err == nil || errors.Is(err, ErrInUse) {
			t.Fatalf("Open through a hard link to another user's file: err = %v, want a failure", err)
		}
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "keep me\n" {
		t.Fatalf("link target changed: %q, %v", b, err)
	}
}

// TestLockFileWithBackupLink: a lasting second link of the maildir
// owner's lock file, as a backup with hard links leaves, does not stop
// logins.
func TestLockFileWithBackupLink(t *testing.T) {
	dir := newMaildir(t)
	openT(t, dir, Options{}).Close()
	backup := filepath.Join(t.TempDir(), lockName)
	if err := os.Link(filepath.Join(dir, lockName), backup); err != nil {
		t.Fatal(err)
	}
	m := openT(t, dir, Options{})
	if got, want := readOwner(t, dir), strconv.Itoa(os.Getpid())+":"; !strings.HasPrefix(got, want) {
		t.Fatalf("record %q, want ours", got)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
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
	var st os.FileInfo
	for {
		var err error
		if st, err = os.Stat(p); err != nil {
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
	// Because it is refreshed, a session on another host that cannot see
	// our OFD lock and has the same StaleLock leaves it alone.
	kind, pid, owner := parseLockRecord([]byte(readOwner(t, dir)))
	if r := staleReason(kind, pid, owner, "other", true, time.Since(st.ModTime()), 10*time.Second); r != "" {
		t.Fatalf("refreshed lock judged stale by another host: %s", r)
	}
	if lockLost(m.lock) {
		t.Fatal("heartbeat thinks the lock was lost")
	}
}

func TestCloseKeepsForeignLock(t *testing.T) {
	// Someone replaced our lock file, or overwrote our record after
	// judging it stale (a host that could not see our OFD lock).
	for _, how := range []string{"replaced", "overwritten"} {
		t.Run(how, func(t *testing.T) {
			dir := newMaildir(t)
			log, logs := newLogger()
			m, err := Open(context.Background(), dir, Options{Logger: log, StaleLock: 10 * time.Second, LockRefresh: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, lockName)
			foreign := string(makeRecord("1:elsewhere")[:])
			if how == "replaced" {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				writeLock(t, dir, foreign, 0)
			} else if err := os.WriteFile(p, []byte(foreign), 0o600); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(logs.String(), "taken over by someone else") {
				if time.Now().After(deadline) {
					t.Fatal("heartbeat did not notice the lost lock")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(p); err != nil || string(b) != foreign {
				t.Fatalf("Close changed another session's lock: %q, %v", b, err)
			}
		})
	}
}

// TestCloseLeavesForeignRecordWithoutHeartbeat: Close checks the record
// itself before marking it free, even if no heartbeat ran since.
func TestCloseLeavesForeignRecordWithoutHeartbeat(t *testing.T) {
	dir := newMaildir(t)
	m := openT(t, dir, Options{})
	foreign := string(makeRecord("1:elsewhere")[:])
	if err := os.WriteFile(filepath.Join(dir, lockName), []byte(foreign), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readOwner(t, dir); got != "1:elsewhere" {
		t.Fatalf("Close overwrote a foreign record with %q", got)
	}
}

// TestLockConcurrent: sessions racing for one maildrop never overlap.
func TestLockConcurrent(t *testing.T) {
	dir := newMaildir(t)
	put(t, dir, "new", "1700000001.M1P1.h", "x\n")
	var holders, wins, busy, overlaps atomic.Int32
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var errs []error
	for range 8 {
		wg.Go(func() {
			for range 50 {
				m, err := Open(context.Background(), dir, Options{})
				if errors.Is(err, ErrInUse) {
					busy.Add(1)
					continue
				}
				if err != nil {
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
					return
				}
				if holders.Add(1) != 1 {
					overlaps.Add(1)
				}
				wins.Add(1)
				time.Sleep(50 * time.Microsecond)
				holders.Add(-1)
				if err := m.Close(); err != nil {
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := overlaps.Load(); n > 0 {
		t.Fatalf("%d times two sessions held the lock at once", n)
	}
	if wins.Load() == 0 {
		t.Fatal("no session ever got the lock")
	}
	if got := readOwner(t, dir); got != freeMark {
		t.Fatalf("record after all sessions %q, want %q", got, freeMark)
	}
	t.Logf("%d sessions, %d refused", wins.Load(), busy.Load())
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
	host, _ := os.Hostname()
	if got, want := readOwner(t, dir), strconv.Itoa(cmd.Process.Pid)+":"+recordHost(host); got != want {
		t.Fatalf("killed holder's record %q, want %q", got, want)
	}
	// The holder is gone and the kernel dropped its OFD lock, so the
	// next Open takes the lock at once (StaleLock is long).
	m := openT(t, dir, Options{})
	if n := len(m.Messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// TestLockFileOwnedByMaildirOwner: root creates the lock file of a user's
// maildir as that user's file.
func TestLockFileOwnedByMaildirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the maildir away")
	}
	dir := newMaildir(t)
	if err := os.Chown(dir, 65534, 65533); err != nil {
		t.Fatal(err)
	}
	openT(t, dir, Options{}).Close()
	if uid, gid := fileOwner(lockInode(t, dir)); uid != 65534 || gid != 65533 {
		t.Fatalf("lock file owned by %d:%d, want 65534:65533", uid, gid)
	}
	// Its owner may hard-link it (a backup); logins go on.
	if err := os.Link(filepath.Join(dir, lockName), filepath.Join(t.TempDir(), "copy")); err != nil {
		t.Fatal(err)
	}
	openT(t, dir, Options{}).Close()
}
