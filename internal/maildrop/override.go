package maildrop

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// OverrideName is the file in a Maildir's root that carries the UIDLs and
// the order migrated from another POP3 server (popadm migrate).
//
// Format (text, UTF-8, LF line ends): a header line "popadm-uidl 1", then
// one line per message, "<base name> TAB <uidl> TAB <order>". The base name
// is the Maildir file name up to the first ':'. The UIDL is 1 to 70 octets
// of 0x21-0x7E and unique within the file. The order is a decimal integer:
// messages with an order > 0 are listed first, ascending; order 0 means
// "no particular order" and such messages follow, with the messages not in
// the file, in the usual snapshot order. Lines starting with '#' and
// empty lines are ignored.
const OverrideName = "popadm-uidl"

// overrideHeader is the first line of an override file.
const overrideHeader = "popadm-uidl 1"

// ErrBadOverride is wrapped by the errors about a malformed override file
// or an invalid override entry.
var ErrBadOverride = errors.New("maildrop: bad UIDL override")

// Override is one entry of the override file.
type Override struct {
	// Base is the Maildir base name of the message.
	Base string
	// UIDL is the unique-id to serve for the message.
	UIDL string
	// Order is the message's position key; 0 means none.
	Order int
}

// DefaultUIDL returns the UIDL popadm gives a message with this base name
// when no override names it.
func DefaultUIDL(base string) string { return uidlFor(base) }

// ValidUIDL reports whether s is a valid RFC 1939 unique-id: 1 to 70
// octets in the range 0x21-0x7E.
func ValidUIDL(s string) bool {
	if len(s) == 0 || len(s) > maxUIDLLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

// validBase reports whether base can be a Maildir base name in the file.
func validBase(base string) bool {
	return base != "" && !strings.ContainsAny(base, "\t\n\r:/") && base[0] != '.'
}

// ParseOverrides reads an override file. Errors name the line and wrap
// ErrBadOverride.
func ParseOverrides(r io.Reader) ([]Override, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var out []Override
	byBase := map[string]int{}
	byUIDL := map[string]int{}
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 {
			if line != overrideHeader {
				return nil, fmt.Errorf("%w: line 1: header %q, want %q", ErrBadOverride, line, overrideHeader)
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: line %d: %d tab-separated fields, want 3", ErrBadOverride, n, len(f))
		}
		order, err := strconv.Atoi(f[2])
		if err != nil || order < 0 || f[2] != strconv.Itoa(order) {
			return nil, fmt.Errorf("%w: line %d: order %q is not a non-negative integer", ErrBadOverride, n, f[2])
		}
		o := Override{Base: f[0], UIDL: f[1], Order: order}
		if err := checkOverride(o); err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrBadOverride, n, err)
		}
		if k, ok := byBase[o.Base]; ok {
			return nil, fmt.Errorf("%w: line %d: base name %q already on line %d", ErrBadOverride, n, o.Base, k)
		}
		if k, ok := byUIDL[o.UIDL]; ok {
			return nil, fmt.Errorf("%w: line %d: UIDL %q already on line %d", ErrBadOverride, n, o.UIDL, k)
		}
		byBase[o.Base], byUIDL[o.UIDL] = n, n
		out = append(out, o)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: line %d: %w", ErrBadOverride, n+1, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: empty file, want header %q", ErrBadOverride, overrideHeader)
	}
	return out, nil
}

// checkOverride validates one entry on its own.
func checkOverride(o Override) error {
	if !validBase(o.Base) {
		return fmt.Errorf("invalid base name %q", o.Base)
	}
	if !ValidUIDL(o.UIDL) {
		return fmt.Errorf("base %s: UIDL %q is not 1-70 octets of 0x21-0x7E", o.Base, o.UIDL)
	}
	if o.Order < 0 {
		return fmt.Errorf("base %s: negative order %d", o.Base, o.Order)
	}
	return nil
}

// CheckOverrides validates a set of entries as WriteOverrides would: each
// entry valid, base names and UIDLs unique. The error names both entries
// of a clash.
func CheckOverrides(list []Override) error {
	byBase := make(map[string]bool, len(list))
	byUIDL := make(map[string]string, len(list))
	for _, o := range list {
		if err := checkOverride(o); err != nil {
			return fmt.Errorf("%w: %w", ErrBadOverride, err)
		}
		if byBase[o.Base] {
			return fmt.Errorf("%w: base name %s listed twice", ErrBadOverride, o.Base)
		}
		if other, ok := byUIDL[o.UIDL]; ok {
			return fmt.Errorf("%w: UIDL %s would be shared by %s and %s", ErrBadOverride, o.UIDL, other, o.Base)
		}
		byBase[o.Base], byUIDL[o.UIDL] = true, o.Base
	}
	return nil
}

// FormatOverrides returns the override file holding list, after
// CheckOverrides.
func FormatOverrides(list []Override) ([]byte, error) {
	if err := CheckOverrides(list); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(overrideHeader + "\n")
	for _, o := range list {
		fmt.Fprintf(&b, "%s\t%s\t%d\n", o.Base, o.UIDL, o.Order)
	}
	return b.Bytes(), nil
}

// WriteOverrides replaces dir's override file with list atomically: a
// temporary file in dir (mode 0600), fsync, rename, fsync of dir.
func WriteOverrides(dir string, list []Override) (err error) {
	data, err := FormatOverrides(list)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+OverrideName+".tmp-*")
	if err != nil {
		return fmt.Errorf("maildrop: write UIDL override: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("maildrop: write UIDL override %s: %w", tmp, err)
	}
	path := filepath.Join(dir, OverrideName)
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("maildrop: write UIDL override: %w", err)
	}
	if err = syncDir(dir); err != nil {
		return fmt.Errorf("maildrop: write UIDL override: %w", err)
	}
	return nil
}

// ReadOverrides reads dir's override file; a missing file returns nil
// and no error.
func ReadOverrides(dir string) ([]Override, error) {
	path := filepath.Join(dir, OverrideName)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("maildrop: read UIDL override: %w", err)
	}
	defer f.Close()
	list, err := ParseOverrides(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return list, nil
}

// applyOverridesLocked replaces the UIDLs of the snapshot messages named
// in the override file and reorders the snapshot: messages with an order
// first, ascending (ties in snapshot order), then all others in snapshot
// order. Without an override file it does nothing. m.mu must be held or
// m not yet shared.
//
// A message not in the file keeps its base-name UIDL. That cannot equal a
// migrated UIDL in practice: Dovecot's %08Xu%08Xv and Courier's UID<n>-<v>
// contain no '.', while every base name written by Postfix, Dovecot,
// Courier and qmail does. Should it equal one anyway, the message gets the
// digest form of its UIDL instead, and if that clashes too Open fails
// rather than serve one UIDL for two messages.
func (m *Maildrop) applyOverridesLocked() error {
	list, err := ReadOverrides(m.dir)
	if err != nil || list == nil {
		return err
	}
	byBase := make(map[string]*Override, len(list))
	taken := make(map[string]bool, len(list))
	for i := range list {
		byBase[list[i].Base] = &list[i]
		taken[list[i].UIDL] = true
	}
	order := make([]int, len(m.msgs)) // 0: none
	for i := range m.msgs {
		msg := &m.msgs[i]
		if o := byBase[msg.Base]; o != nil {
			msg.UIDL, order[i] = o.UIDL, o.Order
			continue
		}
		if !taken[msg.UIDL] {
			continue
		}
		sum := digestUIDL(msg.Base)
		if taken[sum] {
			return fmt.Errorf("maildrop: open %s: UIDL %s of %s is taken by a migrated message", m.dir, msg.UIDL, msg.Base)
		}
		m.log.Warn("maildrop: UIDL clashes with a migrated one, using its digest form",
			"base", msg.Base, "uidl", msg.UIDL, "now", sum)
		msg.UIDL = sum
	}
	perm := make([]int, len(m.msgs))
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(a, b int) int {
		oa, ob := order[a], order[b]
		switch {
		case oa > 0 && ob > 0:
			return oa - ob
		case oa > 0:
			return -1
		case ob > 0:
			return 1
		}
		return 0
	})
	msgs := make([]Message, len(perm))
	meta := make([]msgMeta, len(perm))
	var dups map[int][]string
	if m.dups != nil {
		dups = make(map[int][]string, len(m.dups))
	}
	for to, from := range perm {
		msgs[to], meta[to] = m.msgs[from], m.meta[from]
		if d, ok := m.dups[from]; ok {
			dups[to] = d
		}
	}
	m.msgs, m.meta, m.dups, m.index = msgs, meta, dups, nil
	return nil
}

// digestUIDL is the digest form of uidlFor, whatever the base name.
func digestUIDL(base string) string {
	sum := sha256.Sum256([]byte(base))
	return digestPrefix + hex.EncodeToString(sum[:digestHexLen/2])
}
