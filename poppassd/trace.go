package poppassd

import (
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// tracer writes the protocol trace (Options.Debug). A nil *tracer traces
// nothing. Passwords are redacted unless auth is set: the arguments of pass
// and newpass, and whole unrecognised lines, since a client that sends the
// wrong command at the password stage may be sending a bare password.
type tracer struct {
	mu   sync.Mutex
	w    io.Writer
	auth bool
}

// command traces a client line.
func (t *tracer) command(id string, cmd command) {
	if t == nil {
		return
	}
	var text string
	switch {
	case t.auth:
		text = cmd.raw()
	case cmd.verb == verbPASS || cmd.verb == verbNEWPASS:
		text = cmd.keyword
		if cmd.hasArg {
			text += " ***"
		}
	case cmd.verb == "":
		text = "*** (unrecognised line, " + strconv.Itoa(len(cmd.raw())) + " bytes)"
	default:
		text = cmd.raw()
	}
	t.write(id, "C: ", text)
}

// reply traces a server line.
func (t *tracer) reply(id, line string) {
	if t == nil {
		return
	}
	t.write(id, "S: ", line)
}

// note traces an event that is not a line (EOF in a line, over-long line).
func (t *tracer) note(id, text string) {
	if t == nil {
		return
	}
	t.write(id, "-- ", text)
}

func (t *tracer) write(id, dir, text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _ = io.WriteString(t.w, id+" "+dir+printable(text)+"\n")
}

// printable returns s unchanged if it is printable UTF-8, else quoted, so a
// trace line is always one line.
func printable(s string) string {
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
