package mbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain runs a helper process instead of the tests when MBOX_HELPER
// names one (the tests re-execute the test binary to get real separate
// processes holding classic fcntl locks or being killed).
func TestMain(m *testing.M) {
	switch h := os.Getenv("MBOX_HELPER"); h {
	case "":
		os.Exit(m.Run())
	case "mda":
		os.Exit(helperMDA())
	case "hold":
		os.Exit(helperHold())
	case "commit":
		os.Exit(helperCommit())
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", h)
		os.Exit(3)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testOptions returns options for a spool in a temporary directory, with
// short lock delays.
func testOptions(t testing.TB) (Options, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	return Options{
		JournalDir:  filepath.Join(t.TempDir(), "journal"),
		LockTimeout: 5 * time.Second,
		Hostname:    "mboxtest",
		Logger:      slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RequireUID:  os.Getuid(),
		backoffMin:  2 * time.Millisecond,
		backoffMax:  20 * time.Millisecond,
	}, buf
}

// writeSpool creates a spool file with content in a new directory.
func writeSpool(t testing.TB, content []byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mail")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "user")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// openT opens a spool and registers Close as cleanup.
func openT(t testing.TB, path string, o Options) *Spool {
	t.Helper()
	s, err := Open(context.Background(), path, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readMsg reads message i through Spool.Open.
func readMsg(t testing.TB, s *Spool, i int) []byte {
	t.Helper()
	r, err := s.Open(i)
	if err != nil {
		t.Fatalf("Open(%d): %v", i, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read message %d: %v", i, err)
	}
	return b
}

// mustRead reads a file.
func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// statT returns the state of the file at path.
func statT(t testing.TB, path string) fileState {
	t.Helper()
	st, err := lstatPath(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// assertNoLeftovers checks that no dotlock and no journal remain.
func assertNoLeftovers(t testing.TB, path string, o Options) {
	t.Helper()
	if _, err := os.Lstat(path + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dotlock left behind: %v", err)
	}
	sf, err := filesFor(o.JournalDir, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{sf.journal, sf.tmp} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("journal left behind: %s", p)
		}
	}
}

// assertEnding checks that a spool is empty or ends in a blank line
// ("\n\n", or "\n\r\n" in a CRLF mbox).
func assertEnding(t testing.TB, b []byte) {
	t.Helper()
	if len(b) > 0 && !bytes.HasSuffix(b, []byte("\n\n")) && !bytes.HasSuffix(b, []byte("\n\r\n")) {
		t.Errorf("spool does not end in a blank line: %q", b[max(0, len(b)-20):])
	}
}

// fromLine returns a Postfix-style From_ line for now.
func fromLine(sender string) string {
	return "From " + sender + "  " + time.Now().Format("Mon Jan _2 15:04:05 2006") + "\n"
}

// mdaMessage builds a message the way Postfix local(8) stores it: From_
// line, headers, a body of n lines "<id> line k" of which every fourth
// starts with "From " and is quoted as ">From ", then the blank line.
func mdaMessage(id string, n int) []byte {
	var b strings.Builder
	b.WriteString(fromLine("mda@example.com"))
	fmt.Fprintf(&b, "Return-Path: <mda@example.com>\nMessage-ID: <%s@test>\nX-Lines: %d\nSubject: %s\n\n", id, n, id)
	for k := 1; k <= n; k++ {
		b.WriteString(bodyLine(id, k))
	}
	b.WriteString("\n")
	return []byte(b.String())
}

// bodyLine is line k of an mdaMessage body, as stored.
func bodyLine(id string, k int) string {
	if k%4 == 2 {
		return fmt.Sprintf(">From %s line %d\n", id, k)
	}
	return fmt.Sprintf("%s line %d\n", id, k)
}

// deliverPostfix appends msg to the spool the way Postfix local(8) does:
// dotlock with O_EXCL (mode 0, empty), open with O_APPEND, classic
// F_SETLK write lock (retried), write, fsync, unlock, remove the dotlock.
// If the dotlock stays busy for dotWait and fcntlOnly is set, it delivers
// under the fcntl lock alone, as procmail does after "Lock failure".
func deliverPostfix(spool string, msg []byte, dotWait time.Duration, fcntlOnly bool) error {
	dot := spool + ".lock"
	haveDot := false
	deadline := time.Now().Add(dotWait)
	for {
		f, err := os.OpenFile(dot, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0)
		if err == nil {
			f.Close()
			haveDot = true
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		if time.Now().After(deadline) {
			if fcntlOnly {
				break
			}
			return fmt.Errorf("deliver: %s: File exists", dot)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if haveDot {
		defer os.Remove(dot)
	}
	f, err := os.OpenFile(spool, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := classicLock(f, unix.F_WRLCK, 30*time.Second); err != nil {
		return err
	}
	if _, err := f.Write(msg); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return classicUnlock(f)
}

// classicLock takes a process-owned F_SETLK lock, retrying until timeout.
func classicLock(f *os.File, typ int16, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		lk := unix.Flock_t{Type: typ}
		err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("deliver: unable to lock for exclusive access: %w", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func classicUnlock(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_UNLCK}
	return unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
}

// discardLog returns a logger that drops everything.
func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
