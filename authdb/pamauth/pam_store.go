//go:build pam

package pamauth

import (
	"context"

	"github.com/popadm/popadm/authdb"
)

// Lookup always refuses with ReasonMechUnavailable: PAM never hands out a
// credential, so challenge/response mechanisms (APOP, CRAM-MD5, SCRAM)
// cannot be offered. The answer is the same for every name, so it does
// not reveal which users exist.
func (a *Auth) Lookup(ctx context.Context, username string) (*authdb.Account, error) {
	return nil, &authdb.AuthError{User: username, Reason: authdb.ReasonMechUnavailable, Detail: "pam backend"}
}

// AuthenticateWith refuses every non-plaintext mechanism with
// ReasonMechUnavailable, like Lookup, without calling check.
func (a *Auth) AuthenticateWith(ctx context.Context, req authdb.Request, username, mech string, check func(*authdb.Account) (bool, error)) (*authdb.Account, error) {
	return nil, &authdb.AuthError{User: username, Reason: authdb.ReasonMechUnavailable, Detail: "pam backend: " + mech}
}

// RecordLogin does nothing: PAM modules keep their own records (lastlog,
// pam_faillock reset).
func (a *Auth) RecordLogin(ctx context.Context, req authdb.Request, acct *authdb.Account, mech string) error {
	return nil
}

// RecordFailure does nothing: lockout after failed logins is the business
// of a PAM module such as pam_faillock in the service's auth stack.
func (a *Auth) RecordFailure(ctx context.Context, req authdb.Request, username string, reason authdb.Reason) error {
	return nil
}
