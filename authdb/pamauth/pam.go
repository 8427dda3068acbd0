//go:build pam

package pamauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"

	"github.com/msteinert/pam/v2"

	"github.com/popadm/popadm/authdb"
)

// changeMu serialises pam_chauthtok across the whole process, whatever the
// number of Auth values: pam_unix guards /etc/shadow with lckpwdf(3), an
// fcntl lock that belongs to the process, so two threads of one process
// would both get it and rewrite the file at the same time. It is a lock,
// not state, and has to be process-wide.
var changeMu sync.Mutex

// Auth checks and changes system passwords through PAM. It implements
// authdb.Authenticator and authdb.PasswordChanger and is safe for
// concurrent use.
type Auth struct {
	opts Options
	log  *slog.Logger
	sem  chan struct{}
}

var (
	_ authdb.Authenticator   = (*Auth)(nil)
	_ authdb.PasswordChanger = (*Auth)(nil)
)

// New returns a PAM backend. It opens no PAM transaction; a missing
// service file shows up on the first call as a temporary failure.
func New(opts Options) (*Auth, error) {
	o := opts.withDefaults()
	if o.ConfDir != "" && !pam.CheckPamHasStartConfdir() {
		return nil, fmt.Errorf("pamauth: ConfDir %q needs pam_start_confdir (Linux-PAM 1.4 or later)", o.ConfDir)
	}
	return &Auth{opts: o, log: o.Logger, sem: make(chan struct{}, o.MaxConcurrent)}, nil
}

// Authenticate runs pam_authenticate and pam_acct_mgmt for username. The
// PAM service is Options.PasswdService when req.Service is
// authdb.ServicePoppassd, else Options.AuthService.
//
// Refusals are *authdb.AuthError. PAM cannot tell an unknown user from a
// wrong password, so both are ReasonBadPassword. A user below MinUID, on
// the deny list or without a passwd entry gets exactly the error a wrong
// password gets, after pam_authenticate has run with its usual cost; the
// cause is logged. After a correct password, an expired password
// (PAM_NEW_AUTHTOK_REQD) or account (PAM_ACCT_EXPIRED) is ReasonExpired
// and another account refusal (PAM_PERM_DENIED, e.g. pam_access,
// pam_nologin) ReasonDisabled, both with PasswordOK true. For poppassd an
// expired password is not a refusal (it may be changed); the account comes
// back with MustChange set. PAM system errors wrap authdb.ErrTemporary.
func (a *Auth) Authenticate(ctx context.Context, req authdb.Request, username, password string) (*authdb.Account, error) {
	if !validName(username) {
		return nil, &authdb.AuthError{User: username, Reason: authdb.ReasonBadPassword, Detail: "invalid name"}
	}
	if !validSecret(password) {
		return nil, wrongPassword(username)
	}
	service, forChange := a.opts.AuthService, req.Service == authdb.ServicePoppassd
	if forChange {
		service = a.opts.PasswdService
	}
	var acct *authdb.Account
	err := a.run(ctx, "authenticate", username, func() error {
		conv := newConversation(password, "", a.log.With("service", service, "user", username))
		tx, err := a.begin(service, username, req, conv)
		if err != nil {
			return err
		}
		defer a.end(tx, service, username)
		expired, err := a.verify(tx, service, username, forChange)
		if err != nil {
			return err
		}
		acct = &authdb.Account{Name: username, Local: username, MustChange: expired, Mechs: []string{authdb.MechPlain}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return acct, nil
}

// ChangePassword sets a new password through pam_chauthtok on
// Options.PasswdService. In one transaction it first authenticates with the
// old password (pam_unix running as root would otherwise change any
// password without asking for the old one), refuses low UIDs and denied
// users exactly like a wrong password, runs pam_acct_mgmt (an expired
// password is not a refusal: it may be changed, with
// PAM_CHANGE_EXPIRED_AUTHTOK), then pam_chauthtok, whose prompts get the old
// or the new password (see conversation).
//
// Refusals of the old password or of the account are *authdb.AuthError as
// in Authenticate. A new password refused by the modules (quality check,
// history, minimum age) is an *authdb.PolicyError with Rule "pam" and as
// Msg the last error message a module sent, cleaned and never containing a
// password. PAM system errors wrap authdb.ErrTemporary. A nil return means
// the modules reported the change done.
func (a *Auth) ChangePassword(ctx context.Context, req authdb.Request, username, oldPassword, newPassword string) error {
	if !validName(username) {
		return &authdb.AuthError{User: username, Reason: authdb.ReasonBadPassword, Detail: "invalid name"}
	}
	if !validSecret(oldPassword) {
		return wrongPassword(username)
	}
	if err := checkNewPassword(newPassword); err != nil {
		return err
	}
	service := a.opts.PasswdService
	return a.run(ctx, "change password", username, func() error {
		log := a.log.With("service", service, "user", username)
		conv := newConversation(oldPassword, newPassword, log)
		tx, err := a.begin(service, username, req, conv)
		if err != nil {
			return err
		}
		defer a.end(tx, service, username)
		expired, err := a.verify(tx, service, username, true)
		if err != nil {
			return err
		}
		flags := pam.Flags(0)
		if expired {
			flags |= pam.ChangeExpiredAuthtok
		}
		conv.beginChange()
		changeMu.Lock()
		err = tx.ChangeAuthTok(flags)
		changeMu.Unlock()
		if err != nil {
			return changeError(username, service, err, conv)
		}
		log.Info("pamauth: password changed", "remote", req.Remote)
		return nil
	})
}

// checkNewPassword refuses new passwords that cannot reach PAM unchanged.
func checkNewPassword(pw string) error {
	switch {
	case pw == "":
		return &authdb.PolicyError{Rule: "empty", Msg: "The new password is empty."}
	case len(pw) > maxSecretLen:
		return &authdb.PolicyError{Rule: "max-length", Msg: fmt.Sprintf("The new password is longer than %d bytes.", maxSecretLen)}
	case !validSecret(pw):
		return &authdb.PolicyError{Rule: "control-char", Msg: "The new password contains a NUL character."}
	}
	return nil
}

// run executes one PAM transaction on a goroutine of its own that is locked
// to its OS thread from pam_start to pam_end and never unlocked, so the
// thread ends with the goroutine and no per-thread state a module may have
// changed (credentials, signal mask) is reused. At most
// Options.MaxConcurrent transactions run at once. ctx is checked before the
// transaction starts; PAM calls themselves cannot be interrupted, so once
// started a transaction runs to its end and run waits for it.
func (a *Auth) run(ctx context.Context, op, username string, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pamauth: %s %q: %w: %w", op, username, authdb.ErrTemporary, err)
	}
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("pamauth: %s %q: %w: %w", op, username, authdb.ErrTemporary, ctx.Err())
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-a.sem }()
		runtime.LockOSThread()
		done <- fn()
	}()
	return <-done
}

// begin starts a transaction and sets PAM_RHOST from req.Remote.
func (a *Auth) begin(service, username string, req authdb.Request, conv *conversation) (*pam.Transaction, error) {
	h := pam.ConversationFunc(func(s pam.Style, msg string) (string, error) {
		return conv.respond(styleOf(s), msg)
	})
	var (
		tx  *pam.Transaction
		err error
	)
	if a.opts.ConfDir != "" {
		tx, err = pam.StartConfDir(service, username, h, a.opts.ConfDir)
	} else {
		tx, err = pam.Start(service, username, h)
	}
	if err != nil {
		return nil, temporary("start", service, username, err)
	}
	if host := remoteHost(req.Remote); host != "" {
		if err := tx.SetItem(pam.Rhost, host); err != nil {
			a.end(tx, service, username)
			return nil, temporary("set PAM_RHOST", service, username, err)
		}
	}
	return tx, nil
}

// end closes a transaction; a failing pam_end is only logged.
func (a *Auth) end(tx *pam.Transaction, service, username string) {
	if err := tx.End(); err != nil {
		a.log.Warn("pamauth: pam_end failed", "service", service, "user", username, "err", err)
	}
}

// verify runs pam_authenticate, the MinUID and deny-list checks, then
// pam_acct_mgmt. expired reports PAM_NEW_AUTHTOK_REQD, which is a refusal
// unless forChange.
func (a *Auth) verify(tx *pam.Transaction, service, username string, forChange bool) (expired bool, err error) {
	if err := tx.Authenticate(pam.DisallowNullAuthtok); err != nil {
		return false, authError(username, service, err)
	}
	// Checked only now, after pam_authenticate has cost what it costs
	// for everybody, and refused with the very error a wrong password
	// gets: a correct root password must not be told apart.
	if cause := a.refusal(tx, username); cause != "" {
		a.log.Warn("pamauth: refused like a wrong password", "service", service, "user", username, "cause", cause)
		return false, wrongPassword(username)
	}
	err = tx.AcctMgmt(pam.DisallowNullAuthtok)
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, pam.ErrNewAuthtokReqd) && forChange:
		a.log.Info("pamauth: password expired, change allowed", "service", service, "user", username)
		return true, nil
	}
	return false, acctError(username, service, err)
}

// refusal returns why a user who passed pam_authenticate may still not
// use the service, or "". It checks the name given and the name PAM ended
// up with (a module may map it), against the deny list and MinUID.
func (a *Auth) refusal(tx *pam.Transaction, username string) string {
	names := []string{username}
	if pamUser, err := tx.GetItem(pam.User); err == nil && pamUser != "" && pamUser != username {
		names = append(names, pamUser)
	}
	for _, n := range names {
		if slices.Contains(a.opts.DenyUsers, n) {
			return fmt.Sprintf("user %q is on the deny list", n)
		}
	}
	if a.opts.MinUID < 0 {
		return ""
	}
	for _, n := range names {
		uid, _, err := a.opts.Lookup(n)
		if err != nil {
			return fmt.Sprintf("no usable passwd entry: %v", err)
		}
		if uid < a.opts.MinUID {
			return fmt.Sprintf("uid %d is below the minimum %d", uid, a.opts.MinUID)
		}
	}
	return ""
}

// remoteHost returns the host part of an "ip:port" remote, or the whole
// string when it has no port.
func remoteHost(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// styleOf maps the binding's message style to the conversation's.
func styleOf(s pam.Style) msgStyle {
	switch s {
	case pam.PromptEchoOff:
		return styleEchoOff
	case pam.PromptEchoOn:
		return styleEchoOn
	case pam.ErrorMsg:
		return styleError
	case pam.TextInfo:
		return styleInfo
	}
	return styleOther
}
