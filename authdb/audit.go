package authdb

import (
	"context"
	"database/sql"
	"strings"
	"time"
	"unicode"
)

// maxAuditField bounds each free-text audit field; an attacker-supplied
// user name cannot grow the table without limit.
const maxAuditField = 512

// auditText makes a value safe for the audit table: valid UTF-8, no
// control characters, bounded.
func auditText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
	if len(s) > maxAuditField {
		s = strings.ToValidUTF8(s[:maxAuditField], "")
	}
	return s
}

// audit writes one audit row inside tx. Callers never pass secrets.
func (d *DB) audit(ctx context.Context, tx *sql.Tx, now time.Time, req Request, action, target, result, detail string) error {
	svc := string(req.Service)
	if svc == "" {
		svc = string(ServiceCLI)
	}
	actor := req.Actor
	if actor == "" {
		actor = svc
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO audit (at, actor, service, action, target, remote, result, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		now.Unix(), auditText(actor), svc, action, auditText(target), auditText(req.Remote), result, auditText(detail))
	return err
}

// Audit returns audit rows matching f, newest first.
func (d *DB) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	var args []any
	if f.User != "" {
		// A user name is matched in its normalised form; a domain (or any
		// other target) as given, lower-cased.
		norm := strings.ToLower(f.User)
		if n, err := normalize(f.User, d.opts.DefaultDomain); err == nil {
			norm = n
		}
		where = append(where, "target IN (?, ?)")
		args = append(args, norm, strings.ToLower(f.User))
	}
	if f.Action != "" {
		where = append(where, "action = ?")
		args = append(args, f.Action)
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, f.Since.Unix())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q := "SELECT id, at, actor, service, action, target, remote, result, detail FROM audit"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY at DESC, id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := d.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, d.mapErr("audit query", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Service, &e.Action, &e.Target, &e.Remote, &e.Result, &e.Detail); err != nil {
			return nil, d.mapErr("audit query", err)
		}
		e.Time = time.Unix(at, 0)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, d.mapErr("audit query", err)
	}
	return out, nil
}
