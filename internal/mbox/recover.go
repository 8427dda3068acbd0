package mbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// recovery says what recoverSpool found and did.
type recovery struct {
	found       bool // a journal or a temporary journal was present
	tmpRemoved  bool // an unfinished journal (commit point not reached) was removed
	journal     bool // a committed journal was present
	rejournaled bool // mail delivered after the crash was folded into a new journal
	redone      bool // the rewrite was run (again) to its end
	finished    bool // the rewrite had completed; only the journal was left
	setAside    bool // the journal could not apply to this file and was renamed
}

// Recover completes or discards an UPDATE of the spool at path that was
// interrupted by a crash, following its journal in Options.JournalDir.
// Open calls it first; it is also meant for daemon start (see
// RecoverAll). Without a journal it returns at once; otherwise it takes
// the spool locks and:
//
//   - removes an unfinished journal (the commit point was not reached, so
//     the spool was never touched);
//   - if the garbage hash still matches (the truncate has not happened),
//     writes N again, first folding any mail delivered after the crash
//     into a new journal, then truncates and removes the journal;
//   - if the spool already holds N at F (the truncate happened), removes
//     the journal;
//   - sets a damaged journal, or one for a file no longer at path, aside
//     (renamed, logged as an error);
//   - otherwise (the file was changed by another program) keeps the
//     journal and returns an error wrapping ErrJournal.
func Recover(path string, opts Options) error {
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	path = filepath.Clean(path)
	sf, err := filesFor(o.JournalDir, path)
	if err != nil {
		return err
	}
	_, err = recoverSpool(context.Background(), path, &o, sf, o.Logger.With("mbox", path))
	return err
}

// RecoverAll runs Recover for every spool that has a journal in
// Options.JournalDir, as a daemon should at start. The spool path is read
// from each journal.
func RecoverAll(opts Options) error {
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(o.JournalDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mbox: recover: %w", err)
	}
	seen := map[string]bool{}
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".journal") && !strings.HasSuffix(name, ".journal.tmp") {
			continue
		}
		path, err := journalSpool(filepath.Join(o.JournalDir, name))
		if err != nil {
			o.Logger.Warn("mbox: recover: unreadable journal", "journal", name, "err", err)
			continue
		}
		if seen[path] {
			continue
		}
		seen[path] = true
		if err := Recover(path, opts); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// journalSpool reads the spool path recorded in a journal header.
func journalSpool(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	j, err := decodeHeader(f)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(j.path) {
		return "", fmt.Errorf("%w: relative spool path", errBadJournal)
	}
	return j.path, nil
}

// recoverSpool is Recover with its findings reported.
func recoverSpool(ctx context.Context, path string, o *Options, sf stateFiles, log *slog.Logger) (recovery, error) {
	var r recovery
	if !exists(sf.journal) && !exists(sf.tmp) {
		return r, nil
	}
	r.found = true
	ro := *o
	ro.crash = nil // the crash tests interrupt sessions, not recovery
	o = &ro
	for range maxReopen {
		f, _, err := openSpoolFile(path, o.RequireUID)
		if errors.Is(err, fs.ErrNotExist) {
			return r, recoverMissing(sf, &r, log)
		}
		if err != nil {
			return r, fmt.Errorf("mbox: recover %s: %w", path, err)
		}
		lk, err := lockSpool(ctx, f, path, true, o, log)
		if errors.Is(err, errReplaced) {
			f.Close()
			continue
		}
		if err != nil {
			f.Close()
			return r, err
		}
		err = recoverLocked(f, path, o, sf, &r, log)
		if rerr := lk.release(); rerr != nil && err == nil {
			err = rerr
		}
		f.Close()
		return r, err
	}
	return r, fmt.Errorf("mbox: recover %s: the file keeps being replaced", path)
}

// recoverMissing handles journals of a spool file that no longer exists:
// nothing can be applied, so they are set aside.
func recoverMissing(sf stateFiles, r *recovery, log *slog.Logger) error {
	os.Remove(sf.tmp)
	if !exists(sf.journal) {
		return nil
	}
	dst, err := setAside(sf.journal, "orphan")
	if err != nil {
		return err
	}
	r.setAside = true
	log.Error("mbox: journal of a removed spool set aside", "journal", dst)
	return nil
}

// recoverLocked is the recovery proper, with both spool locks held.
func recoverLocked(f *os.File, path string, o *Options, sf stateFiles, r *recovery, log *slog.Logger) error {
	if exists(sf.tmp) {
		if err := os.Remove(sf.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("mbox: recover: %w", err)
		}
		r.tmpRemoved = true
		log.Warn("mbox: removed an unfinished journal: the interrupted update changed nothing", "journal", sf.tmp)
	}
	j, jf, err := readJournal(sf.journal)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case errors.Is(err, errBadJournal):
		dst, serr := setAside(sf.journal, "bad")
		if serr != nil {
			return serr
		}
		r.setAside = true
		log.Error("mbox: damaged journal set aside; the spool is left as it is", "journal", dst, "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("mbox: recover: read journal: %w", err)
	}
	defer func() { jf.Close() }()
	r.journal = true
	st, err := fstat(f)
	if err != nil {
		return fmt.Errorf("mbox: fstat %s: %w", path, err)
	}
	if st.dev != j.dev || st.ino != j.ino || j.path != sf.path {
		dst, serr := setAside(sf.journal, "orphan")
		if serr != nil {
			return serr
		}
		r.setAside = true
		log.Error("mbox: journal belongs to a file no longer at this path; set aside", "journal", dst)
		return nil
	}
	if st.size >= j.sOld {
		garbage, err := hashRange(f, j.F+j.L, j.sOld)
		if err != nil {
			return fmt.Errorf("mbox: read %s: %w", path, err)
		}
		if garbage == j.garbage {
			// Not truncated yet: the rewrite is redone from the journal.
			if st.size > j.sOld {
				if jf, err = refold(f, j, jf, st.size, o, sf); err != nil {
					return err
				}
				r.rejournaled = true
			}
			log.Warn("mbox: completing an interrupted update", "from", j.F, "rewrite", j.L)
			if err := applyJournal(f, j, jf, sf, o); err != nil {
				return err
			}
			r.redone = true
			return nil
		}
	}
	if st.size >= j.F+j.L {
		sum, err := hashRange(f, j.F, j.F+j.L)
		if err != nil {
			return fmt.Errorf("mbox: read %s: %w", path, err)
		}
		if sum == j.nHash {
			// Truncated already: the update was complete.
			if err := f.Sync(); err != nil {
				return fmt.Errorf("mbox: fsync %s: %w", path, err)
			}
			if err := os.Remove(sf.journal); err != nil {
				return fmt.Errorf("mbox: remove journal: %w", err)
			}
			r.finished = true
			return nil
		}
	}
	log.Error("mbox: spool changed by another program while an update was pending; journal kept",
		"journal", sf.journal, "size", st.size, "old_size", j.sOld)
	return fmt.Errorf("%w: %s (journal %s kept)", ErrJournal, path, sf.journal)
}

// refold handles mail delivered after the crash and before recovery:
// A = spool[S_old:size] was appended after the garbage, so the journal is
// rewritten (committed the same way) with N+A, S_old = size and the new
// garbage hash. j is updated; the new journal file is returned open and
// the old one closed.
func refold(f *os.File, j *journal, jf *os.File, size int64, o *Options, sf stateFiles) (*os.File, error) {
	a := size - j.sOld
	nj := *j
	nj.L = j.L + a
	nj.sOld = size
	var err error
	if nj.garbage, err = hashRange(f, nj.F+nj.L, size); err != nil {
		return jf, fmt.Errorf("mbox: read spool: %w", err)
	}
	writeN := func(w io.Writer) error {
		buf := make([]byte, copyBufSize)
		if _, err := io.CopyBuffer(w, io.NewSectionReader(jf, j.nOff, j.L), buf); err != nil {
			return err
		}
		_, err := io.CopyBuffer(w, io.NewSectionReader(f, j.sOld, a), buf)
		return err
	}
	nf, err := writeJournal(sf, &nj, writeN, o)
	if err != nil {
		return jf, err
	}
	jf.Close()
	*j = nj
	return nf, nil
}

// exists reports whether a directory entry exists at path.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
