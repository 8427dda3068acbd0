//go:build pam

package pamauth

import (
	"errors"
	"fmt"

	"github.com/msteinert/pam/v2"

	"github.com/popadm/popadm/authdb"
)

// wrongPassword is the one error for a refused password, an unknown user,
// and every refusal that must look like them (MinUID, deny list, no passwd
// entry): same Reason, same PasswordOK, same text.
func wrongPassword(username string) error {
	return &authdb.AuthError{User: username, Reason: authdb.ReasonBadPassword}
}

// temporary wraps a PAM failure that says nothing about the password.
func temporary(op, service, username string, err error) error {
	return fmt.Errorf("pamauth: %s for %q on service %s: %w: %w", op, username, service, authdb.ErrTemporary, err)
}

// isAny reports whether err is one of the PAM codes.
func isAny(err error, codes ...pam.Error) bool {
	for _, c := range codes {
		if errors.Is(err, c) {
			return true
		}
	}
	return false
}

// authError maps a pam_authenticate failure. The modules' verdicts on the
// password (and on the user, which PAM reports the same way) become a wrong
// password; anything else is a temporary failure.
func authError(username, service string, err error) error {
	if isAny(err, pam.ErrAuth, pam.ErrUserUnknown, pam.ErrCredInsufficient, pam.ErrMaxtries, pam.ErrPermDenied) {
		return wrongPassword(username)
	}
	return temporary("authenticate", service, username, err)
}

// acctError maps a pam_acct_mgmt failure after a correct password.
func acctError(username, service string, err error) error {
	refuse := func(r authdb.Reason, detail string) error {
		return &authdb.AuthError{User: username, Reason: r, PasswordOK: true, Detail: detail}
	}
	switch {
	case errors.Is(err, pam.ErrNewAuthtokReqd):
		return refuse(authdb.ReasonExpired, "pam: password expired")
	case errors.Is(err, pam.ErrAcctExpired):
		return refuse(authdb.ReasonExpired, "pam: account expired")
	case isAny(err, pam.ErrPermDenied, pam.ErrAuth):
		return refuse(authdb.ReasonDisabled, "pam: "+err.Error())
	case errors.Is(err, pam.ErrUserUnknown):
		return wrongPassword(username)
	}
	return temporary("account check", service, username, err)
}

// changeError maps a pam_chauthtok failure. System errors are temporary
// even when a module said something; a refused old password (possible when
// it changed since pam_authenticate) is a wrong password; otherwise the
// last error message of the change, if any, is the policy reason.
func changeError(username, service string, err error, conv *conversation) error {
	switch {
	case isAny(err, pam.ErrSystem, pam.ErrService, pam.ErrBuf, pam.ErrOpen, pam.ErrSymbol,
		pam.ErrAbort, pam.ErrConv, pam.ErrAuthinfoUnavail, pam.ErrAuthtokLockBusy,
		pam.ErrModuleUnknown, pam.ErrBadItem, pam.ErrConvAgain, pam.ErrIncomplete):
		return temporary("change password", service, username, err)
	case isAny(err, pam.ErrAuth, pam.ErrUserUnknown, pam.ErrAuthtokRecovery, pam.ErrCredInsufficient):
		return wrongPassword(username)
	case conv.lastError != "":
		return &authdb.PolicyError{Rule: "pam", Msg: policyMessage(conv.lastError, conv.oldPw, conv.newPw)}
	case isAny(err, pam.ErrPermDenied, pam.ErrAcctExpired, pam.ErrAuthtokDisableAging):
		return &authdb.AuthError{User: username, Reason: authdb.ReasonNotAllowed, PasswordOK: true, Detail: "pam: " + err.Error()}
	}
	return fmt.Errorf("pamauth: change password for %q on service %s: %w", username, service, err)
}
