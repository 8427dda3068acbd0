package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/authdb"
	"github.com/popadm/popadm/internal/importfmt"
	"github.com/popadm/popadm/internal/pwscheme"
)

// progressThreshold is the number of rows from which import draws a
// progress bar (only when stderr is a terminal).
const progressThreshold = 1000

type importOptions struct {
	f             *factory
	format        string
	file          string
	dryRun        bool
	onConflict    string
	createDomains bool
	domain        string
	bareScheme    string
}

func newCmdImport(f *factory, runF func(*importOptions) error) *cobra.Command {
	o := &importOptions{f: f}
	cmd := &cobra.Command{
		Use:   "import FORMAT FILE|-",
		Short: "Import accounts with their existing hashes",
		Long: `Import accounts from a Dovecot passwd-file (dovecot-passwd), an Apache
htpasswd file (htpasswd) or a CSV file (csv), in one transaction.

Existing hashes are kept as they are: "{SCHEME}value" strings, and bare
crypt strings ($1$, $2y$, $5$, $6$, $y$, $argon2i$, $argon2id$) which get
their scheme. Such accounts can log in with plaintext mechanisms at once;
their other credentials (SCRAM, CRAM-MD5...) are written at the next
successful plaintext login or password change. CSV rows may instead carry
a cleartext "password" column, which is hashed into the full set.

Every row is checked before anything is written; the report names each
bad row by its line number. With a bad row nothing is imported, unless
--on-conflict skip, which skips bad rows and existing users alike.
--on-conflict update replaces the hash (and name) of existing users;
fail (the default) refuses the whole import when a user exists.
--dry-run runs the transaction and rolls it back.

CSV columns (header required): user, hash or password, and optionally
name, disabled, maildrop; other columns (such as those written by export
csv) are ignored.`,
		Example: `  popadm import dovecot-passwd /etc/dovecot/users --dry-run
  popadm import htpasswd .htpasswd --default-domain example.com --create-domains
  popadm export csv --include-hashes | popadm --db new.db import csv - --on-conflict update`,
		Args: exactArgs(2, "FORMAT FILE|-"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.format, o.file = args[0], args[1]
			if !containsStr(importfmt.Formats(), o.format) {
				return usageErrorf("unknown import format %q (want %s)", o.format, strings.Join(importfmt.Formats(), ", "))
			}
			switch o.onConflict {
			case "fail", "skip", "update":
			default:
				return usageErrorf("--on-conflict must be skip, update or fail, not %q", o.onConflict)
			}
			if runF != nil {
				return runF(o)
			}
			return importRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.dryRun, "dry-run", "n", false, "check and report, change nothing")
	fl.StringVar(&o.onConflict, "on-conflict", "fail", "existing users and bad rows: `mode` skip, update or fail")
	fl.BoolVar(&o.createDomains, "create-domains", false, "create missing domains")
	fl.StringVar(&o.domain, "domain", "", "`domain` for names without @ (default --default-domain)")
	fl.StringVar(&o.bareScheme, "bare-scheme", "", "`scheme` of password fields without {SCHEME} that are no crypt string (Dovecot default_pass_scheme)")
	return cmd
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// importReport is the JSON form of an import report.
type importReport struct {
	OK      bool                  `json:"ok"`
	Code    int                   `json:"code"`
	DryRun  bool                  `json:"dry_run"`
	File    string                `json:"file"`
	Format  string                `json:"format"`
	Added   int                   `json:"added"`
	Updated int                   `json:"updated"`
	Skipped int                   `json:"skipped"`
	Failed  int                   `json:"failed"`
	Error   string                `json:"error,omitempty"`
	Rows    []authdb.ImportResult `json:"rows"`
}

func importRun(ctx context.Context, o *importOptions) error {
	f := o.f
	if o.bareScheme != "" {
		if _, ok := pwscheme.Lookup(o.bareScheme); !ok {
			return &exitError{code: ExitDataErr, short: "unknown password scheme", fields: map[string]any{"scheme": o.bareScheme},
				err: fmt.Errorf("--bare-scheme: unknown password scheme %q", o.bareScheme)}
		}
	}
	var in io.Reader
	if o.file == "-" {
		in = f.stdinReader()
	} else {
		fh, err := os.Open(o.file)
		if err != nil {
			return inputFileError(o.file, err)
		}
		defer fh.Close()
		in = fh
	}
	parsed, err := importfmt.Parse(o.format, in, importfmt.Options{BareScheme: o.bareScheme})
	if err != nil {
		if errors.Is(err, importfmt.ErrBadHeader) || errors.Is(err, importfmt.ErrUnknownFormat) {
			return &exitError{code: ExitDataErr, short: shortText(err), fields: map[string]any{"file": o.file}, err: err}
		}
		return inputFileError(o.file, err)
	}
	for _, c := range parsed.IgnoredColumns {
		if !f.g.quiet && !f.jsonMode() {
			fmt.Fprintf(f.errOut, "popadm: note: ignoring CSV column %q\n", c)
		}
	}
	db, err := f.openDB(ctx, openNormal)
	if err != nil {
		return err
	}

	domain := o.domain
	if domain == "" {
		domain = f.g.defaultDomain
	}
	var bad []authdb.ImportResult
	for _, e := range parsed.Errors {
		bad = append(bad, authdb.ImportResult{Line: e.Line, Name: e.User, Action: "failed", Error: e.Msg})
	}
	seen := map[string]int{}
	rows := make([]authdb.ImportRow, 0, len(parsed.Records))
	for _, r := range parsed.Records {
		name, err := authdb.Normalize(r.User, domain)
		if err != nil {
			bad = append(bad, authdb.ImportResult{Line: r.Line, Name: r.User, Action: "failed", Error: cleanMessage(err.Error())})
			continue
		}
		if r.Hash != "" {
			if err := pwscheme.Validate(r.Hash); err != nil {
				bad = append(bad, authdb.ImportResult{Line: r.Line, Name: name, Action: "failed", Error: cleanMessage(err.Error())})
				continue
			}
		}
		if first, dup := seen[name]; dup {
			bad = append(bad, authdb.ImportResult{Line: r.Line, Name: name, Action: "failed",
				Error: fmt.Sprintf("duplicate of line %d", first)})
			continue
		}
		seen[name] = r.Line
		rows = append(rows, authdb.ImportRow{Line: r.Line, Name: name, Hash: r.Hash, Password: r.Password,
			DisplayName: r.DisplayName, Disabled: r.Disabled, Maildrop: r.Maildrop})
	}

	sort.SliceStable(bad, func(i, j int) bool { return bad[i].Line < bad[j].Line })
	rep := &importReport{DryRun: o.dryRun, File: o.file, Format: o.format}
	if len(bad) > 0 && o.onConflict != "skip" {
		rep.Rows, rep.Failed = bad, len(bad)
		rep.Code = ExitDataErr
		rep.Error = fmt.Sprintf("%d bad row(s); nothing imported (--on-conflict skip imports the good rows)", len(bad))
		return f.printImport(rep)
	}
	for i := range bad {
		bad[i].Action = "skipped"
	}

	opts := authdb.ImportOptions{OnConflict: o.onConflict, DryRun: o.dryRun, CreateDomain: o.createDomains}
	var bar *progressBar
	if len(rows) >= progressThreshold && f.stderrIsTerminal() {
		bar = &progressBar{w: f.errOut}
		opts.Progress = bar.update
	}
	res, ierr := db.Import(ctx, f.request(), rows, opts)
	bar.finish()
	if res == nil {
		if ierr == nil {
			ierr = errors.New("import returned no report")
		}
		return withSubject(ierr, "file", o.file)
	}
	rep.Rows = append(append([]authdb.ImportResult{}, res.Rows...), bad...)
	for i := range rep.Rows {
		rep.Rows[i].Error = cleanMessage(rep.Rows[i].Error)
	}
	sort.SliceStable(rep.Rows, func(i, j int) bool { return rep.Rows[i].Line < rep.Rows[j].Line })
	rep.Added, rep.Updated, rep.Skipped, rep.Failed = res.Added, res.Updated, res.Skipped+len(bad), res.Failed
	switch {
	case ierr != nil:
		rep.Code = exitCodeFor(ierr)
		if rep.Code == ExitFailure && res.Failed > 0 {
			rep.Code = ExitDataErr
		}
		rep.Error = cleanMessage(ierr.Error())
	case res.Failed > 0:
		rep.Code = importFailCode(res)
		rep.Error = fmt.Sprintf("%d row(s) failed; nothing imported", res.Failed)
	}
	return f.printImport(rep)
}

// importFailCode is 73 when every failed row is an existing user (under
// --on-conflict fail), else 65.
func importFailCode(res *authdb.ImportReport) int {
	exists := 0
	for _, r := range res.Rows {
		if r.Action == "failed" && strings.Contains(r.Error, "exists") {
			exists++
		}
	}
	if exists > 0 && exists == res.Failed {
		return ExitCantCreate
	}
	return ExitDataErr
}

// printImport writes the report and returns the exit status it carries.
func (f *factory) printImport(rep *importReport) error {
	rep.OK = rep.Code == 0
	if rep.Rows == nil {
		rep.Rows = []authdb.ImportResult{}
	}
	if f.jsonMode() {
		if err := f.printJSON(rep); err != nil {
			return err
		}
	} else {
		rows := make([][]string, 0, len(rep.Rows))
		for _, r := range rep.Rows {
			if f.g.quiet && r.Action != "failed" {
				continue
			}
			rows = append(rows, []string{fmt.Sprint(r.Line), r.Name, r.Action, r.Error})
		}
		if len(rows) > 0 {
			if err := f.printTable([]string{"LINE", "USER", "ACTION", "ERROR"}, rows); err != nil {
				return err
			}
		}
		if !f.g.quiet || !rep.OK {
			summary := fmt.Sprintf("added %d, updated %d, skipped %d, failed %d", rep.Added, rep.Updated, rep.Skipped, rep.Failed)
			if rep.DryRun {
				summary += " (dry run: nothing changed)"
			}
			fmt.Fprintln(f.out, summary)
		}
		if !rep.OK {
			fmt.Fprintf(f.errOut, "popadm: import %s: %s\n", rep.File, rep.Error)
		}
	}
	if rep.OK {
		return nil
	}
	return &exitError{code: rep.Code, short: "import failed", printed: true, err: errors.New(rep.Error)}
}

// progressBar draws "import: done/total [####    ] pct%" on a terminal.
type progressBar struct {
	w    io.Writer
	last int // last percentage drawn, +1
}

func (b *progressBar) update(done, total int) {
	if total <= 0 {
		return
	}
	pct := done * 100 / total
	if pct+1 == b.last {
		return
	}
	b.last = pct + 1
	const width = 30
	fill := pct * width / 100
	fmt.Fprintf(b.w, "\rimport: %d/%d [%s%s] %3d%%", done, total, strings.Repeat("#", fill), strings.Repeat(" ", width-fill), pct)
}

func (b *progressBar) finish() {
	if b != nil && b.last > 0 {
		fmt.Fprintln(b.w)
	}
}
