package authdb

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Service names the channel a request arrives on. It is written to the audit
// log and checked against per-account flags (no-pop3, no-passwd-change).
type Service string

// Services known to the store.
const (
	ServicePOP3     Service = "pop3"
	ServicePoppassd Service = "poppassd"
	ServiceCLI      Service = "cli"
)

// Mechanism names, as stored in an account's mechanism set. "plain" stands
// for every plaintext mechanism (USER/PASS, AUTH PLAIN, AUTH LOGIN) and is
// always present.
const (
	MechPlain       = "plain"
	MechSCRAMSHA256 = "scram-sha-256"
	MechSCRAMSHA1   = "scram-sha-1"
	MechCRAMMD5     = "cram-md5"
	MechAPOP        = "apop"
)

// Request describes who asks and from where. Remote is "ip:port" or "" for
// local callers; Actor is the CLI user for admin changes.
type Request struct {
	Service Service
	Remote  string
	Actor   string
}

// Reason says why an authentication failed. Daemons never put it on the
// wire (that would enumerate accounts); it goes to the log, the audit table
// and `popadm auth test`.
type Reason string

// Reasons for a refused authentication.
const (
	ReasonOK               Reason = "ok"
	ReasonBadPassword      Reason = "bad-password"
	ReasonUnknownUser      Reason = "unknown-user"
	ReasonDisabled         Reason = "disabled"
	ReasonLocked           Reason = "locked"
	ReasonExpired          Reason = "expired"
	ReasonMechUnavailable  Reason = "mechanism-unavailable"
	ReasonNotAllowed       Reason = "not-allowed" // service flag (no-pop3, no-passwd-change)
	ReasonDomainDisabled   Reason = "domain-disabled"
	ReasonPasswordRequired Reason = "must-change" // must change the password before POP3 use
)

// ErrAuthFailed is matched with errors.Is by every authentication refusal.
var ErrAuthFailed = errors.New("authdb: authentication failed")

// AuthError is an authentication refusal with its reason. It matches
// ErrAuthFailed. PasswordOK reports whether the secret itself was correct
// (a disabled or expired account with the right password), which lets a
// daemon tell the user "password expired" without leaking anything to
// someone who does not know the password.
type AuthError struct {
	User       string
	Reason     Reason
	PasswordOK bool
	Detail     string // human detail for logs (disable reason, expiry date)
}

// Error describes the refusal for logs; it never holds the password.
func (e *AuthError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("authdb: authentication failed for %q: %s (%s)", e.User, e.Reason, e.Detail)
	}
	return fmt.Sprintf("authdb: authentication failed for %q: %s", e.User, e.Reason)
}

// Is makes errors.Is(err, ErrAuthFailed) true.
func (e *AuthError) Is(target error) bool { return target == ErrAuthFailed }

// Other sentinel errors. Every error returned by the store wraps one of
// these where it applies, so the CLI can map them to exit codes.
var (
	ErrNoSuchUser     = errors.New("authdb: no such user")
	ErrNoSuchDomain   = errors.New("authdb: no such domain")
	ErrUserExists     = errors.New("authdb: user already exists")
	ErrDomainExists   = errors.New("authdb: domain already exists")
	ErrDomainInUse    = errors.New("authdb: domain still has users")
	ErrInvalidName    = errors.New("authdb: invalid name")
	ErrInvalidHash    = errors.New("authdb: invalid password hash")
	ErrInvalidInput   = errors.New("authdb: invalid input")
	ErrTemporary      = errors.New("authdb: temporary failure")
	ErrSchemaTooNew   = errors.New("authdb: database schema is newer than this program")
	ErrNotMigrated    = errors.New("authdb: database schema is out of date; run popadm db migrate")
	ErrNotInitialized = errors.New("authdb: database is not initialised; run popadm db init")
	// ErrReadOnly is returned by every write on a database opened
	// read-only (the file or its directory is not writable, or
	// Options.ReadOnly is set).
	ErrReadOnly = errors.New("authdb: database is read-only")
	// ErrCheckFailed is returned by Check when the database has integrity
	// or foreign-key problems; the CheckReport lists them.
	ErrCheckFailed = errors.New("authdb: database check failed")
)

// PolicyError is a password refused by the password policy. Rule is a short
// machine name (min-length, same-as-old, history, control-char, ascii-only,
// max-length, empty); Msg says what the rule is without echoing the password.
type PolicyError struct {
	Rule string
	Msg  string
}

// Error says which rule refused the password, without echoing it.
func (e *PolicyError) Error() string { return "authdb: password refused: " + e.Msg }

// Is makes errors.Is(err, ErrInvalidInput) true, so callers that map
// sentinels to exit codes treat a policy refusal as bad input.
func (e *PolicyError) Is(target error) bool { return target == ErrInvalidInput }

// Account is the public view of a user row. It never carries secrets except
// in Credentials, which only Lookup and Export fill (for challenge/response
// mechanisms inside the daemons, and for export) and which must never be
// printed; it is left out of JSON.
type Account struct {
	ID             int64     `json:"id"`
	Name           string    `json:"name"` // normalised login: local@domain
	Local          string    `json:"local"`
	Domain         string    `json:"domain"`
	DomainDisabled bool      `json:"domain_disabled,omitempty"`
	DisplayName    string    `json:"display_name,omitempty"`
	Disabled       bool      `json:"disabled"`
	DisableNote    string    `json:"disable_note,omitempty"`
	Locked         bool      `json:"locked"`
	MustChange     bool      `json:"must_change"`
	Expires        time.Time `json:"expires,omitzero"` // zero: never
	NoPOP3         bool      `json:"no_pop3"`
	NoPasswd       bool      `json:"no_passwd"` // may not change the password (poppassd)
	Mechs          []string  `json:"mechs"`
	// Scheme is the slow-verifier scheme chosen for this account; "" means
	// the configured default. Rehash-on-login converts to it.
	Scheme     string    `json:"scheme,omitempty"`
	Maildrop   string    `json:"maildrop,omitempty"` // per-user mail location override; "" = template
	QuotaBytes int64     `json:"quota_bytes"`
	Created    time.Time `json:"created"`
	Changed    time.Time `json:"changed,omitzero"` // last password change
	LastLogin  time.Time `json:"last_login,omitzero"`
	Failures   int       `json:"failures"`
	// CredVersion changes whenever the credential set changes (in any
	// process). Verify caches key on it.
	CredVersion int64 `json:"cred_version"`
	// Schemes lists the stored credential schemes (e.g. ARGON2ID,
	// SCRAM-SHA-256), without values.
	Schemes []string `json:"schemes"`
	// Credentials maps scheme → "{SCHEME}value". Filled by Lookup and
	// Export only.
	Credentials map[string]string `json:"-"`
}

// Check reports whether the account may be used on service svc at time now,
// once the caller has verified the secret (APOP, CRAM-MD5, SCRAM). It
// returns nil or an *AuthError. The order is: locked (PasswordOK false, so
// a locked account is never a password oracle), domain disabled, disabled,
// service flag (no-pop3 for ServicePOP3, no-passwd for ServicePoppassd),
// then, for every service except poppassd (which exists to fix it),
// expired and must-change.
func (a *Account) Check(svc Service, now time.Time) error {
	fail := func(r Reason, ok bool, detail string) error {
		return &AuthError{User: a.Name, Reason: r, PasswordOK: ok, Detail: detail}
	}
	switch {
	case a.Locked:
		return fail(ReasonLocked, false, "")
	case a.DomainDisabled:
		return fail(ReasonDomainDisabled, true, "domain "+a.Domain)
	case a.Disabled:
		return fail(ReasonDisabled, true, a.DisableNote)
	case svc == ServicePOP3 && a.NoPOP3:
		return fail(ReasonNotAllowed, true, "no-pop3")
	case svc == ServicePoppassd && a.NoPasswd:
		return fail(ReasonNotAllowed, true, "no-passwd")
	case svc == ServicePoppassd:
		return nil
	case !a.Expires.IsZero() && !now.Before(a.Expires):
		return fail(ReasonExpired, true, "expired "+a.Expires.UTC().Format(time.RFC3339))
	case a.MustChange:
		return fail(ReasonPasswordRequired, true, "")
	}
	return nil
}

// Authenticator is what the POP3 daemon needs.
type Authenticator interface {
	// Authenticate verifies a plaintext password (USER/PASS, AUTH PLAIN,
	// AUTH LOGIN, poppassd pass). On success it records the login, resets
	// the failure counter and, when the stored verifier is weaker than the
	// configured scheme, rehashes the credential set. Refusals are
	// *AuthError; a store failure wraps ErrTemporary.
	Authenticate(ctx context.Context, req Request, username, password string) (*Account, error)
	// Lookup returns the account with its credentials for a
	// challenge/response mechanism. Unknown users give *AuthError with
	// ReasonUnknownUser.
	Lookup(ctx context.Context, username string) (*Account, error)
	// RecordLogin notes a successful non-plaintext login (APOP, CRAM-MD5,
	// SCRAM) verified by the caller.
	RecordLogin(ctx context.Context, req Request, acct *Account, mech string) error
	// RecordFailure counts a failed attempt against an existing account
	// for the lockout policy. Only ReasonBadPassword (or an empty reason)
	// counts; other reasons are ignored, as are unknown users. It writes an
	// audit row only when the account becomes locked ("lock"). The caller
	// decides what counts: a repeat of the same wrong password (an old
	// phone) should be counted once, and the store keeps no trace of wrong
	// passwords to tell them apart.
	RecordFailure(ctx context.Context, req Request, username string, reason Reason) error
}

// PasswordChanger is what poppassd needs.
type PasswordChanger interface {
	// ChangePassword checks the old password, the account state and the
	// policy, then rewrites the whole credential set in one transaction and
	// writes an audit row, all before returning nil. An expired or
	// must-change account may still change its password.
	ChangePassword(ctx context.Context, req Request, username, oldPassword, newPassword string) error
}

// Normalize turns a login name into the stored form: NFC, lower-case,
// "local@domain", with defaultDomain appended when the name has no domain.
// Surrounding space is an error, not trimmed. The local part is 1-64 bytes
// of printable UTF-8 without space, '@', '/', '\', ':' and the other
// characters listed in the package documentation; the domain is one or more
// DNS labels (ASCII; use the xn-- form for IDN). A name without a domain
// when defaultDomain is empty is an error. Errors wrap ErrInvalidName and
// quote the input.
func Normalize(name, defaultDomain string) (string, error) {
	return normalize(name, defaultDomain)
}
