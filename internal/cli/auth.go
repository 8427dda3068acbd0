package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/authdb"
	"github.com/popadm/popadm/authdb/pamauth"
	"github.com/popadm/popadm/internal/backend"
)

func newCmdAuth(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Test authentication",
		Args:  groupArgs,
		RunE:  groupRun,
	}
	cmd.AddCommand(newCmdAuthTest(f, nil), newCmdAuthLookup(f))
	return cmd
}

type authTestOptions struct {
	f       *factory
	user    string
	service string
	mech    string
	auth    string
	pamSvc  string
	pamUID  int
	pw      pwFlags
}

func newCmdAuthTest(f *factory, runF func(*authTestOptions) error) *cobra.Command {
	o := &authTestOptions{f: f}
	cmd := &cobra.Command{
		Use:   "test USER",
		Short: "Check a password through the server's login path",
		Long: `Authenticate USER with a password read from a prompt or standard input,
through the same code the POP3 server (or poppassd, with --service
poppassd) uses, and print the result with its reason:

  ok, bad-password, unknown-user, disabled, domain-disabled, locked,
  expired, must-change, not-allowed, mechanism-unavailable

Exit 0 only for ok, 77 for every refusal, 75 when the database is busy.
A refusal here is not counted as a failed login (no lockout). A success
is recorded as a login, like doveadm auth test. With --mech, the account
must also be able to use that mechanism (its set and stored credentials).`,
		Example: `  printf '%s\n' "$PW" | popadm auth test alice@example.com
  printf '%s\n' "$PW" | popadm auth test alice@example.com --service poppassd --json
  printf '%s\n' "$PW" | popadm auth test bob@example.com --mech cram-md5`,
		Args: exactArgs(1, "USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.user = args[0]
			if err := o.pw.check(); err != nil {
				return err
			}
			switch o.service {
			case string(authdb.ServicePOP3), string(authdb.ServicePoppassd):
			default:
				return usageErrorf("--service must be pop3 or poppassd, not %q", o.service)
			}
			switch o.mech {
			case authdb.MechPlain, authdb.MechAPOP, authdb.MechCRAMMD5, authdb.MechSCRAMSHA1, authdb.MechSCRAMSHA256:
			default:
				return usageErrorf("--mech must be plain, apop, cram-md5, scram-sha-1 or scram-sha-256, not %q", o.mech)
			}
			if runF != nil {
				return runF(o)
			}
			return authTestRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.service, "service", "pop3", "`service` whose rules apply: pop3 or poppassd")
	fl.StringVar(&o.auth, "auth", "sqlite", "`backends` to test against, as popadm serve --auth: sqlite, pam or sqlite,pam")
	fl.StringVar(&o.pamSvc, "pam-service", "", "PAM `service` (default popadm-pop3, or popadm-passwd with --service poppassd)")
	fl.IntVar(&o.pamUID, "pam-min-uid", 1000, "refuse system accounts below this `uid`, as popadm serve does")
	fl.StringVar(&o.mech, "mech", "plain", "`mechanism` the account must support: plain, apop, cram-md5, scram-sha-1, scram-sha-256")
	addPasswordFlags(fl, &o.pw, pwKinds{})
	return cmd
}

// authResult is the JSON form of an auth test.
type authResult struct {
	OK         bool   `json:"ok"`
	Code       int    `json:"code"`
	User       string `json:"user"`
	Service    string `json:"service"`
	Mech       string `json:"mech"`
	Result     string `json:"result"`
	PasswordOK bool   `json:"password_ok"`
	Detail     string `json:"detail,omitempty"`
	Error      string `json:"error,omitempty"`
}

// authStore builds the backend chain --auth names: the SQLite store, PAM,
// or both in the order popadm serve uses.
func authStore(ctx context.Context, o *authTestOptions) (authdb.Authenticator, error) {
	chain := &backend.Chain{}
	var useDB, usePAM bool
	switch strings.ReplaceAll(strings.ToLower(o.auth), " ", "") {
	case "sqlite":
		useDB = true
	case "pam":
		usePAM = true
	case "sqlite,pam":
		useDB, usePAM = true, true
	default:
		return nil, usageErrorf("--auth must be sqlite, pam or sqlite,pam, not %q", o.auth)
	}
	if useDB {
		db, err := o.f.openDB(ctx, openNormal)
		if err != nil {
			return nil, err
		}
		if !usePAM {
			return db, nil
		}
		chain.DB = db
	}
	svc := o.pamSvc
	if svc == "" && o.service == string(authdb.ServicePoppassd) {
		svc = pamauth.DefaultPasswdService
	}
	pa, err := pamauth.New(pamauth.Options{AuthService: svc, PasswdService: svc, MinUID: o.pamUID})
	if err != nil {
		return nil, failf(ExitConfig, "PAM unavailable", "%w", err)
	}
	chain.PAM = pa
	return chain, nil
}

func authTestRun(ctx context.Context, o *authTestOptions) error {
	f := o.f
	subject := f.normalize(o.user)
	db, err := authStore(ctx, o)
	if err != nil {
		return err
	}
	pw, err := f.readPassword(&o.pw, false, "Password: ")
	if err != nil {
		return withSubject(err, "user", subject)
	}
	res := authResult{User: subject, Service: o.service, Mech: o.mech}
	// Only Authenticate is called: RecordFailure is what counts a failure
	// towards the lockout, and a test by the administrator must not.
	req := authdb.Request{Service: authdb.Service(o.service), Actor: f.g.actor}
	acct, err := db.Authenticate(ctx, req, o.user, pw)
	var ae *authdb.AuthError
	switch {
	case err == nil:
		res.User = acct.Name
		res.Result, res.PasswordOK = string(authdb.ReasonOK), true
		if o.mech != authdb.MechPlain && !(slices.Contains(acct.Mechs, o.mech) && slices.Contains(usableMechs(acct), o.mech)) {
			res.Result = string(authdb.ReasonMechUnavailable)
			res.Detail = fmt.Sprintf("no stored credential for %s (or not in the mechanism set)", o.mech)
		}
	case errors.As(err, &ae):
		res.Result, res.PasswordOK, res.Detail = string(ae.Reason), ae.PasswordOK, ae.Detail
		if ae.User != "" {
			res.User = ae.User
		}
	default:
		return withSubject(err, "user", subject)
	}
	res.OK = res.Result == string(authdb.ReasonOK)
	if !res.OK {
		res.Code = ExitNoPerm
		res.Error = "authentication refused"
	}
	if f.jsonMode() {
		if err := f.printJSON(res); err != nil {
			return err
		}
	} else if !f.g.quiet || !res.OK {
		line := res.User + ": " + res.Result
		if res.Detail != "" {
			line += " (" + res.Detail + ")"
		}
		if _, err := fmt.Fprintln(f.out, line); err != nil {
			return err
		}
	}
	if !res.OK {
		return &exitError{code: ExitNoPerm, short: "authentication refused", printed: true,
			err: fmt.Errorf("authentication refused: %s", res.Result)}
	}
	return nil
}

func newCmdAuthLookup(f *factory) *cobra.Command {
	return &cobra.Command{
		Use:   "lookup USER",
		Short: "Show the mechanism set and stored schemes of an account",
		Long: `Show what the server sees for USER: state, mechanism set, stored
credential schemes and the mechanisms they make usable. No secrets are
printed. Same output as popadm user show.`,
		Example: `  popadm auth lookup alice@example.com --json`,
		Args:    exactArgs(1, "USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return userShowRun(cmd.Context(), f, args[0])
		},
	}
}
