package mbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// errReplaced is returned by lockSpool when, with both locks held, the
// spool path no longer names the file the caller opened: another program
// removed or replaced it. The caller reopens the path and tries again.
var errReplaced = errors.New("mbox: spool path names another file")

// spoolLock is a held pair of spool locks: a kernel fcntl lock on the
// spool descriptor and the dotlock <spool>.lock that this process created.
type spoolLock struct {
	f    *os.File  // spool descriptor carrying the fcntl lock
	dot  string    // dotlock path
	df   *os.File  // our dotlock, kept open so its inode cannot be reused
	dst  fileState // our dotlock's identity
	log  *slog.Logger
	stop chan struct{}
	done chan struct{}
	once sync.Once
	// beating is set once the heartbeat goroutine runs.
	beating bool
}

// lockSpool takes the spool locks the way Debian Policy §11.6 asks: the
// fcntl lock first, then the dotlock, both without blocking; when the
// dotlock is busy, the fcntl lock is dropped again and, after a random
// delay, everything starts over. After o.LockTimeout it gives up with an
// error wrapping ErrInUse. With both locks held it checks that path still
// names f (errReplaced otherwise, with nothing held).
func lockSpool(ctx context.Context, f *os.File, path string, exclusive bool, o *Options, log *slog.Logger) (*spoolLock, error) {
	typ := int16(unix.F_RDLCK)
	if exclusive {
		typ = unix.F_WRLCK
	}
	dot := path + ".lock"
	deadline := time.Now().Add(o.LockTimeout)
	for {
		var holder string
		got, err := kernelTryLock(f, typ)
		if err != nil {
			return nil, fmt.Errorf("mbox: fcntl lock %s: %w", path, err)
		}
		if got {
			l, busy, err := takeDotlock(dot, o, log)
			if err != nil {
				kernelUnlock(f)
				return nil, err
			}
			if l != nil {
				l.f = f
				if err := l.checkPath(path); err != nil {
					l.release()
					return nil, err
				}
				l.startHeartbeat(o.refreshEvery())
				return l, nil
			}
			holder = busy
			if err := kernelUnlock(f); err != nil {
				return nil, fmt.Errorf("mbox: fcntl unlock %s: %w", path, err)
			}
		} else {
			holder = "fcntl lock held by another process"
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return nil, fmt.Errorf("%w (%s: %s)", ErrInUse, path, holder)
		}
		if err := sleepCtx(ctx, min(backoff(o), remaining)); err != nil {
			return nil, fmt.Errorf("mbox: lock %s: %w", path, err)
		}
	}
}

// kernelLockWait takes only the fcntl lock, retrying like lockSpool until
// o.LockTimeout. It is used to re-read the spool without any program
// writing to it meanwhile (every writer takes the fcntl write lock).
func kernelLockWait(ctx context.Context, f *os.File, typ int16, path string, o *Options) error {
	deadline := time.Now().Add(o.LockTimeout)
	for {
		got, err := kernelTryLock(f, typ)
		if err != nil {
			return fmt.Errorf("mbox: fcntl lock %s: %w", path, err)
		}
		if got {
			return nil
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return fmt.Errorf("%w (%s: fcntl lock held by another process)", ErrInUse, path)
		}
		if err := sleepCtx(ctx, min(backoff(o), remaining)); err != nil {
			return fmt.Errorf("mbox: lock %s: %w", path, err)
		}
	}
}

// backoff returns a random delay in [o.backoffMin, o.backoffMax].
func backoff(o *Options) time.Duration {
	return o.backoffMin + rand.N(o.backoffMax-o.backoffMin+1)
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// checkPath verifies that path still names the locked spool.
func (l *spoolLock) checkPath(path string) error {
	cur, err := lstatPath(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errReplaced
		}
		return fmt.Errorf("mbox: %w", err)
	}
	st, err := fstat(l.f)
	if err != nil {
		return fmt.Errorf("mbox: fstat %s: %w", path, err)
	}
	if !cur.sameFile(st) {
		return errReplaced
	}
	return nil
}

// release removes the dotlock if it is still ours and then drops the fcntl
// lock, in the reverse order of taking them. It is idempotent.
func (l *spoolLock) release() error {
	var err error
	l.once.Do(func() {
		close(l.stop)
		if l.beating {
			<-l.done
		}
		cur, serr := lstatPath(l.dot)
		switch {
		case serr == nil && cur.sameFile(l.dst):
			if rerr := os.Remove(l.dot); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = fmt.Errorf("mbox: remove dotlock: %w", rerr)
			}
		default:
			l.log.Error("mbox: our dotlock was removed by another program", "path", l.dot)
		}
		l.df.Close()
		if l.f != nil {
			if uerr := kernelUnlock(l.f); uerr != nil && err == nil {
				err = fmt.Errorf("mbox: fcntl unlock: %w", uerr)
			}
		}
	})
	return err
}
