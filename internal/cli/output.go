package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// writeJSON writes v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("cli: write JSON: %w", err)
	}
	return nil
}

// jsonMode reports whether output is JSON.
func (f *factory) jsonMode() bool { return f.g.output == "json" }

// printJSON writes v to stdout as JSON.
func (f *factory) printJSON(v any) error { return writeJSON(f.out, v) }

// done reports a successful change: a line of text in table/tsv mode
// (suppressed by --quiet), or obj with "ok": true in JSON mode.
func (f *factory) done(obj map[string]any, format string, args ...any) error {
	if f.jsonMode() {
		out := map[string]any{"ok": true}
		for k, v := range obj {
			out[k] = v
		}
		return f.printJSON(out)
	}
	if f.g.quiet {
		return nil
	}
	_, err := fmt.Fprintf(f.out, format+"\n", args...)
	return err
}

// printTable writes rows under header in table mode (aligned columns) or
// tsv mode (tab-separated, no header, tabs and newlines in cells escaped).
func (f *factory) printTable(header []string, rows [][]string) error {
	if f.g.output == "tsv" {
		var b strings.Builder
		for _, r := range rows {
			for i, c := range r {
				if i > 0 {
					b.WriteByte('\t')
				}
				b.WriteString(tsvEscape(c))
			}
			b.WriteByte('\n')
		}
		_, err := io.WriteString(f.out, b.String())
		return err
	}
	tw := tabwriter.NewWriter(f.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = cellText(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// printPairs writes "key: value" lines, aligned (table) or tab-separated
// (tsv).
func (f *factory) printPairs(pairs [][2]string) error {
	if f.g.output == "tsv" {
		rows := make([][]string, len(pairs))
		for i, p := range pairs {
			rows[i] = []string{p[0], p[1]}
		}
		return f.printTable(nil, rows)
	}
	tw := tabwriter.NewWriter(f.out, 0, 4, 2, ' ', 0)
	for _, p := range pairs {
		fmt.Fprintf(tw, "%s:\t%s\n", p[0], cellText(p[1]))
	}
	return tw.Flush()
}

// cellText makes a value safe for one table cell.
func cellText(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

func tsvEscape(s string) string {
	r := strings.NewReplacer("\\", "\\\\", "\t", "\\t", "\n", "\\n", "\r", "\\r")
	return r.Replace(s)
}

// fmtTime formats t for a table cell: RFC 3339 in UTC, or never.
func fmtTime(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
