// Package cli implements the popadm command line: a cobra command tree
// built fresh for every call of Main, so tests run it in-process against
// temporary databases.
//
// Exit codes are listed at ExitOK. Errors are printed once, as
// "popadm: <message>" on stderr, or as a JSON object on stdout under
// --json.
package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/popadm/popadm/authdb"
)

// Version is the popadm version, set at build time with
// -ldflags '-X github.com/popadm/popadm/internal/cli.Version=v1.2.3'.
var Version = "dev"

// DefaultDBPath is the database used when neither --db nor POPADM_DB is
// given.
const DefaultDBPath = "/var/lib/popadm/auth.db"

// extraCommands lets other files of this package (such as the serve
// command) add top-level commands from an init function without editing
// the root constructor. It is written only during package initialisation.
var extraCommands []func(*factory) *cobra.Command

// globalOptions are the persistent flags of the root command.
type globalOptions struct {
	dbPath        string
	output        string // table, json or tsv
	jsonOut       bool
	quiet         bool
	actor         string
	defaultDomain string
	readOnly      bool
}

// factory carries the I/O streams and injectable dependencies shared by
// every command of one invocation (after gh's cmdutil.Factory).
type factory struct {
	in     io.Reader
	out    io.Writer
	errOut io.Writer

	// getenv reads the environment (os.Getenv outside tests).
	getenv func(string) string
	// stdinIsTerminal and stderrIsTerminal decide about prompts and the
	// import progress bar.
	stdinIsTerminal  func() bool
	stderrIsTerminal func() bool
	// readSecret reads a password without echo after printing prompt on
	// stderr; only called when stdinIsTerminal reports true.
	readSecret func(prompt string) (string, error)
	// now is the clock (audit --since, user expire --now).
	now func() time.Time
	// storeOptions is the base for authdb.Open (tests set a cheap scheme).
	storeOptions authdb.Options

	g     globalOptions
	stdin *bufio.Reader
	dbs   []*authdb.DB
}

// newFactory returns the factory Main uses: real terminal checks on the
// given streams when they are *os.File.
func newFactory(stdin io.Reader, stdout, stderr io.Writer) *factory {
	f := &factory{
		in:     stdin,
		out:    stdout,
		errOut: stderr,
		getenv: os.Getenv,
		now:    time.Now,
	}
	f.stdinIsTerminal = func() bool { return isTerminal(stdin) }
	f.stderrIsTerminal = func() bool { return isTerminal(stderr) }
	f.readSecret = func(prompt string) (string, error) {
		file, ok := stdin.(*os.File)
		if !ok {
			return "", errors.New("cli: standard input is not a terminal")
		}
		fmt.Fprint(f.errOut, prompt)
		b, err := term.ReadPassword(int(file.Fd()))
		fmt.Fprintln(f.errOut)
		if err != nil {
			return "", fmt.Errorf("cli: read password: %w", err)
		}
		return string(b), nil
	}
	return f
}

func isTerminal(v any) bool {
	file, ok := v.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// Main runs popadm with args (without the program name) and returns the
// exit code. It never calls os.Exit.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newFactory(stdin, stdout, stderr).run(ctx, args)
}

// run builds the command tree, executes it and turns the error into output
// and an exit code.
func (f *factory) run(ctx context.Context, args []string) int {
	defer f.closeDBs()
	root := newRootCmd(f)
	root.SetArgs(args)
	_, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCodeFor(err)
	var ee *exitError
	if errors.As(err, &ee) && ee.printed {
		return code
	}
	if f.g.jsonOut || f.g.output == "json" || wantsJSON(args) {
		obj := map[string]any{"ok": false, "code": code, "error": shortText(err)}
		if errors.As(err, &ee) {
			for k, v := range ee.fields {
				obj[k] = v
			}
		}
		if detail := cleanMessage(err.Error()); detail != obj["error"] {
			obj["detail"] = detail
		}
		_ = writeJSON(f.out, obj)
		return code
	}
	fmt.Fprintf(f.errOut, "popadm: %s\n", humanMessage(err))
	if code == ExitUsage {
		fmt.Fprintln(f.errOut, "Run 'popadm --help' for usage.")
	}
	return code
}

// wantsJSON reports whether the raw arguments ask for JSON output, for
// errors met before the flags are parsed.
func wantsJSON(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--json", a == "--json=true", a == "-ojson", a == "-o=json", a == "--output=json":
			return true
		case (a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}

// newRootCmd builds the whole command tree for one invocation.
func newRootCmd(f *factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "popadm",
		Short: "POP3 and poppassd server with a scriptable account store",
		Long: `popadm manages the SQLite account database shared by the POP3 server and
poppassd. Every command is scriptable: --json gives machine-readable output
(errors included), and the exit code says what went wrong (see docs/cli.md).

Passwords are never taken from the command line: they come from a no-echo
prompt on a terminal, one line of standard input, --password-file, or
--random.

popadm manages only the SQLite store. System accounts served through PAM
(popadm serve --auth pam) are managed with the system's own tools (passwd,
usermod, chage); "popadm auth test --auth pam" checks them.`,
		// Usage is not printed on errors: one line naming the problem is
		// more useful in scripts than a wall of flags.
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return f.resolveGlobals(cmd)
		},
	}
	root.SetIn(f.in)
	root.SetOut(f.out)
	root.SetErr(f.errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{msg: err.Error()}
	})

	pf := root.PersistentFlags()
	pf.StringVar(&f.g.dbPath, "db", DefaultDBPath, "account database `path` (env POPADM_DB)")
	pf.StringVarP(&f.g.output, "output", "o", "table", "output `format`: table, json or tsv")
	pf.BoolVar(&f.g.jsonOut, "json", false, "JSON output, errors included (same as -o json)")
	pf.BoolVarP(&f.g.quiet, "quiet", "q", false, "print nothing on success except requested data")
	pf.StringVar(&f.g.actor, "actor", "", "`name` written to the audit log (default $SUDO_USER, else $USER)")
	pf.StringVar(&f.g.defaultDomain, "default-domain", "", "`domain` for names without @ (env POPADM_DEFAULT_DOMAIN)")
	pf.BoolVar(&f.g.readOnly, "read-only", false, "open the database read-only (every change fails with exit 78)")

	root.AddCommand(
		newCmdUser(f),
		newCmdDomain(f),
		newCmdPw(f, nil),
		newCmdAuth(f),
		newCmdImport(f, nil),
		newCmdExport(f, nil),
		newCmdAudit(f),
		newCmdPolicy(f),
		newCmdDB(f),
		newCmdVersion(f),
	)
	for _, add := range extraCommands {
		root.AddCommand(add(f))
	}
	return root
}

// resolveGlobals applies environment defaults and checks global flags.
func (f *factory) resolveGlobals(cmd *cobra.Command) error {
	flags := cmd.Flags()
	if !flags.Changed("db") {
		if v := f.getenv("POPADM_DB"); v != "" {
			// Set the flag too, so commands reading it see the value.
			_ = flags.Set("db", v)
			f.g.dbPath = v
		}
	}
	if !flags.Changed("default-domain") {
		f.g.defaultDomain = f.getenv("POPADM_DEFAULT_DOMAIN")
	}
	if f.g.actor == "" {
		f.g.actor = f.getenv("SUDO_USER")
	}
	if f.g.actor == "" {
		f.g.actor = f.getenv("USER")
	}
	if f.g.actor == "" {
		f.g.actor = fmt.Sprintf("uid:%d", os.Getuid())
	}
	if f.g.jsonOut {
		if flags.Changed("output") && f.g.output != "json" {
			return usageErrorf("--json conflicts with -o %s", f.g.output)
		}
		f.g.output = "json"
	}
	switch f.g.output {
	case "table", "json", "tsv":
	default:
		return usageErrorf("invalid output format %q (want table, json or tsv)", f.g.output)
	}
	if f.g.output == "json" {
		f.g.jsonOut = true
	}
	return nil
}

// groupArgs accepts anything so groupRun can name an unknown subcommand.
func groupArgs(*cobra.Command, []string) error { return nil }

// groupRun runs for a command group called without (or with an unknown)
// subcommand: a usage error, with the help on stderr for a bare group.
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	cmd.SetOut(cmd.ErrOrStderr())
	_ = cmd.Help()
	return usageErrorf("%s needs a subcommand", cmd.CommandPath())
}

// exactArgs is cobra.ExactArgs with a usage error naming the arguments.
func exactArgs(n int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			what := strings.Join(names, " ")
			if what == "" {
				what = fmt.Sprintf("%d argument(s)", n)
			}
			return usageErrorf("%s takes %s, got %d argument(s)", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

// noArgs is cobra.NoArgs as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

// request is the audit identity of this invocation.
func (f *factory) request() authdb.Request {
	return authdb.Request{Service: authdb.ServiceCLI, Actor: f.g.actor}
}

// openMode selects how openDB opens the database.
type openMode int

const (
	openNormal     openMode = iota
	openCreate              // db init
	openAnyVersion          // db check, db backup, db migrate
)

// openDB opens the account database named by --db. The factory closes it
// when the command returns.
func (f *factory) openDB(ctx context.Context, mode openMode) (*authdb.DB, error) {
	opts := f.storeOptions
	opts.DefaultDomain = f.g.defaultDomain
	opts.ReadOnly = opts.ReadOnly || f.g.readOnly
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(f.errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	switch mode {
	case openCreate:
		opts.Create = true
	case openAnyVersion:
		opts.AnyVersion = true
	}
	db, err := authdb.Open(ctx, f.g.dbPath, opts)
	if err != nil {
		if exitCodeFor(err) == ExitFailure && ctx.Err() == nil {
			// A database that cannot be opened at all (missing
			// directory, permissions, not a popadm database) is a
			// configuration problem.
			return nil, &exitError{code: ExitConfig, short: "cannot open database",
				fields: map[string]any{"path": f.g.dbPath}, err: err}
		}
		return nil, withSubject(err, "path", f.g.dbPath)
	}
	f.dbs = append(f.dbs, db)
	return db, nil
}

func (f *factory) closeDBs() {
	for _, db := range f.dbs {
		if err := db.Close(); err != nil {
			fmt.Fprintf(f.errOut, "popadm: warning: %s\n", cleanMessage(err.Error()))
		}
	}
	f.dbs = nil
}

// normalize returns the stored form of a login name, or the name as typed
// when it is invalid (the store reports that error itself).
func (f *factory) normalize(name string) string {
	n, err := authdb.Normalize(name, f.g.defaultDomain)
	if err != nil {
		return name
	}
	return n
}

// stdinReader returns the one buffered reader over standard input, so
// several reads (old and new password) see consecutive lines.
func (f *factory) stdinReader() *bufio.Reader {
	if f.stdin == nil {
		f.stdin = bufio.NewReader(f.in)
	}
	return f.stdin
}
