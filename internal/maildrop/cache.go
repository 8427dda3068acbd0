package maildrop

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// Names in the maildir root owned by this package. None starts with a dot,
// so none can be mistaken for a Maildir++ folder, and none starts with
// "dovecot" or "courier".
const (
	cacheName      = "popadm-sizes"
	cacheTmpPrefix = cacheName + ".tmp."
	cacheHeader    = "popadm-sizes 1"
	cacheTrailer   = "end "
	// cacheTmpMaxAge is how old a temporary cache file left by a crash
	// must be before it is removed.
	cacheTmpMaxAge = time.Hour
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errCorruptCache reports a size cache that failed validation.
var errCorruptCache = errors.New("maildrop: corrupt size cache")

// cacheRecord is one line of the size cache.
type cacheRecord struct {
	base  string
	vsize int64
	psize int64
}

// readCache reads and validates the size cache and calls fn for each
// record in file order. A missing cache returns fs.ErrNotExist; any
// validation failure returns errCorruptCache, possibly after some calls to
// fn. The base strings share one backing string.
//
// File format (text, one record per line, records in snapshot order):
//
//	popadm-sizes 1
//	<base name> <transmitted size> <physical size>
//	...
//	end <record count> <CRC-32C of all preceding octets, 8 hex digits>
//
// The base name is everything before the last two spaces of a line.
func readCache(path string, fn func(base string, vsize, psize int64)) error {
	data, err := readFileString(path)
	if err != nil {
		return err
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return errCorruptCache
	}
	cut := strings.LastIndexByte(data[:len(data)-1], '\n')
	if cut < 0 {
		return errCorruptCache
	}
	count, sum, ok := parseTrailer(data[cut+1 : len(data)-1])
	if !ok || crcString(data[:cut+1]) != sum {
		return errCorruptCache
	}
	header, rest, _ := strings.Cut(data[:cut+1], "\n")
	if header != cacheHeader {
		return errCorruptCache
	}
	var n int64
	for len(rest) > 0 {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		base, vsize, psize, ok := parseRecord(line)
		if !ok {
			return errCorruptCache
		}
		fn(base, vsize, psize)
		n++
	}
	if n != count {
		return errCorruptCache
	}
	return nil
}

// readFileString reads a whole file into a string with one allocation
// and, for a file that is not growing, one read. The size cache is only
// ever replaced by rename, never written in place, so the size fstat
// reports is the size to read.
func readFileString(path string) (string, error) {
	f, err := openFile(path, os.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	size := 0
	if st, err := f.Stat(); err == nil && st.Size() > 0 && st.Size() < 1<<31-1 {
		size = int(st.Size())
	}
	// One octet more than the size, so that a file that grew anyway is
	// noticed and read to its end.
	buf := make([]byte, size+1)
	n := 0
	for {
		k, err := f.Read(buf[n:])
		n += k
		if errors.Is(err, io.EOF) || (err == nil && k == 0) {
			break
		}
		if err != nil {
			return "", err
		}
		if n == size && size > 0 {
			break // the whole file, as fstat said
		}
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf))...) // it grew meanwhile
		}
	}
	// buf is never written again: the string may share its memory.
	return unsafe.String(unsafe.SliceData(buf), n), nil
}

// crcString is the CRC-32C of s, computed on s in place.
func crcString(s string) uint32 {
	// crc32.Checksum only reads the slice, so it may alias s.
	return crc32.Checksum(unsafe.Slice(unsafe.StringData(s), len(s)), crcTable)
}

func parseTrailer(s string) (count int64, sum uint32, ok bool) {
	rest, found := strings.CutPrefix(s, cacheTrailer)
	if !found {
		return 0, 0, false
	}
	c, h, found := strings.Cut(rest, " ")
	if !found {
		return 0, 0, false
	}
	count, err := strconv.ParseInt(c, 10, 64)
	if err != nil || count < 0 {
		return 0, 0, false
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil || len(h) != 8 {
		return 0, 0, false
	}
	return count, uint32(v), true
}

func parseRecord(line string) (base string, vsize, psize int64, ok bool) {
	i := strings.LastIndexByte(line, ' ')
	if i <= 0 {
		return "", 0, 0, false
	}
	j := strings.LastIndexByte(line[:i], ' ')
	if j <= 0 {
		return "", 0, 0, false
	}
	vsize, ok1 := parseSize(line[j+1 : i])
	psize, ok2 := parseSize(line[i+1:])
	if !ok1 || !ok2 || vsize < psize {
		return "", 0, 0, false
	}
	return line[:j], vsize, psize, true
}

func parseSize(b string) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// cacheable reports whether a base name can be stored in the cache.
func cacheable(base string) bool {
	return base != "" && strings.IndexByte(base, '\n') < 0
}

// writeCache atomically replaces the size cache in root with records: it
// writes a temporary file in root, fsyncs it, renames it over the cache and
// fsyncs root. A crash leaves either the old or the new cache (and maybe a
// temporary file, removed by a later write).
func writeCache(root string, records []cacheRecord) (err error) {
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		return fmt.Errorf("maildrop: write size cache: %w", err)
	}
	tmp := filepath.Join(root, cacheTmpPrefix+strconv.Itoa(os.Getpid())+"."+hex.EncodeToString(suffix))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("maildrop: write size cache: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := crc32.New(crcTable)
	w := bufio.NewWriterSize(f, 64<<10)
	var n int64
	line := make([]byte, 0, 256)
	emit := func(b []byte) error {
		h.Write(b)
		_, err := w.Write(b)
		return err
	}
	if err := emit([]byte(cacheHeader + "\n")); err != nil {
		return fmt.Errorf("maildrop: write size cache: %w", err)
	}
	for _, r := range records {
		if !cacheable(r.base) {
			continue
		}
		line = append(line[:0], r.base...)
		line = append(line, ' ')
		line = strconv.AppendInt(line, r.vsize, 10)
		line = append(line, ' ')
		line = strconv.AppendInt(line, r.psize, 10)
		line = append(line, '\n')
		if err := emit(line); err != nil {
			return fmt.Errorf("maildrop: write size cache: %w", err)
		}
		n++
	}
	if _, err := fmt.Fprintf(w, "%s%d %08x\n", cacheTrailer, n, h.Sum32()); err != nil {
		return fmt.Errorf("maildrop: write size cache: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("maildrop: write size cache: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("maildrop: write size cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("maildrop: write size cache: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(root, cacheName)); err != nil {
		return fmt.Errorf("maildrop: write size cache: %w", err)
	}
	if err := syncDir(root); err != nil {
		return fmt.Errorf("maildrop: write size cache: %w", err)
	}
	removeOldCacheTemps(root)
	return nil
}

// removeOldCacheTemps removes temporary cache files left by crashed
// writers. Errors are ignored: the files are harmless.
func removeOldCacheTemps(root string) {
	d, err := os.Open(root)
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, name := range names {
		if !strings.HasPrefix(name, cacheTmpPrefix) {
			continue
		}
		p := filepath.Join(root, name)
		if st, err := os.Lstat(p); err == nil && time.Since(st.ModTime()) > cacheTmpMaxAge {
			os.Remove(p)
		}
	}
}

// syncDir fsyncs a directory so that creations, renames and unlinks in it
// are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) {
		// Some file systems cannot fsync a directory; their metadata
		// updates are then as durable as they get.
		return nil
	}
	return err
}
