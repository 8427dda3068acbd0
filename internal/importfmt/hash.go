package importfmt

import (
	"errors"
	"strings"
)

// Errors returned by NormalizeHash. None of them contains the hash.
var (
	ErrEmptyHash       = errors.New("importfmt: empty password field")
	ErrNoScheme        = errors.New("importfmt: password field has no {SCHEME} prefix and is not a recognised crypt string")
	ErrBadSchemeName   = errors.New("importfmt: malformed {SCHEME} prefix")
	ErrUnsupportedHash = errors.New("importfmt: unsupported hash format")
	ErrControlChar     = errors.New("importfmt: control character in password field")
)

// cryptPrefixes maps the identifier of a bare crypt(3) string to its
// Dovecot scheme. Longer prefixes come first ($argon2id$ before $argon2i$).
var cryptPrefixes = []struct{ prefix, scheme string }{
	{"$argon2id$", "ARGON2ID"},
	{"$argon2i$", "ARGON2I"},
	{"$2a$", "BLF-CRYPT"},
	{"$2b$", "BLF-CRYPT"},
	{"$2y$", "BLF-CRYPT"},
	{"$2x$", "BLF-CRYPT"},
	{"$1$", "MD5-CRYPT"},
	{"$5$", "SHA256-CRYPT"},
	{"$6$", "SHA512-CRYPT"},
	{"$y$", "CRYPT"}, // yescrypt, read by the CRYPT scheme
}

// unsupportedCrypt names crypt identifiers that are recognised but that no
// popadm scheme verifies, so the error can say what the hash is.
var unsupportedCrypt = []struct{ prefix, name string }{
	{"$apr1$", "Apache APR1-MD5"},
	{"$gy$", "gost-yescrypt"},
	{"$7$", "scrypt"},
	{"$sha1$", "NetBSD sha1crypt"},
	{"$md5", "Sun MD5"},
	{"$3$", "NT-hash"},
}

// NormalizeHash turns a password field into "{SCHEME}value". A value that
// already has a "{SCHEME}" prefix keeps its value and gets its scheme name
// upper-cased (Dovecot matches scheme names case-insensitively). A bare
// crypt(3) string gets the scheme its identifier names (yescrypt "$y$"
// gets "{CRYPT}"), a 13-character DES string gets "{DES-CRYPT}". Anything
// else wraps ErrNoScheme. The returned errors never contain the field.
func NormalizeHash(field string) (string, error) {
	if field == "" {
		return "", ErrEmptyHash
	}
	if hasControl(field) {
		return "", ErrControlChar
	}
	if field[0] == '{' {
		end := strings.IndexByte(field, '}')
		if end < 0 {
			return "", ErrBadSchemeName
		}
		name := field[1:end]
		if !validSchemeName(name) {
			return "", ErrBadSchemeName
		}
		if end+1 == len(field) {
			return "", ErrEmptyHash
		}
		return "{" + strings.ToUpper(name) + "}" + field[end+1:], nil
	}
	for _, p := range unsupportedCrypt {
		if strings.HasPrefix(field, p.prefix) {
			return "", &UnsupportedHashError{Kind: p.name}
		}
	}
	for _, p := range cryptPrefixes {
		if strings.HasPrefix(field, p.prefix) {
			return "{" + p.scheme + "}" + field, nil
		}
	}
	if isDESCrypt(field) {
		return "{DES-CRYPT}" + field, nil
	}
	return "", ErrNoScheme
}

// normalizeField is NormalizeHash with the BareScheme fallback of opts.
func normalizeField(field string, opts Options) (string, error) {
	h, err := NormalizeHash(field)
	if errors.Is(err, ErrNoScheme) && opts.BareScheme != "" {
		if !validSchemeName(opts.BareScheme) {
			return "", ErrBadSchemeName
		}
		return "{" + strings.ToUpper(opts.BareScheme) + "}" + field, nil
	}
	return h, err
}

// hashErrorText is the LineError message for a NormalizeHash error.
func hashErrorText(err error) string {
	return strings.TrimPrefix(err.Error(), "importfmt: ")
}

// UnsupportedHashError is a crypt string of a known kind that popadm cannot
// verify. It matches ErrUnsupportedHash.
type UnsupportedHashError struct {
	Kind string // e.g. "Apache APR1-MD5"
}

// Error implements error.
func (e *UnsupportedHashError) Error() string {
	return "importfmt: " + e.Kind + " hashes are not supported"
}

// Is makes errors.Is(err, ErrUnsupportedHash) true.
func (e *UnsupportedHashError) Is(target error) bool { return target == ErrUnsupportedHash }

// validSchemeName accepts Dovecot scheme names such as SHA512-CRYPT,
// PLAIN.B64 or SCRAM-SHA-256.
func validSchemeName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}

// isDESCrypt reports whether s looks like a traditional 13-character DES
// crypt string (two salt characters and 11 hash characters from ./0-9A-Za-z).
func isDESCrypt(s string) bool {
	if len(s) != 13 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '/' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// SchemeOf returns the upper-case scheme name of a "{SCHEME}value" string,
// or "" when s has no such prefix.
func SchemeOf(s string) string {
	if len(s) < 2 || s[0] != '{' {
		return ""
	}
	end := strings.IndexByte(s, '}')
	if end < 0 || !validSchemeName(s[1:end]) {
		return ""
	}
	return strings.ToUpper(s[1:end])
}
