package authdb

import (
	"context"
	"time"
)

// Admin is the administrative side of the store, used by the popadm CLI.
// Only *DB implements it; a PAM backend does not.
type Admin interface {
	Authenticator
	PasswordChanger

	AddDomain(ctx context.Context, req Request, d Domain) error
	// ModifyDomain changes a domain's flags (disable refuses every login
	// in it with ReasonDomainDisabled).
	ModifyDomain(ctx context.Context, req Request, name string, m DomainMod) (*Domain, error)
	// DeleteDomain removes an empty domain; ErrDomainInUse while it has
	// users.
	DeleteDomain(ctx context.Context, req Request, name string) error
	GetDomain(ctx context.Context, name string) (*Domain, error)
	ListDomains(ctx context.Context) ([]Domain, error)

	// AddUser creates an account with the given password input. Exactly one
	// of pw.Password and pw.Hash is set. Hashing happens before the write
	// transaction opens.
	AddUser(ctx context.Context, req Request, u NewUser, pw PasswordInput) (*Account, error)
	// SetPassword replaces the credential set (admin reset; no old password).
	SetPassword(ctx context.Context, req Request, username string, pw PasswordInput) error
	DeleteUser(ctx context.Context, req Request, username string) error
	ModifyUser(ctx context.Context, req Request, username string, m UserMod) (*Account, error)
	GetUser(ctx context.Context, username string) (*Account, error)
	ListUsers(ctx context.Context, f UserFilter) ([]Account, error)

	// Import adds or updates many users in one transaction. See ImportOptions.
	Import(ctx context.Context, req Request, rows []ImportRow, opts ImportOptions) (*ImportReport, error)
	// Export returns every user with its stored credentials (for export).
	Export(ctx context.Context) ([]Account, error)

	GetPolicy(ctx context.Context) (*Policy, error)
	SetPolicy(ctx context.Context, req Request, p Policy) error

	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// Domain is a mail domain.
type Domain struct {
	Name        string
	Disabled    bool
	Description string
	Created     time.Time
	Users       int // filled by GetDomain/ListDomains
}

// DomainMod lists domain changes; nil fields are left alone.
type DomainMod struct {
	Disabled    *bool
	Description *string
}

// NewUser describes an account to create.
type NewUser struct {
	Name         string // "local@domain" or "local" (default domain applies)
	DisplayName  string
	Mechs        []string // nil: the store's default (plain + scram-sha-256)
	Scheme       string   // "" = configured default (ARGON2ID)
	Disabled     bool
	MustChange   bool
	Expires      time.Time
	Maildrop     string
	QuotaBytes   int64
	IfNotExists  bool
	CreateDomain bool // create the domain if missing (else ErrNoSuchDomain)
}

// PasswordInput is a new password in clear (Password) or a ready hash
// ("{SCHEME}value" in Hash). With a hash only that one credential is stored;
// the rest of the set fills at the next plaintext login.
type PasswordInput struct {
	Password string
	Hash     string
	// Scheme overrides the configured slow-verifier scheme. It is stored
	// on the account, so rehash-on-login keeps it.
	Scheme string
	// SkipPolicy skips the password policy (admin override); never set by
	// daemons.
	SkipPolicy bool
	// MustChange marks the new password as temporary: POP3 refuses it
	// with ReasonPasswordRequired until the user changes it via poppassd.
	MustChange bool
}

// UserMod lists changes; nil fields are left alone.
type UserMod struct {
	DisplayName *string
	Mechs       *[]string
	Disabled    *bool
	DisableNote *string
	Locked      *bool // false also clears the failure counter
	MustChange  *bool
	Expires     *time.Time // zero time clears the expiry
	NoPOP3      *bool
	NoPasswd    *bool
	Maildrop    *string
	QuotaBytes  *int64
	Rename      *string
}

// UserFilter selects users for ListUsers.
type UserFilter struct {
	Domain   string
	Disabled bool // only disabled
	Locked   bool // only locked
	Expired  bool // only expired (or must-change)
	// Inactive selects accounts without a login (or, never logged in,
	// created) for at least this long; 0 = no filter.
	Inactive time.Duration
}

// Policy is the password and lockout policy, enforced by the store for the
// CLI and poppassd alike. It is stored in the database, so every process
// sees the same policy. GetPolicy fills unset values with the defaults
// below; SetPolicy stores every field. Empty and control-character
// passwords (Unicode Cc, including NUL, CR and LF) and invalid UTF-8 are
// always refused.
type Policy struct {
	MinLength  int  // in characters, after NFC; default 8
	MaxLength  int  // in bytes; default 256
	RejectSame bool // new == old (or == current, for an admin reset) refused; default true
	// History is how many passwords are remembered, the current one
	// included; a new password may match none of them. They are stored as
	// slow verifiers, never as plaintext. Default 0 (off).
	History   int
	ASCIIOnly bool          // default false (UTF-8 allowed)
	MaxAge    time.Duration // a new password expires after MaxAge; 0 (default) = never
	// LockoutFails is the number of counted failures (see RecordFailure)
	// within LockoutWindow that locks the account; 0 = off; default 10.
	LockoutFails  int
	LockoutWindow time.Duration // default 15m
	// DefaultScheme is the slow-verifier scheme for new credential sets and
	// rehash-on-login. Stored empty, it falls back to Options.Scheme, then
	// ARGON2ID; GetPolicy reports the effective value.
	DefaultScheme string
	DefaultMechs  []string // mechanism set of new accounts; default plain, scram-sha-256
}

// ImportRow is one parsed input line.
type ImportRow struct {
	Line        int // 1-based source line for the report
	Name        string
	Hash        string // "{SCHEME}value" (preferred) ...
	Password    string // ... or a clear password
	DisplayName string
	Disabled    bool
	Maildrop    string
}

// ImportOptions controls Import.
type ImportOptions struct {
	OnConflict   string // "fail" (default), "skip", "update"
	DryRun       bool   // run the transaction and roll it back
	CreateDomain bool
	Progress     func(done, total int)
}

// ImportReport says what happened to each row.
type ImportReport struct {
	Rows                            []ImportResult
	Added, Updated, Skipped, Failed int
}

// ImportResult is one row of an ImportReport.
type ImportResult struct {
	Line   int    `json:"line"`
	Name   string `json:"user"`
	Action string `json:"action"` // added, updated, skipped, failed
	Error  string `json:"error,omitempty"`
}

// Audit actions. The store writes audit rows for changes only, and for
// poppassd password-change attempts (ok or failed); logins and failed
// logins are logged by the daemons, not audited here.
const (
	ActionAdd          = "add"
	ActionDelete       = "del"
	ActionModify       = "mod"
	ActionPasswd       = "passwd"
	ActionLock         = "lock"
	ActionUnlock       = "unlock"
	ActionRehash       = "rehash"
	ActionImport       = "import"
	ActionDomainAdd    = "domain-add"
	ActionDomainDelete = "domain-del"
	ActionDomainModify = "domain-mod"
	ActionPolicy       = "policy"
)

// AuditFilter selects audit rows. Results are newest first.
type AuditFilter struct {
	User   string    // target (normalised like a login name when possible)
	Action string    // one of the Action constants; "" = all
	Since  time.Time // zero = all
	Limit  int       // <= 0: 100
}

// AuditEntry is one audit row. It never holds a secret.
type AuditEntry struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Service string    `json:"service"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Remote  string    `json:"remote,omitempty"`
	Result  string    `json:"result"`
	Detail  string    `json:"detail,omitempty"`
}
