package maildrop

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// deliverySeq makes base names from one process unique within one
// microsecond (the "Q<counter>" field). It is the package's only global
// state and is only ever incremented.
var deliverySeq atomic.Uint64

// Deliver writes msg into the Maildir at dir the way an MDA does: into
// tmp/ with O_EXCL, fsync, link into new/, unlink from tmp/, fsync new/.
// The base name has the form <sec>.M<usec>P<pid>Q<counter>.<host>, with
// '/' and ':' in the host name written as \057 and \072. Missing
// directories are created (mode 0700). Deliver needs no session lock.
func Deliver(dir string, msg []byte) (base string, err error) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return "", fmt.Errorf("maildrop: deliver: %w", err)
		}
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	host = strings.NewReplacer("/", `\057`, ":", `\072`).Replace(host)
	for attempt := 0; attempt < 10; attempt++ {
		now := time.Now()
		base = strconv.FormatInt(now.Unix(), 10) +
			".M" + strconv.Itoa(now.Nanosecond()/1000) +
			"P" + strconv.Itoa(os.Getpid()) +
			"Q" + strconv.FormatUint(deliverySeq.Add(1), 10) +
			"." + host
		err = deliverAs(dir, base, msg)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("maildrop: deliver: %w", err)
	}
	return base, nil
}

// deliverAs writes msg as tmp/base and moves it to new/base.
func deliverAs(dir, base string, msg []byte) (err error) {
	tmp := filepath.Join(dir, "tmp", base)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(msg); err != nil {
		f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Link(tmp, filepath.Join(dir, "new", base)); err != nil {
		return err
	}
	// The message is delivered even if this fails: a left-over tmp/ file
	// is never served and falls to the usual 36-hour cleanup.
	_ = os.Remove(tmp)
	return syncDir(filepath.Join(dir, "new"))
}
