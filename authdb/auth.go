package authdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/popadm/popadm/internal/pwscheme"
)

// lastLoginResolution: a successful login writes last_login only when the
// stored value is older than this (or the failure counter needs a reset),
// so a client polling every minute does not turn every login into a write.
const lastLoginResolution = time.Minute

// errConflict means the credential set changed between verify and write;
// the operation starts over.
var errConflict = errors.New("authdb: credentials changed concurrently")

// verifyPlain is the shared front half of Authenticate and
// ChangePassword: normalise, read, verify one credential, and refuse
// unknown, locked and wrong-password accounts in that order. A locked
// account is refused with PasswordOK false whether or not the password was
// right, after the verify has been paid, so it is not a password oracle.
// Unknown users cost a verify of a dummy hash of the configured scheme.
func (d *DB) verifyPlain(ctx context.Context, username, password string) (*Account, Policy, error) {
	pol, err := d.loginPolicy(ctx)
	if err != nil {
		return nil, pol, temporary("authenticate", err)
	}
	name, err := normalize(username, d.opts.DefaultDomain)
	if err != nil {
		d.spendVerify(ctx, pol.DefaultScheme, password)
		return nil, pol, &AuthError{User: username, Reason: ReasonUnknownUser, Detail: "invalid name"}
	}
	acct, err := d.account(ctx, name, true)
	if errors.Is(err, errNotFound) {
		d.spendVerify(ctx, pol.DefaultScheme, password)
		return nil, pol, &AuthError{User: name, Reason: ReasonUnknownUser}
	}
	if err != nil {
		return nil, pol, temporary("authenticate", err)
	}
	good, detail := false, ""
	if cand, ok := credSet(acct.Credentials).plainCandidate(); !ok {
		d.spendVerify(ctx, pol.DefaultScheme, password)
		detail = "no usable credential"
	} else if d.gate.cached(d.now(), acct.Name, cand, password) {
		good = true
	} else {
		var verr error
		if err := d.gate.slow(ctx, func() { good, verr = pwscheme.Verify(cand, password, acct.Name) }); err != nil {
			return nil, pol, err
		}
		if good {
			d.gate.remember(d.now(), acct.Name, cand, password)
		}
		if verr != nil {
			// The scheme name is not a secret; the stored value is.
			h, _ := pwscheme.Parse(cand)
			d.log.Error("authdb: stored credential unusable", "user", acct.Name, "scheme", h.Scheme, "err", verr)
			good, detail = false, "stored credential unusable"
		}
	}
	if acct.Locked {
		return nil, pol, &AuthError{User: acct.Name, Reason: ReasonLocked}
	}
	if !good {
		return nil, pol, &AuthError{User: acct.Name, Reason: ReasonBadPassword, Detail: detail}
	}
	return acct, pol, nil
}

// Authenticate verifies a plaintext password for req.Service.
//
// Refusals are *AuthError, checked in this order: unknown user (after a
// dummy verify of equal cost), locked (PasswordOK false, whatever the
// password), wrong password, then with PasswordOK true: domain disabled,
// disabled, service flag, and for services other than poppassd expired and
// must-change. Store failures wrap ErrTemporary.
//
// On success it resets the failure counter and records the login, and when
// the stored slow verifier is not in the configured scheme and parameters
// (pwscheme.NeedsRehash) or the set lacks a form the account's mechanisms
// need, it recomputes the whole set from the password (audit action
// "rehash"). Those writes never fail the login; their errors are logged.
//
// Authenticate writes no audit row and does not count failures: the daemon
// logs every attempt and calls RecordFailure when it decides a failure
// counts.
func (d *DB) Authenticate(ctx context.Context, req Request, username, password string) (*Account, error) {
	acct, pol, err := d.verifyPlain(ctx, username, password)
	if err != nil {
		return nil, err
	}
	if err := acct.Check(req.Service, d.now()); err != nil {
		return nil, err
	}
	d.afterLogin(ctx, req, acct, password, pol)
	acct.Credentials = nil
	acct.LastLogin, acct.Failures = d.now(), 0
	return acct, nil
}

// afterLogin records a successful plaintext login and rehashes when due.
func (d *DB) afterLogin(ctx context.Context, req Request, acct *Account, password string, pol Policy) {
	if d.readOnly {
		return // e.g. "popadm auth test" on a database it may not write
	}
	now := d.now()
	stored := credSet(acct.Credentials)
	scheme := effectiveScheme(acct, pol)
	params := d.opts.Params
	params.User = acct.Name
	rehash := missingForms(stored, acct.Mechs)
	if vs, v, ok := stored.verifier(); ok && !rehash {
		rehash = vs != scheme || pwscheme.NeedsRehash(v, scheme, params)
	}
	var set credSet
	if rehash {
		var err error
		if set, err = d.buildSet(ctx, acct.Name, password, scheme, acct.Mechs); err != nil {
			d.log.Warn("authdb: rehash on login failed", "user", acct.Name, "scheme", scheme, "err", err)
			rehash = false
		}
	}
	if !rehash && acct.Failures == 0 && !acct.LastLogin.IsZero() && now.Sub(acct.LastLogin) < lastLoginResolution {
		return
	}
	err := d.write(ctx, "record login", func(tx *sql.Tx) error {
		if rehash {
			var ver int64
			err := tx.QueryRowContext(ctx, "SELECT cred_version FROM users WHERE id = ?", acct.ID).Scan(&ver)
			if errors.Is(err, sql.ErrNoRows) {
				return nil // deleted meanwhile
			}
			if err != nil {
				return err
			}
			// A password change by another process wins over the rehash.
			if ver == acct.CredVersion {
				if err := storeSet(ctx, tx, acct.ID, set, now, -1); err != nil {
					return err
				}
				detail := fmt.Sprintf("schemes %s -> %s", strings.Join(stored.schemes(), ","), strings.Join(set.schemes(), ","))
				if err := d.audit(ctx, tx, now, req, ActionRehash, acct.Name, "ok", detail); err != nil {
					return err
				}
			}
		}
		_, err := tx.ExecContext(ctx,
			"UPDATE users SET last_login_at = ?, failures = 0, first_failure_at = NULL WHERE id = ?",
			now.Unix(), acct.ID)
		return err
	})
	if err != nil {
		d.log.Warn("authdb: recording login failed", "user", acct.Name, "err", err)
	}
}

// Lookup returns the account with its credentials, for challenge/response
// mechanisms verified by the caller (APOP, CRAM-MD5, SCRAM). It does not
// check the account state: call acct.Check after verifying. Unknown users
// give *AuthError with ReasonUnknownUser.
func (d *DB) Lookup(ctx context.Context, username string) (*Account, error) {
	name, err := normalize(username, d.opts.DefaultDomain)
	if err != nil {
		return nil, &AuthError{User: username, Reason: ReasonUnknownUser, Detail: "invalid name"}
	}
	acct, err := d.account(ctx, name, true)
	if errors.Is(err, errNotFound) {
		return nil, &AuthError{User: name, Reason: ReasonUnknownUser}
	}
	if err != nil {
		return nil, temporary("lookup", err)
	}
	return acct, nil
}

// RecordLogin notes a successful login by a mechanism the caller verified
// (mech is for the log only): it sets last_login and resets the failure
// counter. It writes no audit row.
func (d *DB) RecordLogin(ctx context.Context, req Request, acct *Account, mech string) error {
	if acct == nil || acct.ID == 0 {
		return mark(ErrInvalidInput, "authdb: record login: no account")
	}
	now := d.now()
	if acct.Failures == 0 && !acct.LastLogin.IsZero() && now.Sub(acct.LastLogin) < lastLoginResolution {
		return nil
	}
	return d.write(ctx, "record login", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			"UPDATE users SET last_login_at = ?, failures = 0, first_failure_at = NULL WHERE id = ?",
			now.Unix(), acct.ID)
		return err
	})
}

// RecordFailure counts a failed attempt for the lockout policy (see the
// Authenticator interface). The counter restarts when the first counted
// failure is older than Policy.LockoutWindow; reaching
// Policy.LockoutFails locks the account and writes a "lock" audit row.
func (d *DB) RecordFailure(ctx context.Context, req Request, username string, reason Reason) error {
	switch reason {
	case "", ReasonBadPassword, ReasonUnknownUser, ReasonLocked:
		// Unknown and locked accounts run the same transaction (it finds
		// no row, or changes nothing that matters), so a wrong password
		// costs the daemon no more time than an unknown name: the reply
		// timing must not tell them apart.
	default:
		return nil
	}
	name, err := normalize(username, d.opts.DefaultDomain)
	if err != nil {
		name = strings.ToLower(username)
	}
	pol, err := d.loginPolicy(ctx)
	if err != nil {
		return err
	}
	now := d.now()
	return d.write(ctx, "record failure", func(tx *sql.Tx) error {
		var (
			id       int64
			failures int
			first    sql.NullInt64
			locked   bool
		)
		err := tx.QueryRowContext(ctx, "SELECT id, failures, first_failure_at, locked FROM users WHERE name = ?", name).
			Scan(&id, &failures, &first, &locked)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if !first.Valid || now.Sub(time.Unix(first.Int64, 0)) > pol.LockoutWindow {
			failures, first = 1, sql.NullInt64{Int64: now.Unix(), Valid: true}
		} else {
			failures++
		}
		lock := !locked && pol.LockoutFails > 0 && failures >= pol.LockoutFails
		if _, err := tx.ExecContext(ctx,
			"UPDATE users SET failures = ?, first_failure_at = ?, locked = ? WHERE id = ?",
			failures, first, b2i(locked || lock), id); err != nil {
			return err
		}
		if lock {
			return d.audit(ctx, tx, now, req, ActionLock, name, "ok",
				fmt.Sprintf("%d failures within %s", failures, pol.LockoutWindow))
		}
		return nil
	})
}

// ChangePassword is the poppassd operation: it checks the old password
// with poppassd semantics (unknown, locked, wrong password, domain
// disabled, disabled, no-passwd → ReasonNotAllowed; expired and
// must-change accounts may change), then the policy (*PolicyError), then
// writes the new credential set for the account's mechanisms in one
// transaction: credentials, cred_version, changed time, must-change
// cleared, expiry set from Policy.MaxAge, history, and an audit row with
// req.Remote. Refusals are audited too (result "failed", the reason in
// detail). Everything is committed before it returns.
func (d *DB) ChangePassword(ctx context.Context, req Request, username, oldPassword, newPassword string) error {
	if req.Service == "" {
		req.Service = ServicePoppassd
	}
	for attempt := 0; ; attempt++ {
		err := d.changePassword(ctx, req, username, oldPassword, newPassword)
		if !errors.Is(err, errConflict) {
			return err
		}
		if attempt == 2 {
			return mark(ErrTemporary, "authdb: change password: credentials keep changing concurrently")
		}
	}
}

func (d *DB) changePassword(ctx context.Context, req Request, username, oldPassword, newPassword string) error {
	now := d.now()
	refuse := func(target string, err error, detail string) error {
		werr := d.write(ctx, "audit password change", func(tx *sql.Tx) error {
			return d.audit(ctx, tx, now, req, ActionPasswd, target, "failed", detail)
		})
		if werr != nil {
			d.log.Warn("authdb: audit write failed", "user", target, "err", werr)
		}
		return err
	}
	acct, pol, err := d.verifyPlain(ctx, username, oldPassword)
	var ae *AuthError
	if errors.As(err, &ae) {
		return refuse(ae.User, err, string(ae.Reason))
	}
	if err != nil {
		return err
	}
	if err := acct.Check(ServicePoppassd, now); err != nil {
		errors.As(err, &ae)
		return refuse(acct.Name, err, string(ae.Reason))
	}
	if err := checkPassword(pol, newPassword); err != nil {
		return refuse(acct.Name, err, "policy "+err.(*PolicyError).Rule)
	}
	if pol.RejectSame && samePassword(oldPassword, newPassword) {
		return refuse(acct.Name, &PolicyError{Rule: "same-as-old", Msg: "the new password equals the old one"}, "policy same-as-old")
	}
	if err := d.checkHistory(ctx, pol, acct, newPassword, ""); err != nil {
		var pe *PolicyError
		if errors.As(err, &pe) {
			return refuse(acct.Name, err, "policy "+pe.Rule)
		}
		return err
	}
	set, err := d.buildSet(ctx, acct.Name, newPassword, effectiveScheme(acct, pol), acct.Mechs)
	if err != nil {
		return err
	}
	err = d.write(ctx, "change password", func(tx *sql.Tx) error {
		var ver int64
		err := tx.QueryRowContext(ctx, "SELECT cred_version FROM users WHERE id = ?", acct.ID).Scan(&ver)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && ver != acct.CredVersion) {
			return errConflict
		}
		if err != nil {
			return err
		}
		if err := d.finishSet(ctx, tx, acct.ID, set, now, pol, false); err != nil {
			return err
		}
		return d.audit(ctx, tx, now, req, ActionPasswd, acct.Name, "ok", "schemes "+strings.Join(set.schemes(), ","))
	})
	if err == nil {
		// The client just proved it knows the new password: the next login
		// (typically right away, from the same webmail) need not pay the
		// slow verify again. The entry is bound to the new stored verifier.
		if cand, ok := set.plainCandidate(); ok {
			d.gate.remember(d.now(), acct.Name, cand, newPassword)
		}
	}
	return err
}

// finishSet stores a new password's credential set and the account fields
// a password change resets: changed time, must-change, expiry (now +
// Policy.MaxAge, or none).
func (d *DB) finishSet(ctx context.Context, tx *sql.Tx, id int64, set credSet, now time.Time, pol Policy, mustChange bool) error {
	if err := storeSet(ctx, tx, id, set, now, pol.History); err != nil {
		return err
	}
	var expires sql.NullInt64
	if pol.MaxAge > 0 {
		expires = nullTime(now.Add(pol.MaxAge))
	}
	_, err := tx.ExecContext(ctx,
		"UPDATE users SET changed_at = ?, must_change = ?, expires_at = ? WHERE id = ?",
		now.Unix(), b2i(mustChange), expires, id)
	return err
}
