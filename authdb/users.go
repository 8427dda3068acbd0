package authdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxMaildrop bounds a maildrop override.
const maxMaildrop = 1024

// checkMaildrop validates a per-user mail location override: no control
// characters and no ".." element (it is joined into file system paths).
func checkMaildrop(s string) error {
	if err := checkText("maildrop", s, maxMaildrop); err != nil {
		return err
	}
	for _, el := range strings.Split(s, "/") {
		if el == ".." {
			return fmt.Errorf("%w: maildrop contains a '..' element", ErrInvalidInput)
		}
	}
	return nil
}

// checkInput validates a PasswordInput's shape (not the policy).
func checkInput(pw PasswordInput) error {
	if (pw.Password == "") == (pw.Hash == "") {
		return fmt.Errorf("%w: exactly one of password and hash is needed", ErrInvalidInput)
	}
	return nil
}

// prepareSet turns a PasswordInput into a credential set for account name
// with mechs, applying the policy to a clear password unless SkipPolicy.
// acct is nil for a new account. This is the slow part and runs before any
// transaction.
func (d *DB) prepareSet(ctx context.Context, pol Policy, acct *Account, name, scheme string, mechs []string, pw PasswordInput) (credSet, error) {
	if pw.Hash != "" {
		return hashSet(pw.Hash)
	}
	if !pw.SkipPolicy {
		if err := checkPassword(pol, pw.Password); err != nil {
			return nil, err
		}
		if acct != nil {
			_, cur, _ := credSet(acct.Credentials).verifier()
			if err := d.checkHistory(ctx, pol, acct, pw.Password, cur); err != nil {
				return nil, err
			}
		}
	}
	return d.buildSet(ctx, name, pw.Password, scheme, mechs)
}

// AddUser creates an account. The credential set is computed before the
// write transaction; the domain must exist unless u.CreateDomain. An
// existing account is ErrUserExists, or, with u.IfNotExists, returned
// unchanged.
func (d *DB) AddUser(ctx context.Context, req Request, u NewUser, pw PasswordInput) (*Account, error) {
	name, err := normalize(u.Name, d.opts.DefaultDomain)
	if err != nil {
		return nil, err
	}
	local, domain, _ := strings.Cut(name, "@")
	if err := checkInput(pw); err != nil {
		return nil, err
	}
	if err := checkText("display name", u.DisplayName, 256); err != nil {
		return nil, err
	}
	if err := checkMaildrop(u.Maildrop); err != nil {
		return nil, err
	}
	if u.QuotaBytes < 0 {
		return nil, fmt.Errorf("%w: negative quota", ErrInvalidInput)
	}
	pol, err := d.policy(ctx)
	if err != nil {
		return nil, err
	}
	mechs := u.Mechs
	if mechs == nil {
		mechs = pol.DefaultMechs
	}
	if mechs, err = normalizeMechs(mechs); err != nil {
		return nil, err
	}
	userScheme := u.Scheme
	if pw.Scheme != "" {
		userScheme = pw.Scheme
	}
	if userScheme != "" {
		if userScheme, err = checkGenScheme(userScheme); err != nil {
			return nil, err
		}
	}
	// Cheap checks first, so a duplicate does not pay for the hashing; the
	// transaction checks again.
	if acct, err := d.account(ctx, name, false); err == nil {
		if u.IfNotExists {
			return acct, nil
		}
		return nil, fmt.Errorf("%w: %s", ErrUserExists, name)
	} else if !errors.Is(err, errNotFound) {
		return nil, d.mapErr("add user", err)
	}
	scheme := userScheme
	if scheme == "" {
		scheme = pol.DefaultScheme
	}
	set, err := d.prepareSet(ctx, pol, nil, name, scheme, mechs, pw)
	if err != nil {
		return nil, err
	}
	now := d.now()
	expires := u.Expires
	if expires.IsZero() && pol.MaxAge > 0 {
		expires = now.Add(pol.MaxAge)
	}
	err = d.write(ctx, "add user", func(tx *sql.Tx) error {
		domID, err := d.domainID(ctx, tx, req, now, domain, u.CreateDomain)
		if err != nil {
			return err
		}
		var id int64
		err = tx.QueryRowContext(ctx, "SELECT id FROM users WHERE name = ?", name).Scan(&id)
		if err == nil {
			if u.IfNotExists {
				return errRollback // created meanwhile: leave it as it is
			}
			return fmt.Errorf("%w: %s", ErrUserExists, name)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO users (domain_id, local, name, display_name, disabled,
			must_change, expires_at, mechs, scheme, maildrop, quota_bytes, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			domID, local, name, u.DisplayName, b2i(u.Disabled), b2i(u.MustChange || pw.MustChange),
			nullTime(expires), strings.Join(mechs, ","), userScheme, u.Maildrop, u.QuotaBytes, now.Unix())
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		if err := storeSet(ctx, tx, id, set, now, pol.History); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE users SET changed_at = ? WHERE id = ?", now.Unix(), id); err != nil {
			return err
		}
		return d.audit(ctx, tx, now, req, ActionAdd, name, "ok",
			fmt.Sprintf("mechs %s schemes %s", strings.Join(mechs, ","), strings.Join(set.schemes(), ",")))
	})
	if err != nil {
		return nil, err
	}
	return d.GetUser(ctx, name)
}

// domainID returns a domain's id inside tx, creating it (with an audit
// row) when create is set.
func (d *DB) domainID(ctx context.Context, tx *sql.Tx, req Request, now time.Time, domain string, create bool) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, "SELECT id FROM domains WHERE name = ?", domain).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	if !create {
		return 0, fmt.Errorf("%w: %s", ErrNoSuchDomain, domain)
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO domains (name, created_at) VALUES (?, ?)", domain, now.Unix())
	if err != nil {
		return 0, err
	}
	if err := d.audit(ctx, tx, now, req, ActionDomainAdd, domain, "ok", "created for a new user"); err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// SetPassword replaces an account's credential set (an admin reset: no old
// password). A clear password is checked against the policy unless
// pw.SkipPolicy (including reuse of the current password, which costs one
// verify) and hashed for the account's mechanisms before the transaction;
// a hash is validated and stored alone. pw.Scheme, when set, becomes the
// account's scheme.
func (d *DB) SetPassword(ctx context.Context, req Request, username string, pw PasswordInput) error {
	name, err := normalize(username, d.opts.DefaultDomain)
	if err != nil {
		return err
	}
	if err := checkInput(pw); err != nil {
		return err
	}
	userScheme := ""
	if pw.Scheme != "" {
		if userScheme, err = checkGenScheme(pw.Scheme); err != nil {
			return err
		}
	}
	acct, err := d.account(ctx, name, true)
	if errors.Is(err, errNotFound) {
		return fmt.Errorf("%w: %s", ErrNoSuchUser, name)
	}
	if err != nil {
		return d.mapErr("set password", err)
	}
	pol, err := d.policy(ctx)
	if err != nil {
		return err
	}
	scheme := userScheme
	if scheme == "" {
		scheme = effectiveScheme(acct, pol)
	}
	set, err := d.prepareSet(ctx, pol, acct, name, scheme, acct.Mechs, pw)
	if err != nil {
		return err
	}
	now := d.now()
	return d.write(ctx, "set password", func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM users WHERE name = ?", name).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNoSuchUser, name)
		}
		if err != nil {
			return err
		}
		if err := d.finishSet(ctx, tx, id, set, now, pol, pw.MustChange); err != nil {
			return err
		}
		if userScheme != "" {
			if _, err := tx.ExecContext(ctx, "UPDATE users SET scheme = ? WHERE id = ?", userScheme, id); err != nil {
				return err
			}
		}
		detail := "schemes " + strings.Join(set.schemes(), ",")
		if pw.Hash != "" {
			detail += " (hash given)"
		}
		if pw.MustChange {
			detail += " must-change"
		}
		return d.audit(ctx, tx, now, req, ActionPasswd, name, "ok", detail)
	})
}

// DeleteUser removes an account with its credentials and history. Its
// audit rows stay.
func (d *DB) DeleteUser(ctx context.Context, req Request, username string) error {
	name, err := normalize(username, d.opts.DefaultDomain)
	if err != nil {
		return err
	}
	now := d.now()
	return d.write(ctx, "delete user", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM users WHERE name = ?", name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("%w: %s", ErrNoSuchUser, name)
		}
		return d.audit(ctx, tx, now, req, ActionDelete, name, "ok", "")
	})
}

// GetUser returns an account without credential values.
func (d *DB) GetUser(ctx context.Context, username string) (*Account, error) {
	name, err := normalize(username, d.opts.DefaultDomain)
	if err != nil {
		return nil, err
	}
	acct, err := d.account(ctx, name, false)
	if errors.Is(err, errNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchUser, name)
	}
	if err != nil {
		return nil, d.mapErr("get user", err)
	}
	return acct, nil
}

// ListUsers returns the accounts matching f, sorted by name, without
// credential values. The filters combine with AND.
func (d *DB) ListUsers(ctx context.Context, f UserFilter) ([]Account, error) {
	var where []string
	var args []any
	now := d.now()
	if f.Domain != "" {
		dom, err := normalizeDomain(f.Domain)
		if err != nil {
			return nil, err
		}
		where = append(where, "d.name = ?")
		args = append(args, dom)
	}
	if f.Disabled {
		where = append(where, "u.disabled = 1")
	}
	if f.Locked {
		where = append(where, "u.locked = 1")
	}
	if f.Expired {
		where = append(where, "(u.must_change = 1 OR (u.expires_at IS NOT NULL AND u.expires_at <= ?))")
		args = append(args, now.Unix())
	}
	if f.Inactive > 0 {
		where = append(where, "COALESCE(u.last_login_at, u.created_at) <= ?")
		args = append(args, now.Add(-f.Inactive).Unix())
	}
	rows, err := d.r.QueryContext(ctx, accountQuery(false, strings.Join(where, " AND ")), args...)
	if err != nil {
		return nil, d.mapErr("list users", err)
	}
	accts, err := scanAccounts(rows)
	if err != nil {
		return nil, d.mapErr("list users", err)
	}
	return accts, nil
}
