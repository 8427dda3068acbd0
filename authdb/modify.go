package authdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ModifyUser applies the non-nil fields of m in one transaction and
// returns the updated account. Audit rows: "lock"/"unlock" when the lock
// state changes, "mod" listing the other changed fields (never values of
// secrets). Locked=false also clears the failure counter. Removing a
// mechanism deletes the credential form only it needed (a
// plaintext-equivalent secret is not kept for a mechanism the account no
// longer has), unless that form is the account's only credential; adding
// one fills its form at the next plaintext login or password change.
func (d *DB) ModifyUser(ctx context.Context, req Request, username string, m UserMod) (*Account, error) {
	name, err := normalize(username, d.opts.DefaultDomain)
	if err != nil {
		return nil, err
	}
	if m.DisplayName != nil {
		if err := checkText("display name", *m.DisplayName, 256); err != nil {
			return nil, err
		}
	}
	if m.DisableNote != nil {
		if err := checkText("disable note", *m.DisableNote, 256); err != nil {
			return nil, err
		}
	}
	if m.Maildrop != nil {
		if err := checkMaildrop(*m.Maildrop); err != nil {
			return nil, err
		}
	}
	if m.QuotaBytes != nil && *m.QuotaBytes < 0 {
		return nil, fmt.Errorf("%w: negative quota", ErrInvalidInput)
	}
	var mechs []string
	if m.Mechs != nil {
		if mechs, err = normalizeMechs(*m.Mechs); err != nil {
			return nil, err
		}
	}
	newName := name
	if m.Rename != nil {
		if newName, err = normalize(*m.Rename, d.opts.DefaultDomain); err != nil {
			return nil, err
		}
	}
	now := d.now()
	err = d.write(ctx, "modify user", func(tx *sql.Tx) error {
		acct, err := accountTx(ctx, tx, name, false)
		if errors.Is(err, errNotFound) {
			return fmt.Errorf("%w: %s", ErrNoSuchUser, name)
		}
		if err != nil {
			return err
		}
		var sets, changes []string
		var args []any
		set := func(col string, v any, change string) {
			sets = append(sets, col+" = ?")
			args = append(args, v)
			if change != "" {
				changes = append(changes, change)
			}
		}
		if m.DisplayName != nil && *m.DisplayName != acct.DisplayName {
			set("display_name", *m.DisplayName, "display-name")
		}
		if m.Disabled != nil && *m.Disabled != acct.Disabled {
			set("disabled", b2i(*m.Disabled), fmt.Sprintf("disabled=%t", *m.Disabled))
		}
		if m.DisableNote != nil && *m.DisableNote != acct.DisableNote {
			set("disable_note", *m.DisableNote, "disable-note")
		}
		if m.MustChange != nil && *m.MustChange != acct.MustChange {
			set("must_change", b2i(*m.MustChange), fmt.Sprintf("must-change=%t", *m.MustChange))
		}
		if m.Expires != nil && !m.Expires.Equal(acct.Expires) && !(m.Expires.IsZero() && acct.Expires.IsZero()) {
			exp := "never"
			if !m.Expires.IsZero() {
				exp = m.Expires.UTC().Format(time.RFC3339)
			}
			set("expires_at", nullTime(*m.Expires), "expires="+exp)
		}
		if m.NoPOP3 != nil && *m.NoPOP3 != acct.NoPOP3 {
			set("no_pop3", b2i(*m.NoPOP3), fmt.Sprintf("no-pop3=%t", *m.NoPOP3))
		}
		if m.NoPasswd != nil && *m.NoPasswd != acct.NoPasswd {
			set("no_passwd", b2i(*m.NoPasswd), fmt.Sprintf("no-passwd=%t", *m.NoPasswd))
		}
		if m.Maildrop != nil && *m.Maildrop != acct.Maildrop {
			set("maildrop", *m.Maildrop, "maildrop")
		}
		if m.QuotaBytes != nil && *m.QuotaBytes != acct.QuotaBytes {
			set("quota_bytes", *m.QuotaBytes, fmt.Sprintf("quota=%d", *m.QuotaBytes))
		}
		if m.Mechs != nil && strings.Join(mechs, ",") != strings.Join(acct.Mechs, ",") {
			set("mechs", strings.Join(mechs, ","), "mechs="+strings.Join(mechs, ","))
			pruned, err := pruneForms(ctx, tx, acct.ID, mechs)
			if err != nil {
				return err
			}
			if pruned {
				set("cred_version", acct.CredVersion+1, "")
			}
		}
		if newName != name {
			local, domain, _ := strings.Cut(newName, "@")
			var other int64
			err := tx.QueryRowContext(ctx, "SELECT id FROM users WHERE name = ?", newName).Scan(&other)
			if err == nil {
				return fmt.Errorf("%w: %s (rename of %s)", ErrUserExists, newName, name)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			domID, err := d.domainID(ctx, tx, req, now, domain, false)
			if err != nil {
				return err
			}
			set("name", newName, "name="+newName)
			set("local", local, "")
			set("domain_id", domID, "")
		}
		lockAction := ""
		if m.Locked != nil {
			if *m.Locked != acct.Locked {
				lockAction = ActionLock
				if !*m.Locked {
					lockAction = ActionUnlock
				}
			}
			set("locked", b2i(*m.Locked), "")
			if !*m.Locked {
				set("failures", 0, "")
				set("first_failure_at", nil, "")
			}
		}
		if len(sets) > 0 {
			args = append(args, acct.ID)
			if _, err := tx.ExecContext(ctx, "UPDATE users SET "+strings.Join(sets, ", ")+" WHERE id = ?", args...); err != nil {
				return err
			}
		}
		if lockAction != "" {
			if err := d.audit(ctx, tx, now, req, lockAction, name, "ok", ""); err != nil {
				return err
			}
		}
		if len(changes) > 0 {
			return d.audit(ctx, tx, now, req, ActionModify, name, "ok", strings.Join(changes, " "))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d.GetUser(ctx, newName)
}

// pruneForms deletes the mechanism forms that mechs no longer need, when
// the account keeps a slow verifier to log in with.
func pruneForms(ctx context.Context, tx *sql.Tx, userID int64, mechs []string) (bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT scheme FROM credentials WHERE user_id = ?", userID)
	if err != nil {
		return false, err
	}
	stored := credSet{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return false, err
		}
		stored[s] = ""
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if _, _, ok := stored.verifier(); !ok {
		return false, nil
	}
	needed := map[string]bool{}
	for _, m := range mechs {
		if f, ok := mechForms[m]; ok {
			needed[f] = true
		}
	}
	pruned := false
	for s := range stored {
		if isMechForm(s) && !needed[s] {
			if _, err := tx.ExecContext(ctx, "DELETE FROM credentials WHERE user_id = ? AND scheme = ?", userID, s); err != nil {
				return false, err
			}
			pruned = true
		}
	}
	return pruned, nil
}
