package mbox

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// writeDotlock creates path.lock by hand with the given content.
func writeDotlock(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".lock", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHeldDotlockGivesInUse(t *testing.T) {
	path := writeSpool(t, mdaMessage("a", 2))
	writeDotlock(t, path, "12345:otherhost\n")
	o, _ := testOptions(t)
	o.LockTimeout = 300 * time.Millisecond
	_, err := Open(context.Background(), path, o)
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("Open with a held dotlock: %v, want ErrInUse", err)
	}
	if !strings.Contains(err.Error(), "12345:otherhost") {
		t.Errorf("error does not name the holder: %v", err)
	}
	// The foreign lock is left alone.
	if b := mustRead(t, path+".lock"); string(b) != "12345:otherhost\n" {
		t.Errorf("dotlock changed: %q", b)
	}

	// A session opened before the dotlock appeared cannot commit either,
	// and commits nothing.
	os.Remove(path + ".lock")
	s := openT(t, path, o)
	writeDotlock(t, path, "")
	before := mustRead(t, path)
	if err := s.Commit([]int{0}); !errors.Is(err, ErrInUse) {
		t.Fatalf("Commit with a held dotlock: %v", err)
	}
	if string(mustRead(t, path)) != string(before) {
		t.Error("spool changed")
	}
}

func TestStaleDotlocks(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	deadPID := strconv.Itoa(dead.ProcessState.Pid())
	cases := []struct {
		name    string
		content string
		stale   time.Duration
		age     time.Duration
		broken  bool
	}{
		{"our host, dead pid", deadPID + ":mboxtest\n", 0, 0, true},
		{"our host, live pid", strconv.Itoa(os.Getpid()) + ":mboxtest\n", 0, 0, false},
		{"other host, dead pid", deadPID + ":elsewhere\n", 0, 0, false},
		{"empty (Postfix), young", "", 0, 0, false},
		{"foreign, old", "1:elsewhere\n", 200 * time.Millisecond, 400 * time.Millisecond, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeSpool(t, mdaMessage("a", 2))
			writeDotlock(t, path, c.content)
			if c.age > 0 {
				time.Sleep(c.age) // ctime cannot be set back: let it age
			}
			o, logs := testOptions(t)
			o.LockTimeout = 300 * time.Millisecond
			o.StaleLock = c.stale
			s, err := Open(context.Background(), path, o)
			if c.broken {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				s.Close()
				if !strings.Contains(logs.String(), "broke stale dotlock") {
					t.Error("breaking the lock was not logged")
				}
				assertNoLeftovers(t, path, o)
				return
			}
			if !errors.Is(err, ErrInUse) {
				t.Fatalf("Open: %v, want ErrInUse", err)
			}
			if b := mustRead(t, path+".lock"); string(b) != c.content {
				t.Errorf("dotlock changed to %q", b)
			}
		})
	}
}

// TestFcntlLockOfAnotherProcessIsRespected: a separate process holding a
// classic F_SETLK lock (procmail after "Lock failure": no dotlock) keeps
// Open out; once it has appended its message and unlocked, Open sees it.
func TestFcntlLockOfAnotherProcessIsRespected(t *testing.T) {
	path := writeSpool(t, mdaMessage("a", 2))
	h := startHelper(t, "hold", "MBOX_SPOOL="+path, "MBOX_HOLD_FCNTL=1", "MBOX_APPEND=late")
	h.expect(t, "held")
	o, _ := testOptions(t)
	o.LockTimeout = 300 * time.Millisecond
	if _, err := Open(context.Background(), path, o); !errors.Is(err, ErrInUse) {
		t.Fatalf("Open while another process holds F_SETLK: %v", err)
	}
	h.wait(t)
	s := openT(t, path, o)
	if n := len(s.Messages()); n != 2 {
		t.Fatalf("%d messages after the append, want 2", n)
	}
}

// TestWaitsForPostfixStyleDelivery: while a process holds the dotlock and
// the fcntl lock the Postfix way, Open keeps retrying; when the delivery
// is done, Open gets the locks and sees the new message.
func TestWaitsForPostfixStyleDelivery(t *testing.T) {
	path := writeSpool(t, mdaMessage("a", 2))
	h := startHelper(t, "hold", "MBOX_SPOOL="+path, "MBOX_HOLD_DOT=1", "MBOX_HOLD_FCNTL=1", "MBOX_APPEND=late")
	h.expect(t, "held")
	o, logs := testOptions(t)
	o.LockTimeout = 20 * time.Second
	type result struct {
		s   *Spool
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := Open(context.Background(), path, o)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("Open returned while the locks were held: %v", r.err)
	case <-time.After(100 * time.Millisecond):
	}
	h.wait(t)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.s.Close()
	if n := len(r.s.Messages()); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
	if strings.Contains(logs.String(), "broke") {
		t.Error("a live lock was broken")
	}
	assertNoLeftovers(t, path, o)
}

// TestOurLocksExcludeClassicLocks: while lockSpool holds the locks, a
// classic F_SETLK write lock conflicts (checked with F_GETLK, which sees
// OFD locks too) and the dotlock names us; release removes both.
func TestOurLocksExcludeClassicLocks(t *testing.T) {
	path := writeSpool(t, mdaMessage("a", 2))
	o, _ := testOptions(t)
	o, _ = o.withDefaults()
	f, _, err := openSpoolFile(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk, err := lockSpool(context.Background(), f, path, true, &o, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	if got := string(mustRead(t, path+".lock")); got != strconv.Itoa(os.Getpid())+":mboxtest\n" {
		t.Errorf("dotlock content %q", got)
	}
	probe := func() int16 {
		g, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		lk := unix.Flock_t{Type: unix.F_WRLCK}
		if err := unix.FcntlFlock(g.Fd(), unix.F_GETLK, &lk); err != nil {
			t.Fatal(err)
		}
		return lk.Type
	}
	if probe() == unix.F_UNLCK {
		t.Error("no conflicting fcntl lock while held")
	}
	// A second session in this process is excluded by the OFD lock.
	g, _, err := openSpoolFile(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got, err := kernelTryLock(g, unix.F_RDLCK); err != nil || got {
		t.Errorf("second OFD lock in the same process: got %v, %v", got, err)
	}
	if err := lk.release(); err != nil {
		t.Fatal(err)
	}
	if probe() != unix.F_UNLCK {
		t.Error("fcntl lock still held after release")
	}
	if _, err := os.Lstat(path + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Error("dotlock left after release")
	}
}

func TestDotlockIsRefreshed(t *testing.T) {
	path := writeSpool(t, mdaMessage("a", 2))
	o, _ := testOptions(t)
	o.StaleLock = 300 * time.Millisecond // refresh every 100 ms
	o, _ = o.withDefaults()
	f, _, err := openSpoolFile(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk, err := lockSpool(context.Background(), f, path, true, &o, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	first := statT(t, path+".lock")
	var later fileState
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		if later = statT(t, path+".lock"); later.mtime != first.mtime {
			break
		}
	}
	lk.release()
	if later.mtime == first.mtime {
		t.Error("dotlock mtime was not refreshed")
	}
}

func TestSecondSessionIsRefused(t *testing.T) {
	path := writeSpool(t, mdaMessage("a", 2))
	o, _ := testOptions(t)
	s := openT(t, path, o)
	if _, err := Open(context.Background(), path, o); !errors.Is(err, ErrInUse) {
		t.Fatalf("second session: %v, want ErrInUse", err)
	}
	// Delivery is not blocked by an open session.
	if err := deliverPostfix(path, mdaMessage("b", 2), time.Second, false); err != nil {
		t.Fatalf("delivery during a session: %v", err)
	}
	s.Close()
	s2 := openT(t, path, o)
	if n := len(s2.Messages()); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}

func TestUnsafeSpools(t *testing.T) {
	o, _ := testOptions(t)
	t.Run("symlink", func(t *testing.T) {
		target := writeSpool(t, mdaMessage("a", 2))
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(context.Background(), link, o); !errors.Is(err, ErrUnsafe) {
			t.Errorf("symlink: %v", err)
		}
	})
	t.Run("hard link", func(t *testing.T) {
		path := writeSpool(t, mdaMessage("a", 2))
		if err := os.Link(path, path+".2"); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(context.Background(), path, o); !errors.Is(err, ErrUnsafe) {
			t.Errorf("hard link: %v", err)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "fifo")
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(context.Background(), path, o); !errors.Is(err, ErrUnsafe) {
			t.Errorf("fifo: %v", err)
		}
	})
	t.Run("owner", func(t *testing.T) {
		path := writeSpool(t, mdaMessage("a", 2))
		o2 := o
		o2.RequireUID = os.Getuid() + 4242
		if _, err := Open(context.Background(), path, o2); !errors.Is(err, ErrUnsafe) {
			t.Errorf("wrong owner: %v", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		if _, err := Open(context.Background(), t.TempDir(), o); err == nil {
			t.Error("directory accepted")
		}
	})
}

func TestContextCancelsLockWait(t *testing.T) {
	path := writeSpool(t, mdaMessage("a", 2))
	writeDotlock(t, path, "1:elsewhere\n")
	o, _ := testOptions(t)
	o.LockTimeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Open(ctx, path, o)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open: %v, want context.DeadlineExceeded", err)
	}
}
