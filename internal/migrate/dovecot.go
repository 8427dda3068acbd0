package migrate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrMalformed is wrapped by every parse error of a state file.
var ErrMalformed = errors.New("migrate: malformed state file")

// maxLine bounds one line of a state file.
const maxLine = 1 << 20

// DovecotList is a parsed dovecot-uidlist (version 1 or 3).
type DovecotList struct {
	// Version is 1 or 3.
	Version int
	// UIDValidity is the mailbox's UIDVALIDITY (header V).
	UIDValidity uint32
	// NextUID is the next UID the header announces (header N); it may be
	// stale, see Next.
	NextUID uint32
	// GUID is the mailbox GUID (header G), empty if absent.
	GUID string
	// Header holds every v3 header key with its value, unknown ones too.
	Header map[byte]string
	// Records are the message records in file order.
	Records []DovecotRecord

	byBase map[string]int // base name -> index into Records, later wins
}

// DovecotRecord is one message line of a dovecot-uidlist.
type DovecotRecord struct {
	// UID is the message's IMAP UID.
	UID uint32
	// Fields holds the v3 extension fields by key: 'P' POP3 UIDL (empty
	// value: the base name), 'O' POP3 order, 'W' virtual size, 'S'
	// physical size, 'G' GUID, and any other.
	Fields map[byte]string
	// Name is the file name as written (the base name, or a full name).
	Name string
	// Base is Name up to the first ':'.
	Base string
	// Line is the 1-based line number in the file.
	Line int
}

// Field returns the value of extension field k and whether it is present.
func (r *DovecotRecord) Field(k byte) (string, bool) {
	v, ok := r.Fields[k]
	return v, ok
}

// Lookup returns the record of a base name (the later line when it
// appears twice), or nil.
func (l *DovecotList) Lookup(base string) *DovecotRecord {
	if i, ok := l.byBase[base]; ok {
		return &l.Records[i]
	}
	return nil
}

// Next is the UID Dovecot gives the next new message: max(N, last UID+1).
// N goes stale because records are appended without rewriting the header.
func (l *DovecotList) Next() uint32 {
	n := l.NextUID
	if k := len(l.Records); k > 0 && l.Records[k-1].UID+1 > n {
		n = l.Records[k-1].UID + 1
	}
	return n
}

func malformed(file string, line int, format string, args ...any) error {
	return fmt.Errorf("%w: %s line %d: %s", ErrMalformed, file, line, fmt.Sprintf(format, args...))
}

// ParseDovecotUIDList parses a dovecot-uidlist in version 1
// ("1 <uidvalidity> <nextuid>", then "<uid> <filename>") or version 3
// ("3 V<uidvalidity> N<nextuid> G<guid> ...", then
// "<uid>[ <K><value>]... :<filename>"). UIDs must strictly increase.
// Errors wrap ErrMalformed and name the line.
func ParseDovecotUIDList(r io.Reader) (*DovecotList, error) {
	const file = "dovecot-uidlist"
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	l := &DovecotList{byBase: map[string]int{}}
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 {
			if err := l.parseHeader(line); err != nil {
				return nil, malformed(file, 1, "%v", err)
			}
			continue
		}
		rec, err := l.parseRecord(line)
		if err != nil {
			return nil, malformed(file, n, "%v", err)
		}
		rec.Line = n
		if k := len(l.Records); k > 0 && rec.UID <= l.Records[k-1].UID {
			return nil, malformed(file, n, "UID %d does not follow UID %d of line %d", rec.UID, l.Records[k-1].UID, l.Records[k-1].Line)
		}
		l.byBase[rec.Base] = len(l.Records)
		l.Records = append(l.Records, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, malformed(file, n+1, "%v", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: %s: empty file", ErrMalformed, file)
	}
	return l, nil
}

func parseUint32(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || s == "" || s[0] == '+' {
		return 0, fmt.Errorf("%q is not a 32-bit decimal number", s)
	}
	return uint32(v), nil
}

func (l *DovecotList) parseHeader(line string) error {
	f := strings.Split(line, " ")
	switch f[0] {
	case "1":
		if len(f) != 3 {
			return fmt.Errorf("version 1 header %q: want \"1 <uidvalidity> <nextuid>\"", line)
		}
		v, err := parseUint32(f[1])
		if err != nil {
			return fmt.Errorf("uidvalidity: %w", err)
		}
		nx, err := parseUint32(f[2])
		if err != nil {
			return fmt.Errorf("nextuid: %w", err)
		}
		l.Version, l.UIDValidity, l.NextUID = 1, v, nx
	case "3":
		l.Version = 3
		l.Header = map[byte]string{}
		for _, t := range f[1:] {
			if t == "" {
				return fmt.Errorf("empty header field in %q", line)
			}
			if t[0] < 'A' || t[0] > 'Z' {
				return fmt.Errorf("header field %q: key is not A-Z", t)
			}
			l.Header[t[0]] = t[1:]
		}
		v, ok := l.Header['V']
		if !ok {
			return errors.New("version 3 header without V<uidvalidity>")
		}
		var err error
		if l.UIDValidity, err = parseUint32(v); err != nil {
			return fmt.Errorf("V: %w", err)
		}
		if nx, ok := l.Header['N']; ok {
			if l.NextUID, err = parseUint32(nx); err != nil {
				return fmt.Errorf("N: %w", err)
			}
		}
		l.GUID = l.Header['G']
	case "2":
		return errors.New("version 2 (a development format) is not supported")
	default:
		return fmt.Errorf("unknown version %q (want 1 or 3)", f[0])
	}
	if l.UIDValidity == 0 {
		return errors.New("uidvalidity is 0")
	}
	return nil
}

func (l *DovecotList) parseRecord(line string) (DovecotRecord, error) {
	var rec DovecotRecord
	sp := strings.IndexByte(line, ' ')
	if sp < 0 {
		return rec, fmt.Errorf("record %q: want \"<uid> ...\"", line)
	}
	uid, err := parseUint32(line[:sp])
	if err != nil {
		return rec, fmt.Errorf("UID: %w", err)
	}
	if uid == 0 {
		return rec, errors.New("UID 0")
	}
	rec.UID = uid
	rest := line[sp+1:]
	if l.Version == 1 {
		rec.Name = rest
	} else {
		for {
			if rest == "" {
				return rec, errors.New("record without \":<filename>\"")
			}
			if rest[0] == ':' {
				rec.Name = rest[1:]
				break
			}
			tok, after, _ := strings.Cut(rest, " ")
			if tok == "" {
				return rec, errors.New("double space in record")
			}
			if tok[0] < 'A' || tok[0] > 'Z' {
				return rec, fmt.Errorf("field %q: key is not A-Z", tok)
			}
			if rec.Fields == nil {
				rec.Fields = map[byte]string{}
			}
			rec.Fields[tok[0]] = tok[1:]
			rest = after
		}
	}
	rec.Base, _, _ = strings.Cut(rec.Name, ":")
	if rec.Base == "" || strings.ContainsAny(rec.Base, "/\x00") {
		return rec, fmt.Errorf("invalid file name %q", rec.Name)
	}
	if o, ok := rec.Fields['O']; ok {
		if _, err := strconv.ParseUint(o, 10, 31); err != nil || o[0] == '+' {
			return rec, fmt.Errorf("O field %q is not a decimal number", o)
		}
	}
	return rec, nil
}
