package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/popadm/popadm/internal/control"
)

// Setting describes one key of the file and the serve flag that
// overrides it.
type Setting struct {
	// Key is the dotted TOML key: "db" at the top level, "pop3.listen"
	// inside [pop3].
	Key string
	// Flag is the long name of the serve flag (without "--").
	Flag string
	// Env is the environment variable that overrides the file, if any.
	Env string
	// Help is the one-line description shown by --help and the example.
	Help string
	// field returns a pointer into c: *string, *[]string, *bool, *int or
	// *time.Duration.
	field func(c *Config) any
}

// Section returns the table the key lives in ("" for the top level).
func (s Setting) Section() string {
	if i := strings.LastIndexByte(s.Key, '.'); i >= 0 {
		return s.Key[:i]
	}
	return ""
}

// Name returns the key within its section.
func (s Setting) Name() string {
	return s.Key[strings.LastIndexByte(s.Key, '.')+1:]
}

// Ptr returns a pointer to the setting's field in c: a *string,
// *[]string, *bool, *int or *time.Duration.
func (s Setting) Ptr(c *Config) any { return s.field(c) }

// Copy sets the setting in dst to its value in src.
func (s Setting) Copy(dst, src *Config) {
	switch d := s.field(dst).(type) {
	case *string:
		*d = *s.field(src).(*string)
	case *[]string:
		*d = append([]string{}, *s.field(src).(*[]string)...)
	case *bool:
		*d = *s.field(src).(*bool)
	case *int:
		*d = *s.field(src).(*int)
	case *time.Duration:
		*d = *s.field(src).(*time.Duration)
	default:
		panic(fmt.Sprintf("config: setting %s has unsupported type %T", s.Key, d))
	}
}

// Sections returns the names of the tables of the file, in order.
func Sections() []string {
	return []string{"pop3", "poppassd", "tls", "mail", "auth", "limits", "log", "metrics", "control", "socketmap"}
}

// Settings returns the table of every setting, in file order. The caller
// owns the returned slice.
func Settings() []Setting {
	return []Setting{
		{"db", "db", "POPADM_DB", "account database path",
			func(c *Config) any { return &c.DB }},
		{"default_domain", "default-domain", "POPADM_DEFAULT_DOMAIN", "domain appended to login names without one",
			func(c *Config) any { return &c.DefaultDomain }},
		{"hostname", "hostname", "", "host name for greetings and challenges (empty: the system host name)",
			func(c *Config) any { return &c.Hostname }},
		{"user", "user", "", "when started as root, switch to this user once every socket is bound (not with PAM accounts)",
			func(c *Config) any { return &c.User }},
		{"group", "group", "", "group to switch to with user (empty: the user's primary group)",
			func(c *Config) any { return &c.Group }},

		{"pop3.listen", "pop3-listen", "", "POP3 (cleartext + STLS) listen addresses",
			func(c *Config) any { return &c.POP3.Listen }},
		{"pop3.listen_tls", "pop3s-listen", "", "POP3 over implicit TLS listen addresses (needs a TLS certificate)",
			func(c *Config) any { return &c.POP3.ListenTLS }},
		{"pop3.allow_insecure_auth", "allow-insecure-auth", "", "accept plaintext passwords on cleartext connections from non-loopback addresses",
			func(c *Config) any { return &c.POP3.AllowInsecureAuth }},
		{"pop3.apop", "apop", "", "offer APOP (only accounts with the apop mechanism can use it; MailKit tries it whenever offered)",
			func(c *Config) any { return &c.POP3.APOP }},
		{"pop3.sasl", "sasl", "", "extra SASL mechanisms to offer: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5 (offer one only when every account has that credential)",
			func(c *Config) any { return &c.POP3.SASL }},
		{"pop3.expire", "expire", "", "CAPA EXPIRE value (days or NEVER; empty omits)",
			func(c *Config) any { return &c.POP3.Expire }},
		{"pop3.login_delay", "login-delay", "", "CAPA LOGIN-DELAY seconds (0 omits)",
			func(c *Config) any { return &c.POP3.LoginDelay }},
		{"pop3.idle_timeout", "idle-timeout", "", "POP3 autologout timer (RFC 1939 requires at least 10m)",
			func(c *Config) any { return &c.POP3.IdleTimeout }},

		{"poppassd.listen", "poppassd-listen", "", "poppassd listen addresses (loopback only unless allow_remote)",
			func(c *Config) any { return &c.Poppassd.Listen }},
		{"poppassd.listen_tls", "poppassd-tls-listen", "", "poppassd over implicit TLS listen addresses",
			func(c *Config) any { return &c.Poppassd.ListenTLS }},
		{"poppassd.allow_remote", "poppassd-allow-remote", "", "allow poppassd on non-loopback addresses",
			func(c *Config) any { return &c.Poppassd.AllowRemote }},
		{"poppassd.idle_timeout", "poppassd-idle-timeout", "", "poppassd idle timeout",
			func(c *Config) any { return &c.Poppassd.IdleTimeout }},

		{"tls.cert", "tls-cert", "", "TLS certificate chain (PEM), reloaded on SIGHUP",
			func(c *Config) any { return &c.TLS.Cert }},
		{"tls.key", "tls-key", "", "TLS private key (PEM)",
			func(c *Config) any { return &c.TLS.Key }},

		{"mail.location", "mail-location", "", "Maildir location template (%u user, %n local part, %d domain)",
			func(c *Config) any { return &c.Mail.Location }},
		{"mail.system_location", "system-mail-location", "", "mail location of system (PAM) accounts: mbox:PATH or maildir:PATH",
			func(c *Config) any { return &c.Mail.SystemLocation }},
		{"mail.journal_dir", "journal-dir", "", "directory for mbox UPDATE journals and spool session locks (outside the spool)",
			func(c *Config) any { return &c.Mail.JournalDir }},

		{"auth.backends", "auth", "", "account backends: sqlite, pam, or sqlite,pam (PAM needs a build with -tags pam)",
			func(c *Config) any { return &c.Auth.Backends }},
		{"auth.scheme", "scheme", "", "password scheme for credential sets written at login upgrades and poppassd changes (empty: ARGON2ID)",
			func(c *Config) any { return &c.Auth.Scheme }},
		{"auth.verify_cache_ttl", "verify-cache-ttl", "", "how long a verified password is remembered in memory (0 disables)",
			func(c *Config) any { return &c.Auth.VerifyCacheTTL }},
		{"auth.max_verify", "max-verify", "", "concurrent slow password verifications (0: 2 per CPU)",
			func(c *Config) any { return &c.Auth.MaxVerify }},
		{"auth.pam_service", "pam-service", "", "PAM service for logins",
			func(c *Config) any { return &c.Auth.PAMService }},
		{"auth.pam_passwd_service", "pam-passwd-service", "", "PAM service for password changes",
			func(c *Config) any { return &c.Auth.PAMPasswdService }},
		{"auth.pam_min_uid", "pam-min-uid", "", "refuse system accounts below this UID (like a wrong password)",
			func(c *Config) any { return &c.Auth.PAMMinUID }},

		{"limits.max_conns", "max-conns", "", "connection limit per service",
			func(c *Config) any { return &c.Limits.MaxConns }},
		{"limits.max_conns_per_ip", "max-conns-per-ip", "", "connection limit per client address and service",
			func(c *Config) any { return &c.Limits.MaxConnsPerIP }},
		{"limits.failure_delay", "failure-delay", "", "delay before every failed-login reply (grows with repeated failures)",
			func(c *Config) any { return &c.Limits.FailureDelay }},
		{"limits.max_failure_delay", "max-failure-delay", "", "cap of the growing failure delay",
			func(c *Config) any { return &c.Limits.MaxFailureDelay }},
		{"limits.ip_fail_limit", "ip-fail-limit", "", "failed logins per client address within 15m before its attempts are refused (-1 disables)",
			func(c *Config) any { return &c.Limits.IPFailLimit }},

		{"log.format", "log-format", "", "log format: text or json",
			func(c *Config) any { return &c.Log.Format }},
		{"log.level", "log-level", "", "log level: debug, info, warn, error",
			func(c *Config) any { return &c.Log.Level }},
		{"log.trace", "trace", "", "write a protocol trace to this file (- for stderr); secrets are redacted",
			func(c *Config) any { return &c.Log.Trace }},
		{"log.trace_auth", "trace-auth", "", "do not redact secrets in the trace (debugging only)",
			func(c *Config) any { return &c.Log.TraceAuth }},

		{"metrics.listen", "metrics-listen", "", "address of the Prometheus /metrics endpoint (none disables)",
			func(c *Config) any { return &c.Metrics.Listen }},

		{"control.socket", "control-socket", "POPADM_CONTROL", "control socket path for popadm who/kick/reload, or none (empty: " + control.DefaultSocket + ")",
			func(c *Config) any { return &c.Control.Socket }},

		{"socketmap.listen", "socketmap-listen", "", "serve Postfix socketmap recipient maps (domain, mailbox) on unix:/path (mode 0666) or inet:127.0.0.1:port; none disables",
			func(c *Config) any { return &c.Socketmap.Listen }},
	}
}

// Lookup returns the setting with the dotted key.
func Lookup(key string) (Setting, bool) {
	for _, s := range Settings() {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// EnvVars returns the environment variables that override the file, in
// table order.
func EnvVars() []string {
	var out []string
	for _, s := range Settings() {
		if s.Env != "" {
			out = append(out, s.Env)
		}
	}
	return out
}
