package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/authdb"
	"github.com/popadm/popadm/internal/pwscheme"
)

// userView is the JSON (and table) view of an account. It never holds a
// credential: only the names of the stored schemes.
type userView struct {
	User            string     `json:"user"`
	Local           string     `json:"local"`
	Domain          string     `json:"domain"`
	DisplayName     string     `json:"name,omitempty"`
	Status          string     `json:"status"`
	Disabled        bool       `json:"disabled"`
	DisableReason   string     `json:"disable_reason,omitempty"`
	DomainDisabled  bool       `json:"domain_disabled"`
	Locked          bool       `json:"locked"`
	MustChange      bool       `json:"must_change"`
	Expires         *time.Time `json:"expires,omitempty"`
	NoPOP3          bool       `json:"no_pop3"`
	NoPasswdChange  bool       `json:"no_passwd_change"`
	Mechs           []string   `json:"mechs"`
	Schemes         []string   `json:"schemes"`
	UsableMechs     []string   `json:"usable_mechs"`
	Scheme          string     `json:"scheme,omitempty"`
	Maildrop        string     `json:"maildrop,omitempty"`
	QuotaBytes      int64      `json:"quota_bytes"`
	Created         *time.Time `json:"created,omitempty"`
	PasswordChanged *time.Time `json:"password_changed,omitempty"`
	LastLogin       *time.Time `json:"last_login,omitempty"`
	Failures        int        `json:"failures"`
}

func newUserView(a *authdb.Account, now time.Time) userView {
	return userView{
		User: a.Name, Local: a.Local, Domain: a.Domain, DisplayName: a.DisplayName,
		Status: accountStatus(a, now), Disabled: a.Disabled, DisableReason: a.DisableNote,
		DomainDisabled: a.DomainDisabled, Locked: a.Locked, MustChange: a.MustChange,
		Expires: timePtr(a.Expires), NoPOP3: a.NoPOP3, NoPasswdChange: a.NoPasswd,
		Mechs: nonNil(a.Mechs), Schemes: nonNil(a.Schemes), UsableMechs: usableMechs(a),
		Scheme: a.Scheme, Maildrop: a.Maildrop, QuotaBytes: a.QuotaBytes,
		Created: timePtr(a.Created), PasswordChanged: timePtr(a.Changed),
		LastLogin: timePtr(a.LastLogin), Failures: a.Failures,
	}
}

// accountStatus is one word for the POP3 login state: active, locked,
// domain-disabled, disabled, no-pop3, expired or must-change.
func accountStatus(a *authdb.Account, now time.Time) string {
	err := a.Check(authdb.ServicePOP3, now)
	var ae *authdb.AuthError
	switch {
	case err == nil:
		return "active"
	case errors.As(err, &ae) && ae.Reason == authdb.ReasonNotAllowed:
		return "no-pop3"
	case errors.As(err, &ae):
		return string(ae.Reason)
	}
	return "unknown"
}

// usableMechs lists the mechanisms of the account's set that its stored
// credentials can serve now. A mechanism in the set without a credential
// (after a hash-only import, say) appears once the set is rewritten from a
// cleartext password.
func usableMechs(a *authdb.Account) []string {
	out := []string{}
	for _, m := range a.Mechs {
		for _, s := range a.Schemes {
			if info, ok := pwscheme.Lookup(s); ok && info.Verify && slices.Contains(info.Mechs, m) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// nothingMatched ends a list command whose result (already printed, maybe
// as an empty JSON array) is empty under --fail-empty: exit 68, with a note
// on stderr in table mode.
func (f *factory) nothingMatched(msg string) error {
	if !f.jsonMode() {
		fmt.Fprintf(f.errOut, "popadm: %s\n", msg)
	}
	return &exitError{code: ExitNoHost, short: msg, printed: true, err: errors.New(msg)}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newCmdUserShow(f *factory) *cobra.Command {
	return &cobra.Command{
		Use:   "show USER",
		Short: "Show an account",
		Long: `Show an account's state, mechanism set and stored credential schemes.
Hashes are never printed; "usable mechs" are the mechanisms of the set that
the stored credentials can serve.`,
		Example: `  popadm user show alice@example.com
  popadm user show alice@example.com --json | jq .status`,
		Args: exactArgs(1, "USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return userShowRun(cmd.Context(), f, args[0])
		},
	}
}

func userShowRun(ctx context.Context, f *factory, name string) error {
	db, err := f.openDB(ctx, openNormal)
	if err != nil {
		return err
	}
	acct, err := db.GetUser(ctx, name)
	if err != nil {
		return withSubject(err, "user", f.normalize(name))
	}
	v := newUserView(acct, f.now())
	if f.jsonMode() {
		return f.printJSON(v)
	}
	quota := "none"
	if v.QuotaBytes > 0 {
		quota = fmt.Sprintf("%d bytes", v.QuotaBytes)
	}
	scheme := v.Scheme
	if scheme == "" {
		scheme = "(policy default)"
	}
	status := v.Status
	if v.DisableReason != "" && v.Disabled {
		status += " (" + v.DisableReason + ")"
	}
	return f.printPairs([][2]string{
		{"user", v.User},
		{"name", v.DisplayName},
		{"status", status},
		{"mechs", strings.Join(v.Mechs, " ")},
		{"stored schemes", strings.Join(v.Schemes, " ")},
		{"usable mechs", strings.Join(v.UsableMechs, " ")},
		{"scheme", scheme},
		{"locked", yesNo(v.Locked)},
		{"must change", yesNo(v.MustChange)},
		{"expires", fmtTime(acct.Expires, "never")},
		{"no pop3", yesNo(v.NoPOP3)},
		{"no passwd change", yesNo(v.NoPasswdChange)},
		{"maildrop", v.Maildrop},
		{"quota", quota},
		{"created", fmtTime(acct.Created, "-")},
		{"password changed", fmtTime(acct.Changed, "never")},
		{"last login", fmtTime(acct.LastLogin, "never")},
		{"failures", fmt.Sprint(v.Failures)},
	})
}

type userListOptions struct {
	f         *factory
	filter    authdb.UserFilter
	failEmpty bool
}

func newCmdUserList(f *factory, runF func(*userListOptions) error) *cobra.Command {
	o := &userListOptions{f: f}
	var inactive string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List accounts",
		Long: `List accounts, optionally filtered. Filters combine (AND). With
--fail-empty, an empty result exits 68.`,
		Example: `  popadm user list --domain example.com
  popadm user list --inactive 90d -o tsv | cut -f1
  popadm user list --locked --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if inactive != "" {
				d, err := parseDuration(inactive)
				if err != nil {
					return usageErrorf("--inactive: %v", err)
				}
				o.filter.Inactive = d
			}
			if runF != nil {
				return runF(o)
			}
			return userListRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.filter.Domain, "domain", "", "only users of `domain`")
	fl.BoolVar(&o.filter.Disabled, "disabled", false, "only disabled users")
	fl.BoolVar(&o.filter.Locked, "locked", false, "only locked users")
	fl.BoolVar(&o.filter.Expired, "expired", false, "only expired or must-change users")
	fl.StringVar(&inactive, "inactive", "", "only users without a login for `duration` (e.g. 90d)")
	fl.BoolVar(&o.failEmpty, "fail-empty", false, "exit 68 when no user matches")
	return cmd
}

func userListRun(ctx context.Context, o *userListOptions) error {
	f := o.f
	db, err := f.openDB(ctx, openNormal)
	if err != nil {
		return err
	}
	if o.filter.Domain != "" {
		if _, err := db.GetDomain(ctx, o.filter.Domain); err != nil {
			return withSubject(err, "domain", o.filter.Domain)
		}
	}
	accts, err := db.ListUsers(ctx, o.filter)
	if err != nil {
		return withSubject(err, "domain", o.filter.Domain)
	}
	now := f.now()
	if f.jsonMode() {
		out := make([]userView, 0, len(accts))
		for i := range accts {
			out = append(out, newUserView(&accts[i], now))
		}
		if err := f.printJSON(out); err != nil {
			return err
		}
	} else {
		rows := make([][]string, 0, len(accts))
		for i := range accts {
			a := &accts[i]
			rows = append(rows, []string{a.Name, accountStatus(a, now), strings.Join(a.Mechs, ","),
				strings.Join(a.Schemes, ","), fmtTime(a.LastLogin, "never")})
		}
		if err := f.printTable([]string{"USER", "STATUS", "MECHS", "STORED", "LAST LOGIN"}, rows); err != nil {
			return err
		}
	}
	if len(accts) == 0 && o.failEmpty {
		return f.nothingMatched("no user matched")
	}
	return nil
}
