package mbox

import (
	"bytes"
	"regexp"
)

// strictFrom matches a complete From_ line in the form written by Postfix,
// procmail, mutt and every asctime-based MDA: the envelope sender (one
// token, possibly quoted, possibly empty), one or more spaces, then an
// asctime date with optional seconds and optional time zone before or
// after the year, and an optional UUCP " remote from host" tail. This is
// mutt's is_from rule: it is only consulted for a "From " line that does
// not follow a blank line.
var strictFrom = regexp.MustCompile(`^From (?:"[^"]*"[^ \t]*|[^ \t]*)[ \t]+` +
	`(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? +` +
	`(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +` +
	`[0-9]{1,2} +[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?` +
	`(?: +(?:[A-Z]{1,5}|[+-][0-9]{4}))? +[0-9]{4}` +
	`(?: +(?:[A-Z]{1,5}|[+-][0-9]{4}))?` +
	`(?: +remote from [^ \t\r\n]+)?[ \t]*\r?\n$`)

// maxFromLine bounds the line length the strict check looks at.
const maxFromLine = 1024

// hasFrom reports whether a line starts with "From ".
func hasFrom(line []byte) bool { return bytes.HasPrefix(line, []byte("From ")) }

// isStrictFrom reports whether line (a whole line, ending in LF) is a
// From_ line with a valid asctime date.
func isStrictFrom(line []byte) bool {
	return hasFrom(line) && len(line) <= maxFromLine && line[len(line)-1] == '\n' && strictFrom.Match(line)
}

// isBlank reports whether a line is empty ("\n" or "\r\n").
func isBlank(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// isMMDF reports whether a line is the MMDF delimiter ^A^A^A^A.
func isMMDF(line []byte) bool {
	return bytes.Equal(line, []byte("\x01\x01\x01\x01\n")) || bytes.Equal(line, []byte("\x01\x01\x01\x01\r\n"))
}
