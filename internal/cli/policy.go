package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/authdb"
	"github.com/popadm/popadm/internal/pwscheme"
)

// policyView is the JSON view of the policy; durations are written the
// way policy set reads them ("180d", "15m", "0").
type policyView struct {
	MinLength     int      `json:"min_length"`
	MaxLength     int      `json:"max_length"`
	RejectSame    bool     `json:"reject_same"`
	History       int      `json:"history"`
	ASCIIOnly     bool     `json:"ascii_only"`
	MaxAge        string   `json:"max_age"`
	LockoutFails  int      `json:"lockout_fails"`
	LockoutWindow string   `json:"lockout_window"`
	DefaultScheme string   `json:"default_scheme"`
	DefaultMechs  []string `json:"default_mechs"`
}

func newPolicyView(p *authdb.Policy) policyView {
	return policyView{
		MinLength: p.MinLength, MaxLength: p.MaxLength, RejectSame: p.RejectSame, History: p.History,
		ASCIIOnly: p.ASCIIOnly, MaxAge: fmtDuration(p.MaxAge), LockoutFails: p.LockoutFails,
		LockoutWindow: fmtDuration(p.LockoutWindow), DefaultScheme: p.DefaultScheme,
		DefaultMechs: nonNil(p.DefaultMechs),
	}
}

func newCmdPolicy(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Show or change the password and lockout policy",
		Long: `The policy lives in the database and is enforced by the store for popadm
and poppassd alike.`,
		Args: groupArgs,
		RunE: groupRun,
	}
	show := &cobra.Command{
		Use:     "show",
		Short:   "Show the policy",
		Example: `  popadm policy show --json`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			db, err := f.openDB(c.Context(), openNormal)
			if err != nil {
				return err
			}
			p, err := db.GetPolicy(c.Context())
			if err != nil {
				return err
			}
			return f.printPolicy(p)
		},
	}
	cmd.AddCommand(show, newCmdPolicySet(f))
	return cmd
}

func (f *factory) printPolicy(p *authdb.Policy) error {
	v := newPolicyView(p)
	if f.jsonMode() {
		return f.printJSON(v)
	}
	lockout := "off"
	if v.LockoutFails > 0 {
		lockout = fmt.Sprintf("%d/%s", v.LockoutFails, v.LockoutWindow)
	}
	return f.printPairs([][2]string{
		{"min length", strconv.Itoa(v.MinLength)},
		{"max length", strconv.Itoa(v.MaxLength)},
		{"reject same", yesNo(v.RejectSame)},
		{"history", strconv.Itoa(v.History)},
		{"ascii only", yesNo(v.ASCIIOnly)},
		{"max age", v.MaxAge},
		{"lockout", lockout},
		{"default scheme", v.DefaultScheme},
		{"default mechs", strings.Join(v.DefaultMechs, ",")},
	})
}

func newCmdPolicySet(f *factory) *cobra.Command {
	var (
		minLen, maxLen, history      int
		rejectSame, asciiOnly        bool
		maxAge, lockout, scheme, mch string
	)
	cmd := &cobra.Command{
		Use:   "set",
		Short: "Change the policy",
		Long: `Change the policy; only the flags given are changed.

--lockout N/DURATION locks an account after N counted failures within
DURATION ("off" or 0 disables it). --max-age makes new passwords expire
after that long (0: never). --default-scheme is the slow verifier for new
passwords and rehash-on-login.`,
		Example: `  popadm policy set --min-length 10 --history 5
  popadm policy set --lockout 10/15m --max-age 180d
  popadm policy set --default-scheme BLF-CRYPT --default-mechs plain,scram-sha-256`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			fl := c.Flags()
			if fl.NFlag() == 0 || !anyChanged(fl.Changed, "min-length", "max-length", "reject-same", "history",
				"ascii-only", "max-age", "lockout", "default-scheme", "default-mechs") {
				return usageErrorf("policy set: nothing to change (see popadm policy set --help)")
			}
			var age, window time.Duration
			var fails int
			var err error
			if fl.Changed("max-age") {
				if age, err = parseDuration(maxAge); err != nil {
					return usageErrorf("--max-age: %v", err)
				}
			}
			if fl.Changed("lockout") {
				if fails, window, err = parseLockout(lockout); err != nil {
					return usageErrorf("--lockout: %v", err)
				}
			}
			if fl.Changed("default-scheme") {
				if err := checkScheme(scheme); err != nil {
					return err
				}
				if info, _ := pwscheme.Lookup(scheme); info.PlainEquivalent {
					return &exitError{code: ExitDataErr, short: "scheme is plaintext-equivalent", fields: map[string]any{"scheme": scheme},
						err: fmt.Errorf("--default-scheme %s is plaintext-equivalent; choose a slow verifier", info.Name)}
				}
			}
			db, err := f.openDB(c.Context(), openNormal)
			if err != nil {
				return err
			}
			p, err := db.GetPolicy(c.Context())
			if err != nil {
				return err
			}
			if fl.Changed("min-length") {
				p.MinLength = minLen
			}
			if fl.Changed("max-length") {
				p.MaxLength = maxLen
			}
			if fl.Changed("reject-same") {
				p.RejectSame = rejectSame
			}
			if fl.Changed("history") {
				p.History = history
			}
			if fl.Changed("ascii-only") {
				p.ASCIIOnly = asciiOnly
			}
			if fl.Changed("max-age") {
				p.MaxAge = age
			}
			if fl.Changed("lockout") {
				p.LockoutFails, p.LockoutWindow = fails, window
			}
			if fl.Changed("default-scheme") {
				info, _ := pwscheme.Lookup(scheme)
				p.DefaultScheme = info.Name
			}
			if fl.Changed("default-mechs") {
				p.DefaultMechs = parseList(mch)
			}
			if err := db.SetPolicy(c.Context(), f.request(), *p); err != nil {
				return err
			}
			if f.jsonMode() || !f.g.quiet {
				np, err := db.GetPolicy(c.Context())
				if err != nil {
					return err
				}
				return f.printPolicy(np)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&minLen, "min-length", 0, "minimum password length in `characters`")
	fl.IntVar(&maxLen, "max-length", 0, "maximum password length in `bytes`")
	fl.BoolVar(&rejectSame, "reject-same", true, "refuse a new password equal to the old one")
	fl.IntVar(&history, "history", 0, "remember `n` passwords (current included) and refuse them")
	fl.BoolVar(&asciiOnly, "ascii-only", false, "refuse non-ASCII passwords")
	fl.StringVar(&maxAge, "max-age", "", "passwords expire after `duration` (0: never)")
	fl.StringVar(&lockout, "lockout", "", "lock after `N/DURATION` failures, or off")
	fl.StringVar(&scheme, "default-scheme", "", "slow-verifier `scheme` for new passwords")
	fl.StringVar(&mch, "default-mechs", "", "mechanism `list` of new accounts")
	return cmd
}

func anyChanged(changed func(string) bool, names ...string) bool {
	for _, n := range names {
		if changed(n) {
			return true
		}
	}
	return false
}

// parseLockout reads "N/DURATION", "off" or "0".
func parseLockout(s string) (int, time.Duration, error) {
	if s == "off" || s == "0" {
		return 0, 0, nil
	}
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("want N/DURATION (e.g. 10/15m) or off, not %q", s)
	}
	fails, err := strconv.Atoi(n)
	if err != nil || fails < 1 {
		return 0, 0, fmt.Errorf("invalid failure count %q", n)
	}
	window, err := parseDuration(d)
	if err != nil || window <= 0 {
		return 0, 0, fmt.Errorf("invalid window %q", d)
	}
	return fails, window, nil
}
