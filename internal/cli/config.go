package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/popadm/popadm/internal/config"
)

func init() {
	extraCommands = append(extraCommands, newCmdConfig)
}

// newCmdConfig builds `popadm config example|check`.
func newCmdConfig(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show or check the configuration file of popadm serve",
		Long: `The configuration file of "popadm serve" is TOML. It is read from
--config FILE, else $POPADM_CONFIG, else ` + config.DefaultPath + ` when that
exists. Precedence, lowest first: defaults, the file, the environment
(` + strings.Join(config.EnvVars(), ", ") + `), explicit command-line flags.`,
		Args: groupArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "example",
		Short: "Print a configuration file with every setting at its default",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return config.Example(cmd.OutOrStdout())
		},
	})
	var path string
	check := &cobra.Command{
		Use:   "check",
		Short: `Validate the configuration file; print "ok" or every problem (exit 78)`,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := f.loadServeConfig(path, cmd.Flags().Changed("config"))
			if err != nil {
				return err
			}
			if err := f.checkServeConfig(res, nil, config.ValidateOptions{}); err != nil {
				return err
			}
			if f.g.jsonOut {
				obj := map[string]any{"ok": true}
				if res.path != "" {
					obj["file"] = res.path
				}
				return writeJSON(f.out, obj)
			}
			if res.file == nil {
				fmt.Fprintln(f.errOut, "popadm: no configuration file; checked the defaults and the environment")
			}
			fmt.Fprintln(f.out, "ok")
			return nil
		},
	}
	check.Flags().StringVar(&path, "config", "", "configuration `file` (env POPADM_CONFIG; default "+config.DefaultPath+" if it exists)")
	cmd.AddCommand(check)
	return cmd
}

// serveConfig is a resolved configuration of popadm serve before flags.
type serveConfig struct {
	path string       // file read, "" for none
	file *config.File // nil without a file
	cfg  config.Config
}

// loadServeConfig finds and reads the configuration file (path when
// explicit, else $POPADM_CONFIG, else config.DefaultPath if it exists) and
// applies the environment over it.
func (f *factory) loadServeConfig(path string, explicit bool) (*serveConfig, error) {
	if !explicit {
		if v := f.getenv("POPADM_CONFIG"); v != "" {
			path, explicit = v, true
		}
	}
	if !explicit {
		path = config.DefaultPath
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			path = ""
		}
	}
	res := &serveConfig{path: path, cfg: config.Defaults()}
	if path != "" {
		file, err := config.Load(path)
		if err != nil {
			var errs config.Errors
			if errors.As(err, &errs) {
				return nil, f.configErrors(ExitConfig, path, errs)
			}
			return nil, &exitError{code: ExitConfig, short: "cannot read configuration file",
				fields: map[string]any{"file": path}, err: err}
		}
		res.file, res.cfg = file, file.Config
	}
	for _, s := range config.Settings() {
		if s.Env == "" {
			continue
		}
		if v := f.getenv(s.Env); v != "" {
			if p, ok := s.Ptr(&res.cfg).(*string); ok {
				*p = v
			}
		}
	}
	return res, nil
}

// checkServeConfig validates res.cfg (with any flags already applied) and
// reports each problem at its source: the flag, the environment variable
// or the file and line. flags may be nil (no flags apply). A bad flag is a usage error (exit 64), anything
// else a configuration error (exit 78).
func (f *factory) checkServeConfig(res *serveConfig, flags *pflag.FlagSet, o config.ValidateOptions) error {
	errs := config.Validate(&res.cfg, o)
	if len(errs) == 0 {
		return nil
	}
	code := ExitConfig
	out := make(config.Errors, 0, len(errs))
	for _, e := range errs {
		s, _ := config.Lookup(e.Key)
		switch {
		case flags != nil && s.Flag != "" && flags.Lookup(s.Flag) != nil && flags.Changed(s.Flag):
			code = ExitUsage
			out = append(out, &config.Error{Msg: "--" + s.Flag + ": " + e.Msg})
		case s.Env != "" && f.getenv(s.Env) != "":
			out = append(out, &config.Error{Msg: s.Env + ": " + e.Msg})
		case res.file != nil:
			out = append(out, res.file.Locate(e))
		default:
			out = append(out, e)
		}
	}
	return f.configErrors(code, res.path, out)
}

// configErrors prints every problem on its own "popadm: " line (or
// returns them for the JSON error object) and returns the exit error.
func (f *factory) configErrors(code int, path string, errs config.Errors) error {
	list := make([]string, len(errs))
	for i, e := range errs {
		list[i] = e.Error()
	}
	ee := &exitError{code: code, short: "invalid configuration",
		fields: map[string]any{"errors": list}, err: errs}
	if path != "" {
		ee.fields["file"] = path
	}
	if f.g.jsonOut || f.g.output == "json" {
		return ee
	}
	for _, l := range list {
		fmt.Fprintf(f.errOut, "popadm: %s\n", strings.TrimSpace(l))
	}
	if code == ExitUsage {
		fmt.Fprintln(f.errOut, "Run 'popadm --help' for usage.")
	}
	ee.printed = true
	return ee
}
