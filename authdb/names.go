package authdb

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// localSpecials are refused in a local part: address syntax ('@', quotes,
// brackets, separators) and path or URL syntax ('/', '\', ':', '%'), since
// names end up in Maildir paths, logs and audit queries.
const localSpecials = `@/\:"<>()[],;%`

func invalidName(name, why string) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidName, name, why)
}

func normalize(name, defaultDomain string) (string, error) {
	if name == "" {
		return "", invalidName(name, "empty")
	}
	if !utf8.ValidString(name) {
		return "", invalidName(name, "not valid UTF-8")
	}
	if strings.TrimSpace(name) != name {
		return "", invalidName(name, "leading or trailing space")
	}
	n := norm.NFC.String(strings.ToLower(norm.NFC.String(name)))
	local, domain, hasDomain := strings.Cut(n, "@")
	if !hasDomain {
		if defaultDomain == "" {
			return "", invalidName(name, "no domain and no default domain")
		}
		domain = strings.ToLower(defaultDomain)
	}
	if strings.Contains(domain, "@") {
		return "", invalidName(name, "more than one '@'")
	}
	if err := checkLocal(local); err != "" {
		return "", invalidName(name, err)
	}
	if err := checkDomain(domain); err != "" {
		return "", invalidName(name, err)
	}
	return local + "@" + domain, nil
}

// checkLocal returns why local is not a valid local part, or "".
func checkLocal(local string) string {
	switch {
	case local == "":
		return "empty local part"
	case len(local) > 64:
		return "local part longer than 64 bytes"
	case local[0] == '.' || local[len(local)-1] == '.':
		return "local part starts or ends with '.'"
	case strings.Contains(local, ".."):
		return "local part contains '..'"
	}
	for _, r := range local {
		switch {
		case unicode.IsSpace(r):
			return "local part contains a space"
		case unicode.IsControl(r) || !unicode.IsGraphic(r):
			return "local part contains a control or invisible character"
		case strings.ContainsRune(localSpecials, r):
			return fmt.Sprintf("local part contains %q", r)
		}
	}
	return ""
}

// checkDomain returns why d is not a valid domain (DNS labels, ASCII,
// lower-case), or "".
func checkDomain(d string) string {
	if d == "" {
		return "empty domain"
	}
	if len(d) > 253 {
		return "domain longer than 253 bytes"
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" {
			return "domain has an empty label"
		}
		if len(label) > 63 {
			return "domain label longer than 63 bytes"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "domain label starts or ends with '-'"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				if c >= utf8.RuneSelf {
					return "domain is not ASCII (use the xn-- form)"
				}
				return fmt.Sprintf("domain contains %q", c)
			}
		}
	}
	return ""
}

// normalizeDomain validates and lower-cases a domain name.
func normalizeDomain(name string) (string, error) {
	if strings.TrimSpace(name) != name {
		return "", fmt.Errorf("%w %q: leading or trailing space", ErrInvalidName, name)
	}
	d := strings.ToLower(name)
	if why := checkDomain(d); why != "" {
		return "", fmt.Errorf("%w %q: %s", ErrInvalidName, name, why)
	}
	return d, nil
}

// knownMechs lists the mechanism names in their canonical order.
var knownMechs = []string{MechPlain, MechSCRAMSHA256, MechSCRAMSHA1, MechCRAMMD5, MechAPOP}

// normalizeMechs lower-cases, validates, de-duplicates and orders a
// mechanism set; "plain" is always included.
func normalizeMechs(in []string) ([]string, error) {
	want := map[string]bool{MechPlain: true}
	for _, m := range in {
		m = strings.ToLower(strings.TrimSpace(m))
		if m == "" {
			continue
		}
		found := false
		for _, k := range knownMechs {
			if m == k {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: unknown mechanism %q (known: %s)", ErrInvalidInput, m, strings.Join(knownMechs, ", "))
		}
		want[m] = true
	}
	var out []string
	for _, k := range knownMechs {
		if want[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

func hasMech(mechs []string, m string) bool {
	for _, x := range mechs {
		if x == m {
			return true
		}
	}
	return false
}

// checkText refuses control characters and invalid UTF-8 in free text
// (display names, disable notes) and bounds its length.
func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidInput, field)
	}
	if len(s) > max {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalidInput, field, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s contains a control character", ErrInvalidInput, field)
		}
	}
	return nil
}
