package poppassd

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
)

// Backend verifies and changes passwords. The server calls Authenticate for
// "pass" and, only after it succeeded on the same connection,
// ChangePassword for "newpass". Both are called at most once per
// connection. Implementations must be safe for concurrent use.
type Backend interface {
	// Authenticate checks username and the current password for the "pass"
	// command, and may also check that the account is allowed to change
	// its password. Any refusal is an error.
	//
	// Every error except one matching ErrUnavailable is answered with the
	// same line, "500 Old password is incorrect.", after the same
	// Options.FailureDelay (measured from the receipt of "pass"), followed
	// by the same close: unknown user, wrong password, disabled account and
	// "not allowed" cannot be told apart on the wire. The implementation
	// logs the reason itself. Its own running time must not depend on
	// whether the account exists (verify a dummy hash for unknown users),
	// unless it stays well below FailureDelay.
	//
	// An error matching ErrUnavailable (store down, locked, timed out) is
	// answered "500 Server error, password not changed." after the same
	// delay. Return it only for failures that do not depend on the account
	// or the password, or it becomes an oracle.
	Authenticate(ctx context.Context, c *ConnInfo, username, password string) error

	// ChangePassword commits the change (credential set rewritten, audit
	// row written) before returning nil; the server answers "200" only
	// after that, and never calls it for a connection that was cut off
	// or sent an incomplete line.
	//
	// A *PolicyError is shown to the client as "500 <Msg>". An error
	// matching ErrAuthFailed (the account changed since "pass") is
	// answered "500 Old password is incorrect." after FailureDelay. Any
	// other error is logged and answered "500 Server error, password not
	// changed."
	ChangePassword(ctx context.Context, c *ConnInfo, username, oldPassword, newPassword string) error
}

// ConnInfo describes the client connection a backend call belongs to.
type ConnInfo struct {
	// ID identifies the connection in logs.
	ID string
	// Remote is the client address. In inetd mode over a pipe (stdin not
	// a socket) it is a placeholder of network "stdio".
	Remote net.Addr
	// Local is the address the client connected to, or a placeholder
	// like Remote.
	Local net.Addr
	// TLS is the handshake state on an implicit-TLS connection, nil on
	// clear text.
	TLS *tls.ConnectionState
}

// PolicyError is a new password refused by the password policy. Msg says
// which rule was broken, in words fit for the end user, and never contains
// the password. The server sends it as "500 <Msg>" (control characters
// removed, shortened to one reply line).
type PolicyError struct {
	// Msg is the reason shown to the user, e.g. "Password must have at
	// least 8 characters."
	Msg string
}

// Error implements error.
func (e *PolicyError) Error() string { return "poppassd: password refused by policy: " + e.Msg }

// Errors a Backend returns to choose a reply.
var (
	// ErrAuthFailed marks a refused authentication. Authenticate may
	// return any error for a refusal; ChangePassword returns an error
	// matching ErrAuthFailed when the old password or the account's right
	// to change it no longer holds.
	ErrAuthFailed = errors.New("poppassd: authentication failed")

	// ErrUnavailable marks a temporary failure that does not depend on the
	// account or the password (the store is down or busy). Wrap the cause:
	// fmt.Errorf("%w: %w", poppassd.ErrUnavailable, err).
	ErrUnavailable = errors.New("poppassd: password service unavailable")
)

// ErrServerClosed is returned by Serve and ServeTLS after Close or Shutdown.
var ErrServerClosed = errors.New("poppassd: server closed")
