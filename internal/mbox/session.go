package mbox

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// stateFiles names the files kept in Options.JournalDir for one spool.
type stateFiles struct {
	path    string // absolute spool path
	dir     string
	journal string // the committed journal J
	tmp     string // J.tmp, being written
	session string // session lock file
}

// filesFor returns the journal and session lock names of the spool at
// path: a readable stem plus 64 bits of SHA-256 of the absolute path, so
// spools with the same base name in different directories never share
// state.
func filesFor(dir, path string) (stateFiles, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return stateFiles{}, fmt.Errorf("mbox: %s: %w", path, err)
	}
	sum := sha256.Sum256([]byte(abs))
	stem := "mbox-" + sanitize(filepath.Base(abs)) + "-" + hex.EncodeToString(sum[:8])
	j := filepath.Join(dir, stem+".journal")
	return stateFiles{path: abs, dir: dir, journal: j, tmp: j + ".tmp", session: filepath.Join(dir, stem+".session")}, nil
}

// sanitize keeps a file name to [A-Za-z0-9._-] and at most 64 bytes.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// ensureDir creates the journal directory (mode 0700) if it is missing
// and checks that it is a directory, not a symbolic link.
func ensureDir(dir string) error {
	st, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("mbox: create journal directory: %w", err)
		}
		st, err = os.Lstat(dir)
	}
	if err != nil {
		return fmt.Errorf("mbox: journal directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("mbox: journal directory %s is not a directory", dir)
	}
	return nil
}

// lockSession takes the session lock of one spool: an exclusive flock on
// a file in the journal directory, held for the whole POP3 session so that
// a second session of the same maildrop is refused (RFC 1939 §8) without
// blocking deliveries, which never look at this file. The kernel drops
// the lock when the holder exits. The file is never removed.
func lockSession(sf stateFiles) (*os.File, error) {
	f, err := os.OpenFile(sf.session, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("mbox: session lock: %w", err)
	}
	got, err := flockTry(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mbox: session lock %s: %w", sf.session, err)
	}
	if !got {
		f.Close()
		return nil, fmt.Errorf("%w (another session is open)", ErrInUse)
	}
	return f, nil
}
