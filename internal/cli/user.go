package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/authdb"
	"github.com/popadm/popadm/internal/pwscheme"
)

func newCmdUser(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage accounts",
		Long: `Manage POP3/poppassd accounts in the account database.

A user name is "local@domain"; a name without "@" gets --default-domain.
The commands work only with the SQLite store; a PAM backend is managed with
the system's own tools.`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(
		newCmdUserAdd(f, nil),
		newCmdUserPasswd(f, nil),
		newCmdUserDel(f, nil),
		newCmdUserMod(f, nil),
		newCmdUserShow(f),
		newCmdUserList(f, nil),
	)
	cmd.AddCommand(newUserStateCmds(f)...)
	return cmd
}

type userAddOptions struct {
	f            *factory
	name         string
	pw           pwFlags
	displayName  string
	mechs        []string // nil: store default
	scheme       string
	disabled     bool
	mustChange   bool
	ifNotExists  bool
	createDomain bool
	skipPolicy   bool
	expires      time.Time
	maildrop     string
	quota        int64
}

func newCmdUserAdd(f *factory, runF func(*userAddOptions) error) *cobra.Command {
	o := &userAddOptions{f: f}
	var mechs, expires, quota string
	cmd := &cobra.Command{
		Use:   "add USER",
		Short: "Create an account",
		Long: `Create an account with its whole credential set in one step.

The password comes from a no-echo prompt (on a terminal), one line of
standard input, --password-stdin, --password-file, --random or --hash. With
a cleartext password popadm stores one slow verifier (--scheme, default
from the policy) plus one credential for each mechanism in --mechs; with
--hash only that hash is stored and the rest fills at the next login.`,
		Example: `  printf '%s\n' "$PW" | popadm user add alice@example.com --password-stdin
  popadm user add bob@example.com --random --mechs plain,scram-sha-256,apop
  popadm user add carol@example.com --hash '{SHA512-CRYPT}$6$...' --if-not-exists`,
		Args: exactArgs(1, "USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			if err := o.pw.check(); err != nil {
				return err
			}
			if cmd.Flags().Changed("mechs") {
				o.mechs = parseList(mechs)
			}
			if expires != "" {
				t, err := parseTime(expires)
				if err != nil {
					return usageErrorf("--expires: %v", err)
				}
				o.expires = t
			}
			if quota != "" {
				n, err := parseSize(quota)
				if err != nil {
					return usageErrorf("--quota: %v", err)
				}
				o.quota = n
			}
			if runF != nil {
				return runF(o)
			}
			return userAddRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	addPasswordFlags(fl, &o.pw, pwKinds{random: true, hash: true})
	fl.StringVar(&o.displayName, "name", "", "display `name`")
	fl.StringVar(&mechs, "mechs", "", "mechanism `list`: plain, scram-sha-256, scram-sha-1, cram-md5, apop (default from the policy)")
	fl.StringVar(&o.scheme, "scheme", "", "slow-verifier `scheme`, e.g. ARGON2ID, BLF-CRYPT, SHA512-CRYPT (default from the policy)")
	fl.BoolVar(&o.disabled, "disabled", false, "create the account disabled")
	fl.BoolVar(&o.mustChange, "must-change", false, "the password must be changed (via poppassd) before POP3 use")
	fl.StringVar(&expires, "expires", "", "the password expires at `date` (2025-12-31 or RFC 3339)")
	fl.StringVar(&o.maildrop, "maildrop", "", "per-user mail `dir` (default: the server's template)")
	fl.StringVar(&quota, "quota", "", "quota `size`, e.g. 500M (0: none)")
	fl.BoolVar(&o.ifNotExists, "if-not-exists", false, "succeed without change when the user exists")
	fl.BoolVar(&o.createDomain, "create-domain", false, "create the domain when it does not exist")
	fl.BoolVar(&o.skipPolicy, "skip-policy", false, "do not apply the password policy (admin override)")
	return cmd
}

func userAddRun(ctx context.Context, o *userAddOptions) error {
	f := o.f
	subject := f.normalize(o.name)
	if err := checkScheme(o.scheme); err != nil {
		return withSubject(err, "user", subject)
	}
	db, err := f.openDB(ctx, openNormal)
	if err != nil {
		return err
	}
	if o.ifNotExists {
		if acct, err := db.GetUser(ctx, o.name); err == nil {
			return f.done(map[string]any{"user": acct.Name, "action": "exists"}, "user %s already exists", acct.Name)
		} else if !errors.Is(err, authdb.ErrNoSuchUser) {
			return withSubject(err, "user", subject)
		}
	}
	sec, err := f.readNew(&o.pw, true)
	if err != nil {
		return withSubject(err, "user", subject)
	}
	nu := authdb.NewUser{
		Name: o.name, DisplayName: o.displayName, Mechs: o.mechs, Scheme: o.scheme,
		Disabled: o.disabled, MustChange: o.mustChange, Expires: o.expires,
		Maildrop: o.maildrop, QuotaBytes: o.quota, IfNotExists: o.ifNotExists,
		CreateDomain: o.createDomain,
	}
	in := authdb.PasswordInput{Password: sec.password, Hash: sec.hash, Scheme: o.scheme,
		SkipPolicy: o.skipPolicy, MustChange: o.mustChange}
	acct, err := db.AddUser(ctx, f.request(), nu, in)
	if err != nil {
		return withSubject(err, "user", subject)
	}
	return f.reportPassword(map[string]any{"user": acct.Name, "action": "added"}, sec, "added user %s", acct.Name)
}

// reportPassword prints a success message, plus a generated password once
// (also under --quiet, where it is the only output).
func (f *factory) reportPassword(obj map[string]any, sec secret, format string, args ...any) error {
	if !sec.generated {
		return f.done(obj, format, args...)
	}
	if f.jsonMode() {
		obj["password"] = sec.password
		return f.done(obj, "")
	}
	if f.g.quiet {
		_, err := fmt.Fprintln(f.out, sec.password)
		return err
	}
	_, err := fmt.Fprintf(f.out, format+"\npassword: %s\n", append(args, sec.password)...)
	return err
}

// checkScheme validates a --scheme value: known and generated.
func checkScheme(s string) error {
	if s == "" {
		return nil
	}
	info, ok := pwscheme.Lookup(s)
	if !ok {
		return &exitError{code: ExitDataErr, short: "unknown password scheme", fields: map[string]any{"scheme": s},
			err: fmt.Errorf("unknown password scheme %q (see popadm pw schemes)", s)}
	}
	if !info.Generate {
		return &exitError{code: ExitDataErr, short: "scheme cannot be generated", fields: map[string]any{"scheme": s},
			err: fmt.Errorf("scheme %s cannot be used for new passwords (see popadm pw schemes)", info.Name)}
	}
	return nil
}

type userPasswdOptions struct {
	f          *factory
	name       string
	pw         pwFlags
	scheme     string
	mustChange bool
	oldStdin   bool
	skipPolicy bool
}

func newCmdUserPasswd(f *factory, runF func(*userPasswdOptions) error) *cobra.Command {
	o := &userPasswdOptions{f: f}
	cmd := &cobra.Command{
		Use:   "passwd USER",
		Short: "Set a user's password",
		Long: `Replace the user's whole credential set (every form its mechanisms need) in
one transaction.

With --old-stdin the first line of standard input is the old password and
is checked first, as poppassd does (exit 77 when it is wrong); the new
password follows on the next line (or comes from --password-file or
--random). Without it, this is an administrator reset.`,
		Example: `  printf '%s\n' "$NEW" | popadm user passwd alice@example.com --password-stdin
  printf '%s\n%s\n' "$OLD" "$NEW" | popadm user passwd alice@example.com --old-stdin
  popadm user passwd bob@example.com --random --must-change`,
		Args: exactArgs(1, "USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			if err := o.pw.check(); err != nil {
				return err
			}
			if o.oldStdin && o.pw.hash != "" {
				return usageErrorf("--old-stdin cannot be combined with --hash")
			}
			if runF != nil {
				return runF(o)
			}
			return userPasswdRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	addPasswordFlags(fl, &o.pw, pwKinds{random: true, hash: true})
	fl.StringVar(&o.scheme, "scheme", "", "slow-verifier `scheme` for this account (default from the policy)")
	fl.BoolVar(&o.mustChange, "must-change", false, "mark the new password temporary: it must be changed via poppassd before POP3 use")
	fl.BoolVar(&o.oldStdin, "old-stdin", false, "check the old password, read as the first line of standard input")
	fl.BoolVar(&o.skipPolicy, "skip-policy", false, "do not apply the password policy (admin override)")
	return cmd
}

func userPasswdRun(ctx context.Context, o *userPasswdOptions) error {
	f := o.f
	subject := f.normalize(o.name)
	if err := checkScheme(o.scheme); err != nil {
		return withSubject(err, "user", subject)
	}
	db, err := f.openDB(ctx, openNormal)
	if err != nil {
		return err
	}
	if o.oldStdin {
		old, err := f.readStdinLine("old password")
		if err != nil {
			return withSubject(err, "user", subject)
		}
		p := o.pw
		if p.random == 0 && p.file == "" {
			p.stdin = true // the new password is the next line
		}
		sec, err := f.readNew(&p, true)
		if err != nil {
			return withSubject(err, "user", subject)
		}
		if err := db.ChangePassword(ctx, f.request(), o.name, old, sec.password); err != nil {
			return withSubject(err, "user", subject)
		}
		if o.mustChange {
			t := true
			if _, err := db.ModifyUser(ctx, f.request(), o.name, authdb.UserMod{MustChange: &t}); err != nil {
				return withSubject(err, "user", subject)
			}
		}
		return f.reportPassword(map[string]any{"user": subject, "action": "passwd"}, sec, "changed password of %s", subject)
	}
	if _, err := db.GetUser(ctx, o.name); err != nil {
		return withSubject(err, "user", subject)
	}
	sec, err := f.readNew(&o.pw, true)
	if err != nil {
		return withSubject(err, "user", subject)
	}
	in := authdb.PasswordInput{Password: sec.password, Hash: sec.hash, Scheme: o.scheme,
		SkipPolicy: o.skipPolicy, MustChange: o.mustChange}
	if err := db.SetPassword(ctx, f.request(), o.name, in); err != nil {
		return withSubject(err, "user", subject)
	}
	return f.reportPassword(map[string]any{"user": subject, "action": "passwd"}, sec, "set password of %s", subject)
}

type userDelOptions struct {
	f    *factory
	name string
	yes  bool
}

func newCmdUserDel(f *factory, runF func(*userDelOptions) error) *cobra.Command {
	o := &userDelOptions{f: f}
	cmd := &cobra.Command{
		Use:     "del USER",
		Aliases: []string{"delete", "rm"},
		Short:   "Delete an account",
		Long: `Delete an account and its credentials. The audit log keeps its history.
Mail is not touched. When standard input is not a terminal, --yes is
required; on a terminal popadm asks.`,
		Example: `  popadm user del alice@example.com --yes`,
		Args:    exactArgs(1, "USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			if runF != nil {
				return runF(o)
			}
			return userDelRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func userDelRun(ctx context.Context, o *userDelOptions) error {
	f := o.f
	subject := f.normalize(o.name)
	db, err := f.openDB(ctx, openNormal)
	if err != nil {
		return err
	}
	acct, err := db.GetUser(ctx, o.name)
	if err != nil {
		return withSubject(err, "user", subject)
	}
	if err := f.confirm(o.yes, fmt.Sprintf("Delete user %s?", acct.Name)); err != nil {
		return withSubject(err, "user", acct.Name)
	}
	if err := db.DeleteUser(ctx, f.request(), acct.Name); err != nil {
		return withSubject(err, "user", acct.Name)
	}
	return f.done(map[string]any{"user": acct.Name, "action": "deleted"}, "deleted user %s", acct.Name)
}

// confirm asks a yes/no question on a terminal; without one it requires
// yes (the --yes flag).
func (f *factory) confirm(yes bool, question string) error {
	if yes {
		return nil
	}
	if !f.stdinIsTerminal() {
		return usageErrorf("refusing to delete without --yes when standard input is not a terminal")
	}
	fmt.Fprintf(f.errOut, "%s [y/N] ", question)
	line, err := readLine(f.stdinReader())
	if err != nil {
		return failf(ExitFailure, "not confirmed", "not confirmed")
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return failf(ExitFailure, "not confirmed", "not confirmed")
}
