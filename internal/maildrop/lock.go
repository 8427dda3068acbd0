package maildrop

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// lockName is the session lock file in the maildir root.
const lockName = "popadm-pop3.lock"

// Bounds for taking our own OFD lock right after creating the lock file:
// another session may hold it for the few microseconds it needs to judge
// the file (see breakIfStale).
const (
	ofdRetries = 50
	ofdBackoff = 2 * time.Millisecond
)

// sessionLock is a held session lock: the lock file we created with
// O_EXCL, kept open with an OFD write lock on it, and a heartbeat
// goroutine that refreshes its mtime.
type sessionLock struct {
	path  string
	f     *os.File
	st    os.FileInfo // of our lock file, to recognise it later
	log   *slog.Logger
	lost  atomic.Bool // the file at path is no longer ours
	stop  chan struct{}
	done  chan struct{}
	close sync.Once
}

// lockOwner is the content of a lock file: "pid:hostname\n".
func lockOwner(host string) string {
	return strconv.Itoa(os.Getpid()) + ":" + host + "\n"
}

// parseOwner splits lock file content into PID and host name. pid is 0
// when the content is malformed (for example a lock still being written).
func parseOwner(content string) (pid int, host string) {
	content = strings.TrimSuffix(content, "\n")
	p, h, ok := strings.Cut(content, ":")
	if !ok {
		return 0, ""
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 {
		return 0, h
	}
	return n, h
}

// acquireLock takes the session lock of the maildir at root or returns an
// error wrapping ErrInUse at once. A stale lock is broken and creation is
// retried once.
func acquireLock(root string, o *Options, log *slog.Logger) (*sessionLock, error) {
	path := filepath.Join(root, lockName)
	for attempt := 0; ; attempt++ {
		l, err := createLock(path, o, log)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if attempt > 0 {
			return nil, fmt.Errorf("%w (%s)", ErrInUse, path)
		}
		broken, owner, err := breakIfStale(path, o, log)
		if err != nil {
			return nil, err
		}
		if !broken {
			return nil, fmt.Errorf("%w (%s held by %q)", ErrInUse, path, strings.TrimSpace(owner))
		}
	}
}

// createLock creates the lock file with O_EXCL, takes the OFD lock on it and
// writes "pid:hostname\n". The content is not fsynced: exclusion rests on
// the O_EXCL create (atomic, also over NFS v3+) and the OFD lock, and a
// lock file left empty by a power loss is judged by its age like any other
// stale lock. An fsync here would cost every login a disk flush. It returns an error wrapping
// fs.ErrExist when a lock file is already there.
func createLock(path string, o *Options, log *slog.Logger) (*sessionLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		return nil, fmt.Errorf("maildrop: create lock: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("maildrop: create lock: %w", err)
	}
	fail := func(err error) (*sessionLock, error) {
		removeIfSame(path, st)
		f.Close()
		return nil, err
	}
	for i := 0; ; i++ {
		got, err := ofdTryLock(f, true)
		if err != nil {
			// No byte-range locking here (for example NFS without a lock
			// manager): the lock file alone still excludes other sessions.
			log.Warn("maildrop: no OFD lock on session lock file", "path", path, "err", err)
			break
		}
		if got {
			break
		}
		if i >= ofdRetries {
			return fail(fmt.Errorf("%w (%s: OFD lock busy)", ErrInUse, path))
		}
		time.Sleep(ofdBackoff)
	}
	if _, err := io.WriteString(f, lockOwner(o.Hostname)); err != nil {
		return fail(fmt.Errorf("maildrop: write lock: %w", err))
	}
	return &sessionLock{
		path: path,
		f:    f,
		st:   st,
		log:  log,
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}, nil
}

// breakIfStale examines an existing lock file and removes it when it is
// stale. It reports whether the caller should try to create the lock again
// and the owner recorded in the file.
//
// While it judges, it holds the OFD lock on the file: a live holder's OFD
// lock makes it give up at once, and two sessions judging the same file at
// the same time cannot both remove it (the second one finds the OFD lock
// taken and reports the maildrop in use).
func breakIfStale(path string, o *Options, log *slog.Logger) (retry bool, owner string, err error) {
	write := true
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrPermission) {
		// Another user's lock file: a read lock still tells whether a
		// write lock is held, though it no longer keeps two judges apart.
		write = false
		f, err = os.Open(path)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return true, "", nil
		}
		return false, "", fmt.Errorf("maildrop: examine lock: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, _ := f.ReadAt(buf, 0)
	owner = string(buf[:n])
	got, lerr := ofdTryLock(f, write)
	if lerr == nil && !got {
		return false, owner, nil // a live session holds it
	}
	// Either we hold the OFD lock now (nobody on this host, or anywhere if
	// locks are shared over NFS, holds the session) or locking does not
	// work here; fall back to the owner and mtime rules.
	n, _ = f.ReadAt(buf, 0)
	owner = string(buf[:n])
	st, err := f.Stat()
	if err != nil {
		return false, owner, fmt.Errorf("maildrop: examine lock: %w", err)
	}
	pid, host := parseOwner(owner)
	age := time.Since(st.ModTime())
	var reason string
	switch {
	case age > o.StaleLock:
		reason = "not refreshed for " + age.Round(time.Second).String()
	case host == o.Hostname && pid > 0 && !pidAlive(pid):
		reason = "owner process " + strconv.Itoa(pid) + " is gone"
	default:
		return false, owner, nil
	}
	cur, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return true, owner, nil
		}
		return false, owner, fmt.Errorf("maildrop: examine lock: %w", err)
	}
	if !os.SameFile(cur, st) {
		return true, owner, nil // replaced meanwhile; try again
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, owner, fmt.Errorf("maildrop: break stale lock: %w", err)
	}
	log.Warn("maildrop: broke stale session lock", "path", path,
		"owner", strings.TrimSpace(owner), "reason", reason)
	return true, owner, nil
}

// pidAlive reports whether a process with this PID exists on this host.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// removeIfSame removes path if it still names the file described by st.
func removeIfSame(path string, st os.FileInfo) bool {
	cur, err := os.Stat(path)
	if err != nil || !os.SameFile(cur, st) {
		return false
	}
	return os.Remove(path) == nil
}

// startHeartbeat refreshes the lock file's mtime every interval until
// release.
func (l *sessionLock) startHeartbeat(every time.Duration) {
	go func() {
		defer close(l.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.refresh()
			}
		}
	}()
}

// refresh touches the lock file through our descriptor and checks that the
// file at the lock path is still ours.
func (l *sessionLock) refresh() {
	if err := touchFile(l.f); err != nil {
		l.log.Warn("maildrop: refresh session lock", "path", l.path, "err", err)
	}
	cur, err := os.Stat(l.path)
	if (err != nil || !os.SameFile(cur, l.st)) && !l.lost.Swap(true) {
		l.log.Error("maildrop: session lock was removed by someone else", "path", l.path)
	}
}

// release stops the heartbeat, removes the lock file if it is still ours
// and drops the OFD lock by closing the descriptor. It is idempotent.
func (l *sessionLock) release(heartbeat bool) error {
	var err error
	l.close.Do(func() {
		close(l.stop)
		if heartbeat {
			<-l.done
		}
		cur, serr := os.Stat(l.path)
		if serr == nil && os.SameFile(cur, l.st) {
			if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = fmt.Errorf("maildrop: remove lock: %w", rerr)
			}
		}
		if cerr := l.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("maildrop: close lock: %w", cerr)
		}
	})
	return err
}
