package backend

import (
	"context"
	"errors"
	"strings"

	"github.com/popadm/popadm/authdb"
)

// Chain is the "sqlite then pam" account backend: the SQLite store first,
// and for names it does not know, the system accounts through PAM. Only
// plaintext mechanisms reach PAM; challenge/response mechanisms (APOP,
// CRAM-MD5, SCRAM) need stored secrets and are served from the SQLite store
// alone, so a PAM-only user who tries one fails like a wrong password.
//
// Accounts that come from PAM have an empty Domain: the glue serves them
// from the system mail location (the /var/mail spool by default).
type Chain struct {
	DB  Store // the SQLite store; may be nil for "pam" alone
	PAM PAMStore
}

// PAMStore is what the chain needs from the PAM backend
// (*pamauth.Auth implements it).
type PAMStore interface {
	authdb.Authenticator
	authdb.PasswordChanger
}

var _ Store = (*Chain)(nil)

// systemName turns the normalised login into the system user name PAM
// expects: the typed name, lower-cased, without a domain part.
func systemName(name string) (string, bool) {
	if strings.ContainsAny(name, "@/: \t") || name == "" {
		return "", false
	}
	return name, true
}

// unknownInDB reports whether err says the SQLite store has no such user.
func unknownInDB(err error) bool {
	var ae *authdb.AuthError
	return errors.As(err, &ae) && ae.Reason == authdb.ReasonUnknownUser
}

// Authenticate implements authdb.Authenticator.
func (c *Chain) Authenticate(ctx context.Context, req authdb.Request, username, password string) (*authdb.Account, error) {
	if c.DB != nil {
		acct, err := c.DB.Authenticate(ctx, req, username, password)
		if c.PAM == nil || !unknownInDB(err) {
			return acct, err
		}
	}
	name, ok := systemName(username)
	if !ok {
		return nil, &authdb.AuthError{User: username, Reason: authdb.ReasonUnknownUser}
	}
	acct, err := c.PAM.Authenticate(ctx, req, name, password)
	if acct != nil {
		acct.Domain = ""
	}
	return acct, err
}

// Lookup implements authdb.Authenticator from the SQLite store only.
func (c *Chain) Lookup(ctx context.Context, username string) (*authdb.Account, error) {
	if c.DB == nil {
		return nil, &authdb.AuthError{User: username, Reason: authdb.ReasonUnknownUser}
	}
	return c.DB.Lookup(ctx, username)
}

// AuthenticateWith implements Store from the SQLite store only.
func (c *Chain) AuthenticateWith(ctx context.Context, req authdb.Request, username, mech string, check func(*authdb.Account) (bool, error)) (*authdb.Account, error) {
	if c.DB == nil {
		return nil, &authdb.AuthError{User: username, Reason: authdb.ReasonUnknownUser}
	}
	return c.DB.AuthenticateWith(ctx, req, username, mech, check)
}

// RecordLogin implements authdb.Authenticator (SQLite accounts only).
func (c *Chain) RecordLogin(ctx context.Context, req authdb.Request, acct *authdb.Account, mech string) error {
	if c.DB == nil || acct.Domain == "" {
		return nil
	}
	return c.DB.RecordLogin(ctx, req, acct, mech)
}

// RecordFailure implements authdb.Authenticator (SQLite accounts only; PAM
// modules keep their own failure counts, e.g. pam_faillock).
func (c *Chain) RecordFailure(ctx context.Context, req authdb.Request, username string, reason authdb.Reason) error {
	if c.DB == nil {
		return nil
	}
	return c.DB.RecordFailure(ctx, req, username, reason)
}

// ChangePassword implements authdb.PasswordChanger: SQLite accounts change
// in the store, other names through PAM.
func (c *Chain) ChangePassword(ctx context.Context, req authdb.Request, username, oldPassword, newPassword string) error {
	if c.DB != nil {
		err := c.DB.ChangePassword(ctx, req, username, oldPassword, newPassword)
		if c.PAM == nil || !unknownInDB(err) {
			return err
		}
	}
	name, ok := systemName(username)
	if !ok {
		return &authdb.AuthError{User: username, Reason: authdb.ReasonUnknownUser}
	}
	return c.PAM.ChangePassword(ctx, req, name, oldPassword, newPassword)
}
