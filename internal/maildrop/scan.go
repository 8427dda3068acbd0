package maildrop

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// subdirs are the Maildir subdirectories that hold messages, in the order
// of preference when one base name appears in both: a copy in cur/ is the
// later state of the same message.
var subdirs = [...]string{"cur", "new"}

// entry is one file found in new/ or cur/.
type entry struct {
	key     sortKey
	hash    uint64 // maphash of the base name, to match cache records
	name    string // file name within subdirs[sub]
	blen    int32  // the base name is name[:blen]
	sub     uint8  // index into subdirs
	literal bool   // the base name is its own UIDL (see uidlFor)
}

func (e *entry) base() string { return e.name[:e.blen] }

func (e *entry) rel() string { return subdirs[e.sub] + "/" + e.name }

// compareEntries is the snapshot order; copies of one base name end up
// next to each other, the preferred one (cur/, then by name) first.
func compareEntries(a, b *entry) int {
	if c := compareKeys(a.key, b.key, a.base(), b.base()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.sub, b.sub); c != 0 {
		return c
	}
	return strings.Compare(a.name, b.name)
}

// listEntries lists cur/ and new/ of dir (dot-files skipped). With keys it
// also parses each name's delivery time, checks whether its base name can
// be its UIDL and hashes the base name with seed.
func listEntries(dir string, keys bool, seed maphash.Seed) ([]entry, error) {
	var alls [len(subdirs)]string
	var ends [len(subdirs)][]int32
	var buf []byte // shared by both listings
	total := 0
	for i, sub := range subdirs {
		all, e, err := readNames(filepath.Join(dir, sub), &buf)
		if err != nil {
			return nil, fmt.Errorf("maildrop: scan %s: %w", sub, err)
		}
		alls[i], ends[i] = all, e
		total += len(e)
	}
	ents := make([]entry, 0, total)
	for i := range subdirs {
		start := int32(0)
		for _, end := range ends[i] {
			name := alls[i][start:end]
			start = end
			blen := strings.IndexByte(name, ':')
			if blen < 0 {
				blen = len(name)
			}
			e := entry{name: name, blen: int32(blen), sub: uint8(i)}
			if keys {
				// Both read the name right after getdents wrote it,
				// while it is still in the CPU cache.
				e.key = parseSortKey(e.base())
				e.literal = literalOK(e.base())
				e.hash = maphash.String(seed, e.base())
			}
			ents = append(ents, e)
		}
	}
	return ents, nil
}

// sizeInfo is what load learns about the size of one entry.
type sizeInfo struct {
	vsize  int64 // -1 until known
	psize  int64 // -1 when unknown
	cached bool  // the size belongs in the size cache
	gone   bool  // vanished or unreadable: not in the snapshot
}

// load builds the snapshot: list, sort, merge duplicates, sizes from the
// size cache, W= or file content, UIDLs; and writes the size cache if it
// changed.
func (m *Maildrop) load(ctx context.Context) error {
	seed := maphash.MakeSeed()
	ents, err := m.list(seed)
	if err != nil {
		return err
	}
	ents = sortEntries(ents)
	ents, dups := m.mergeDuplicates(ents)

	n := len(ents)
	sz := make([]sizeInfo, n)
	for i := range sz {
		sz[i].vsize, sz[i].psize = -1, -1
	}
	dirty := m.applyCache(ents, sz, seed)

	var todo []int
	for i := range ents {
		if sz[i].vsize >= 0 {
			continue
		}
		if w, s := sizeFromName(ents[i].base()); w >= 0 {
			sz[i].vsize, sz[i].psize = w, s
			continue
		}
		todo = append(todo, i)
	}
	if len(todo) > 0 {
		if err := m.computeSizes(ctx, ents, todo, sz); err != nil {
			return err
		}
		for _, i := range todo {
			if !sz[i].gone && cacheable(ents[i].base()) {
				dirty = true
				break
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("maildrop: open %s: %w", m.dir, err)
	}

	m.msgs = make([]Message, 0, n)
	m.meta = make([]msgMeta, 0, n)
	if len(dups) > 0 {
		m.dups = make(map[int][]string, len(dups))
	}
	for i := range ents {
		if sz[i].gone {
			continue
		}
		e := &ents[i]
		if d := dups[i]; d != nil {
			m.dups[len(m.msgs)] = d
		}
		base := e.base()
		uidl := base
		if !e.literal {
			uidl = uidlFor(base)
		}
		m.msgs = append(m.msgs, Message{Base: base, Size: sz[i].vsize, UIDL: uidl})
		m.meta = append(m.meta, msgMeta{sub: subdirs[e.sub], name: e.name, psize: sz[i].psize, cached: sz[i].cached})
	}
	m.dirty = dirty
	m.flushCacheLocked()
	return m.applyOverridesLocked() // migrated UIDLs and order (override.go)
}

// list lists new/ and cur/ for load. A missing subdirectory means
// ErrNotFound or, with Options.Create, is made (tmp/ too) and listed.
func (m *Maildrop) list(seed maphash.Seed) ([]entry, error) {
	ents, err := listEntries(m.dir, true, seed)
	if errors.Is(err, fs.ErrNotExist) {
		if !m.opts.Create {
			return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		if err := prepareDirs(m.dir, true); err != nil {
			return nil, err
		}
		return listEntries(m.dir, true, seed)
	}
	if err == nil && m.opts.Create {
		if _, serr := os.Stat(filepath.Join(m.dir, "tmp")); serr != nil {
			if err := prepareDirs(m.dir, true); err != nil {
				return nil, err
			}
		}
	}
	return ents, err
}

// mergeDuplicates keeps the first of each run of entries with the same
// base name (ents is sorted) and returns the others by kept index, as
// "sub/name". Each duplicate is logged.
func (m *Maildrop) mergeDuplicates(ents []entry) ([]entry, map[int][]string) {
	var dups map[int][]string
	out := ents[:0]
	for i := range ents {
		if k := len(out) - 1; k >= 0 && sameBase(&out[k], &ents[i]) {
			if dups == nil {
				dups = make(map[int][]string)
			}
			dups[k] = append(dups[k], ents[i].rel())
			m.log.Warn("maildrop: duplicate base name, serving one copy",
				"base", out[k].base(), "serving", out[k].rel(), "ignored", ents[i].rel())
			continue
		}
		out = append(out, ents[i])
	}
	return out, dups
}

// sameBase reports whether two entries have the same base name, comparing
// the names only when key, length and hash agree.
func sameBase(a, b *entry) bool {
	return a.key == b.key && a.blen == b.blen && a.hash == b.hash && a.base() == b.base()
}

// applyCache fills sizes from the size cache and reports whether the cache
// needs rewriting (missing, corrupt, or holding vanished messages). The
// cache is trusted without a stat: a base name never changes its content;
// Open(i) checks the physical size when the file is read.
//
// The cache is written in snapshot order, so it is merged with the sorted
// entries in one pass. A record matches an entry when the length and the
// 64-bit maphash (seeded per Open) of the base names agree, which avoids
// touching 100,000 names scattered in memory; a false match has a chance
// of 2^-64 per record, and its wrong size would be corrected when the
// message is read. Only where they differ are delivery times compared to
// decide which side is behind. Records out of order simply miss, and the
// messages concerned are counted again.
func (m *Maildrop) applyCache(ents []entry, sz []sizeInfo, seed maphash.Seed) bool {
	path := filepath.Join(m.dir, cacheName)
	hits, recs := 0, 0
	j := 0
	err := readCache(path, func(base string, vsize, psize int64) {
		recs++
		h := maphash.String(seed, base)
		for j < len(ents) {
			e := &ents[j]
			c := 0
			if e.hash != h || int(e.blen) != len(base) {
				if c = compareKeys(e.key, parseSortKey(base), e.base(), base); c == 0 {
					c = -1 // unreachable: equal names hash equally
				}
			}
			if c > 0 {
				return // no such message any more
			}
			j++
			if c == 0 {
				sz[j-1] = sizeInfo{vsize: vsize, psize: psize, cached: true}
				hits++
				return
			}
		}
	})
	switch {
	case err == nil:
		return hits != recs
	case errors.Is(err, fs.ErrNotExist):
		return true
	case errors.Is(err, errCorruptCache):
		m.log.Warn("maildrop: size cache is corrupt, rebuilding", "path", path)
	default:
		m.log.Warn("maildrop: size cache unreadable, rebuilding", "path", path, "err", err)
	}
	for i := range sz {
		if sz[i].cached {
			sz[i] = sizeInfo{vsize: -1, psize: -1}
		}
	}
	return true
}

// computeSizes reads the files ents[todo[...]] and counts their
// transmitted sizes, a few files at a time. Files that vanished are marked
// gone; files that cannot be read are logged and left out of the snapshot.
func (m *Maildrop) computeSizes(ctx context.Context, ents []entry, todo []int, sz []sizeInfo) error {
	workers := min(max(runtime.GOMAXPROCS(0), 2), 8, len(todo))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			for i := range next {
				e := &ents[i]
				ps, vs, err := countFile(filepath.Join(m.dir, subdirs[e.sub], e.name), buf)
				switch {
				case err == nil:
					sz[i] = sizeInfo{vsize: vs, psize: ps, cached: true}
				case errors.Is(err, fs.ErrNotExist):
					sz[i].gone = true
				default:
					sz[i].gone = true
					m.log.Error("maildrop: message unreadable, not listed", "file", e.rel(), "err", err)
				}
			}
		})
	}
	var err error
	for _, i := range todo {
		if err = ctx.Err(); err != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("maildrop: open %s: %w", m.dir, err)
	}
	return nil
}

// rescanLocked finds the current names of all snapshot messages again
// after another client renamed or moved some of them. m.mu must be held.
func (m *Maildrop) rescanLocked() error {
	ents, err := listEntries(m.dir, false, maphash.Seed{})
	if err != nil {
		return err
	}
	if m.index == nil {
		m.index = make(map[string]int, len(m.msgs))
		for i := range m.msgs {
			m.index[m.msgs[i].Base] = i
		}
	}
	if m.dups == nil {
		m.dups = make(map[int][]string)
	}
	// ents lists cur/ before new/, so the first copy found is preferred.
	seen := make(map[int]bool)
	for k := range ents {
		e := &ents[k]
		i, ok := m.index[e.base()]
		if !ok {
			continue
		}
		if seen[i] {
			m.dups[i] = append(m.dups[i], e.rel())
			continue
		}
		seen[i] = true
		delete(m.dups, i)
		md := &m.meta[i]
		if md.sub != subdirs[e.sub] || md.name != e.name {
			m.log.Debug("maildrop: message was renamed", "base", e.base(),
				"from", md.sub+"/"+md.name, "to", e.rel())
			md.sub, md.name = subdirs[e.sub], e.name
		}
	}
	return nil
}
