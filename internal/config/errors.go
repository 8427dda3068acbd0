package config

import (
	"fmt"
	"strings"
)

// Error is one problem in the configuration: the file and line where the
// key is set (when known), the dotted key and what is wrong.
type Error struct {
	File string // file name; empty when the value did not come from a file
	Line int    // 1-based line; 0 when unknown
	Key  string // dotted key, e.g. "pop3.idle_timeout"
	Msg  string
}

// Error formats e as "FILE:LINE: KEY: MSG", leaving out the parts that are
// unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one configuration, in file order.
type Errors []*Error

// Error joins the problems, one per line.
func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}
