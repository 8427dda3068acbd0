package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/internal/maildrop"
	"github.com/popadm/popadm/internal/migrate"
)

func init() {
	extraCommands = append(extraCommands, newCmdMigrate)
}

// migrateFlags are the options of `popadm migrate dovecot|courier`.
type migrateFlags struct {
	format  string
	uidlist string
	dryRun  bool
}

// migrateRow is one message of the migration report.
type migrateRow struct {
	Base   string `json:"base"`
	UIDL   string `json:"uidl"`
	Order  int    `json:"order"`         // 0: not migrated
	Source string `json:"source"`        // record, format, predicted or popadm
	UID    uint64 `json:"uid,omitempty"` // old server's uid
}

// newCmdMigrate builds `popadm migrate dovecot|courier MAILDIR`.
func newCmdMigrate(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Keep the POP3 UIDLs and order of a Maildir served by Dovecot or Courier",
		Long: `Read the old server's POP3 state in a Maildir (dovecot-uidlist or
courierpop3dsizelist), compute the UIDL and the position it served for
every message in new/ and cur/, print them, and (unless --dry-run) write
` + maildrop.OverrideName + ` in the Maildir, which popadm serve then uses.
Messages the old state does not cover keep popadm's own UIDL and are
listed with source "popadm": a client downloads them once more.
See docs/migration.md.`,
		Args: groupArgs,
		RunE: groupRun,
	}
	var dv migrateFlags
	dov := &cobra.Command{
		Use:   "dovecot MAILDIR",
		Short: "Migrate from Dovecot's dovecot-uidlist",
		Long: `Reads MAILDIR/dovecot-uidlist (version 1 or 3; --uidlist for a CONTROL=
directory) and computes each message's UIDL as Dovecot does: a stored P
field, else pop3_uidl_format expanded (get it with
"doveconf -f protocol=pop3 -h pop3_uidl_format"; the default %08Xu%08Xv is
UID and UIDVALIDITY in lower-case hex). Order: O fields first, then UID.
Files Dovecot never saw get the UIDs its next sync would have given them.
pop3_reuse_xuidl, pop3_uidl_duplicates=rename and pop3_deleted_flag are
not applied.`,
		Args: exactArgs(1, "MAILDIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.runMigrate(args[0], "dovecot", &dv)
		},
	}
	dov.Flags().StringVar(&dv.format, "uidl-format", migrate.DefaultDovecotFormat, "Dovecot's pop3_uidl_format")
	dov.Flags().StringVar(&dv.uidlist, "uidlist", "", "dovecot-uidlist `file` (default MAILDIR/dovecot-uidlist)")
	dov.Flags().BoolVar(&dv.dryRun, "dry-run", false, "print the report, write nothing")
	var cv migrateFlags
	cou := &cobra.Command{
		Use:   "courier MAILDIR",
		Short: "Migrate from Courier's courierpop3dsizelist",
		Long: `Reads MAILDIR/courierpop3dsizelist (versions 0 to 3) and keeps the UIDL
courierpop3d printed for each message ("UID<uid>-<uidv>" and older forms),
in Courier's order (seconds in the name, then the name).`,
		Args: exactArgs(1, "MAILDIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.runMigrate(args[0], "courier", &cv)
		},
	}
	cou.Flags().BoolVar(&cv.dryRun, "dry-run", false, "print the report, write nothing")
	cmd.AddCommand(dov, cou)
	return cmd
}

// runMigrate computes and reports the migration of one Maildir and writes
// the override file unless dry-run.
func (f *factory) runMigrate(dir, kind string, o *migrateFlags) error {
	names, err := listMaildirNames(dir)
	if err != nil {
		return &exitError{code: ExitNoInput, short: "maildir unreadable", fields: map[string]any{"maildir": dir}, err: err}
	}
	var entries map[string]migrate.Entry
	var state string
	switch kind {
	case "dovecot":
		if err := migrate.CheckFormat(o.format); err != nil {
			return usageErrorf("--uidl-format: %v", err)
		}
		state = o.uidlist
		if state == "" {
			state = filepath.Join(dir, "dovecot-uidlist")
		}
		list, err := readState(state, migrate.ParseDovecotUIDList)
		if err != nil {
			return err
		}
		if entries, err = migrate.DovecotUIDLs(list, names, o.format); err != nil {
			return &exitError{code: ExitDataErr, short: "bad uidl format", err: err}
		}
	case "courier":
		state = filepath.Join(dir, "courierpop3dsizelist")
		list, err := readState(state, migrate.ParseCourierSizeList)
		if err != nil {
			return err
		}
		entries = migrate.CourierUIDLs(list, names)
	}
	rows, overrides, err := migratePlan(names, entries)
	if err != nil {
		return &exitError{code: ExitDataErr, short: "uidl conflict", fields: map[string]any{"maildir": dir}, err: err}
	}
	kept := 0
	for _, r := range rows {
		if r.Order == 0 {
			kept++
		}
	}
	if !o.dryRun {
		if err := maildrop.WriteOverrides(dir, overrides); err != nil {
			return &exitError{code: ExitCantCreate, short: "cannot write " + maildrop.OverrideName, err: err}
		}
	}
	if f.jsonMode() {
		return f.printJSON(map[string]any{
			"ok": true, "maildir": dir, "from": kind, "state": state,
			"written": !o.dryRun, "migrated": len(overrides), "kept": kept, "messages": rows,
		})
	}
	table := make([][]string, 0, len(rows))
	for _, r := range rows {
		ord := "-"
		if r.Order > 0 {
			ord = strconv.Itoa(r.Order)
		}
		table = append(table, []string{r.Base, r.UIDL, ord, r.Source})
	}
	if err := f.printTable([]string{"BASE", "UIDL", "ORDER", "SOURCE"}, table); err != nil {
		return err
	}
	if !f.g.quiet {
		verb := "wrote " + filepath.Join(dir, maildrop.OverrideName)
		if o.dryRun {
			verb = "dry run, nothing written"
		}
		fmt.Fprintf(f.errOut, "popadm: %d message(s) migrated from %s, %d keep popadm's UIDL; %s\n",
			len(overrides), state, kept, verb)
		if kept > 0 {
			fmt.Fprintf(f.errOut, "popadm: the old state does not cover %d message(s) (source \"popadm\"): clients will download them once more\n", kept)
		}
	}
	return nil
}

// readState opens and parses an old server's state file.
func readState[T any](path string, parse func(r io.Reader) (T, error)) (T, error) {
	var zero T
	fh, err := os.Open(path)
	if err != nil {
		code := ExitFailure
		if errors.Is(err, fs.ErrNotExist) {
			code = ExitNoInput
		}
		return zero, &exitError{code: code, short: "state file unreadable", fields: map[string]any{"file": path}, err: err}
	}
	defer fh.Close()
	v, err := parse(fh)
	if err != nil {
		return zero, &exitError{code: ExitDataErr, short: "malformed state file", fields: map[string]any{"file": path}, err: err}
	}
	return v, nil
}

// listMaildirNames lists the message file names of new/ and cur/,
// skipping dot-files.
func listMaildirNames(dir string) ([]string, error) {
	var names []string
	for _, sub := range []string{"cur", "new"} {
		des, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return nil, fmt.Errorf("cli: migrate: %w", err)
		}
		for _, de := range des {
			if !strings.HasPrefix(de.Name(), ".") {
				names = append(names, de.Name())
			}
		}
	}
	return names, nil
}

// migratePlan turns the computed entries into report rows (migrated ones
// in order, then the others by name) and override entries, and refuses
// UIDLs that are invalid or shared by two different messages. A message
// not migrated keeps maildrop.DefaultUIDL; that equals a migrated UIDL
// only for the same base name (a %f format), which is harmless.
func migratePlan(names []string, entries map[string]migrate.Entry) ([]migrateRow, []maildrop.Override, error) {
	seen := map[string]bool{}
	var rows []migrateRow
	for _, n := range names {
		base, _, _ := strings.Cut(n, ":")
		if seen[base] {
			continue
		}
		seen[base] = true
		if e, ok := entries[base]; ok {
			if !maildrop.ValidUIDL(e.UIDL) {
				return nil, nil, fmt.Errorf("cli: migrate: %s: UIDL %q is not 1-70 octets of 0x21-0x7E", base, e.UIDL)
			}
			rows = append(rows, migrateRow{Base: base, UIDL: e.UIDL, Order: e.Order, Source: string(e.Source), UID: e.UID})
			continue
		}
		rows = append(rows, migrateRow{Base: base, UIDL: maildrop.DefaultUIDL(base), Source: "popadm"})
	}
	slices.SortFunc(rows, func(a, b migrateRow) int {
		switch {
		case a.Order > 0 && b.Order > 0:
			return a.Order - b.Order
		case a.Order > 0:
			return -1
		case b.Order > 0:
			return 1
		}
		return strings.Compare(a.Base, b.Base)
	})
	owner := map[string]string{}
	var list []maildrop.Override
	for _, r := range rows {
		if other, ok := owner[r.UIDL]; ok && other != r.Base {
			return nil, nil, fmt.Errorf("cli: migrate: UIDL %s would be shared by %s and %s", r.UIDL, other, r.Base)
		}
		owner[r.UIDL] = r.Base
		if r.Order > 0 {
			list = append(list, maildrop.Override{Base: r.Base, UIDL: r.UIDL, Order: r.Order})
		}
	}
	return rows, list, maildrop.CheckOverrides(list)
}
