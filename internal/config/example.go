package config

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Example writes an annotated configuration file that sets every key to
// its default, each preceded by its help text, flag and environment
// variable.
func Example(w io.Writer) error {
	var b strings.Builder
	b.WriteString(`# popadm serve configuration (TOML).
#
# popadm serve reads --config FILE, else $POPADM_CONFIG, else
# ` + DefaultPath + ` if it exists. Every setting below shows its
# default. Precedence, lowest first: defaults, this file, the environment
# (` + strings.Join(EnvVars(), ", ") + `), command-line flags.
# Durations are strings such as "90s", "10m" or "1h".
# Check a file with: popadm config check --config FILE
`)
	def := Defaults()
	section := ""
	for _, s := range Settings() {
		if sec := s.Section(); sec != section {
			section = sec
			fmt.Fprintf(&b, "\n[%s]\n", sec)
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "# %s\n", s.Help)
		src := "# flag --" + s.Flag
		if s.Env != "" {
			src += ", env " + s.Env
		}
		b.WriteString(src + "\n")
		fmt.Fprintf(&b, "%s = %s\n", s.Name(), FormatValue(s.Ptr(&def)))
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("config: write example: %w", err)
	}
	return nil
}

// FormatValue renders the value ptr points to (as returned by
// Setting.Ptr) as TOML.
func FormatValue(ptr any) string {
	switch p := ptr.(type) {
	case *string:
		return strconv.Quote(*p)
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return strconv.Itoa(*p)
	case *time.Duration:
		return strconv.Quote(FormatDuration(*p))
	case *[]string:
		q := make([]string, len(*p))
		for i, s := range *p {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return fmt.Sprintf("%v", ptr)
}

// FormatDuration is time.Duration.String without zero trailing units:
// "10m" rather than "10m0s".
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
