package importfmt

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ExportRecord is one account as written by the exporters.
type ExportRecord struct {
	User           string
	DisplayName    string
	Disabled       bool
	DisableReason  string
	Locked         bool
	MustChange     bool
	NoPOP3         bool
	NoPasswdChange bool
	Expires        time.Time // zero: never
	Created        time.Time
	Changed        time.Time
	LastLogin      time.Time
	Failures       int
	Mechs          []string
	Schemes        []string
	Maildrop       string
	QuotaBytes     int64
	// Hash is the one credential written by single-hash formats (see
	// PreferredHash); "" when hashes are not exported.
	Hash string
	// Credentials holds every stored "{SCHEME}value"; nil when hashes are
	// not exported.
	Credentials []string
}

// schemeRank orders schemes for PreferredHash: slow verifiers first, then
// salted and plain digests, then mechanism-specific secrets, cleartext last
// (a passdb line should not hand out the password when a hash will do).
var schemeRank = []string{
	"ARGON2ID", "ARGON2I", "BLF-CRYPT", "SHA512-CRYPT", "SHA256-CRYPT",
	"PBKDF2", "CRYPT", "MD5-CRYPT", "SSHA512", "SSHA256", "SSHA", "SMD5",
	"SHA512", "SHA256", "SHA", "SHA1", "SCRAM-SHA-256", "SCRAM-SHA-1",
	"PLAIN-MD5", "LDAP-MD5", "CRAM-MD5", "HMAC-MD5", "DIGEST-MD5",
	"PLAIN", "CLEAR", "CLEARTEXT", "PLAIN-TRUNC",
}

// PreferredHash picks the credential a single-hash export writes. prefer
// lists scheme names to try first, in order; then schemeRank applies; an
// unknown scheme comes after every ranked one. It returns "" for an empty
// list.
func PreferredHash(creds []string, prefer ...string) string {
	base := func(c string) string {
		s := SchemeOf(c)
		if i := strings.IndexByte(s, '.'); i >= 0 {
			s = s[:i]
		}
		return s
	}
	for _, p := range prefer {
		for _, c := range creds {
			if strings.EqualFold(base(c), p) || strings.EqualFold(SchemeOf(c), p) {
				return c
			}
		}
	}
	best, bestRank := "", len(schemeRank)+1
	for _, c := range creds {
		r := len(schemeRank)
		for i, s := range schemeRank {
			if base(c) == s {
				r = i
				break
			}
		}
		if r < bestRank || r == bestRank && c < best {
			best, bestRank = c, r
		}
	}
	return best
}

// WriteDovecotPasswd writes a Dovecot passwd-file passdb, one
// "user:{SCHEME}value:::gecos:::extra" line per record. Every record needs
// a Hash. Disabled accounts get the "nologin" extra field, a Maildrop gets
// "userdb_mail=maildir:PATH". A cleartext {PLAIN} value containing ':' is
// rewritten as {PLAIN.B64}, which Dovecot reads the same; any other field
// that cannot be written unambiguously is an error naming the user.
func WriteDovecotPasswd(w io.Writer, recs []ExportRecord) error {
	var b strings.Builder
	for _, r := range recs {
		line, err := dovecotLine(r)
		if err != nil {
			return err
		}
		b.Reset()
		b.WriteString(line)
		b.WriteByte('\n')
		if _, err := io.WriteString(w, b.String()); err != nil {
			return fmt.Errorf("importfmt: write: %w", err)
		}
	}
	return nil
}

func dovecotLine(r ExportRecord) (string, error) {
	// Dovecot reads a line starting with '#' as a comment.
	if checkUser(r.User) != "" || strings.ContainsAny(r.User, ": ") || strings.HasPrefix(r.User, "#") {
		return "", fmt.Errorf("importfmt: user %q cannot be written to a passwd-file", r.User)
	}
	if r.Hash == "" {
		return "", fmt.Errorf("importfmt: user %s has no exportable credential", r.User)
	}
	hash := r.Hash
	if hasControl(hash) {
		return "", fmt.Errorf("importfmt: user %s: control character in credential", r.User)
	}
	if strings.Contains(hash, ":") {
		s := SchemeOf(hash)
		switch s {
		case "PLAIN", "CLEAR", "CLEARTEXT":
			v := hash[len(s)+2:]
			hash = "{PLAIN.B64}" + base64.StdEncoding.EncodeToString([]byte(v))
		default:
			return "", fmt.Errorf("importfmt: user %s: {%s} credential contains ':'", r.User, s)
		}
	}
	gecos := strings.Map(func(c rune) rune {
		if c == ':' || c < 0x20 || c == 0x7f {
			return ' '
		}
		return c
	}, r.DisplayName)
	gecos = strings.TrimSpace(gecos)
	var extra []string
	if r.Disabled {
		extra = append(extra, "nologin")
	}
	if r.Maildrop != "" {
		if strings.ContainsAny(r.Maildrop, ": \t") || hasControl(r.Maildrop) {
			return "", fmt.Errorf("importfmt: user %s: maildrop path cannot be written to a passwd-file", r.User)
		}
		extra = append(extra, "userdb_mail=maildir:"+r.Maildrop)
	}
	return r.User + ":" + hash + ":::" + gecos + ":::" + strings.Join(extra, " "), nil
}

// CSVHeader returns the columns WriteCSV writes.
func CSVHeader(includeHashes bool) []string {
	h := []string{"user", "name", "disabled", "disable_reason", "locked", "must_change",
		"no_pop3", "no_passwd_change", "expires", "mechs", "schemes", "maildrop",
		"quota_bytes", "created", "changed", "last_login", "failures"}
	if includeHashes {
		h = append(h, "hash", "credentials")
	}
	return h
}

// WriteCSV writes recs with a header row. Times are RFC 3339 in UTC (empty
// for never); list columns are space-separated. With includeHashes the
// "hash" column (read back by ParseCSV) and "credentials" (every stored
// form, space-separated) are added.
//
// A user name starting with '#' is written quoted: ParseCSV, like most CSV
// readers that allow comments, skips a line that starts with '#'.
func WriteCSV(w io.Writer, recs []ExportRecord, includeHashes bool) error {
	out := bufio.NewWriter(w)
	var row bytes.Buffer
	cw := csv.NewWriter(&row)
	// flush moves the rows buffered in row to w, quoting a leading '#'.
	flush := func() error {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("importfmt: write: %w", err)
		}
		b := row.Bytes()
		if len(b) > 0 && b[0] == '#' {
			// An unquoted first field has no ',' of its own.
			end := bytes.IndexByte(b, ',')
			if end < 0 {
				end = bytes.IndexByte(b, '\n')
			}
			b = slices.Concat([]byte{'"'}, b[:end], []byte{'"'}, b[end:])
		}
		row.Reset()
		if _, err := out.Write(b); err != nil {
			return fmt.Errorf("importfmt: write: %w", err)
		}
		return nil
	}
	if err := cw.Write(CSVHeader(includeHashes)); err != nil {
		return fmt.Errorf("importfmt: write: %w", err)
	}
	if err := flush(); err != nil {
		return err
	}
	for _, r := range recs {
		fields := []string{
			r.User, r.DisplayName, strconv.FormatBool(r.Disabled), r.DisableReason,
			strconv.FormatBool(r.Locked), strconv.FormatBool(r.MustChange),
			strconv.FormatBool(r.NoPOP3), strconv.FormatBool(r.NoPasswdChange),
			fmtTime(r.Expires), strings.Join(r.Mechs, " "), strings.Join(r.Schemes, " "),
			r.Maildrop, strconv.FormatInt(r.QuotaBytes, 10), fmtTime(r.Created),
			fmtTime(r.Changed), fmtTime(r.LastLogin), strconv.Itoa(r.Failures),
		}
		if includeHashes {
			fields = append(fields, r.Hash, strings.Join(r.Credentials, " "))
		}
		if err := cw.Write(fields); err != nil {
			return fmt.Errorf("importfmt: write: %w", err)
		}
		if err := flush(); err != nil {
			return err
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("importfmt: write: %w", err)
	}
	return nil
}

// JSONRecord is the JSON form of an ExportRecord.
type JSONRecord struct {
	User           string            `json:"user"`
	DisplayName    string            `json:"name,omitempty"`
	Disabled       bool              `json:"disabled"`
	DisableReason  string            `json:"disable_reason,omitempty"`
	Locked         bool              `json:"locked"`
	MustChange     bool              `json:"must_change"`
	NoPOP3         bool              `json:"no_pop3"`
	NoPasswdChange bool              `json:"no_passwd_change"`
	Expires        *time.Time        `json:"expires,omitempty"`
	Created        *time.Time        `json:"created,omitempty"`
	Changed        *time.Time        `json:"changed,omitempty"`
	LastLogin      *time.Time        `json:"last_login,omitempty"`
	Failures       int               `json:"failures"`
	Mechs          []string          `json:"mechs"`
	Schemes        []string          `json:"schemes"`
	Maildrop       string            `json:"maildrop,omitempty"`
	QuotaBytes     int64             `json:"quota_bytes,omitempty"`
	Hash           string            `json:"hash,omitempty"`
	Credentials    map[string]string `json:"credentials,omitempty"`
}

// ToJSON converts r to its JSON form, with or without its credentials.
func (r ExportRecord) ToJSON(includeHashes bool) JSONRecord {
	j := JSONRecord{
		User: r.User, DisplayName: r.DisplayName, Disabled: r.Disabled,
		DisableReason: r.DisableReason, Locked: r.Locked, MustChange: r.MustChange,
		NoPOP3: r.NoPOP3, NoPasswdChange: r.NoPasswdChange,
		Expires: timePtr(r.Expires), Created: timePtr(r.Created),
		Changed: timePtr(r.Changed), LastLogin: timePtr(r.LastLogin),
		Failures: r.Failures, Mechs: nonNil(r.Mechs), Schemes: nonNil(r.Schemes),
		Maildrop: r.Maildrop, QuotaBytes: r.QuotaBytes,
	}
	if includeHashes {
		j.Hash = r.Hash
		if len(r.Credentials) > 0 {
			j.Credentials = map[string]string{}
			for _, c := range r.Credentials {
				j.Credentials[SchemeOf(c)] = c
			}
		}
	}
	return j
}

// WriteJSON writes recs as one indented JSON array.
func WriteJSON(w io.Writer, recs []ExportRecord, includeHashes bool) error {
	out := make([]JSONRecord, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.ToJSON(includeHashes))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("importfmt: write: %w", err)
	}
	return nil
}

// SortRecords orders recs by user name, so exports are stable.
func SortRecords(recs []ExportRecord) {
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].User < recs[j].User })
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
