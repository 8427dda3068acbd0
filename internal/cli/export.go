package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/authdb"
	"github.com/popadm/popadm/internal/importfmt"
)

// exportFormats are the formats of popadm export.
var exportFormats = []string{"csv", "json", "dovecot-passwd"}

type exportOptions struct {
	f             *factory
	format        string
	includeHashes bool
	prefer        []string
	domain        string
	outFile       string
}

func newCmdExport(f *factory, runF func(*exportOptions) error) *cobra.Command {
	o := &exportOptions{f: f}
	var prefer string
	cmd := &cobra.Command{
		Use:   "export csv|json|dovecot-passwd",
		Short: "Export accounts",
		Long: `Write every account (or those of --domain) to standard output or --file.

csv and json carry the account settings; hashes only with
--include-hashes. dovecot-passwd always carries one hash per user, since it
is a working Dovecot passwd-file passdb ("user:{SCHEME}value::::::", with
"nologin" for disabled accounts): the slowest stored verifier is chosen,
or the first of --prefer that the user has. The csv export with
--include-hashes reads back with popadm import csv.

Hashes (and a {PLAIN} credential for APOP accounts) are secrets: a --file
is created with mode 0600.`,
		Example: `  popadm export dovecot-passwd > /etc/dovecot/users
  popadm export csv --include-hashes --file accounts.csv
  popadm export json --domain example.com | jq '.[].user'`,
		Args: exactArgs(1, "FORMAT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.format = args[0]
			if !containsStr(exportFormats, o.format) {
				return usageErrorf("unknown export format %q (want %s)", o.format, strings.Join(exportFormats, ", "))
			}
			if prefer != "" {
				for _, p := range strings.Split(prefer, ",") {
					o.prefer = append(o.prefer, strings.ToUpper(strings.TrimSpace(p)))
				}
			}
			if runF != nil {
				return runF(o)
			}
			return exportRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.includeHashes, "include-hashes", false, "include credentials (csv, json)")
	fl.StringVar(&prefer, "prefer", "", "scheme `list` to pick first for the single hash column, e.g. PLAIN or SHA512-CRYPT")
	fl.StringVar(&o.domain, "domain", "", "only users of `domain`")
	fl.StringVarP(&o.outFile, "file", "f", "", "write to `file` (mode 0600) instead of standard output")
	return cmd
}

func exportRun(ctx context.Context, o *exportOptions) error {
	f := o.f
	db, err := f.openDB(ctx, openNormal)
	if err != nil {
		return err
	}
	accts, err := db.Export(ctx)
	if err != nil {
		return err
	}
	domain := strings.ToLower(o.domain)
	if domain != "" {
		if _, err := db.GetDomain(ctx, domain); err != nil {
			return withSubject(err, "domain", domain)
		}
	}
	recs := make([]importfmt.ExportRecord, 0, len(accts))
	for i := range accts {
		a := &accts[i]
		if domain != "" && a.Domain != domain {
			continue
		}
		r := exportRecord(a)
		if o.format == "dovecot-passwd" || o.includeHashes {
			r.Credentials = credentialList(a)
			r.Hash = importfmt.PreferredHash(r.Credentials, o.prefer...)
		}
		if o.format == "dovecot-passwd" && r.Hash == "" {
			fmt.Fprintf(f.errOut, "popadm: warning: user %s has no stored credential; left out\n", a.Name)
			continue
		}
		recs = append(recs, r)
	}
	importfmt.SortRecords(recs)

	w := f.out
	var fh *os.File
	if o.outFile != "" {
		fh, err = os.OpenFile(o.outFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return failf(ExitFailure, "cannot write output file", "export: %v", err)
		}
		w = fh
	}
	err = writeExport(w, o.format, recs, o.includeHashes)
	if fh != nil {
		if cerr := fh.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		return failf(ExitFailure, "export failed", "export: %s", cleanMessage(err.Error()))
	}
	if fh != nil && !f.g.quiet {
		fmt.Fprintf(f.errOut, "popadm: exported %d user(s) to %s\n", len(recs), o.outFile)
	}
	return nil
}

func writeExport(w io.Writer, format string, recs []importfmt.ExportRecord, includeHashes bool) error {
	switch format {
	case "csv":
		return importfmt.WriteCSV(w, recs, includeHashes)
	case "json":
		return importfmt.WriteJSON(w, recs, includeHashes)
	}
	return importfmt.WriteDovecotPasswd(w, recs)
}

func exportRecord(a *authdb.Account) importfmt.ExportRecord {
	return importfmt.ExportRecord{
		User: a.Name, DisplayName: a.DisplayName, Disabled: a.Disabled, DisableReason: a.DisableNote,
		Locked: a.Locked, MustChange: a.MustChange, NoPOP3: a.NoPOP3, NoPasswdChange: a.NoPasswd,
		Expires: a.Expires, Created: a.Created, Changed: a.Changed, LastLogin: a.LastLogin,
		Failures: a.Failures, Mechs: a.Mechs, Schemes: a.Schemes, Maildrop: a.Maildrop,
		QuotaBytes: a.QuotaBytes,
	}
}

// credentialList returns the stored credentials sorted by scheme name.
func credentialList(a *authdb.Account) []string {
	keys := make([]string, 0, len(a.Credentials))
	for k := range a.Credentials {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, a.Credentials[k])
	}
	return out
}
