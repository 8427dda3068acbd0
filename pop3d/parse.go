package pop3d

import (
	"errors"
	"strings"
)

// maxKeyword is the longest command keyword accepted. RFC 1939 keywords
// are 3 or 4 characters; extensions (RFC 2449 §3) may be longer, so a few
// more are tolerated and simply reported unknown.
const maxKeyword = 16

// Parse errors. They are never sent to the client verbatim: the
// dispatcher maps them to generic -ERR replies.
var (
	errEmptyLine  = errors.New("pop3d: empty command line")
	errBadKeyword = errors.New("pop3d: bad command keyword")
	errBadChar    = errors.New("pop3d: control character in command line")
)

// commandLine is a parsed command: Name is the keyword in upper case and
// Rest everything after the single space that follows it ("" when the
// line is the keyword alone). HasRest records whether that space was
// present, so that formatting reproduces the line.
type commandLine struct {
	Name    string
	Rest    string
	HasRest bool
}

// parseCommand splits a command line (without its line end) into keyword
// and argument text. It is pure: no I/O, no state. The keyword is
// case-insensitive (RFC 1939 §3) and made of ASCII letters and digits. The
// line must not contain control characters (NUL, CR, LF, DEL and the
// others below 0x20 except HT, which no argument needs either); octets of
// 0x80 and above are allowed in arguments (UTF-8 user names and passwords,
// RFC 6856).
func parseCommand(line []byte) (commandLine, error) {
	if len(line) == 0 {
		return commandLine{}, errEmptyLine
	}
	for _, b := range line {
		if b < 0x20 || b == 0x7f {
			return commandLine{}, errBadChar
		}
	}
	s := string(line)
	name, rest, hasRest := strings.Cut(s, " ")
	if len(name) == 0 || len(name) > maxKeyword {
		return commandLine{}, errBadKeyword
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9') {
			return commandLine{}, errBadKeyword
		}
	}
	return commandLine{Name: strings.ToUpper(name), Rest: rest, HasRest: hasRest}, nil
}

// String formats the command line as the canonical form of what was
// parsed: parseCommand(c.String()) == c.
func (c commandLine) String() string {
	if !c.HasRest {
		return c.Name
	}
	return c.Name + " " + c.Rest
}

// splitArgs splits argument text at single spaces (RFC 1939 §3: arguments
// are separated by a single space). It returns nil for empty text and ok
// false for empty arguments (two spaces in a row, a leading or trailing
// space).
func splitArgs(rest string) (args []string, ok bool) {
	if rest == "" {
		return nil, true
	}
	args = strings.Split(rest, " ")
	for _, a := range args {
		if a == "" {
			return nil, false
		}
	}
	return args, true
}

// parseMsgNum parses a message number argument: decimal digits only, no
// sign, at least 1. It returns 0 for anything else, including numbers too
// large for any maildrop (they must never wrap around to a small number).
func parseMsgNum(s string) int {
	if s == "" || len(s) > 10 {
		return 0
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < '0' || b > '9' {
			return 0
		}
		n = n*10 + uint64(b-'0')
	}
	if n > 1<<31-1 {
		return 0
	}
	return int(n)
}

// parseLineCount parses the line count of TOP: decimal digits only, 0 or
// more. Values beyond what fits saturate: TOP n 99999999999999999999 means
// the whole message (fetchmail sends huge counts).
func parseLineCount(s string) (n uint64, ok bool) {
	if s == "" {
		return 0, false
	}
	const max = ^uint64(0)
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < '0' || b > '9' {
			return 0, false
		}
		d := uint64(b - '0')
		if n > (max-d)/10 {
			n = max
			continue
		}
		n = n*10 + d
	}
	return n, true
}
