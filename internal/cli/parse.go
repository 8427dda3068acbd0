package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseDuration reads a Go duration with two more units: "d" (24h) and
// "w" (7d), e.g. "90d", "2w", "36h", "15m".
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v < 0 || v > 1e5 {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q (examples: 90d, 2w, 36h, 15m)", s)
	}
	return d, nil
}

// parseTime reads an instant: RFC 3339, "2006-01-02T15:04", "2006-01-02
// 15:04" or a date "2006-01-02" (midnight), local time unless a zone is
// given.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid date %q (examples: 2025-12-31, 2025-12-31T18:00:00Z)", s)
}

// parseSince reads --since: a duration back from now ("24h", "7d") or an
// instant (see parseTime).
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := parseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := parseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid --since %q (a duration such as 24h or 7d, or a date)", s)
	}
	return t, nil
}

// parseSize reads a byte size: a number with an optional K, M, G or T
// suffix (powers of 1024, an optional trailing "B" or "iB" is allowed).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "IB"), "B")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q (examples: 500M, 2G, 0)", s)
	}
	return n * mult, nil
}

// parseList splits a comma- or space-separated list into lower-case items.
func parseList(s string) []string {
	out := []string{}
	for _, x := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, strings.ToLower(x))
	}
	return out
}

// fmtDuration prints d in the largest unit parseDuration reads back.
func fmtDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String() // e.g. "1h30m0s", "15m0s"
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
