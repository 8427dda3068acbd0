package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/authdb"
	"github.com/popadm/popadm/internal/importfmt"
	"github.com/popadm/popadm/internal/pwscheme"
)

type pwOptions struct {
	f      *factory
	scheme string
	rounds int
	user   string
	verify bool
	pw     pwFlags
}

func newCmdPw(f *factory, runF func(*pwOptions) error) *cobra.Command {
	o := &pwOptions{f: f}
	cmd := &cobra.Command{
		Use:   "pw",
		Short: "Generate a password hash (like doveadm pw)",
		Long: `Print the hash of a password as "{SCHEME}value", in the exact format
doveadm pw writes and Dovecot reads. The database is not used.

-r sets the SHA-crypt or PBKDF2 rounds or the BLF-CRYPT cost; SCRAM always
uses 4096 iterations and Argon2 its own parameters. -u names the user for
DIGEST-MD5. -V verifies the new hash and appends " (verified)".`,
		Example: `  printf '%s\n' "$PW" | popadm pw -s SHA512-CRYPT
  popadm pw -s BLF-CRYPT -r 12 --password-file pw.txt
  printf '%s\n' "$PW" | popadm pw -s DIGEST-MD5 -u alice@example.com`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.pw.check(); err != nil {
				return err
			}
			if o.rounds < 0 {
				return usageErrorf("-r must not be negative")
			}
			if runF != nil {
				return runF(o)
			}
			return pwRun(o)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.scheme, "scheme", "s", authdb.DefaultScheme, "password `scheme` (see popadm pw schemes)")
	fl.IntVarP(&o.rounds, "rounds", "r", 0, "`rounds` or cost (0: the scheme's default)")
	fl.StringVarP(&o.user, "user", "u", "", "`user` name (DIGEST-MD5)")
	fl.BoolVarP(&o.verify, "verify", "V", false, "verify the generated hash")
	addPasswordFlags(fl, &o.pw, pwKinds{})
	cmd.AddCommand(newCmdPwVerify(f), newCmdPwSchemes(f))
	return cmd
}

func pwRun(o *pwOptions) error {
	f := o.f
	if err := checkScheme(o.scheme); err != nil {
		return err
	}
	pw, err := f.readPassword(&o.pw, true, "Enter new password: ")
	if err != nil {
		return err
	}
	h, err := pwscheme.Generate(o.scheme, pw, pwscheme.Params{Rounds: o.rounds, User: o.user})
	if err != nil {
		return withSubject(err, "scheme", o.scheme)
	}
	verified := false
	if o.verify {
		ok, err := pwscheme.Verify(h, pw, o.user)
		if err != nil || !ok {
			return failf(ExitFailure, "generated hash does not verify", "generated %s hash does not verify", o.scheme)
		}
		verified = true
	}
	if f.jsonMode() {
		obj := map[string]any{"ok": true, "hash": h, "scheme": importfmt.SchemeOf(h)}
		if o.verify {
			obj["verified"] = verified
		}
		return f.printJSON(obj)
	}
	if verified {
		_, err = fmt.Fprintf(f.out, "%s (verified)\n", h)
		return err
	}
	_, err = fmt.Fprintln(f.out, h)
	return err
}

func newCmdPwVerify(f *factory) *cobra.Command {
	var user string
	var pw pwFlags
	cmd := &cobra.Command{
		Use:   "verify HASH",
		Short: "Check a password against a hash (like doveadm pw -t)",
		Long: `Read a password (prompt, standard input, --password-stdin or
--password-file) and check it against HASH, a "{SCHEME}value" string or a
bare crypt string ($1$, $2y$, $5$, $6$, $argon2id$...). Prints
"{SCHEME}value (verified)" and exits 0 on a match; exits 77 otherwise.`,
		Example: `  printf '%s\n' "$PW" | popadm pw verify '{SHA512-CRYPT}$6$...'`,
		Args:    exactArgs(1, "HASH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pw.check(); err != nil {
				return err
			}
			h, err := importfmt.NormalizeHash(args[0])
			if err != nil {
				return &exitError{code: ExitDataErr, short: "invalid password hash", err: err}
			}
			if err := pwscheme.Validate(h); err != nil {
				return withSubject(err, "scheme", importfmt.SchemeOf(h))
			}
			secret, err := f.readPassword(&pw, false, "Enter password to verify: ")
			if err != nil {
				return err
			}
			ok, err := pwscheme.Verify(h, secret, user)
			if err != nil {
				return withSubject(err, "scheme", importfmt.SchemeOf(h))
			}
			if !ok {
				return &exitError{code: ExitNoPerm, short: "password does not match",
					fields: map[string]any{"verified": false}, err: fmt.Errorf("password does not match")}
			}
			if f.jsonMode() {
				return f.printJSON(map[string]any{"ok": true, "verified": true, "scheme": importfmt.SchemeOf(h)})
			}
			_, err = fmt.Fprintf(f.out, "%s (verified)\n", h)
			return err
		},
	}
	cmd.Flags().StringVarP(&user, "user", "u", "", "`user` name (DIGEST-MD5)")
	addPasswordFlags(cmd.Flags(), &pw, pwKinds{})
	return cmd
}

// schemeView is the JSON view of a password scheme.
type schemeView struct {
	Name            string   `json:"name"`
	Generate        bool     `json:"generate"`
	Verify          bool     `json:"verify"`
	PlainEquivalent bool     `json:"plain_equivalent"`
	Weak            bool     `json:"weak"`
	Mechs           []string `json:"mechs"`
	Description     string   `json:"description"`
}

func newCmdPwSchemes(f *factory) *cobra.Command {
	return &cobra.Command{
		Use:   "schemes",
		Short: "List the password schemes",
		Long: `List every known password scheme: whether popadm can generate and verify
it, whether a stolen value is as good as the password (plain-equivalent),
whether it is weak, and which login mechanisms a stored value serves.`,
		Example: `  popadm pw schemes
  popadm pw schemes --json | jq -r '.[] | select(.generate) | .name'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			infos := pwscheme.Schemes()
			if f.jsonMode() {
				out := make([]schemeView, 0, len(infos))
				for _, i := range infos {
					out = append(out, schemeView{Name: i.Name, Generate: i.Generate, Verify: i.Verify,
						PlainEquivalent: i.PlainEquivalent, Weak: i.Weak, Mechs: nonNil(i.Mechs), Description: i.Description})
				}
				return f.printJSON(out)
			}
			rows := make([][]string, 0, len(infos))
			for _, i := range infos {
				rows = append(rows, []string{i.Name, yesNo(i.Generate), yesNo(i.Verify), yesNo(i.PlainEquivalent),
					yesNo(i.Weak), strings.Join(i.Mechs, ","), i.Description})
			}
			return f.printTable([]string{"SCHEME", "GENERATE", "VERIFY", "PLAIN-EQUIV", "WEAK", "MECHS", "DESCRIPTION"}, rows)
		},
	}
}
