// Package backend joins the protocol servers to the account store and the
// mail store: it implements pop3d.Backend (with APOP and SASL) and
// poppassd.Backend on top of authdb and maildrop, and applies the shared
// failed-login policy (throttle) and the one log line per attempt that
// fail2ban reads.
//
// The log contract, identical for every protocol:
//
//	msg="auth failed" proto=pop3 user=alice@example.com remote=192.0.2.7:40000 mech=PLAIN reason=bad-password
//	msg="auth ok" proto=pop3 user=alice@example.com remote=192.0.2.7:40000 mech=PLAIN tls=true
//
// The reason appears only in the log, never on the wire.
package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/popadm/popadm/authdb"
	"github.com/popadm/popadm/internal/maildrop"
	"github.com/popadm/popadm/internal/mbox"
	"github.com/popadm/popadm/internal/throttle"
)

// Store is what the glue needs from the account store. *authdb.DB
// implements it.
type Store interface {
	authdb.Authenticator
	authdb.PasswordChanger
	// AuthenticateWith runs a non-plaintext mechanism: check verifies the
	// client's proof against the account's credentials; the store then
	// applies the same account-state rules as Authenticate and records the
	// login.
	AuthenticateWith(ctx context.Context, req authdb.Request, username, mech string, check func(*authdb.Account) (bool, error)) (*authdb.Account, error)
}

// Options configures the glue.
type Options struct {
	Store Store
	// DefaultDomain is appended to login names without a domain.
	DefaultDomain string
	// MailLocation is the Maildir path template for accounts without a
	// per-user override: %u = full login, %n = local part, %d = domain,
	// %% = a percent sign. An optional "maildir:" prefix is accepted.
	MailLocation string
	// SystemMailLocation is the template for accounts from the system (PAM),
	// which have no domain: default "mbox:/var/mail/%u". A "maildir:"
	// prefix or none selects a Maildir, "mbox:" an mbox spool.
	SystemMailLocation string
	// Maildrop options for every Maildir session.
	Maildrop maildrop.Options
	// Mbox options for every mbox spool session (JournalDir is required
	// when any location is an mbox).
	Mbox mbox.Options
	// Limiter is the failed-login policy shared by all protocols of the
	// process. Nil gets a default limiter.
	Limiter *throttle.Limiter
	// Hostname is used in CRAM-MD5 challenges.
	Hostname string
	// Logger receives the auth log lines; nil means slog.Default().
	Logger *slog.Logger
	// Metrics receives counters; nil disables them.
	Metrics Metrics
}

// Metrics is the small set of observations the glue reports.
type Metrics interface {
	Login(proto, mech, result string, d time.Duration)
	Throttled(proto string)
	InUse()
}

// Backend is the glue. It is safe for concurrent use.
type Backend struct {
	opts Options
	log  *slog.Logger
}

// New returns a Backend.
func New(opts Options) (*Backend, error) {
	if opts.Store == nil {
		return nil, errors.New("backend: no account store")
	}
	if opts.Limiter == nil {
		opts.Limiter = throttle.New(throttle.Options{})
	}
	if opts.MailLocation == "" {
		return nil, errors.New("backend: no mail location template")
	}
	if opts.SystemMailLocation == "" {
		opts.SystemMailLocation = "mbox:/var/mail/%u"
	}
	for _, l := range []string{opts.MailLocation, opts.SystemMailLocation} {
		kind, path := splitLocation(l)
		if kind == "" {
			return nil, fmt.Errorf("backend: mail location %q: unknown type (want maildir: or mbox:)", l)
		}
		if !strings.Contains(path, "%u") && !strings.Contains(path, "%n") {
			return nil, fmt.Errorf("backend: mail location %q has no %%u or %%n: every user would share one maildrop", l)
		}
		if kind == "mbox" && opts.Mbox.JournalDir == "" && l == opts.MailLocation {
			return nil, fmt.Errorf("backend: mail location %q is an mbox spool but no journal directory is set", l)
		}
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Backend{opts: opts, log: log}, nil
}

// Limiter returns the failed-login limiter in use.
func (b *Backend) Limiter() *throttle.Limiter { return b.opts.Limiter }

// normalize maps a typed login name to the stored form. An impossible name
// is kept as typed (lower-cased) so that it fails exactly like an unknown
// user.
func (b *Backend) normalize(name string) string {
	n, err := authdb.Normalize(name, b.opts.DefaultDomain)
	if err != nil {
		return strings.ToLower(name)
	}
	return n
}

// splitLocation splits "maildir:PATH" or "mbox:PATH" (no prefix means a
// Maildir). kind is "" for an unknown prefix.
func splitLocation(l string) (kind, path string) {
	switch {
	case strings.HasPrefix(l, "maildir:"):
		return "maildir", strings.TrimPrefix(l, "maildir:")
	case strings.HasPrefix(l, "mbox:"):
		return "mbox", strings.TrimPrefix(l, "mbox:")
	case strings.HasPrefix(l, "/"), strings.HasPrefix(l, "."):
		return "maildir", l
	}
	return "", l
}

// LocationFor returns the kind ("maildir" or "mbox") and path of an
// account's mail: its per-user override, else the template for its kind of
// account (system accounts have no domain).
func (b *Backend) LocationFor(acct *authdb.Account) (kind, path string, err error) {
	if acct.Maildrop != "" {
		kind, path = splitLocation(acct.Maildrop)
		if kind == "" {
			kind, path = "maildir", acct.Maildrop
		}
		return kind, path, nil
	}
	tmpl := b.opts.MailLocation
	if acct.Domain == "" {
		tmpl = b.opts.SystemMailLocation
	}
	kind, tmpl = splitLocation(tmpl)
	path, err = ExpandLocation(tmpl, acct.Name, acct.Local, acct.Domain)
	return kind, path, err
}

// ExpandLocation expands a mail location template. It refuses values that
// would escape the template's directory (".." or "/" in a name part).
func ExpandLocation(tmpl, user, local, domain string) (string, error) {
	for _, part := range []string{user, local, domain} {
		if part == "." || part == ".." || strings.ContainsAny(part, "/\x00") {
			return "", fmt.Errorf("backend: unsafe name part %q for a mail location", part)
		}
	}
	if local == "" || (domain == "" && strings.Contains(tmpl, "%d")) {
		return "", fmt.Errorf("backend: mail location %q needs a part the account %q lacks", tmpl, user)
	}
	var sb strings.Builder
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if c != '%' || i+1 == len(tmpl) {
			sb.WriteByte(c)
			continue
		}
		i++
		switch tmpl[i] {
		case 'u':
			sb.WriteString(user)
		case 'n':
			sb.WriteString(local)
		case 'd':
			sb.WriteString(domain)
		case '%':
			sb.WriteByte('%')
		default:
			return "", fmt.Errorf("backend: unknown %%%c in mail location %q", tmpl[i], tmpl)
		}
	}
	return filepath.Clean(sb.String()), nil
}

// attempt carries what one login attempt logs.
type attempt struct {
	proto  string
	mech   string
	user   string
	remote string
	tls    bool
	start  time.Time
}

func remoteString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// reasonOf extracts the log reason of an authentication error.
func reasonOf(err error) authdb.Reason {
	var ae *authdb.AuthError
	if errors.As(err, &ae) {
		return ae.Reason
	}
	if errors.Is(err, authdb.ErrTemporary) {
		return "temporary-failure"
	}
	return "error"
}

func (b *Backend) logFailure(a attempt, reason authdb.Reason) {
	b.log.Info("auth failed", "proto", a.proto, "user", a.user, "remote", a.remote, "mech", a.mech, "reason", string(reason))
	if b.opts.Metrics != nil {
		b.opts.Metrics.Login(a.proto, a.mech, string(reason), time.Since(a.start))
	}
}

func (b *Backend) logSuccess(a attempt) {
	b.log.Info("auth ok", "proto", a.proto, "user", a.user, "remote", a.remote, "mech", a.mech, "tls", a.tls)
	if b.opts.Metrics != nil {
		b.opts.Metrics.Login(a.proto, a.mech, "ok", time.Since(a.start))
	}
}

// fail applies the shared failure policy to a refused attempt: it logs the
// attempt, counts it against the account when it is a new wrong password,
// and waits the throttling delay (measured from the start of the attempt, so
// a slow or fast store answer cannot be told apart). password is "" for
// challenge/response mechanisms, whose proofs never repeat.
func (b *Backend) fail(ctx context.Context, a attempt, password string, err error) {
	reason := reasonOf(err)
	b.logFailure(a, reason)
	if reason == "temporary-failure" || reason == "error" {
		return
	}
	delay, counted := b.opts.Limiter.Failure(a.remote, a.user, password)
	// Unknown users and locked accounts go through the same store write as
	// a wrong password (it changes nothing for them), so the work done
	// before the reply does not depend on which refusal it is.
	if reason == authdb.ReasonBadPassword || reason == authdb.ReasonUnknownUser || reason == authdb.ReasonLocked {
		req := authdb.Request{Service: authdb.Service(a.proto), Remote: a.remote}
		user := a.user
		if !counted {
			// A repeated wrong password does not count, but it still pays
			// the same store round trip, against a name no account can
			// have, so the reply timing does not show which it was.
			user, reason = "\x00", authdb.ReasonUnknownUser
		}
		if rerr := b.opts.Store.RecordFailure(context.WithoutCancel(ctx), req, user, reason); rerr != nil {
			b.log.Error("record failure", "user", a.user, "err", rerr)
		}
	}
	sleepUntil(ctx, a.start.Add(delay))
}

// sleepUntil waits until t or until ctx is done.
func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// throttled reports whether the remote address is refused before any
// credential check, logging and counting it.
func (b *Backend) throttled(a attempt) (bool, time.Duration) {
	ok, retry := b.opts.Limiter.Check(a.remote)
	if ok {
		return false, 0
	}
	b.logFailure(a, "throttled")
	if b.opts.Metrics != nil {
		b.opts.Metrics.Throttled(a.proto)
	}
	return true, retry
}
