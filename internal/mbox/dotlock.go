package mbox

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
	"time"

	"golang.org/x/sys/unix"
)

// lockOwner is the content of our dotlocks: "pid:hostname\n", which
// Dovecot reads as pid:host and liblockfile's atoi as the PID.
func lockOwner(host string) string {
	return strconv.Itoa(os.Getpid()) + ":" + host + "\n"
}

// parseOwner reads "pid:host", "pid" (liblockfile) or nothing (Postfix
// writes an empty dotlock). pid is 0 when there is none.
func parseOwner(content string) (pid int, host string) {
	content = strings.TrimSpace(content)
	p, h, _ := strings.Cut(content, ":")
	n, err := strconv.Atoi(strings.TrimSpace(p))
	if err != nil || n <= 0 {
		return 0, h
	}
	return n, h
}

// takeDotlock creates the dotlock with O_EXCL. If it exists, a stale one
// is broken and creation is tried once more. It returns (nil, who holds
// it, nil) when the dotlock is busy.
func takeDotlock(dot string, o *Options, log *slog.Logger) (*spoolLock, string, error) {
	for try := 0; ; try++ {
		df, err := createDotlock(dot, lockOwner(o.Hostname))
		if err == nil {
			st, err := fstat(df)
			if err != nil {
				df.Close()
				os.Remove(dot)
				return nil, "", fmt.Errorf("mbox: dotlock %s: %w", dot, err)
			}
			l := &spoolLock{dot: dot, df: df, dst: st, log: log, stop: make(chan struct{}), done: make(chan struct{})}
			return l, "", nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, "", fmt.Errorf("mbox: create dotlock: %w", err)
		}
		if try > 0 {
			return nil, "dotlock busy", nil
		}
		broken, owner, err := breakStaleDotlock(dot, o, log)
		if err != nil {
			return nil, "", err
		}
		if !broken {
			return nil, "dotlock held by " + strconv.Quote(owner), nil
		}
	}
}

// breakStaleDotlock removes the dotlock if it is stale: it names this host
// and a process that no longer exists, or it has not changed for
// o.StaleLock (Postfix's rule). It reports whether the caller should try
// to create the dotlock again, and the owner recorded in it.
func breakStaleDotlock(dot string, o *Options, log *slog.Logger) (bool, string, error) {
	st, err := lstatPath(dot)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return true, "", nil
		}
		return false, "", fmt.Errorf("mbox: examine dotlock: %w", err)
	}
	owner := readSmall(dot)
	pid, host := parseOwner(owner)
	age := time.Since(st.changeTime())
	var reason string
	switch {
	case pid > 0 && host == o.Hostname && !pidAlive(pid):
		reason = "owner process " + strconv.Itoa(pid) + " is gone"
	case age > o.StaleLock:
		reason = "unchanged for " + age.Round(time.Second).String()
	default:
		return false, strings.TrimSpace(owner), nil
	}
	cur, err := lstatPath(dot)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return true, "", nil
		}
		return false, "", fmt.Errorf("mbox: examine dotlock: %w", err)
	}
	if !cur.sameFile(st) || cur.ctime != st.ctime {
		return true, "", nil // replaced or refreshed meanwhile: look again
	}
	if err := os.Remove(dot); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, "", fmt.Errorf("mbox: break stale dotlock: %w", err)
	}
	log.Warn("mbox: broke stale dotlock", "path", dot, "owner", strings.TrimSpace(owner), "reason", reason)
	return true, owner, nil
}

// readSmall returns the first bytes of a small file, or "" if it cannot
// be read.
func readSmall(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, _ := io.ReadFull(f, buf)
	return string(buf[:n])
}

// pidAlive reports whether a process with this PID exists on this host.
func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// startHeartbeat refreshes the dotlock's times every interval until
// release, so that no program takes it for stale while a long scan or
// UPDATE runs.
func (l *spoolLock) startHeartbeat(every time.Duration) {
	l.beating = true
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

// refresh touches our dotlock if the path still names it.
func (l *spoolLock) refresh() {
	cur, err := lstatPath(l.dot)
	if err != nil || !cur.sameFile(l.dst) {
		l.log.Error("mbox: our dotlock was removed by another program", "path", l.dot)
		return
	}
	now := time.Now()
	if err := os.Chtimes(l.dot, now, now); err != nil {
		l.log.Warn("mbox: refresh dotlock", "path", l.dot, "err", err)
	}
}

// createDotlock creates dot already holding owner, the liblockfile way: the
// owner line goes into a uniquely named file in the same directory, which
// is then hard-linked to the dotlock name (link never replaces an existing
// file, also over NFS). A kill at any instant therefore never leaves an
// empty dotlock, which would look like another program's and block logins
// and delivery until it turned stale. An existing dotlock gives an error
// wrapping fs.ErrExist. The returned file is the dotlock, open for writing.
func createDotlock(dot, owner string) (*os.File, error) {
	tmp := filepath.Join(filepath.Dir(dot), fmt.Sprintf(".%s.lk%d.%d", filepath.Base(dot), os.Getpid(), time.Now().UnixNano()))
	tf, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("mbox: create dotlock: %w", err)
	}
	defer os.Remove(tmp)
	if _, err := io.WriteString(tf, owner); err != nil {
		tf.Close()
		return nil, fmt.Errorf("mbox: write dotlock %s: %w", dot, err)
	}
	if err := os.Link(tmp, dot); err != nil {
		tf.Close()
		if errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		return nil, fmt.Errorf("mbox: create dotlock: %w", err)
	}
	return tf, nil
}
