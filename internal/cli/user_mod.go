package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/authdb"
)

type userModOptions struct {
	f    *factory
	name string
	mod  authdb.UserMod
}

func newCmdUserMod(f *factory, runF func(*userModOptions) error) *cobra.Command {
	o := &userModOptions{f: f}
	var (
		displayName, mechs, rename, maildrop, quota, expires string
		noPOP3, noPasswd                                     bool
	)
	cmd := &cobra.Command{
		Use:   "mod USER",
		Short: "Change account settings",
		Long: `Change the settings of an account; only the flags given are changed.

Changing --mechs takes effect for the credential set at the next password
change (or plaintext login): a mechanism whose credential is not stored yet
is refused as mechanism-unavailable until then.`,
		Example: `  popadm user mod alice@example.com --name "Alice Liddell" --quota 2G
  popadm user mod bob@example.com --mechs plain,scram-sha-256,cram-md5
  popadm user mod carol@example.com --no-passwd-change --rename carol.smith@example.com`,
		Args: exactArgs(1, "USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			fl := cmd.Flags()
			if fl.Changed("name") {
				o.mod.DisplayName = &displayName
			}
			if fl.Changed("mechs") {
				m := parseList(mechs)
				o.mod.Mechs = &m
			}
			if fl.Changed("rename") {
				o.mod.Rename = &rename
			}
			if fl.Changed("maildrop") {
				o.mod.Maildrop = &maildrop
			}
			if fl.Changed("no-pop3") {
				o.mod.NoPOP3 = &noPOP3
			}
			if fl.Changed("no-passwd-change") {
				o.mod.NoPasswd = &noPasswd
			}
			if fl.Changed("quota") {
				n, err := parseSize(quota)
				if err != nil {
					return usageErrorf("--quota: %v", err)
				}
				o.mod.QuotaBytes = &n
			}
			if fl.Changed("expires") {
				var t time.Time
				if expires != "never" && expires != "" {
					var err error
					if t, err = parseTime(expires); err != nil {
						return usageErrorf("--expires: %v", err)
					}
				}
				o.mod.Expires = &t
			}
			if o.mod == (authdb.UserMod{}) {
				return usageErrorf("user mod: nothing to change (see popadm user mod --help)")
			}
			if runF != nil {
				return runF(o)
			}
			return userModRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&displayName, "name", "", "display `name`")
	fl.StringVar(&mechs, "mechs", "", "mechanism `list`: plain, scram-sha-256, scram-sha-1, cram-md5, apop")
	fl.StringVar(&rename, "rename", "", "new login `name`")
	fl.StringVar(&maildrop, "maildrop", "", "per-user mail `dir` (\"\": the server's template)")
	fl.StringVar(&quota, "quota", "", "quota `size`, e.g. 500M (0: none)")
	fl.StringVar(&expires, "expires", "", "password expiry `date`, or never")
	fl.BoolVar(&noPOP3, "no-pop3", false, "refuse POP3 logins (--no-pop3=false allows them again)")
	fl.BoolVar(&noPasswd, "no-passwd-change", false, "refuse password changes via poppassd")
	return cmd
}

func userModRun(ctx context.Context, o *userModOptions) error {
	f := o.f
	subject := f.normalize(o.name)
	db, err := f.openDB(ctx, openNormal)
	if err != nil {
		return err
	}
	acct, err := db.ModifyUser(ctx, f.request(), o.name, o.mod)
	if err != nil {
		return withSubject(err, "user", subject)
	}
	return f.done(map[string]any{"user": acct.Name, "action": "modified"}, "modified user %s", acct.Name)
}

// newUserStateCmds returns disable, enable, lock, unlock, expire and
// must-change: one-flag changes of the account state.
func newUserStateCmds(f *factory) []*cobra.Command {
	var reason string
	disable := stateCmd(f, "disable USER", "Refuse every login of an account",
		`Disable the account: POP3 and poppassd refuse it (reason "disabled").
--reason is kept and shown by user show and the audit log.`,
		`  popadm user disable alice@example.com --reason "left the company"`,
		"disabled user %s",
		func() authdb.UserMod {
			t := true
			m := authdb.UserMod{Disabled: &t}
			if reason != "" {
				m.DisableNote = &reason
			}
			return m
		})
	disable.Flags().StringVar(&reason, "reason", "", "why the account is disabled (`text`)")

	enable := stateCmd(f, "enable USER", "Allow logins of a disabled account", "", `  popadm user enable alice@example.com`,
		"enabled user %s",
		func() authdb.UserMod {
			fa, empty := false, ""
			return authdb.UserMod{Disabled: &fa, DisableNote: &empty}
		})
	lock := stateCmd(f, "lock USER", "Lock an account",
		`Lock the account, as the lockout policy does after repeated failures.`,
		`  popadm user lock alice@example.com`, "locked user %s",
		func() authdb.UserMod { t := true; return authdb.UserMod{Locked: &t} })
	unlock := stateCmd(f, "unlock USER", "Unlock an account and clear its failure counter", "",
		`  popadm user unlock alice@example.com`, "unlocked user %s",
		func() authdb.UserMod { fa := false; return authdb.UserMod{Locked: &fa} })

	var now, never bool
	var at string
	expire := stateCmd(f, "expire USER", "Set or clear the password expiry",
		`Expire the password now (--now), at a date (--at), or never (--never).
An expired account cannot use POP3 ("password expired, change it via
poppassd") but can still change its password through poppassd.`,
		`  popadm user expire alice@example.com --now
  popadm user expire bob@example.com --at 2025-12-31`,
		"set password expiry of %s",
		nil)
	expire.Flags().BoolVar(&now, "now", false, "expire now")
	expire.Flags().StringVar(&at, "at", "", "expire at `date` (2025-12-31 or RFC 3339)")
	expire.Flags().BoolVar(&never, "never", false, "clear the expiry")
	expire.MarkFlagsMutuallyExclusive("now", "at", "never")
	expire.MarkFlagsOneRequired("now", "at", "never")
	setStateMod(f, expire, func() (authdb.UserMod, error) {
		var t time.Time
		switch {
		case now:
			t = f.now()
		case at != "":
			var err error
			if t, err = parseTime(at); err != nil {
				return authdb.UserMod{}, usageErrorf("--at: %v", err)
			}
		}
		return authdb.UserMod{Expires: &t}, nil
	})

	var clear bool
	mustChange := stateCmd(f, "must-change USER", "Require a password change before the next POP3 login",
		`Mark the password temporary: POP3 refuses it until the user changes it
via poppassd. --clear removes the mark.`,
		`  popadm user must-change alice@example.com`, "updated must-change of %s", nil)
	mustChange.Flags().BoolVar(&clear, "clear", false, "remove the mark")
	setStateMod(f, mustChange, func() (authdb.UserMod, error) {
		v := !clear
		return authdb.UserMod{MustChange: &v}, nil
	})
	return []*cobra.Command{disable, enable, lock, unlock, expire, mustChange}
}

// stateCmd builds a one-argument command that applies mod to the user.
func stateCmd(f *factory, use, short, long, example, doneMsg string, mod func() authdb.UserMod) *cobra.Command {
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: example,
		Args:    exactArgs(1, "USER"),
	}
	if long == "" {
		cmd.Long = short + "."
	}
	cmd.Annotations = map[string]string{"done": doneMsg}
	if mod != nil {
		setStateMod(f, cmd, func() (authdb.UserMod, error) { return mod(), nil })
	}
	return cmd
}

// setStateMod sets the RunE of a state command.
func setStateMod(f *factory, cmd *cobra.Command, mod func() (authdb.UserMod, error)) {
	cmd.RunE = func(c *cobra.Command, args []string) error {
		m, err := mod()
		if err != nil {
			return err
		}
		subject := f.normalize(args[0])
		db, err := f.openDB(c.Context(), openNormal)
		if err != nil {
			return err
		}
		acct, err := db.ModifyUser(c.Context(), f.request(), args[0], m)
		if err != nil {
			return withSubject(err, "user", subject)
		}
		return f.done(map[string]any{"user": acct.Name, "action": c.Name()}, c.Annotations["done"], acct.Name)
	}
}
