package backend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/popadm/popadm/authdb"
	"github.com/popadm/popadm/poppassd"
)

// Passwd adapts a Backend to poppassd.Backend.
type Passwd struct{ *Backend }

// Passwd returns the poppassd side of b.
func (b *Backend) Passwd() *Passwd { return &Passwd{b} }

var _ poppassd.Backend = (*Passwd)(nil)

// errPasswdRefused is the one error for every refusal, which poppassd's
// server turns into "500 Old password is incorrect.".
var errPasswdRefused = fmt.Errorf("backend: old password is incorrect: %w", poppassd.ErrAuthFailed)

func (p *Passwd) attempt(c *poppassd.ConnInfo, user string) attempt {
	return attempt{proto: "poppassd", mech: "PASS", user: p.normalize(user), remote: remoteString(c.Remote), tls: c.TLS != nil, start: time.Now()}
}

// Authenticate implements poppassd.Backend: it checks the old password and
// that the account may change its password. Unknown user, wrong password,
// disabled and not-allowed all return the same error after the same delay.
func (p *Passwd) Authenticate(ctx context.Context, c *poppassd.ConnInfo, username, password string) error {
	a := p.attempt(c, username)
	if blocked, _ := p.throttled(a); blocked {
		sleepUntil(ctx, a.start.Add(p.opts.Limiter.BaseDelay()))
		return errPasswdRefused
	}
	req := authdb.Request{Service: authdb.ServicePoppassd, Remote: a.remote}
	_, err := p.opts.Store.Authenticate(ctx, req, a.user, password)
	if err == nil {
		p.opts.Limiter.Success(a.user)
		p.logSuccess(a)
		return nil
	}
	var ae *authdb.AuthError
	if !errors.As(err, &ae) {
		p.logFailure(a, reasonOf(err))
		p.log.Error("auth store failure", "proto", "poppassd", "user", a.user, "err", err)
		return fmt.Errorf("%w: %w", poppassd.ErrUnavailable, err)
	}
	// A refusal after a correct password (disabled, not allowed) must look
	// exactly like a wrong password: same reply, same delay, same close.
	p.fail(ctx, a, password, err)
	return errPasswdRefused
}

// ChangePassword implements poppassd.Backend. The store checks the old
// password again, enforces the policy and commits the new credential set
// and the audit row before it returns.
func (p *Passwd) ChangePassword(ctx context.Context, c *poppassd.ConnInfo, username, oldPassword, newPassword string) error {
	a := p.attempt(c, username)
	a.mech = "NEWPASS"
	req := authdb.Request{Service: authdb.ServicePoppassd, Remote: a.remote}
	err := p.opts.Store.ChangePassword(ctx, req, a.user, oldPassword, newPassword)
	var pe *authdb.PolicyError
	switch {
	case err == nil:
		// The poppassd server logs the change itself.
		if p.opts.Metrics != nil {
			p.opts.Metrics.Login("poppassd", "NEWPASS", "changed", time.Since(a.start))
		}
		return nil
	case errors.As(err, &pe):
		p.log.Debug("password policy refusal", "proto", "poppassd", "user", a.user, "remote", a.remote, "rule", pe.Rule)
		return &poppassd.PolicyError{Msg: pe.Msg}
	case errors.Is(err, authdb.ErrAuthFailed):
		p.fail(ctx, a, oldPassword, err)
		return errPasswdRefused
	default:
		p.log.Error("password change failed", "proto", "poppassd", "user", a.user, "remote", a.remote, "err", err)
		return fmt.Errorf("%w: %w", poppassd.ErrUnavailable, err)
	}
}
