package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/internal/socketmap"
)

func init() {
	extraCommands = append(extraCommands, newCmdPostfix)
}

func newCmdPostfix(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "postfix",
		Short: "Postfix integration helpers",
		Args:  groupArgs,
		RunE:  groupRun,
	}
	var location, out string
	mm := &cobra.Command{
		Use:   "mailbox-map",
		Short: "Write virtual(8)'s mailbox table from the socketmap's answers",
		Long: `Print (or write to --file, atomically) one "address path" line per account
that popadm's socketmap answers OK for, in the form Postfix's texthash:
tables read. Postfix's virtual(8) refuses unauthenticated maps such as
socketmap for the mailbox path, so it reads this local table while smtpd
validates recipients through the socketmap; both come from the same code,
so they never disagree. Run it after adding, removing or moving accounts,
then "postfix reload". --mail-location must be the one popadm serve uses.`,
		Example: `  popadm postfix mailbox-map --mail-location 'maildir:/var/vmail/%d/%n' --file /etc/postfix/popadm-vmailbox && postfix reload`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			db, err := f.openDB(ctx, openNormal)
			if err != nil {
				return err
			}
			sm, err := socketmap.New(socketmap.Options{Store: db, MailLocation: location})
			if err != nil {
				return usageErrorf("--mail-location: %v", err)
			}
			users, err := db.Export(ctx)
			if err != nil {
				return err
			}
			var b strings.Builder
			for _, u := range users {
				if r := sm.Lookup(ctx, "mailbox", u.Name); r.Status == "OK" {
					fmt.Fprintf(&b, "%s %s\n", u.Name, r.Data)
				}
			}
			if out == "" {
				_, err := fmt.Fprint(f.out, b.String())
				return err
			}
			tmp := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp")
			if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, out)
		},
	}
	mm.Flags().StringVar(&location, "mail-location", "maildir:/var/vmail/%d/%n", "the mail location template popadm serve uses")
	mm.Flags().StringVarP(&out, "file", "f", "", "write the table to this file (atomically) instead of standard output")
	cmd.AddCommand(mm)
	return cmd
}
