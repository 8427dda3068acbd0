package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/authdb"
)

func newCmdDB(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Create, upgrade, check and back up the account database",
		Args:  groupArgs,
		RunE:  groupRun,
	}
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create the account database",
		Long: `Create the database file named by --db (its directory must exist) with
the current schema. On an existing, current database it does nothing and
succeeds.`,
		Example: `  popadm --db /var/lib/popadm/auth.db db init`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			_, statErr := os.Stat(f.g.dbPath)
			existed := statErr == nil
			db, err := f.openDB(c.Context(), openCreate)
			if err != nil {
				return err
			}
			if err := db.Init(c.Context()); err != nil {
				return withSubject(err, "path", f.g.dbPath)
			}
			obj := map[string]any{"path": db.Path(), "schema_version": authdb.SchemaVersion(), "created": !existed}
			if existed {
				return f.done(obj, "database %s already initialised (schema version %d)", db.Path(), authdb.SchemaVersion())
			}
			return f.done(obj, "created database %s (schema version %d)", db.Path(), authdb.SchemaVersion())
		},
	}
	migrate := &cobra.Command{
		Use:   "migrate",
		Short: "Upgrade the database schema",
		Long: `Upgrade the schema to the version this program uses, in one transaction.
Take a backup first (popadm db backup). A schema newer than this program
is refused (exit 78).`,
		Example: `  popadm db backup /var/backups/auth-$(date +%F).db && popadm db migrate`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			db, err := f.openDB(c.Context(), openAnyVersion)
			if err != nil {
				return err
			}
			from, to, err := db.Migrate(c.Context())
			if err != nil {
				return withSubject(err, "path", f.g.dbPath)
			}
			obj := map[string]any{"path": db.Path(), "from": from, "to": to}
			if from == to {
				return f.done(obj, "schema version %d is current", to)
			}
			return f.done(obj, "migrated schema from version %d to %d", from, to)
		},
	}
	check := &cobra.Command{
		Use:   "check",
		Short: "Check the database's integrity and schema version",
		Long: `Run SQLite's integrity and foreign-key checks and compare the schema
version. Exits 1 when a problem is found, listing each.`,
		Example: `  popadm db check --json`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			db, err := f.openDB(c.Context(), openAnyVersion)
			if err != nil {
				return err
			}
			rep, cerr := db.Check(c.Context())
			if rep == nil {
				return withSubject(cerr, "path", f.g.dbPath)
			}
			if f.jsonMode() {
				if err := f.printJSON(map[string]any{"ok": rep.OK(), "path": db.Path(), "report": rep}); err != nil {
					return err
				}
			} else if !f.g.quiet || !rep.OK() {
				status := "ok"
				if !rep.OK() {
					status = strings.Join(rep.Problems, "\n")
				}
				if err := f.printPairs([][2]string{
					{"path", db.Path()},
					{"schema version", fmt.Sprintf("%d (current %d)", rep.SchemaVersion, rep.LatestVersion)},
					{"integrity", strings.Join(rep.Integrity, "; ")},
					{"status", status},
				}); err != nil {
					return err
				}
			}
			if !rep.OK() {
				return &exitError{code: ExitFailure, short: "database check failed", printed: true, err: cerr}
			}
			return nil
		},
	}
	backup := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the database",
		Long: `Write a consistent copy of the database to FILE with VACUUM INTO, while
the servers keep running. FILE must not exist (exit 73).`,
		Example: `  popadm db backup /var/backups/popadm/auth-$(date +%F).db`,
		Args:    exactArgs(1, "FILE"),
		RunE: func(c *cobra.Command, args []string) error {
			dest := args[0]
			if _, err := os.Lstat(dest); err == nil {
				return &exitError{code: ExitCantCreate, short: "backup file exists", fields: map[string]any{"file": dest},
					err: fmt.Errorf("backup file %s already exists", dest)}
			} else if !errors.Is(err, fs.ErrNotExist) {
				return failf(ExitFailure, "cannot use backup file", "backup %s: %v", dest, err)
			}
			db, err := f.openDB(c.Context(), openAnyVersion)
			if err != nil {
				return err
			}
			if err := db.Backup(c.Context(), dest); err != nil {
				return withSubject(err, "file", dest)
			}
			return f.done(map[string]any{"path": db.Path(), "file": dest}, "wrote backup %s", dest)
		},
	}
	cmd.AddCommand(initCmd, migrate, check, backup)
	return cmd
}
