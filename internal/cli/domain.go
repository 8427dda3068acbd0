package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/authdb"
)

// domainView is the JSON view of a domain.
type domainView struct {
	Domain      string     `json:"domain"`
	Disabled    bool       `json:"disabled"`
	Description string     `json:"description,omitempty"`
	Created     *time.Time `json:"created,omitempty"`
	Users       int        `json:"users"`
}

func newDomainView(d *authdb.Domain) domainView {
	return domainView{Domain: d.Name, Disabled: d.Disabled, Description: d.Description,
		Created: timePtr(d.Created), Users: d.Users}
}

func newCmdDomain(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "domain",
		Short: "Manage mail domains",
		Args:  groupArgs,
		RunE:  groupRun,
	}

	var desc string
	var disabled bool
	add := &cobra.Command{
		Use:     "add DOMAIN",
		Short:   "Add a domain",
		Example: `  popadm domain add example.com --description "main domain"`,
		Args:    exactArgs(1, "DOMAIN"),
		RunE: func(c *cobra.Command, args []string) error {
			db, err := f.openDB(c.Context(), openNormal)
			if err != nil {
				return err
			}
			d := authdb.Domain{Name: args[0], Description: desc, Disabled: disabled}
			if err := db.AddDomain(c.Context(), f.request(), d); err != nil {
				return withSubject(err, "domain", args[0])
			}
			return f.done(map[string]any{"domain": args[0], "action": "added"}, "added domain %s", args[0])
		},
	}
	add.Flags().StringVar(&desc, "description", "", "free `text`")
	add.Flags().BoolVar(&disabled, "disabled", false, "create the domain disabled")

	var yes bool
	del := &cobra.Command{
		Use:     "del DOMAIN",
		Aliases: []string{"delete", "rm"},
		Short:   "Delete an empty domain",
		Long: `Delete a domain that has no users (exit 65 while it has some). --yes is
required when standard input is not a terminal.`,
		Example: `  popadm domain del old.example.com --yes`,
		Args:    exactArgs(1, "DOMAIN"),
		RunE: func(c *cobra.Command, args []string) error {
			db, err := f.openDB(c.Context(), openNormal)
			if err != nil {
				return err
			}
			if _, err := db.GetDomain(c.Context(), args[0]); err != nil {
				return withSubject(err, "domain", args[0])
			}
			if err := f.confirm(yes, fmt.Sprintf("Delete domain %s?", args[0])); err != nil {
				return withSubject(err, "domain", args[0])
			}
			if err := db.DeleteDomain(c.Context(), f.request(), args[0]); err != nil {
				return withSubject(err, "domain", args[0])
			}
			return f.done(map[string]any{"domain": args[0], "action": "deleted"}, "deleted domain %s", args[0])
		},
	}
	del.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")

	var modDesc string
	var modDisabled bool
	mod := &cobra.Command{
		Use:   "mod DOMAIN",
		Short: "Change a domain",
		Long: `Change a domain. A disabled domain refuses every login of its users
(reason domain-disabled).`,
		Example: `  popadm domain mod example.com --disabled
  popadm domain mod example.com --disabled=false --description "back"`,
		Args: exactArgs(1, "DOMAIN"),
		RunE: func(c *cobra.Command, args []string) error {
			var m authdb.DomainMod
			if c.Flags().Changed("description") {
				m.Description = &modDesc
			}
			if c.Flags().Changed("disabled") {
				m.Disabled = &modDisabled
			}
			if m == (authdb.DomainMod{}) {
				return usageErrorf("domain mod: nothing to change (see popadm domain mod --help)")
			}
			db, err := f.openDB(c.Context(), openNormal)
			if err != nil {
				return err
			}
			d, err := db.ModifyDomain(c.Context(), f.request(), args[0], m)
			if err != nil {
				return withSubject(err, "domain", args[0])
			}
			return f.done(map[string]any{"domain": d.Name, "action": "modified"}, "modified domain %s", d.Name)
		},
	}
	mod.Flags().StringVar(&modDesc, "description", "", "free `text`")
	mod.Flags().BoolVar(&modDisabled, "disabled", false, "disable the domain (--disabled=false enables it)")

	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List domains",
		Example: `  popadm domain list --json`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			db, err := f.openDB(c.Context(), openNormal)
			if err != nil {
				return err
			}
			ds, err := db.ListDomains(c.Context())
			if err != nil {
				return err
			}
			if f.jsonMode() {
				out := make([]domainView, 0, len(ds))
				for i := range ds {
					out = append(out, newDomainView(&ds[i]))
				}
				return f.printJSON(out)
			}
			rows := make([][]string, 0, len(ds))
			for _, d := range ds {
				status := "active"
				if d.Disabled {
					status = "disabled"
				}
				rows = append(rows, []string{d.Name, status, fmt.Sprint(d.Users), d.Description})
			}
			return f.printTable([]string{"DOMAIN", "STATUS", "USERS", "DESCRIPTION"}, rows)
		},
	}

	show := &cobra.Command{
		Use:     "show DOMAIN",
		Short:   "Show a domain",
		Example: `  popadm domain show example.com`,
		Args:    exactArgs(1, "DOMAIN"),
		RunE: func(c *cobra.Command, args []string) error {
			db, err := f.openDB(c.Context(), openNormal)
			if err != nil {
				return err
			}
			d, err := db.GetDomain(c.Context(), args[0])
			if err != nil {
				return withSubject(err, "domain", args[0])
			}
			if f.jsonMode() {
				return f.printJSON(newDomainView(d))
			}
			return f.printPairs([][2]string{
				{"domain", d.Name},
				{"disabled", yesNo(d.Disabled)},
				{"users", fmt.Sprint(d.Users)},
				{"description", d.Description},
				{"created", fmtTime(d.Created, "-")},
			})
		},
	}
	cmd.AddCommand(add, del, mod, list, show)
	return cmd
}
