package authdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Import conflict modes (ImportOptions.OnConflict).
const (
	OnConflictFail   = "fail"
	OnConflictSkip   = "skip"
	OnConflictUpdate = "update"
)

// importPrep is one row after the slow, transaction-free phase.
type importPrep struct {
	row  ImportRow
	name string
	set  credSet
	err  error
}

// Import adds or updates many accounts in one transaction.
//
// Every row needs exactly one of Hash ("{SCHEME}value", validated by the
// scheme registry; the account gets that one credential and fills its set
// at the first plaintext login) and Password (hashed, before the
// transaction opens, into the default set; the password policy is not
// applied, since an import moves existing accounts). New accounts get the
// policy's default mechanisms.
//
// OnConflict decides what happens to an existing account and to a bad row
// (invalid name, hash or password; unknown domain without CreateDomain):
//   - "fail" (default): the first conflict or bad row aborts everything;
//     nothing is imported and the error names the line.
//   - "skip": conflicts and bad rows are skipped and reported; the rest is
//     imported.
//   - "update": an existing account gets the row's credentials (and its
//     display name and maildrop when not empty, and disabled when set); a
//     bad row aborts everything.
//
// DryRun runs the whole transaction and rolls it back. Progress, when set,
// is called after each row is prepared (hashed or validated: the slow
// part). Each added or updated account gets an "import" audit row.
func (d *DB) Import(ctx context.Context, req Request, rows []ImportRow, opts ImportOptions) (*ImportReport, error) {
	mode := opts.OnConflict
	if mode == "" {
		mode = OnConflictFail
	}
	if mode != OnConflictFail && mode != OnConflictSkip && mode != OnConflictUpdate {
		return nil, fmt.Errorf("%w: import: on-conflict %q (want fail, skip or update)", ErrInvalidInput, mode)
	}
	pol, err := d.policy(ctx)
	if err != nil {
		return nil, err
	}
	failed := func(p importPrep, err error) (*ImportReport, error) {
		name := p.name
		if name == "" {
			name = p.row.Name
		}
		return &ImportReport{Failed: 1, Rows: []ImportResult{{Line: p.row.Line, Name: name, Action: "failed", Error: err.Error()}}},
			fmt.Errorf("%w (import line %d)", err, p.row.Line)
	}

	prep := make([]importPrep, len(rows))
	for i, r := range rows {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("authdb: import: %w", err)
		}
		p := &prep[i]
		p.row = r
		if p.row.Line == 0 {
			p.row.Line = i + 1
		}
		p.name, p.set, p.err = d.prepareImportRow(ctx, r, pol)
		if p.err != nil && mode != OnConflictSkip {
			return failed(*p, p.err)
		}
		if opts.Progress != nil {
			opts.Progress(i+1, len(rows))
		}
	}

	var rep *ImportReport
	var abort *importPrep
	var abortErr error
	now := d.now()
	err = d.write(ctx, "import", func(tx *sql.Tx) error {
		rep, abort, abortErr = &ImportReport{}, nil, nil
		domains := map[string]int64{}
		for i := range prep {
			p := &prep[i]
			res := ImportResult{Line: p.row.Line, Name: p.name}
			rowErr := p.err
			var domID int64
			if rowErr == nil {
				_, domain, _ := strings.Cut(p.name, "@")
				id, ok := domains[domain]
				if !ok {
					var err error
					id, err = d.domainID(ctx, tx, req, now, domain, opts.CreateDomain)
					if err != nil && !errors.Is(err, ErrNoSuchDomain) {
						return err
					}
					if err != nil {
						rowErr = err
					} else {
						domains[domain] = id
					}
				}
				domID = id
			}
			if rowErr != nil {
				if mode != OnConflictSkip {
					abort, abortErr = p, rowErr
					return rowErr
				}
				res.Action, res.Error = "failed", rowErr.Error()
				if res.Name == "" {
					res.Name = p.row.Name
				}
				rep.Failed++
				rep.Rows = append(rep.Rows, res)
				continue
			}
			var userID int64
			err := tx.QueryRowContext(ctx, "SELECT id FROM users WHERE name = ?", p.name).Scan(&userID)
			switch {
			case err == nil && mode == OnConflictFail:
				abort, abortErr = p, fmt.Errorf("%w: %s", ErrUserExists, p.name)
				return abortErr
			case err == nil && mode == OnConflictSkip:
				res.Action, res.Error = "skipped", ErrUserExists.Error()
				rep.Skipped++
			case err == nil:
				if err := d.importUpdate(ctx, tx, userID, p, pol); err != nil {
					return err
				}
				if err := d.audit(ctx, tx, now, req, ActionImport, p.name, "ok", "updated schemes "+strings.Join(p.set.schemes(), ",")); err != nil {
					return err
				}
				res.Action = "updated"
				rep.Updated++
			case errors.Is(err, sql.ErrNoRows):
				if err := d.importAdd(ctx, tx, domID, p, pol); err != nil {
					return err
				}
				if err := d.audit(ctx, tx, now, req, ActionImport, p.name, "ok", "added schemes "+strings.Join(p.set.schemes(), ",")); err != nil {
					return err
				}
				res.Action = "added"
				rep.Added++
			default:
				return err
			}
			rep.Rows = append(rep.Rows, res)
		}
		if opts.DryRun {
			return errRollback
		}
		return nil
	})
	if abort != nil {
		return failed(*abort, abortErr)
	}
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// prepareImportRow validates one row and computes its credential set.
func (d *DB) prepareImportRow(ctx context.Context, r ImportRow, pol Policy) (string, credSet, error) {
	name, err := normalize(r.Name, d.opts.DefaultDomain)
	if err != nil {
		return "", nil, err
	}
	if err := checkText("display name", r.DisplayName, 256); err != nil {
		return name, nil, err
	}
	if err := checkMaildrop(r.Maildrop); err != nil {
		return name, nil, err
	}
	switch {
	case (r.Hash == "") == (r.Password == ""):
		return name, nil, fmt.Errorf("%w: exactly one of hash and password is needed", ErrInvalidInput)
	case r.Hash != "":
		set, err := hashSet(r.Hash)
		return name, set, err
	}
	if err := checkPassword(Policy{MaxLength: maxPasswordBytes}, r.Password); err != nil {
		return name, nil, err
	}
	set, err := d.buildSet(ctx, name, r.Password, pol.DefaultScheme, pol.DefaultMechs)
	return name, set, err
}

func (d *DB) importAdd(ctx context.Context, tx *sql.Tx, domID int64, p *importPrep, pol Policy) error {
	now := d.now()
	local, _, _ := strings.Cut(p.name, "@")
	var expires sql.NullInt64
	if pol.MaxAge > 0 {
		expires = nullTime(now.Add(pol.MaxAge))
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO users (domain_id, local, name, display_name, disabled,
		expires_at, mechs, maildrop, created_at, changed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		domID, local, p.name, p.row.DisplayName, b2i(p.row.Disabled), expires,
		strings.Join(pol.DefaultMechs, ","), p.row.Maildrop, now.Unix(), now.Unix())
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	return storeSet(ctx, tx, id, p.set, now, pol.History)
}

func (d *DB) importUpdate(ctx context.Context, tx *sql.Tx, id int64, p *importPrep, pol Policy) error {
	if err := d.finishSet(ctx, tx, id, p.set, d.now(), pol, false); err != nil {
		return err
	}
	if p.row.DisplayName != "" {
		if _, err := tx.ExecContext(ctx, "UPDATE users SET display_name = ? WHERE id = ?", p.row.DisplayName, id); err != nil {
			return err
		}
	}
	if p.row.Maildrop != "" {
		if _, err := tx.ExecContext(ctx, "UPDATE users SET maildrop = ? WHERE id = ?", p.row.Maildrop, id); err != nil {
			return err
		}
	}
	if p.row.Disabled {
		if _, err := tx.ExecContext(ctx, "UPDATE users SET disabled = 1 WHERE id = ?", id); err != nil {
			return err
		}
	}
	return nil
}

// Export returns every account, sorted by name, with Credentials filled
// ("{SCHEME}value" per stored scheme). The caller decides whether to
// print them.
func (d *DB) Export(ctx context.Context) ([]Account, error) {
	rows, err := d.r.QueryContext(ctx, accountQuery(true, ""))
	if err != nil {
		return nil, d.mapErr("export", err)
	}
	accts, err := scanAccounts(rows)
	if err != nil {
		return nil, d.mapErr("export", err)
	}
	return accts, nil
}
