//go:build !pam

package pamauth

import (
	"context"

	"github.com/popadm/popadm/authdb"
)

// Auth is the PAM backend. In this build (without the pam tag) it cannot
// be created: New returns ErrUnavailable, and the methods of a zero Auth
// return ErrUnavailable too.
type Auth struct{}

var (
	_ authdb.Authenticator   = (*Auth)(nil)
	_ authdb.PasswordChanger = (*Auth)(nil)
)

// New returns ErrUnavailable: this program was built without PAM support.
func New(opts Options) (*Auth, error) { return nil, ErrUnavailable }

// Authenticate returns ErrUnavailable.
func (a *Auth) Authenticate(ctx context.Context, req authdb.Request, username, password string) (*authdb.Account, error) {
	return nil, ErrUnavailable
}

// ChangePassword returns ErrUnavailable.
func (a *Auth) ChangePassword(ctx context.Context, req authdb.Request, username, oldPassword, newPassword string) error {
	return ErrUnavailable
}

// Lookup returns ErrUnavailable.
func (a *Auth) Lookup(ctx context.Context, username string) (*authdb.Account, error) {
	return nil, ErrUnavailable
}

// AuthenticateWith returns ErrUnavailable.
func (a *Auth) AuthenticateWith(ctx context.Context, req authdb.Request, username, mech string, check func(*authdb.Account) (bool, error)) (*authdb.Account, error) {
	return nil, ErrUnavailable
}

// RecordLogin returns ErrUnavailable.
func (a *Auth) RecordLogin(ctx context.Context, req authdb.Request, acct *authdb.Account, mech string) error {
	return ErrUnavailable
}

// RecordFailure returns ErrUnavailable.
func (a *Auth) RecordFailure(ctx context.Context, req authdb.Request, username string, reason authdb.Reason) error {
	return ErrUnavailable
}
