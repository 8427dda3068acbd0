package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/popadm/popadm/internal/config"
	"github.com/popadm/popadm/internal/server"
	"github.com/popadm/popadm/internal/tlsutil"
)

func init() {
	extraCommands = append(extraCommands,
		newServeCmd,
		func(*factory) *cobra.Command { return newTLSCmd() },
	)
}

// serveFlags are the command-line settings of `popadm serve`.
type serveFlags struct {
	// fv holds the flag values of the settings table; only the flags
	// given explicitly are applied over the file and the environment.
	fv          config.Config
	configPath  string
	readyFile   string
	inetd       bool
	allowShortT bool
	cpuProfile  string
}

func newServeCmd(f *factory) *cobra.Command {
	return serveCommand(f, &serveFlags{})
}

// serveCommand builds the serve command over sf, which receives the
// parsed flags.
func serveCommand(f *factory, sf *serveFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [pop3d|poppassd]",
		Short: "Run the POP3 and poppassd servers",
		Long: `Run the configured listeners over the account database: POP3 with STLS
(default :110), POP3 over implicit TLS (default :995, when a certificate is
given) and poppassd (default 127.0.0.1:106). "serve pop3d" or
"serve poppassd" runs one service alone. With --inetd, one session is
served on standard input and output (the inetd/xinetd "nowait" model).

Settings come from the TOML file named by --config (env POPADM_CONFIG;
default ` + config.DefaultPath + ` if it exists; see "popadm config example"),
then the environment
(` + strings.Join(config.EnvVars(), ", ") + `),
then the flags given explicitly. Nothing starts on a bad configuration
(exit 78).

SIGHUP reloads the TLS certificate and key without dropping sessions.
SIGTERM and SIGINT stop accepting, end running sessions without deleting
anything (RFC 1939: no UPDATE without QUIT) and exit.

poppassd carries passwords in clear text: it listens on loopback only
unless --poppassd-allow-remote is given (prefer --poppassd-tls-listen then).`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"pop3d", "poppassd"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.runServe(cmd, args, sf)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&sf.configPath, "config", "", "configuration `file` (TOML; env POPADM_CONFIG; default "+config.DefaultPath+" if it exists)")
	bindSettings(fl, &sf.fv)
	fl.BoolVar(&sf.inetd, "inetd", false, "serve one session on stdin/stdout (needs one service: serve pop3d|poppassd)")
	fl.StringVar(&sf.readyFile, "ready-file", "", "write the bound addresses as JSON to this file once listening")
	_ = fl.MarkHidden("ready-file")
	fl.StringVar(&sf.cpuProfile, "cpu-profile", "", "write a CPU profile to this file until exit (benchmarking)")
	_ = fl.MarkHidden("cpu-profile")
	fl.BoolVar(&sf.allowShortT, "allow-short-idle-timeout", false, "allow an idle timeout under RFC 1939's 10 minutes (testing only)")
	_ = fl.MarkHidden("allow-short-idle-timeout")
	return cmd
}

// bindSettings registers one flag per setting of the configuration table,
// with the setting's default and help text. The db setting is the root's
// persistent --db flag.
func bindSettings(fl *pflag.FlagSet, c *config.Config) {
	*c = config.Defaults()
	for _, s := range config.Settings() {
		if s.Flag == "db" {
			continue
		}
		help := s.Help + " (config " + s.Key
		if s.Env != "" {
			help += ", env " + s.Env
		}
		help += ")"
		switch p := s.Ptr(c).(type) {
		case *string:
			fl.StringVar(p, s.Flag, *p, help)
		case *[]string:
			fl.StringSliceVar(p, s.Flag, *p, help)
		case *bool:
			fl.BoolVar(p, s.Flag, *p, help)
		case *int:
			fl.IntVar(p, s.Flag, *p, help)
		case *time.Duration:
			fl.DurationVar(p, s.Flag, *p, help)
		default:
			panic(fmt.Sprintf("cli: setting %s has unsupported type %T", s.Key, p))
		}
	}
}

// resolveServe merges the defaults, the configuration file, the
// environment and the explicit flags, and validates the result.
func (f *factory) resolveServe(cmd *cobra.Command, sf *serveFlags) (config.Config, error) {
	fl := cmd.Flags()
	res, err := f.loadServeConfig(sf.configPath, fl.Changed("config"))
	if err != nil {
		return config.Config{}, err
	}
	for _, s := range config.Settings() {
		switch {
		case s.Flag == "db":
			// --db is set from POPADM_DB by resolveGlobals, so it
			// counts as changed for either.
			if fl.Changed("db") {
				if v, err := fl.GetString("db"); err == nil {
					res.cfg.DB = v
				}
			}
		case fl.Changed(s.Flag):
			s.Copy(&res.cfg, &sf.fv)
		}
	}
	opts := config.ValidateOptions{AllowShortIdleTimeout: sf.allowShortT}
	if err := f.checkServeConfig(res, fl, opts); err != nil {
		return config.Config{}, err
	}
	return res.cfg, nil
}

// serverConfig maps the validated settings to the server's Config.
func serverConfig(s *config.Config) server.Config {
	c := server.Config{
		DBPath:              s.DB,
		DefaultDomain:       s.DefaultDomain,
		Hostname:            s.Hostname,
		User:                s.User,
		Group:               s.Group,
		ControlSocket:       s.Control.Socket,
		SocketmapListen:     s.Socketmap.Listen,
		POP3Listen:          s.POP3.Listen,
		POP3SListen:         s.POP3.ListenTLS,
		PoppassdListen:      s.Poppassd.Listen,
		PoppassdTLSListen:   s.Poppassd.ListenTLS,
		PoppassdAllowRemote: s.Poppassd.AllowRemote,
		TLSCert:             s.TLS.Cert,
		TLSKey:              s.TLS.Key,
		AllowInsecureAuth:   s.POP3.AllowInsecureAuth,
		APOP:                s.POP3.APOP,
		SASL:                s.POP3.SASL,
		Expire:              s.POP3.Expire,
		LoginDelay:          s.POP3.LoginDelay,
		MailLocation:        s.Mail.Location,
		SystemMailLocation:  s.Mail.SystemLocation,
		JournalDir:          s.Mail.JournalDir,
		Auth:                s.Auth.Backends,
		PAMService:          s.Auth.PAMService,
		PAMPasswdService:    s.Auth.PAMPasswdService,
		PAMMinUID:           s.Auth.PAMMinUID,
		IdleTimeout:         s.POP3.IdleTimeout,
		PoppassdIdleTimeout: s.Poppassd.IdleTimeout,
		MaxConns:            s.Limits.MaxConns,
		MaxConnsPerIP:       s.Limits.MaxConnsPerIP,
		FailureDelay:        s.Limits.FailureDelay,
		MaxFailureDelay:     s.Limits.MaxFailureDelay,
		IPFailLimit:         s.Limits.IPFailLimit,
		Scheme:              s.Auth.Scheme,
		VerifyCacheTTL:      s.Auth.VerifyCacheTTL,
		MaxVerify:           s.Auth.MaxVerify,
		TraceAuth:           s.Log.TraceAuth,
		MetricsListen:       s.Metrics.Listen,
	}
	if c.VerifyCacheTTL == 0 {
		c.VerifyCacheTTL = -1
	}
	return c
}

func (f *factory) runServe(cmd *cobra.Command, args []string, sf *serveFlags) error {
	pop3, poppassd := true, true
	if len(args) == 1 {
		switch args[0] {
		case "pop3d", "pop3":
			poppassd = false
		case "poppassd":
			pop3 = false
		default:
			return usageErrorf("unknown service %q (want pop3d or poppassd)", args[0])
		}
	}
	if sf.inetd && len(args) != 1 {
		return usageErrorf("--inetd serves one service: popadm serve pop3d --inetd or popadm serve poppassd --inetd")
	}
	settings, err := f.resolveServe(cmd, sf)
	if err != nil {
		return err
	}
	cfg := serverConfig(&settings)
	c := &cfg
	c.POP3, c.Poppassd = pop3, poppassd

	logOut := io.Writer(cmd.ErrOrStderr())
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(settings.Log.Level)) // validated
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if settings.Log.Format == "json" {
		h = slog.NewJSONHandler(logOut, hopts)
	} else {
		h = slog.NewTextHandler(logOut, hopts)
	}
	c.Logger = slog.New(h)

	switch trace := settings.Log.Trace; trace {
	case "":
	case "-":
		c.Trace = cmd.ErrOrStderr()
	default:
		tf, err := os.OpenFile(trace, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("trace file: %w", err)
		}
		defer tf.Close()
		c.Trace = tf
	}
	if sf.readyFile != "" {
		c.Ready = func(addrs map[string][]net.Addr) {
			out := map[string][]string{}
			for k, as := range addrs {
				for _, a := range as {
					out[k] = append(out[k], a.String())
				}
			}
			b, _ := json.Marshal(out)
			tmp := sf.readyFile + ".tmp"
			if err := os.WriteFile(tmp, b, 0o644); err == nil {
				_ = os.Rename(tmp, sf.readyFile)
			}
		}
	}
	server.Version = Version
	if sf.cpuProfile != "" {
		pf, err := os.Create(sf.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if sf.inetd {
		return server.RunInetd(ctx, *c, os.Stdin, os.Stdout)
	}
	return server.Run(ctx, *c)
}

func newTLSCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tls", Short: "TLS certificate helpers"}
	var certFile, keyFile string
	var hosts []string
	var force bool
	ss := &cobra.Command{
		Use:   "self-signed",
		Short: "Write a self-signed certificate and key (for tests and make run)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if certFile == "" || keyFile == "" {
				return usageErrorf("--cert and --key are required")
			}
			if err := tlsutil.WriteSelfSigned(certFile, keyFile, force, hosts...); err != nil {
				return err
			}
			abs, _ := filepath.Abs(certFile)
			fmt.Fprintf(cmd.OutOrStdout(), "certificate %s for %s\n", abs, strings.Join(hosts, ", "))
			return nil
		},
	}
	ss.Flags().StringVar(&certFile, "cert", "", "certificate file to write (PEM)")
	ss.Flags().StringVar(&keyFile, "key", "", "key file to write (PEM, mode 0600)")
	ss.Flags().StringSliceVar(&hosts, "host", []string{"localhost", "127.0.0.1", "::1"}, "host names and IP addresses")
	ss.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	cmd.AddCommand(ss)
	return cmd
}
