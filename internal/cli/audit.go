package cli

import (
	"github.com/spf13/cobra"

	"github.com/popadm/popadm/authdb"
)

func newCmdAudit(f *factory) *cobra.Command {
	var filter authdb.AuditFilter
	var since string
	var failEmpty bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log",
		Long: `Show the audit log, newest first: every change made by popadm (with the
--actor), poppassd password changes, and automatic locks. Logins are
logged by the daemons, not here. No row holds a secret.`,
		Example: `  popadm audit --since 24h
  popadm audit --user alice@example.com --action passwd --json
  popadm audit --since 2025-01-01 --limit 1000 -o tsv`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if since != "" {
				t, err := parseSince(since, f.now())
				if err != nil {
					return usageErrorf("%v", err)
				}
				filter.Since = t
			}
			if filter.Limit < 0 {
				return usageErrorf("--limit must not be negative")
			}
			if filter.User != "" {
				filter.User = f.normalize(filter.User)
			}
			db, err := f.openDB(c.Context(), openNormal)
			if err != nil {
				return err
			}
			entries, err := db.Audit(c.Context(), filter)
			if err != nil {
				return err
			}
			if f.jsonMode() {
				if entries == nil {
					entries = []authdb.AuditEntry{}
				}
				if err := f.printJSON(entries); err != nil {
					return err
				}
			} else {
				rows := make([][]string, 0, len(entries))
				for _, e := range entries {
					rows = append(rows, []string{fmtTime(e.Time, "-"), e.Actor, e.Service, e.Action, e.Target, e.Result, e.Remote, e.Detail})
				}
				if err := f.printTable([]string{"TIME", "ACTOR", "SERVICE", "ACTION", "TARGET", "RESULT", "REMOTE", "DETAIL"}, rows); err != nil {
					return err
				}
			}
			if len(entries) == 0 && failEmpty {
				return f.nothingMatched("no audit entry matched")
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&filter.User, "user", "", "only entries about `user`")
	fl.StringVar(&since, "since", "", "only entries since `when`: a duration (24h, 7d) or a date")
	fl.StringVar(&filter.Action, "action", "", "only `action`: add, del, mod, passwd, lock, unlock, rehash, import, domain-add, domain-del, domain-mod, policy")
	fl.IntVar(&filter.Limit, "limit", 100, "at most `n` entries")
	fl.BoolVar(&failEmpty, "fail-empty", false, "exit 68 when no entry matches")
	return cmd
}
