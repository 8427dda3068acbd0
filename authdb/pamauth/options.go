package pamauth

import (
	"errors"
	"fmt"
	"log/slog"
	"os/user"
	"strconv"
)

// ErrUnavailable is returned by New (and by every method of the stub Auth)
// when the program was built without the pam build tag.
var ErrUnavailable = errors.New("pamauth: built without PAM support (rebuild with -tags pam: make build-pam)")

// Defaults applied by New to zero Options fields.
const (
	DefaultAuthService   = "popadm-pop3"
	DefaultPasswdService = "popadm-passwd"
	DefaultMinUID        = 1000
	DefaultMaxConcurrent = 8
)

// maxSecretLen is PAM_MAX_RESP_SIZE: Linux-PAM's pam_unix refuses longer
// passwords and other modules cut them silently, so a longer one is refused
// here before it reaches PAM.
const maxSecretLen = 512

// Options configures the PAM backend. The zero value is usable: every zero
// field gets its documented default.
type Options struct {
	// AuthService is the PAM service (file in /etc/pam.d) for logins;
	// default "popadm-pop3".
	AuthService string
	// PasswdService is the PAM service for password changes and for
	// Authenticate calls on behalf of poppassd (authdb.ServicePoppassd);
	// default "popadm-passwd".
	PasswdService string
	// MinUID is the lowest UID that may log in or change its password;
	// default 1000, a negative value disables the check. A lower UID, or a
	// user without a passwd entry, is refused exactly like a wrong password.
	MinUID int
	// DenyUsers lists login names that are always refused like a wrong
	// password, even with the right one. Nil means ["root"]; an empty
	// non-nil slice denies nobody.
	DenyUsers []string
	// Lookup returns the UID and home directory of a system user; nil
	// means os/user.Lookup. Any error refuses the user like a wrong
	// password (and is logged).
	Lookup func(name string) (uid int, home string, err error)
	// MaxConcurrent bounds the PAM transactions running at once; default
	// 8. Each holds an operating system thread for its whole duration,
	// including the failure delay modules such as pam_unix add.
	MaxConcurrent int
	// Logger receives PAM messages and refusal causes (never a password);
	// nil means slog.Default().
	Logger *slog.Logger
	// ConfDir, when set, makes every transaction read its service files
	// from this directory (pam_start_confdir, Linux-PAM 1.4 or later).
	// Tests only: production leaves it empty and uses /etc/pam.d.
	ConfDir string
}

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.AuthService == "" {
		o.AuthService = DefaultAuthService
	}
	if o.PasswdService == "" {
		o.PasswdService = DefaultPasswdService
	}
	if o.MinUID == 0 {
		o.MinUID = DefaultMinUID
	}
	if o.DenyUsers == nil {
		o.DenyUsers = []string{"root"}
	}
	if o.Lookup == nil {
		o.Lookup = lookupSystemUser
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// lookupSystemUser is the default Options.Lookup.
func lookupSystemUser(name string) (int, string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, "", fmt.Errorf("pamauth: look up %q: %w", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return 0, "", fmt.Errorf("pamauth: look up %q: uid %q is not a number", name, u.Uid)
	}
	return uid, u.HomeDir, nil
}

// validName reports whether a login name can be handed to PAM: not empty,
// at most 256 bytes, no control characters (a NUL would cut the name in C).
func validName(name string) bool {
	if name == "" || len(name) > 256 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] == 0x7f {
			return false
		}
	}
	return true
}

// validSecret reports whether a password can be handed to PAM unchanged:
// not empty, at most maxSecretLen bytes and without NUL, which C would take
// for its end.
func validSecret(pw string) bool {
	if pw == "" || len(pw) > maxSecretLen {
		return false
	}
	for i := 0; i < len(pw); i++ {
		if pw[i] == 0 {
			return false
		}
	}
	return true
}
