package authdb

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// errNotFound is the internal "no row" result of the account readers.
var errNotFound = errors.New("authdb: not found")

// accountColumns is the column list every account reader selects; see
// scanAccounts for the order.
const accountColumns = `u.id, u.name, u.local, d.name, d.disabled, u.display_name, u.disabled,
	u.disable_note, u.locked, u.must_change, u.expires_at, u.no_pop3, u.no_passwd, u.mechs,
	u.scheme, u.maildrop, u.quota_bytes, u.created_at, u.changed_at, u.last_login_at,
	u.failures, u.cred_version, c.scheme`

// accountQuery returns a SELECT of accounts joined with their credentials
// (one row per credential, in one statement so the set and cred_version
// come from one snapshot). Values are selected only with secrets.
func accountQuery(secrets bool, where string) string {
	val := "NULL"
	if secrets {
		val = "c.value"
	}
	q := "SELECT " + accountColumns + ", " + val + `
	FROM users u JOIN domains d ON d.id = u.domain_id
	LEFT JOIN credentials c ON c.user_id = u.id`
	if where != "" {
		q += " WHERE " + where
	}
	return q + " ORDER BY u.name, c.scheme"
}

type rowScanner interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}

// scanAccounts groups joined rows into accounts.
func scanAccounts(rows rowScanner) ([]Account, error) {
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var (
			a                                  Account
			domDis, dis, locked, must, np, npw int
			expires, changed, last             sql.NullInt64
			created                            int64
			mechs                              string
			scheme, value                      sql.NullString
		)
		if err := rows.Scan(&a.ID, &a.Name, &a.Local, &a.Domain, &domDis, &a.DisplayName, &dis,
			&a.DisableNote, &locked, &must, &expires, &np, &npw, &mechs,
			&a.Scheme, &a.Maildrop, &a.QuotaBytes, &created, &changed, &last,
			&a.Failures, &a.CredVersion, &scheme, &value); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].ID != a.ID {
			a.DomainDisabled = domDis != 0
			a.Disabled = dis != 0
			a.Locked = locked != 0
			a.MustChange = must != 0
			a.NoPOP3 = np != 0
			a.NoPasswd = npw != 0
			a.Expires = unixTime(expires)
			a.Changed = unixTime(changed)
			a.LastLogin = unixTime(last)
			a.Created = time.Unix(created, 0)
			a.Mechs = splitMechs(mechs)
			a.Schemes = []string{}
			out = append(out, a)
		}
		cur := &out[len(out)-1]
		if scheme.Valid {
			cur.Schemes = append(cur.Schemes, scheme.String)
			if value.Valid {
				if cur.Credentials == nil {
					cur.Credentials = map[string]string{}
				}
				cur.Credentials[scheme.String] = value.String
			}
		}
	}
	return out, rows.Err()
}

func unixTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(n.Int64, 0)
}

func nullTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.Unix(), Valid: true}
}

func splitMechs(s string) []string {
	var out []string
	for _, m := range strings.Split(s, ",") {
		if m != "" {
			out = append(out, m)
		}
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// account reads one account by normalised name through the read pool.
func (d *DB) account(ctx context.Context, name string, secrets bool) (*Account, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if secrets && d.lookupStmt != nil {
		rows, err = d.lookupStmt.QueryContext(ctx, name)
	} else {
		rows, err = d.r.QueryContext(ctx, accountQuery(secrets, "u.name = ?"), name)
	}
	if err != nil {
		return nil, err
	}
	accts, err := scanAccounts(rows)
	if err != nil {
		return nil, err
	}
	if len(accts) == 0 {
		return nil, errNotFound
	}
	return &accts[0], nil
}

// accountTx reads one account inside a write transaction.
func accountTx(ctx context.Context, tx *sql.Tx, name string, secrets bool) (*Account, error) {
	rows, err := tx.QueryContext(ctx, accountQuery(secrets, "u.name = ?"), name)
	if err != nil {
		return nil, err
	}
	accts, err := scanAccounts(rows)
	if err != nil {
		return nil, err
	}
	if len(accts) == 0 {
		return nil, errNotFound
	}
	return &accts[0], nil
}
