package pop3d

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"
)

// ConnInfo describes the client connection a backend call belongs to.
type ConnInfo struct {
	ID     string               // connection id for logs
	Remote net.Addr             // client address
	Local  net.Addr             // listener address
	TLS    *tls.ConnectionState // nil on a cleartext connection
	Since  time.Time            // connection start
}

// Backend authenticates users and opens their maildrops.
type Backend interface {
	// Login is called for PASS, AUTH PLAIN and AUTH LOGIN in the
	// AUTHORIZATION state. On success the returned Session holds the
	// maildrop lock (RFC 1939 §4). Errors: an *Error goes to the client
	// verbatim (ErrAuthFailed, ErrInUse, a [LOGIN-DELAY] or [SYS/PERM]
	// error...); anything else is logged and sent as
	// "-ERR [SYS/TEMP] internal server error". The backend applies any
	// failure delay itself before returning.
	Login(ctx context.Context, c *ConnInfo, username, password string) (Session, error)
}

// APOPBackend is implemented by backends that support APOP (RFC 1939 §7).
// The server offers APOP (a timestamp in the greeting) only when
// Options.APOP is set, and then the backend must implement this.
type APOPBackend interface {
	// LoginAPOP checks digest = hex(MD5(timestamp + secret)).
	LoginAPOP(ctx context.Context, c *ConnInfo, username, timestamp, digest string) (Session, error)
}

// SASLBackend is implemented by backends that provide SASL mechanisms
// other than PLAIN and LOGIN (which the server implements on top of Login).
type SASLBackend interface {
	// NewSASL starts an exchange for mech (upper case, one of
	// Options.SASLMechanisms). The server handles the wire framing
	// (base64, "+ " continuations, "*" cancel).
	NewSASL(ctx context.Context, c *ConnInfo, mech string) (SASLServer, error)
}

// SASLServer is one server-side SASL exchange. If it also has a method
// Username() string, the server logs the user name it returns after a
// successful exchange.
type SASLServer interface {
	// Next is called first with the initial response (nil when the client
	// sent none; an empty non-nil slice for "="), then with each decoded
	// client response. It returns the next challenge. When done is true the
	// exchange is over: err == nil means the credentials were accepted;
	// a non-nil challenge with done is server-final data (SCRAM "v="),
	// which the server sends as a "+ " line before answering +OK, after the
	// client's empty response.
	Next(ctx context.Context, response []byte) (challenge []byte, done bool, err error)
	// Session opens the maildrop of the authenticated user. Called once,
	// only after Next returned done with a nil error.
	Session(ctx context.Context) (Session, error)
}

// Message is one message of a maildrop snapshot.
type Message struct {
	Size int64  // octets as transmitted (CRLF line ends, before dot-stuffing)
	UID  string // UIDL: 1-70 characters in 0x21-0x7E, unique in the maildrop
}

// Session is one locked maildrop for the TRANSACTION state.
type Session interface {
	// Messages is called once, right after login. Message numbers are
	// indexes into the result plus one and never change during the session.
	// Messages are ordered oldest first.
	Messages(ctx context.Context) ([]Message, error)
	// Open returns message i (0-based) in its transmitted form: CRLF line
	// ends, ending in CRLF, not dot-stuffed; exactly Size bytes.
	Open(ctx context.Context, i int) (io.ReadCloser, error)
	// Commit removes the given messages (0-based). Called only on QUIT from
	// the TRANSACTION state (the UPDATE state), never on a dropped
	// connection.
	Commit(ctx context.Context, deleted []int) error
	// Close releases the lock. Always called exactly once, also after
	// Commit.
	Close() error
}

// Error is a POP3 error reply. Code is an RFC 2449/3206 response code
// without brackets, or "".
type Error struct {
	Code string
	Text string
}

// Error returns the reply line without its CRLF, for example
// "-ERR [IN-USE] maildrop is locked by another session".
func (e *Error) Error() string {
	if e.Code == "" {
		return "-ERR " + e.Text
	}
	return "-ERR [" + e.Code + "] " + e.Text
}

// Errors a backend returns to produce the standard replies.
var (
	// ErrAuthFailed is the one reply for every credentials failure:
	// unknown user and wrong password are indistinguishable.
	ErrAuthFailed = &Error{Code: "AUTH", Text: "authentication failed"}
	// ErrInUse is returned when another session holds the maildrop.
	ErrInUse = &Error{Code: "IN-USE", Text: "maildrop is locked by another session"}
	// ErrMechUnavailable is returned when the account has no credential
	// for the requested mechanism.
	ErrMechUnavailable = &Error{Code: "AUTH", Text: "mechanism not available for this account"}
	// ErrTemp is the generic temporary failure.
	ErrTemp = &Error{Code: "SYS/TEMP", Text: "internal server error"}
)

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("pop3d: server closed")

type mechKey struct{}

// Mechanism returns the mechanism of a Backend.Login call: "USER" for
// USER/PASS, "PLAIN" or "LOGIN" for SASL. It is meant for logs.
func Mechanism(ctx context.Context) string {
	if m, ok := ctx.Value(mechKey{}).(string); ok {
		return m
	}
	return "USER"
}

func withMechanism(ctx context.Context, mech string) context.Context {
	return context.WithValue(ctx, mechKey{}, mech)
}
