package authdb

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one schema step; applying migrations[i] takes the database
// from user_version i to i+1.
type migration struct {
	name string
	sql  string
}

// loadMigrations returns the embedded migrations in order. File names
// start with their 1-based version ("0001_accounts.sql"); a gap is a build
// mistake and panics in tests.
func loadMigrations() []migration {
	ents, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		panic("authdb: embedded migrations: " + err.Error())
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	var ms []migration
	for i, e := range ents {
		n, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil || n != i+1 {
			panic("authdb: migration " + e.Name() + " out of sequence")
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			panic("authdb: embedded migrations: " + err.Error())
		}
		ms = append(ms, migration{name: e.Name(), sql: string(b)})
	}
	return ms
}

// SchemaVersion is the schema version (PRAGMA user_version) this program
// writes and expects.
func SchemaVersion() int { return len(loadMigrations()) }

// userVersion reads PRAGMA user_version through q.
func userVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// objectCount counts the schema objects that are not SQLite's own.
func objectCount(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").Scan(&n)
	return n, err
}

// checkVersion is Open's schema gate.
func (d *DB) checkVersion(ctx context.Context) error {
	v, err := userVersion(ctx, d.r)
	if err != nil {
		return fmt.Errorf("authdb: open %s: %w", d.path, err)
	}
	latest := SchemaVersion()
	if v == 0 {
		n, err := objectCount(ctx, d.r)
		if err != nil {
			return fmt.Errorf("authdb: open %s: %w", d.path, err)
		}
		if n > 0 {
			return fmt.Errorf("authdb: open %s: not a popadm database (%d foreign tables, user_version 0)", d.path, n)
		}
	}
	switch {
	case d.opts.AnyVersion:
		return nil
	case v > latest:
		return mark(ErrSchemaTooNew, "authdb: open %s: schema version %d is newer than this program's %d", d.path, v, latest)
	case v == 0 && !d.opts.Create:
		return mark(ErrNotInitialized, "authdb: open %s: empty database (run popadm db init)", d.path)
	case v == 0:
		_, _, err := d.migrate(ctx)
		return err
	case v < latest && !d.opts.Migrate:
		return mark(ErrNotMigrated, "authdb: open %s: schema version %d is older than %d (run popadm db migrate)", d.path, v, latest)
	case v < latest:
		_, _, err := d.migrate(ctx)
		return err
	}
	return nil
}

// Init creates the schema in an empty database. It is a no-op on a
// database that is already at the current version, and fails with
// ErrNotMigrated on an older one.
func (d *DB) Init(ctx context.Context) error {
	v, err := userVersion(ctx, d.r)
	if err != nil {
		return fmt.Errorf("authdb: init %s: %w", d.path, err)
	}
	switch latest := SchemaVersion(); {
	case v == latest:
		return nil
	case v > latest:
		return mark(ErrSchemaTooNew, "authdb: init %s: schema version %d is newer than this program's", d.path, v)
	case v > 0:
		return mark(ErrNotMigrated, "authdb: init %s: schema version %d is out of date (run popadm db migrate)", d.path, v)
	}
	_, _, err = d.migrate(ctx)
	return err
}

// Migrate upgrades the schema to SchemaVersion and returns the versions
// before and after. All pending migrations run in one transaction, which
// also re-reads the version, so two processes migrating at once are safe.
func (d *DB) Migrate(ctx context.Context) (from, to int, err error) {
	return d.migrate(ctx)
}

func (d *DB) migrate(ctx context.Context) (from, to int, err error) {
	ms := loadMigrations()
	err = d.write(ctx, "migrate", func(tx *sql.Tx) error {
		v, err := userVersion(ctx, tx)
		if err != nil {
			return err
		}
		from, to = v, v
		if v > len(ms) {
			return mark(ErrSchemaTooNew, "authdb: migrate %s: schema version %d is newer than this program's", d.path, v)
		}
		if v == 0 {
			n, err := objectCount(ctx, tx)
			if err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("authdb: migrate %s: not a popadm database (%d foreign tables, user_version 0)", d.path, n)
			}
		}
		for i := v; i < len(ms); i++ {
			if _, err := tx.ExecContext(ctx, ms[i].sql); err != nil {
				return fmt.Errorf("authdb: migration %s: %w", ms[i].name, err)
			}
		}
		if v == 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('application', 'popadm'), ('created_at', ?)`,
				strconv.FormatInt(d.now().Unix(), 10)); err != nil {
				return err
			}
		}
		// PRAGMA takes no bound parameters; the value is our own integer.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(ms))); err != nil {
			return err
		}
		to = len(ms)
		return nil
	})
	if err != nil {
		return from, from, err
	}
	if from != to {
		d.log.Info("authdb: schema migrated", "path", d.path, "from", from, "to", to)
	}
	return from, to, nil
}

// CheckReport is the result of Check.
type CheckReport struct {
	SchemaVersion int      `json:"schema_version"`
	LatestVersion int      `json:"latest_version"`
	Integrity     []string `json:"integrity"`             // "ok" when sound
	ForeignKeys   []string `json:"foreign_keys,omitzero"` // violations
	Problems      []string `json:"problems,omitzero"`     // everything that is wrong
}

// OK reports whether Check found nothing wrong.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

// Check runs PRAGMA integrity_check and foreign_key_check and compares the
// schema version. It returns the report and, when something is wrong, an
// error wrapping ErrCheckFailed. It works on a read-only database.
func (d *DB) Check(ctx context.Context) (*CheckReport, error) {
	rep := &CheckReport{LatestVersion: SchemaVersion()}
	v, err := userVersion(ctx, d.r)
	if err != nil {
		return nil, fmt.Errorf("authdb: check %s: %w", d.path, err)
	}
	rep.SchemaVersion = v
	rows, err := d.r.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return nil, fmt.Errorf("authdb: check %s: %w", d.path, err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, fmt.Errorf("authdb: check %s: %w", d.path, err)
		}
		rep.Integrity = append(rep.Integrity, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("authdb: check %s: %w", d.path, err)
	}
	if len(rep.Integrity) != 1 || rep.Integrity[0] != "ok" {
		rep.Problems = append(rep.Problems, "integrity_check: "+strings.Join(rep.Integrity, "; "))
	}
	rows, err = d.r.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return nil, fmt.Errorf("authdb: check %s: %w", d.path, err)
	}
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			rows.Close()
			return nil, fmt.Errorf("authdb: check %s: %w", d.path, err)
		}
		rep.ForeignKeys = append(rep.ForeignKeys, fmt.Sprintf("%s row %d references missing %s", table, rowid.Int64, parent))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("authdb: check %s: %w", d.path, err)
	}
	rep.Problems = append(rep.Problems, rep.ForeignKeys...)
	switch {
	case v > rep.LatestVersion:
		rep.Problems = append(rep.Problems, fmt.Sprintf("schema version %d is newer than %d", v, rep.LatestVersion))
	case v < rep.LatestVersion:
		rep.Problems = append(rep.Problems, fmt.Sprintf("schema version %d is older than %d (run popadm db migrate)", v, rep.LatestVersion))
	default:
		var app string
		err := d.r.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'application'").Scan(&app)
		if err != nil || app != "popadm" {
			rep.Problems = append(rep.Problems, "meta: application marker missing")
		}
	}
	if !rep.OK() {
		return rep, mark(ErrCheckFailed, "authdb: check %s: %s", d.path, strings.Join(rep.Problems, "; "))
	}
	return rep, nil
}

// Backup writes a consistent copy of the database to dest with VACUUM
// INTO. It refuses an existing dest. It works on a read-only database and
// does not block writers for longer than a read does.
func (d *DB) Backup(ctx context.Context, dest string) error {
	if dest == "" {
		return mark(ErrInvalidInput, "authdb: backup: empty destination")
	}
	abs, err := filepath.Abs(dest)
	if err != nil {
		return fmt.Errorf("authdb: backup %s: %w", dest, err)
	}
	if _, err := os.Lstat(abs); err == nil {
		return mark(ErrInvalidInput, "authdb: backup %s: destination exists", abs)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("authdb: backup %s: %w", abs, err)
	}
	if _, err := d.r.ExecContext(ctx, "VACUUM INTO ?", abs); err != nil {
		return fmt.Errorf("authdb: backup %s: %w", abs, err)
	}
	return nil
}
