package poppassd

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Command verbs, as the server knows them (lower case).
const (
	verbUSER    = "user"
	verbPASS    = "pass"
	verbNEWPASS = "newpass"
	verbQUIT    = "quit"
)

// command is one parsed client line.
type command struct {
	// verb is the lower-cased keyword when it is one of the four verbs,
	// and "" for anything else (including an empty line).
	verb string
	// arg is everything after the first space, verbatim: inner and
	// trailing spaces are part of it (passwords may contain spaces).
	arg string
	// hasArg reports whether the line had a space after the keyword.
	hasArg bool
	// keyword is the raw keyword as sent, for the trace of unknown
	// commands.
	keyword string
}

// raw returns the line as received (without its terminator).
func (c command) raw() string {
	if c.hasArg {
		return c.keyword + " " + c.arg
	}
	return c.keyword
}

// traceVerb names the command for logs: the verb, or "unknown". It never
// contains client text.
func (c command) traceVerb() string {
	if c.verb == "" {
		return "unknown"
	}
	return c.verb
}

// parseCommand splits a line (without its line terminator) into keyword
// and argument. It does no I/O and never fails: an unknown keyword gives
// verb "". Keywords are matched ASCII case-insensitively (PC Eudora sends
// "USER", most webmails "user"); a keyword must be followed by exactly a
// space or the end of the line, so "userAlice" is not "user Alice" (Debian
// accepts that through scanf).
func parseCommand(line string) command {
	var c command
	c.keyword, c.arg, c.hasArg = strings.Cut(line, " ")
	for _, v := range [...]string{verbUSER, verbPASS, verbNEWPASS, verbQUIT} {
		if asciiEqualFold(c.keyword, v) {
			c.verb = v
			break
		}
	}
	return c
}

// asciiEqualFold is strings.EqualFold restricted to ASCII, so that Unicode
// case folding ("uſer", with U+017F) never turns into a keyword.
func asciiEqualFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// checkUsername reports why a username is refused, or "" when it is
// acceptable. The check is purely syntactic, so the reply reveals nothing
// about accounts: valid UTF-8, at most maxLen bytes, and only printable
// characters without spaces (webmails send "user" or "user@domain").
func checkUsername(u string, maxLen int) string {
	switch {
	case u == "":
		return "Username required."
	case len(u) > maxLen:
		return "Username too long (max " + strconv.Itoa(maxLen) + " bytes)."
	case !utf8.ValidString(u):
		return "Invalid username."
	}
	for _, r := range u {
		if r == ' ' || !unicode.IsPrint(r) {
			return "Invalid username."
		}
	}
	return ""
}

// checkPassword reports why a password is refused before it reaches the
// backend, or "" when it is acceptable. what is "Password" or "New
// password". Passwords are never truncated or cut at a NUL or CR (Debian
// does both, silently): a password the server would store differently
// from what the user typed is refused instead. The limit is the same for
// "pass" and "newpass", so a new password can always be used as an old
// one later.
func checkPassword(p, what string, maxLen int) string {
	switch {
	case p == "":
		return what + " required."
	case len(p) > maxLen:
		return what + " too long (max " + strconv.Itoa(maxLen) + " bytes)."
	case hasControl(p):
		return what + " contains control characters."
	case !utf8.ValidString(p):
		return what + " is not valid UTF-8."
	}
	return ""
}

// hasControl reports whether s contains a C0 control byte (NUL, CR, LF,
// TAB, ...) or DEL.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// cleanReplyText makes s safe as the text of one reply line: control
// characters and invalid UTF-8 become spaces, runs of space collapse, and
// the result is at most maxLen bytes (cut at a rune boundary).
func cleanReplyText(s string, maxLen int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		n := utf8.RuneLen(r)
		if space {
			n++
		}
		if b.Len()+n > maxLen {
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
