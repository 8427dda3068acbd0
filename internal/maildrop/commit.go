package maildrop

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Commit performs the POP3 UPDATE state: it unlinks exactly the messages
// at the given indexes into Messages, each under its current name (found
// again by base name if another client renamed it), together with any
// duplicate copies of the same base name. A message that is already gone
// counts as removed. It then fsyncs the directories it removed files from
// and drops the removed messages from the size cache. With nothing to
// delete (a client that leaves its mail on the server) it does no I/O at
// all.
//
// Nothing is ever rewritten: each unlink is atomic, so a crash at any
// instant leaves every message either present or removed. Messages
// delivered after Open are not touched.
//
// If some messages could not be removed, the error says how many. Commit
// may be called once; the session lock stays held until Close.
func (m *Maildrop) Commit(deleted []int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.committed {
		return errors.New("maildrop: commit: already committed")
	}
	marked := make([]bool, len(m.msgs))
	var order []int
	for _, i := range deleted {
		if i < 0 || i >= len(m.msgs) {
			return fmt.Errorf("maildrop: commit: index %d out of range [0,%d)", i, len(m.msgs))
		}
		if !marked[i] {
			marked[i] = true
			order = append(order, i)
		}
	}
	m.committed = true
	if len(order) == 0 {
		return nil
	}

	var errs []error
	failed := 0
	var missing []int
	var touched [len(subdirs)]bool
	for _, i := range order {
		gone, err := m.removeLocked(i, &touched)
		switch {
		case err != nil:
			failed++
			errs = append(errs, err)
		case gone:
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		// Renamed by another client since Open (or removed): look again.
		if err := m.rescanLocked(); err != nil {
			failed += len(missing)
			errs = append(errs, err)
		} else {
			for _, i := range missing {
				if _, err := m.removeLocked(i, &touched); err != nil {
					failed++
					errs = append(errs, err)
				}
			}
		}
	}
	for k, sub := range subdirs {
		if !touched[k] {
			continue
		}
		if err := syncDir(filepath.Join(m.dir, sub)); err != nil {
			errs = append(errs, fmt.Errorf("maildrop: commit: sync %s: %w", sub, err))
		}
	}
	for _, i := range order {
		if m.meta[i].cached {
			m.meta[i].cached = false
			m.dirty = true
		}
	}
	m.flushCacheLocked()

	if failed > 0 {
		return fmt.Errorf("maildrop: commit: %d of %d messages could not be removed: %w",
			failed, len(order), errors.Join(errs...))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// removeLocked unlinks message i under its recorded name and its duplicate
// copies, and marks in touched the subdirectories it removed files from.
// gone reports that the recorded name no longer existed. m.mu must be
// held.
func (m *Maildrop) removeLocked(i int, touched *[len(subdirs)]bool) (gone bool, err error) {
	md := &m.meta[i]
	base := m.msgs[i].Base
	err = os.Remove(filepath.Join(m.dir, md.sub, md.name))
	if err == nil {
		markTouched(touched, md.sub)
	}
	if errors.Is(err, fs.ErrNotExist) {
		gone, err = true, nil
	}
	if err != nil {
		return false, fmt.Errorf("maildrop: remove %s: %w", base, err)
	}
	var errs []error
	for _, rel := range m.dups[i] {
		derr := os.Remove(filepath.Join(m.dir, filepath.FromSlash(rel)))
		if derr == nil {
			sub, _, _ := strings.Cut(rel, "/")
			markTouched(touched, sub)
		}
		if derr != nil && !errors.Is(derr, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("maildrop: remove %s: %w", rel, derr))
		}
	}
	delete(m.dups, i)
	if len(errs) > 0 {
		return false, errors.Join(errs...)
	}
	return gone, nil
}

// markTouched records that a file was removed from subdirectory sub.
func markTouched(touched *[len(subdirs)]bool, sub string) {
	for k, name := range subdirs {
		if name == sub {
			touched[k] = true
		}
	}
}
