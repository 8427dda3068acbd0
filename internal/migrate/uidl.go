package migrate

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Source tells where an Entry's UIDL comes from.
type Source string

// Sources of a UIDL.
const (
	// SourceRecord is a UIDL stored in the old server's state (a Dovecot
	// P field, or a Courier list line).
	SourceRecord Source = "record"
	// SourceFormat is a UIDL Dovecot computes from the record's UID and
	// the pop3_uidl_format.
	SourceFormat Source = "format"
	// SourcePredicted is a UIDL for a file without a record, with the UID
	// Dovecot would give it at its next sync (§2.3 step 6).
	SourcePredicted Source = "predicted"
)

// Entry is the migrated POP3 identity of one message.
type Entry struct {
	// UIDL is the unique-id the old server served (or would serve).
	UIDL string
	// Order is the 1-based position among the migrated messages.
	Order int
	// UID is the Dovecot UID or the Courier POP3 uid (0 if none).
	UID uint64
	// Source says where UIDL comes from.
	Source Source
}

// baseOf returns a file name up to the first ':'.
func baseOf(name string) string {
	b, _, _ := strings.Cut(name, ":")
	return b
}

// uniqueBases returns the distinct base names of names, skipping empty
// ones and dot-files.
func uniqueBases(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		b := baseOf(n)
		if b == "" || b[0] == '.' || seen[b] {
			continue
		}
		seen[b] = true
		out = append(out, b)
	}
	return out
}

// DovecotUIDLs computes, for each current message (baseNames, full names
// or base names from new/ and cur/), the UIDL Dovecot serves under
// format (pop3_uidl_format; "" means DefaultDovecotFormat) and its POP3
// position, following maildir-migration.md §2.3:
//
//  1. base = name up to ':'; rec = the uidlist record of base.
//  2. rec has P: the UIDL is its value, or base for a bare P.
//  3. (pop3_reuse_xuidl is not supported.)
//  4. Otherwise format is expanded with %u = UID, %v = UIDVALIDITY,
//     %f = base, %g = the record's G or base.
//  5. Order: records with O first, ascending, then the rest by UID.
//  6. Files without a record get UIDs Next(), Next()+1, ... sorted by
//     (seconds, M<usec>, name), as Dovecot's next sync would assign them.
//
// Step 6 is done only when every such name starts with "<seconds>." so
// the sort is certain; otherwise those base names are left out of the
// result (they keep popadm's own UIDL). The caller must check that the
// UIDLs are valid and unique.
func DovecotUIDLs(list *DovecotList, baseNames []string, format string) (map[string]Entry, error) {
	if format == "" {
		format = DefaultDovecotFormat
	}
	if err := CheckFormat(format); err != nil {
		return nil, err
	}
	type item struct {
		base  string
		uid   uint32
		order int // O, 0 for none
		src   Source
		uidl  string
	}
	var items []item
	var unknown []string
	for _, base := range uniqueBases(baseNames) {
		rec := list.Lookup(base)
		if rec == nil {
			unknown = append(unknown, base)
			continue
		}
		it := item{base: base, uid: rec.UID, src: SourceFormat}
		if o, ok := rec.Field('O'); ok {
			fmt.Sscan(o, &it.order) // validated by the parser
		}
		if p, ok := rec.Field('P'); ok {
			it.src, it.uidl = SourceRecord, p
			if p == "" {
				it.uidl = base
			}
		}
		items = append(items, it)
	}
	if len(unknown) > 0 && predictable(unknown) {
		slices.SortFunc(unknown, compareDovecotNames)
		next := uint64(list.Next())
		if next+uint64(len(unknown)) <= math.MaxUint32 {
			for i, base := range unknown {
				items = append(items, item{base: base, uid: uint32(next + uint64(i)), src: SourcePredicted})
			}
		}
	}
	out := make(map[string]Entry, len(items))
	for i := range items {
		it := &items[i]
		if it.src != SourceRecord {
			guid := it.base
			if rec := list.Lookup(it.base); rec != nil {
				if g, ok := rec.Field('G'); ok && g != "" {
					guid = g
				}
			}
			u, err := expandFormat(format, &uidlVars{uid: it.uid, uidValidity: list.UIDValidity, base: it.base, guid: guid})
			if err != nil {
				return nil, err
			}
			it.uidl = u
		}
	}
	slices.SortStableFunc(items, func(a, b item) int {
		switch {
		case a.order > 0 && b.order > 0:
			if c := cmp.Compare(a.order, b.order); c != 0 {
				return c
			}
		case a.order > 0:
			return -1
		case b.order > 0:
			return 1
		}
		return cmp.Compare(a.uid, b.uid)
	})
	for i, it := range items {
		out[it.base] = Entry{UIDL: it.uidl, Order: i + 1, UID: uint64(it.uid), Source: it.src}
	}
	return out, nil
}

// predictable reports whether every name starts with "<seconds>.", so that
// Dovecot's sort of new files is certain.
func predictable(bases []string) bool {
	for _, b := range bases {
		if _, rest, ok := leadingSeconds(b); !ok || !strings.HasPrefix(rest, ".") {
			return false
		}
	}
	return true
}

// leadingSeconds parses the decimal digits at the start of name.
func leadingSeconds(name string) (secs uint64, rest string, ok bool) {
	i := 0
	for i < len(name) && name[i] >= '0' && name[i] <= '9' && i < 19 {
		secs = secs*10 + uint64(name[i]-'0')
		i++
	}
	return secs, name[i:], i > 0
}

// usecs finds the "M<digits>" field in the delivery-id part of a name
// (after the seconds, up to the next '.').
func usecs(rest string) (uint64, bool) {
	if !strings.HasPrefix(rest, ".") {
		return 0, false
	}
	seg := rest[1:]
	if k := strings.IndexAny(seg, ".:"); k >= 0 {
		seg = seg[:k]
	}
	k := strings.IndexByte(seg, 'M')
	if k < 0 {
		return 0, false
	}
	var v uint64
	j := k + 1
	for j < len(seg) && seg[j] >= '0' && seg[j] <= '9' && j-k < 10 {
		v = v*10 + uint64(seg[j]-'0')
		j++
	}
	return v, j > k+1
}

// compareDovecotNames is Dovecot's maildir_filename_sort_cmp: the leading
// seconds, then M<usec> when both names have one, then the names.
func compareDovecotNames(a, b string) int {
	sa, ra, _ := leadingSeconds(a)
	sb, rb, _ := leadingSeconds(b)
	if c := cmp.Compare(sa, sb); c != 0 {
		return c
	}
	ua, oka := usecs(ra)
	ub, okb := usecs(rb)
	if oka && okb {
		if c := cmp.Compare(ua, ub); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}
