package importfmt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxLineBytes is the longest input line the parsers accept. A longer line
// is reported as a LineError and skipped.
const MaxLineBytes = 64 << 10

// Record is one account read from an import file.
type Record struct {
	// Line is the 1-based line of the record in the input.
	Line int
	// User is the login name as written (not normalised).
	User string
	// Hash is the stored credential as "{SCHEME}value", or "" when
	// Password is set instead.
	Hash string
	// Password is a clear password (CSV "password" column only).
	Password string
	// DisplayName is the user's full name (passwd gecos, CSV "name").
	DisplayName string
	// Disabled marks an account that may not log in (Dovecot "nologin",
	// CSV "disabled").
	Disabled bool
	// Maildrop is a per-user mail location (Dovecot "userdb_mail=maildir:",
	// CSV "maildrop"), or "".
	Maildrop string
}

// LineError is a row that could not be parsed. It never contains the
// password or hash of the row.
type LineError struct {
	Line int    // 1-based input line
	User string // login name when it could be read, else ""
	Msg  string // what is wrong, e.g. "missing password field"
}

// Error implements error.
func (e *LineError) Error() string {
	if e.User != "" {
		return fmt.Sprintf("importfmt: line %d (%s): %s", e.Line, e.User, e.Msg)
	}
	return fmt.Sprintf("importfmt: line %d: %s", e.Line, e.Msg)
}

// Result is the outcome of parsing one file: the good rows and one error
// per bad row, both in input order.
type Result struct {
	Records []Record
	Errors  []*LineError
	// IgnoredColumns lists CSV header columns that the importer does not
	// use (for a warning); nil for the other formats.
	IgnoredColumns []string
}

func (r *Result) fail(line int, user, format string, args ...any) {
	r.Errors = append(r.Errors, &LineError{Line: line, User: user, Msg: fmt.Sprintf(format, args...)})
}

// Options tunes the parsers.
type Options struct {
	// BareScheme is the scheme assumed for a password field that has no
	// "{SCHEME}" prefix and is not a recognised crypt string, like
	// Dovecot's default_pass_scheme. "" makes such a field an error.
	BareScheme string
}

// Format names accepted by Parse.
const (
	FormatDovecotPasswd = "dovecot-passwd"
	FormatHtpasswd      = "htpasswd"
	FormatCSV           = "csv"
)

// Formats lists the import formats in the order they are documented.
func Formats() []string {
	return []string{FormatDovecotPasswd, FormatHtpasswd, FormatCSV}
}

// ErrUnknownFormat is returned by Parse for a format name it does not know.
var ErrUnknownFormat = errors.New("importfmt: unknown format")

// Parse reads r in the named format. The error is non-nil only when the
// input cannot be read at all (or the CSV header is unusable); bad rows are
// in Result.Errors.
func Parse(format string, r io.Reader, opts Options) (*Result, error) {
	switch format {
	case FormatDovecotPasswd:
		return ParseDovecotPasswd(r, opts)
	case FormatHtpasswd:
		return ParseHtpasswd(r, opts)
	case FormatCSV:
		return ParseCSV(r, opts)
	}
	return nil, fmt.Errorf("%w %q (want %s)", ErrUnknownFormat, format, strings.Join(Formats(), ", "))
}

// eachLine calls fn for every line of r with its 1-based number, without
// the line terminator (LF or CRLF). Lines longer than MaxLineBytes are
// passed with tooLong set and an empty text.
func eachLine(r io.Reader, fn func(n int, line string, tooLong bool)) error {
	br := bufio.NewReaderSize(r, 4096)
	n := 0
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(buf) > MaxLineBytes {
				n++
				// Skip to the end of this line without keeping it.
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = br.ReadSlice('\n')
				}
				buf = buf[:0]
				fn(n, "", true)
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return fmt.Errorf("importfmt: read: %w", err)
				}
			}
			continue
		}
		if len(buf) > 0 {
			n++
			line := string(buf)
			line = strings.TrimSuffix(line, "\n")
			line = strings.TrimSuffix(line, "\r")
			if len(line) > MaxLineBytes {
				fn(n, "", true)
			} else {
				fn(n, line, false)
			}
			buf = buf[:0]
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("importfmt: read: %w", err)
		}
	}
}

// hasControl reports whether s holds an ASCII control character (which
// includes NUL, CR and LF) or DEL.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
