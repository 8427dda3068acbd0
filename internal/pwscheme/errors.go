package pwscheme

import (
	"errors"
	"fmt"
)

// ErrUnknownScheme is wrapped by every error about a scheme that this
// package does not know, cannot verify (DES-CRYPT, OTP) or refuses to
// generate.
var ErrUnknownScheme = errors.New("pwscheme: unknown or unsupported password scheme")

// ErrMalformed is wrapped by every error about a stored value that does not
// have the structure its scheme requires, and about unusable parameters or
// passwords given to the generators.
var ErrMalformed = errors.New("pwscheme: malformed password value")

// malformed returns an error wrapping ErrMalformed. reason must never contain
// any part of a password or of a stored value.
func malformed(scheme, reason string) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, scheme, reason)
}

// unsupported returns an error wrapping ErrUnknownScheme for a scheme that is
// known but cannot be used for the requested operation.
func unsupported(scheme, reason string) error {
	return fmt.Errorf("%w: %s: %s", ErrUnknownScheme, scheme, reason)
}

// unknown returns an error wrapping ErrUnknownScheme for a scheme name that is
// not known at all. The name is shown only if it looks like a scheme name.
func unknown(name string) error {
	return fmt.Errorf("%w: %s", ErrUnknownScheme, safeName(name))
}

// safeName returns name if it looks like a scheme name (short, letters,
// digits, '-', '.', '_'), otherwise a placeholder, so that a stored value
// mistaken for a scheme name never reaches an error string.
func safeName(name string) string {
	if name == "" {
		return "(empty)"
	}
	if len(name) > 32 {
		return "(invalid name)"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return "(invalid name)"
		}
	}
	return name
}
