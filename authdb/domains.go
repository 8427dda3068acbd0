package authdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AddDomain creates a domain (d.Name, d.Disabled, d.Description; the
// other fields are ignored). An existing one is ErrDomainExists.
func (d *DB) AddDomain(ctx context.Context, req Request, dom Domain) error {
	name, err := normalizeDomain(dom.Name)
	if err != nil {
		return err
	}
	if err := checkText("description", dom.Description, 256); err != nil {
		return err
	}
	now := d.now()
	return d.write(ctx, "add domain", func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM domains WHERE name = ?", name).Scan(&id)
		if err == nil {
			return fmt.Errorf("%w: %s", ErrDomainExists, name)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO domains (name, disabled, description, created_at) VALUES (?, ?, ?, ?)",
			name, b2i(dom.Disabled), dom.Description, now.Unix()); err != nil {
			return err
		}
		detail := ""
		if dom.Disabled {
			detail = "disabled=true"
		}
		return d.audit(ctx, tx, now, req, ActionDomainAdd, name, "ok", detail)
	})
}

// ModifyDomain changes a domain's flags and returns it.
func (d *DB) ModifyDomain(ctx context.Context, req Request, name string, m DomainMod) (*Domain, error) {
	dn, err := normalizeDomain(name)
	if err != nil {
		return nil, err
	}
	if m.Description != nil {
		if err := checkText("description", *m.Description, 256); err != nil {
			return nil, err
		}
	}
	now := d.now()
	err = d.write(ctx, "modify domain", func(tx *sql.Tx) error {
		var id int64
		var disabled bool
		var desc string
		err := tx.QueryRowContext(ctx, "SELECT id, disabled, description FROM domains WHERE name = ?", dn).Scan(&id, &disabled, &desc)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNoSuchDomain, dn)
		}
		if err != nil {
			return err
		}
		detail := ""
		if m.Disabled != nil && *m.Disabled != disabled {
			disabled = *m.Disabled
			detail += fmt.Sprintf("disabled=%t ", disabled)
		}
		if m.Description != nil && *m.Description != desc {
			desc = *m.Description
			detail += "description "
		}
		if detail == "" {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE domains SET disabled = ?, description = ? WHERE id = ?", b2i(disabled), desc, id); err != nil {
			return err
		}
		return d.audit(ctx, tx, now, req, ActionDomainModify, dn, "ok", detail[:len(detail)-1])
	})
	if err != nil {
		return nil, err
	}
	return d.GetDomain(ctx, dn)
}

// DeleteDomain removes a domain without users.
func (d *DB) DeleteDomain(ctx context.Context, req Request, name string) error {
	dn, err := normalizeDomain(name)
	if err != nil {
		return err
	}
	now := d.now()
	return d.write(ctx, "delete domain", func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM domains WHERE name = ?", dn).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNoSuchDomain, dn)
		}
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE domain_id = ?", id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %s has %d users", ErrDomainInUse, dn, n)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM domains WHERE id = ?", id); err != nil {
			return err
		}
		return d.audit(ctx, tx, now, req, ActionDomainDelete, dn, "ok", "")
	})
}

const domainQuery = `SELECT d.name, d.disabled, d.description, d.created_at,
	(SELECT count(*) FROM users u WHERE u.domain_id = d.id) FROM domains d`

func scanDomains(rows *sql.Rows) ([]Domain, error) {
	defer rows.Close()
	var out []Domain
	for rows.Next() {
		var dom Domain
		var created int64
		if err := rows.Scan(&dom.Name, &dom.Disabled, &dom.Description, &created, &dom.Users); err != nil {
			return nil, err
		}
		dom.Created = time.Unix(created, 0)
		out = append(out, dom)
	}
	return out, rows.Err()
}

// GetDomain returns one domain with its user count.
func (d *DB) GetDomain(ctx context.Context, name string) (*Domain, error) {
	dn, err := normalizeDomain(name)
	if err != nil {
		return nil, err
	}
	rows, err := d.r.QueryContext(ctx, domainQuery+" WHERE d.name = ?", dn)
	if err != nil {
		return nil, d.mapErr("get domain", err)
	}
	doms, err := scanDomains(rows)
	if err != nil {
		return nil, d.mapErr("get domain", err)
	}
	if len(doms) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchDomain, dn)
	}
	return &doms[0], nil
}

// ListDomains returns every domain, sorted by name, with user counts.
func (d *DB) ListDomains(ctx context.Context) ([]Domain, error) {
	rows, err := d.r.QueryContext(ctx, domainQuery+" ORDER BY d.name")
	if err != nil {
		return nil, d.mapErr("list domains", err)
	}
	doms, err := scanDomains(rows)
	if err != nil {
		return nil, d.mapErr("list domains", err)
	}
	return doms, nil
}
