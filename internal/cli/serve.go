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

	"github.com/popadm/popadm/internal/server"
	"github.com/popadm/popadm/internal/tlsutil"
)

func init() {
	extraCommands = append(extraCommands,
		func(*factory) *cobra.Command { return newServeCmd() },
		func(*factory) *cobra.Command { return newTLSCmd() },
	)
}

// serveFlags are the command-line settings of `popadm serve`.
type serveFlags struct {
	cfg         server.Config
	logFormat   string
	logLevel    string
	trace       string
	readyFile   string
	inetd       bool
	allowShortT bool
	cpuProfile  string
}

func newServeCmd() *cobra.Command {
	var sf serveFlags
	c := &sf.cfg
	cmd := &cobra.Command{
		Use:   "serve [pop3d|poppassd]",
		Short: "Run the POP3 and poppassd servers",
		Long: `Run the configured listeners over the account database: POP3 with STLS
(default :110), POP3 over implicit TLS (default :995, when a certificate is
given) and poppassd (default 127.0.0.1:106). "serve pop3d" or
"serve poppassd" runs one service alone. With --inetd, one session is
served on standard input and output (the inetd/xinetd "nowait" model).

SIGHUP reloads the TLS certificate and key without dropping sessions.
SIGTERM and SIGINT stop accepting, end running sessions without deleting
anything (RFC 1939: no UPDATE without QUIT) and exit.

poppassd carries passwords in clear text: it listens on loopback only
unless --poppassd-allow-remote is given (prefer --poppassd-tls-listen then).`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"pop3d", "poppassd"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd, args, &sf)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&c.POP3Listen, "pop3-listen", []string{":110"}, "POP3 (cleartext + STLS) listen addresses")
	fl.StringSliceVar(&c.POP3SListen, "pop3s-listen", []string{":995"}, "POP3 over implicit TLS listen addresses (needs --tls-cert)")
	fl.StringSliceVar(&c.PoppassdListen, "poppassd-listen", []string{"127.0.0.1:106"}, "poppassd listen addresses")
	fl.StringSliceVar(&c.PoppassdTLSListen, "poppassd-tls-listen", nil, "poppassd over implicit TLS listen addresses")
	fl.BoolVar(&c.PoppassdAllowRemote, "poppassd-allow-remote", false, "allow poppassd on non-loopback addresses")
	fl.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate chain (PEM), reloaded on SIGHUP")
	fl.StringVar(&c.TLSKey, "tls-key", "", "TLS private key (PEM)")
	fl.BoolVar(&c.AllowInsecureAuth, "allow-insecure-auth", false, "accept plaintext passwords on cleartext connections from non-loopback addresses")
	fl.BoolVar(&c.APOP, "apop", false, "offer APOP (only accounts with the apop mechanism can use it; MailKit tries it whenever offered)")
	fl.StringSliceVar(&c.SASL, "sasl", nil, "extra SASL mechanisms to offer: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5 (offer one only when every account has that credential)")
	fl.StringVar(&c.Expire, "expire", "", "CAPA EXPIRE value (days or NEVER; empty omits)")
	fl.IntVar(&c.LoginDelay, "login-delay", 0, "CAPA LOGIN-DELAY seconds (0 omits)")
	fl.StringVar(&c.MailLocation, "mail-location", "maildir:/var/vmail/%d/%n", "Maildir location template (%u user, %n local part, %d domain)")
	fl.StringVar(&c.SystemMailLocation, "system-mail-location", "mbox:/var/mail/%u", "mail location of system (PAM) accounts: mbox:PATH or maildir:PATH")
	fl.StringVar(&c.JournalDir, "journal-dir", "/var/lib/popadm/journal", "directory for mbox UPDATE journals and spool session locks (outside the spool)")
	fl.StringVar(&c.Auth, "auth", "sqlite", "account backends: sqlite, pam, or sqlite,pam (PAM needs a build with -tags pam)")
	fl.StringVar(&c.PAMService, "pam-service", "popadm-pop3", "PAM service for logins")
	fl.StringVar(&c.PAMPasswdService, "pam-passwd-service", "popadm-passwd", "PAM service for password changes")
	fl.IntVar(&c.PAMMinUID, "pam-min-uid", 1000, "refuse system accounts below this UID (like a wrong password)")
	fl.StringVar(&c.DefaultDomain, "default-domain", os.Getenv("POPADM_DEFAULT_DOMAIN"), "domain appended to login names without one")
	fl.StringVar(&c.Hostname, "hostname", "", "host name for greetings and challenges (default: the system host name)")
	fl.DurationVar(&c.IdleTimeout, "idle-timeout", 10*time.Minute, "POP3 autologout timer (RFC 1939 requires at least 10m)")
	fl.DurationVar(&c.PoppassdIdleTimeout, "poppassd-idle-timeout", 60*time.Second, "poppassd idle timeout")
	fl.IntVar(&c.MaxConns, "max-conns", 1000, "connection limit per service")
	fl.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", 20, "connection limit per client address and service")
	fl.DurationVar(&c.FailureDelay, "failure-delay", 2*time.Second, "delay before every failed-login reply (grows with repeated failures)")
	fl.DurationVar(&c.MaxFailureDelay, "max-failure-delay", 15*time.Second, "cap of the growing failure delay")
	fl.IntVar(&c.IPFailLimit, "ip-fail-limit", 20, "failed logins per client address within 15m before its attempts are refused (-1 disables)")
	fl.StringVar(&c.Scheme, "scheme", "", "password scheme for credential sets written at login upgrades and poppassd changes (default ARGON2ID)")
	fl.DurationVar(&c.VerifyCacheTTL, "verify-cache-ttl", 10*time.Minute, "how long a verified password is remembered in memory (0 disables)")
	fl.IntVar(&c.MaxVerify, "max-verify", 0, "concurrent slow password verifications (default 2 per CPU)")
	fl.StringVar(&sf.trace, "trace", "", "write a protocol trace to this file (- for stderr); secrets are redacted")
	fl.BoolVar(&c.TraceAuth, "trace-auth", false, "do not redact secrets in the trace (debugging only)")
	fl.StringVar(&c.MetricsListen, "metrics-listen", "127.0.0.1:9110", "address of the Prometheus /metrics endpoint (none disables it)")
	fl.StringVar(&sf.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&sf.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fl.BoolVar(&sf.inetd, "inetd", false, "serve one session on stdin/stdout (needs one service: serve pop3d|poppassd)")
	fl.StringVar(&sf.readyFile, "ready-file", "", "write the bound addresses as JSON to this file once listening")
	_ = fl.MarkHidden("ready-file")
	fl.StringVar(&sf.cpuProfile, "cpu-profile", "", "write a CPU profile to this file until exit (benchmarking)")
	_ = fl.MarkHidden("cpu-profile")
	fl.BoolVar(&sf.allowShortT, "allow-short-idle-timeout", false, "allow an idle timeout under RFC 1939's 10 minutes (testing only)")
	_ = fl.MarkHidden("allow-short-idle-timeout")
	return cmd
}

func runServe(cmd *cobra.Command, args []string, sf *serveFlags) error {
	c := &sf.cfg
	c.POP3, c.Poppassd = true, true
	if len(args) == 1 {
		switch args[0] {
		case "pop3d", "pop3":
			c.Poppassd = false
		case "poppassd":
			c.POP3 = false
		default:
			return usageErrorf("unknown service %q (want pop3d or poppassd)", args[0])
		}
	}
	if c.IdleTimeout < 10*time.Minute && !sf.allowShortT {
		return usageErrorf("--idle-timeout %v is below RFC 1939's 10 minute minimum", c.IdleTimeout)
	}
	if c.VerifyCacheTTL == 0 {
		c.VerifyCacheTTL = -1
	}
	db, err := cmd.Flags().GetString("db")
	if err != nil || db == "" {
		return usageErrorf("no database: give --db or set POPADM_DB")
	}
	c.DBPath = db

	logOut := io.Writer(cmd.ErrOrStderr())
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(sf.logLevel)); err != nil {
		return usageErrorf("--log-level %q: %v", sf.logLevel, err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch sf.logFormat {
	case "text":
		h = slog.NewTextHandler(logOut, hopts)
	case "json":
		h = slog.NewJSONHandler(logOut, hopts)
	default:
		return usageErrorf("--log-format %q: want text or json", sf.logFormat)
	}
	c.Logger = slog.New(h)

	switch sf.trace {
	case "":
	case "-":
		c.Trace = cmd.ErrOrStderr()
	default:
		f, err := os.OpenFile(sf.trace, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("trace file: %w", err)
		}
		defer f.Close()
		c.Trace = f
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
		f, err := os.Create(sf.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if sf.inetd {
		if len(args) != 1 {
			return usageErrorf("--inetd serves one service: popadm serve pop3d --inetd or popadm serve poppassd --inetd")
		}
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
