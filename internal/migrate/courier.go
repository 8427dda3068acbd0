package migrate

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// CourierList is a parsed courierpop3dsizelist (versions 0 to 3).
type CourierList struct {
	// Version is 0 (no header), 1, 2 or 3.
	Version int
	// NextUID is the next POP3 uid from the header (0 for version 0).
	NextUID uint64
	// UIDValidity is the header's uidv (0 for versions 0 and 1).
	UIDValidity uint64
	// Records are the message lines in file order.
	Records []CourierRecord

	byBase map[string]int
}

// CourierRecord is one message line of a courierpop3dsizelist.
type CourierRecord struct {
	// Name is the file name as written, flags included.
	Name string
	// Base is Name up to the first ':'.
	Base string
	// Size is the CRLF size Courier computed.
	Size int64
	// UID is the POP3 uid (0: the UIDL is the escaped base name).
	UID uint64
	// UIDValidity is the line's uidv (0: none).
	UIDValidity uint64
	// UTF8 is the version 3 flag.
	UTF8 bool
	// Line is the 1-based line number.
	Line int
}

// UIDL returns the unique-id courierpop3d prints for the record
// (maildir-migration.md §3.1): "UID<uid>-<uidv>", "UID<uid>" when uidv is
// 0 or the list is version 1, and the escaped base name when uid is 0 or
// the list is version 0.
func (l *CourierList) UIDL(r *CourierRecord) string {
	switch {
	case l.Version == 0 || r.UID == 0:
		return courierNameUIDL(r.Base)
	case l.Version == 1 || r.UIDValidity == 0:
		return "UID" + strconv.FormatUint(r.UID, 10)
	}
	return "UID" + strconv.FormatUint(r.UID, 10) + "-" + strconv.FormatUint(r.UIDValidity, 10)
}

// courierNameUIDL is the version 0 UIDL: the base name with octets below
// 0x21 or above 0x7E and ' " + written as +XX (upper-case hex).
func courierNameUIDL(base string) string {
	var b strings.Builder
	for i := 0; i < len(base); i++ {
		c := base[i]
		if c < 0x21 || c > 0x7E || c == '\'' || c == '"' || c == '+' {
			fmt.Fprintf(&b, "+%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Lookup returns the record of a base name, or nil.
func (l *CourierList) Lookup(base string) *CourierRecord {
	if i, ok := l.byBase[base]; ok {
		return &l.Records[i]
	}
	return nil
}

// ParseCourierSizeList parses a courierpop3dsizelist: version 0 has no
// header and lines "<name> <size>"; "/1 <nextuid>" has "<name> <size>
// <uid>"; "/2 <nextuid> <uidv>" has "<name> <size> <uid>:<uidv>"; "/3
// <nextuid> <uidv>" has "<name> <size> <uid>:<uidv>:<utf8>". A base name
// listed twice is an error. Errors wrap ErrMalformed and name the line.
func ParseCourierSizeList(r io.Reader) (*CourierList, error) {
	const file = "courierpop3dsizelist"
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	l := &CourierList{byBase: map[string]int{}}
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 && strings.HasPrefix(line, "/") {
			if err := l.parseHeader(line); err != nil {
				return nil, malformed(file, 1, "%v", err)
			}
			continue
		}
		rec, err := l.parseLine(line)
		if err != nil {
			return nil, malformed(file, n, "%v", err)
		}
		rec.Line = n
		if k, ok := l.byBase[rec.Base]; ok {
			return nil, malformed(file, n, "base name %s already on line %d", rec.Base, l.Records[k].Line)
		}
		l.byBase[rec.Base] = len(l.Records)
		l.Records = append(l.Records, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, malformed(file, n+1, "%v", err)
	}
	return l, nil
}

func parseDec(what, s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || s == "" || s[0] == '+' {
		return 0, fmt.Errorf("%s %q is not a decimal number", what, s)
	}
	return v, nil
}

func (l *CourierList) parseHeader(line string) error {
	f := strings.Split(line[1:], " ")
	var err error
	switch f[0] {
	case "1":
		if len(f) != 2 {
			return fmt.Errorf("header %q: want \"/1 <nextuid>\"", line)
		}
		l.Version = 1
		l.NextUID, err = parseDec("nextuid", f[1])
	case "2", "3":
		if len(f) != 3 {
			return fmt.Errorf("header %q: want \"/%s <nextuid> <uidv>\"", line, f[0])
		}
		l.Version = int(f[0][0] - '0')
		if l.NextUID, err = parseDec("nextuid", f[1]); err == nil {
			l.UIDValidity, err = parseDec("uidv", f[2])
		}
	default:
		return fmt.Errorf("unknown version in header %q", line)
	}
	return err
}

func (l *CourierList) parseLine(line string) (CourierRecord, error) {
	var rec CourierRecord
	f := strings.Split(line, " ")
	want := 3
	if l.Version == 0 {
		want = 2
	}
	if len(f) != want {
		return rec, fmt.Errorf("line %q: %d space-separated fields, want %d", line, len(f), want)
	}
	rec.Name = f[0]
	rec.Base = baseOf(f[0])
	if rec.Base == "" || rec.Base[0] == '.' || strings.ContainsAny(rec.Base, "/\x00") {
		return rec, fmt.Errorf("invalid file name %q", rec.Name)
	}
	size, err := parseDec("size", f[1])
	if err != nil || size > 1<<62 {
		return rec, fmt.Errorf("size %q is not a decimal number", f[1])
	}
	rec.Size = int64(size)
	switch l.Version {
	case 0:
	case 1:
		rec.UID, err = parseDec("uid", f[2])
	default:
		parts := strings.Split(f[2], ":")
		if len(parts) != l.Version {
			return rec, fmt.Errorf("%q: want %d colon-separated fields", f[2], l.Version)
		}
		if rec.UID, err = parseDec("uid", parts[0]); err != nil {
			return rec, err
		}
		if rec.UIDValidity, err = parseDec("uidv", parts[1]); err != nil {
			return rec, err
		}
		if l.Version == 3 {
			switch parts[2] {
			case "0":
			case "1":
				rec.UTF8 = true
			default:
				return rec, fmt.Errorf("utf8 flag %q is not 0 or 1", parts[2])
			}
		}
	}
	return rec, err
}

// CourierUIDLs computes, for each current message (baseNames), the UIDL
// courierpop3d served and its position: Courier lists by the seconds at
// the start of the name (atol), then the name up to ':'. Messages the list
// does not name are left out of the result: which uid Courier would give
// them is not verified, so they keep popadm's own UIDL. Order counts the
// migrated messages only, 1-based.
func CourierUIDLs(list *CourierList, baseNames []string) map[string]Entry {
	var bases []string
	for _, b := range uniqueBases(baseNames) {
		if list.Lookup(b) != nil {
			bases = append(bases, b)
		}
	}
	slices.SortFunc(bases, func(a, b string) int {
		sa, _, _ := leadingSeconds(a)
		sb, _, _ := leadingSeconds(b)
		if c := cmp.Compare(sa, sb); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	out := make(map[string]Entry, len(bases))
	for i, b := range bases {
		r := list.Lookup(b)
		out[b] = Entry{UIDL: list.UIDL(r), Order: i + 1, UID: r.UID, Source: SourceRecord}
	}
	return out
}
