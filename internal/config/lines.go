package config

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// keyLines maps every dotted key and table header of a TOML text to the
// line that defines it. The TOML library reports no positions for keys
// that decode fine, so messages about their values find the line here. It
// understands table headers, dotted and quoted keys and multi-line
// strings; keys inside inline tables map to the line of the enclosing key.
func keyLines(text string) map[string]int {
	lines := map[string]int{}
	record := func(parts []string, n int) {
		for i := 1; i <= len(parts); i++ {
			k := toml.Key(parts[:i]).String()
			if _, ok := lines[k]; !ok {
				lines[k] = n
			}
		}
	}
	var table []string
	open := "" // delimiter of an unterminated multi-line string
	for i, raw := range strings.Split(text, "\n") {
		n := i + 1
		line := strings.TrimSpace(raw)
		if open != "" {
			if strings.Count(line, open)%2 == 1 {
				open = ""
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			hdr := strings.TrimLeft(line, "[")
			end := indexUnquoted(hdr, ']')
			if end < 0 {
				continue
			}
			if parts, ok := splitKey(hdr[:end]); ok {
				table = parts
				record(table, n)
			}
			continue
		}
		eq := indexUnquoted(line, '=')
		if eq < 0 {
			continue
		}
		parts, ok := splitKey(line[:eq])
		if !ok {
			continue
		}
		record(append(append([]string{}, table...), parts...), n)
		rest := line[eq+1:]
		for _, d := range []string{`"""`, `'''`} {
			if strings.Count(rest, d)%2 == 1 {
				open = d
			}
		}
	}
	return lines
}

// indexUnquoted returns the index of the first c in s outside quotes.
func indexUnquoted(s string, c byte) int {
	var q byte
	for i := 0; i < len(s); i++ {
		switch {
		case q != 0:
			if s[i] == '\\' && q == '"' {
				i++
			} else if s[i] == q {
				q = 0
			}
		case s[i] == '"' || s[i] == '\'':
			q = s[i]
		case s[i] == c:
			return i
		}
	}
	return -1
}

// splitKey splits a TOML key ("a.b", `"x y".z`) into its parts.
func splitKey(s string) ([]string, bool) {
	var parts []string
	for {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, false
		}
		var part string
		switch s[0] {
		case '"':
			end := indexUnquoted(s, '.')
			if end < 0 {
				end = len(s)
			}
			u, err := strconv.Unquote(strings.TrimSpace(s[:end]))
			if err != nil {
				return nil, false
			}
			part, s = u, s[end:]
		case '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, false
			}
			part, s = s[1:end+1], s[end+2:]
		default:
			end := strings.IndexByte(s, '.')
			if end < 0 {
				end = len(s)
			}
			part, s = strings.TrimSpace(s[:end]), s[end:]
			for _, r := range part {
				if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
					return nil, false
				}
			}
			if part == "" {
				return nil, false
			}
		}
		parts = append(parts, part)
		s = strings.TrimSpace(s)
		if s == "" {
			return parts, true
		}
		if s[0] != '.' {
			return nil, false
		}
		s = s[1:]
	}
}
