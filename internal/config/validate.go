package config

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/popadm/popadm/internal/pwscheme"
)

// MinIdleTimeout is RFC 1939's floor for the POP3 autologout timer.
const MinIdleTimeout = 10 * time.Minute

// SASLMechanisms are the values pop3.sasl accepts.
var saslMechanisms = []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5"}

// SASLMechanisms returns the mechanism names pop3.sasl accepts.
func SASLMechanisms() []string { return append([]string(nil), saslMechanisms...) }

// ValidateOptions relaxes checks for tests.
type ValidateOptions struct {
	// AllowShortIdleTimeout accepts a POP3 idle timeout under
	// MinIdleTimeout.
	AllowShortIdleTimeout bool
}

// Validate checks the values of c and returns one Error per problem, each
// naming its dotted key (without file or line: see File.Locate).
func Validate(c *Config, o ValidateOptions) Errors {
	var errs Errors
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.DB == "" {
		bad("db", "must not be empty")
	}
	if c.Group != "" && c.User == "" {
		bad("group", "set without user")
	}

	for _, l := range []struct {
		key   string
		addrs []string
	}{
		{"pop3.listen", c.POP3.Listen}, {"pop3.listen_tls", c.POP3.ListenTLS},
		{"poppassd.listen", c.Poppassd.Listen}, {"poppassd.listen_tls", c.Poppassd.ListenTLS},
	} {
		for _, a := range l.addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				bad(l.key, "bad listen address %q (want HOST:PORT or :PORT)", a)
				continue
			}
			if strings.HasPrefix(l.key, "poppassd.") && !c.Poppassd.AllowRemote && !isLoopback(a) {
				bad(l.key, "address %q is not loopback; poppassd carries passwords in clear text: set poppassd.allow_remote to listen there (and prefer listen_tls)", a)
			}
		}
	}

	for _, m := range c.POP3.SASL {
		if !knownSASL(m) {
			bad("pop3.sasl", "unknown mechanism %q (want %s)", m, strings.Join(saslMechanisms, ", "))
		}
	}
	if e := c.POP3.Expire; e != "" && e != "NEVER" {
		if n, err := strconv.Atoi(e); err != nil || n < 0 || strconv.Itoa(n) != e {
			bad("pop3.expire", "%q is neither NEVER nor a number of days", e)
		}
	}
	if c.POP3.LoginDelay < 0 {
		bad("pop3.login_delay", "must not be negative")
	}
	switch {
	case c.POP3.IdleTimeout <= 0:
		bad("pop3.idle_timeout", "must be positive")
	case c.POP3.IdleTimeout < MinIdleTimeout && !o.AllowShortIdleTimeout:
		bad("pop3.idle_timeout", "%s is below RFC 1939's 10 minute minimum", FormatDuration(c.POP3.IdleTimeout))
	}
	if c.Poppassd.IdleTimeout <= 0 {
		bad("poppassd.idle_timeout", "must be positive")
	}

	switch {
	case c.TLS.Cert != "" && c.TLS.Key == "":
		bad("tls.cert", "set without tls.key")
	case c.TLS.Key != "" && c.TLS.Cert == "":
		bad("tls.key", "set without tls.cert")
	}

	for key, v := range map[string]string{
		"mail.location": c.Mail.Location, "mail.system_location": c.Mail.SystemLocation,
	} {
		if !strings.HasPrefix(v, "maildir:") && !strings.HasPrefix(v, "mbox:") {
			bad(key, "%q: want maildir:PATH or mbox:PATH", v)
		}
	}
	if c.Mail.JournalDir == "" {
		bad("mail.journal_dir", "must not be empty")
	}

	switch strings.ReplaceAll(strings.ToLower(c.Auth.Backends), " ", "") {
	case "sqlite", "pam", "sqlite,pam":
	default:
		bad("auth.backends", "unknown backend chain %q (want sqlite, pam or sqlite,pam)", c.Auth.Backends)
	}
	if c.Auth.Scheme != "" {
		if _, ok := pwscheme.Lookup(c.Auth.Scheme); !ok {
			bad("auth.scheme", "unknown password scheme %q", c.Auth.Scheme)
		}
	}
	nonNegative(bad, "auth.verify_cache_ttl", int64(c.Auth.VerifyCacheTTL))
	nonNegative(bad, "auth.max_verify", int64(c.Auth.MaxVerify))
	nonNegative(bad, "auth.pam_min_uid", int64(c.Auth.PAMMinUID))
	if c.Auth.PAMService == "" {
		bad("auth.pam_service", "must not be empty")
	}
	if c.Auth.PAMPasswdService == "" {
		bad("auth.pam_passwd_service", "must not be empty")
	}

	nonNegative(bad, "limits.max_conns", int64(c.Limits.MaxConns))
	nonNegative(bad, "limits.max_conns_per_ip", int64(c.Limits.MaxConnsPerIP))
	nonNegative(bad, "limits.failure_delay", int64(c.Limits.FailureDelay))
	nonNegative(bad, "limits.max_failure_delay", int64(c.Limits.MaxFailureDelay))
	if c.Limits.IPFailLimit < -1 {
		bad("limits.ip_fail_limit", "must be -1 (disabled) or more")
	}

	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q: want text or json", c.Log.Format)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.Log.Level)); err != nil {
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}

	if l := c.Metrics.Listen; l != "none" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			bad("metrics.listen", "bad listen address %q (want HOST:PORT or none)", l)
		}
	}
	if l := c.Socketmap.Listen; l != "none" && l != "" && !strings.HasPrefix(l, "unix:/") && !strings.HasPrefix(l, "inet:") {
		bad("socketmap.listen", "%q: want unix:/PATH, inet:HOST:PORT or none", l)
	}
	sortByKeyOrder(errs)
	return errs
}

// nonNegative reports a negative value of key.
func nonNegative(bad func(string, string, ...any), key string, v int64) {
	if v < 0 {
		bad(key, "must not be negative")
	}
}

// knownSASL reports whether m is an offered SASL mechanism.
func knownSASL(m string) bool {
	for _, k := range saslMechanisms {
		if strings.EqualFold(m, k) {
			return true
		}
	}
	return false
}

// isLoopback reports whether a listen address binds only loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sortByKeyOrder orders errs like the settings table (map iteration above
// is unordered).
func sortByKeyOrder(errs Errors) {
	rank := map[string]int{}
	for i, s := range Settings() {
		rank[s.Key] = i
	}
	for i := 1; i < len(errs); i++ {
		for j := i; j > 0 && rank[errs[j].Key] < rank[errs[j-1].Key]; j-- {
			errs[j], errs[j-1] = errs[j-1], errs[j]
		}
	}
}
