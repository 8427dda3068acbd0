package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"github.com/popadm/popadm/authdb"
	"github.com/popadm/popadm/internal/importfmt"
	"github.com/popadm/popadm/internal/pwscheme"
)

// Exit codes of popadm. They are stable: scripts may rely on them. The
// values follow sysexits.h, like doveadm.
//
//	 0  ExitOK          success
//	 1  ExitFailure     any other failure
//	64  ExitUsage       bad command line: unknown command or flag, wrong
//	                    number of arguments, conflicting flags
//	65  ExitDataErr     bad input: malformed or unknown {SCHEME} hash, bad
//	                    import row, password refused by the policy,
//	                    invalid user or domain name, domain still in use
//	66  ExitNoInput     an input file (import file, --password-file)
//	                    does not exist or cannot be read
//	67  ExitNoUser      no such user or domain
//	68  ExitNoHost      nothing matched (a list filter under --fail-empty, kick)
//	73  ExitCantCreate  already exists (user, domain, backup file)
//	75  ExitTempFail    temporary failure: database busy after retries, or
//	                    the control socket unreachable
//	77  ExitNoPerm      authentication refused (auth test, pw verify,
//	                    wrong old password for passwd --old-stdin)
//	78  ExitConfig      configuration error: database missing, not
//	                    initialised, read-only, schema too old or too new
const (
	ExitOK         = 0
	ExitFailure    = 1
	ExitUsage      = 64
	ExitDataErr    = 65
	ExitNoInput    = 66
	ExitNoUser     = 67
	ExitNoHost     = 68
	ExitCantCreate = 73
	ExitTempFail   = 75
	ExitNoPerm     = 77
	ExitConfig     = 78
)

// exitError is an error with an explicit exit code, a short machine-stable
// message for JSON output ("no such user") and subject fields that name
// the bad input ({"user": "x@y"}).
type exitError struct {
	code   int
	short  string
	fields map[string]any
	err    error
	// printed means the command already wrote its own report (auth test,
	// import); Main only sets the exit code.
	printed bool
}

// Error implements error.
func (e *exitError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return e.short
}

// Unwrap returns the underlying error.
func (e *exitError) Unwrap() error { return e.err }

// usageError is a command-line mistake (exit 64).
type usageError struct{ msg string }

// Error implements error.
func (e *usageError) Error() string { return e.msg }

// usageErrorf returns a usage error (exit 64) with a formatted message.
func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// withSubject attaches a subject field (e.g. "user", "x@y") to err so the
// JSON error and the human message name the input. nil stays nil.
func withSubject(err error, key string, value any) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.fields == nil {
			ee.fields = map[string]any{}
		}
		if _, ok := ee.fields[key]; !ok {
			ee.fields[key] = value
		}
		return err
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return err
	}
	return &exitError{code: exitCodeFor(err), short: shortText(err), fields: map[string]any{key: value}, err: err}
}

// failf returns an error with an explicit exit code.
func failf(code int, short string, format string, args ...any) error {
	return &exitError{code: code, short: short, err: fmt.Errorf(format, args...)}
}

// cobraUsage matches the texts of cobra's own command-line errors.
var cobraUsage = regexp.MustCompile(`^(unknown command|unknown flag|unknown shorthand flag|flag needs an argument|invalid argument|bad flag syntax|required flag|accepts |requires at least|requires at most|accepts between|invalid args|if any flags in the group|at least one of the flags in the group)`)

// exitCodeFor maps an error to its exit code (see the table above).
func exitCodeFor(err error) int {
	var ee *exitError
	var ue *usageError
	var ae *authdb.AuthError
	var pe *authdb.PolicyError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &ee) && ee.code != 0:
		return ee.code
	case errors.As(err, &ae), errors.Is(err, authdb.ErrAuthFailed):
		return ExitNoPerm
	case errors.Is(err, authdb.ErrNoSuchUser), errors.Is(err, authdb.ErrNoSuchDomain):
		return ExitNoUser
	case errors.Is(err, authdb.ErrUserExists), errors.Is(err, authdb.ErrDomainExists), errors.Is(err, fs.ErrExist):
		return ExitCantCreate
	case errors.Is(err, authdb.ErrTemporary):
		return ExitTempFail
	case errors.Is(err, authdb.ErrSchemaTooNew), errors.Is(err, authdb.ErrNotMigrated),
		errors.Is(err, authdb.ErrNotInitialized), errors.Is(err, authdb.ErrReadOnly):
		return ExitConfig
	case errors.As(err, &pe), errors.Is(err, authdb.ErrInvalidName), errors.Is(err, authdb.ErrInvalidHash),
		errors.Is(err, authdb.ErrInvalidInput), errors.Is(err, authdb.ErrDomainInUse),
		errors.Is(err, pwscheme.ErrUnknownScheme), errors.Is(err, pwscheme.ErrMalformed),
		errors.Is(err, importfmt.ErrBadHeader), errors.Is(err, importfmt.ErrUnknownFormat):
		return ExitDataErr
	case cobraUsage.MatchString(err.Error()):
		return ExitUsage
	}
	return ExitFailure
}

// shortText is the stable "error" string of the JSON error object: the
// text of the sentinel the error wraps, without the package prefix, or the
// whole cleaned message.
func shortText(err error) string {
	var ee *exitError
	if errors.As(err, &ee) && ee.short != "" {
		return ee.short
	}
	var ae *authdb.AuthError
	if errors.As(err, &ae) {
		return "authentication refused: " + string(ae.Reason)
	}
	var pe *authdb.PolicyError
	if errors.As(err, &pe) {
		return "password refused: " + pe.Msg
	}
	for _, s := range []error{
		authdb.ErrNoSuchUser, authdb.ErrNoSuchDomain, authdb.ErrUserExists, authdb.ErrDomainExists,
		authdb.ErrDomainInUse, authdb.ErrInvalidName, authdb.ErrInvalidHash, authdb.ErrTemporary,
		authdb.ErrSchemaTooNew, authdb.ErrNotMigrated, authdb.ErrNotInitialized, authdb.ErrReadOnly,
		authdb.ErrCheckFailed, pwscheme.ErrUnknownScheme, pwscheme.ErrMalformed,
		importfmt.ErrBadHeader, importfmt.ErrUnknownFormat, authdb.ErrInvalidInput,
		context.Canceled, context.DeadlineExceeded,
	} {
		if errors.Is(err, s) {
			return cleanMessage(s.Error())
		}
	}
	return cleanMessage(err.Error())
}

// pkgPrefix matches the "pkg: " prefixes of wrapped errors.
var pkgPrefix = regexp.MustCompile(`\b(authdb|pwscheme|importfmt|cli): `)

// cleanMessage removes package prefixes from a wrapped error text, so
// "authdb: get user \"x\": authdb: no such user" reads
// "get user \"x\": no such user".
func cleanMessage(s string) string {
	return strings.TrimSpace(pkgPrefix.ReplaceAllString(s, ""))
}

// humanMessage is the one line printed after "popadm: " on stderr. It
// starts with the subject of the error (the user, domain or file) when the
// underlying message does not name it.
func humanMessage(err error) string {
	msg := cleanMessage(err.Error())
	var ee *exitError
	if errors.As(err, &ee) {
		for _, k := range []string{"user", "domain", "file", "scheme", "path"} {
			v, ok := ee.fields[k]
			if !ok {
				continue
			}
			s := fmt.Sprint(v)
			if s != "" && !strings.Contains(msg, s) {
				msg = s + ": " + msg
			}
			break
		}
	}
	return msg
}
