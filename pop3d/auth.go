package pop3d

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strings"
)

// maxSASLRounds bounds the challenges of one AUTH exchange.
const maxSASLRounds = 10

var (
	errAuthCancelled  = &Error{Text: "authentication cancelled"} // RFC 5034 §4: no [AUTH]
	errBadBase64      = &Error{Code: "AUTH", Text: "invalid base64 data"}
	errUnknownMech    = &Error{Text: "unsupported authentication mechanism"}
	errSASLProtocol   = &Error{Code: "AUTH", Text: "authentication exchange failed"}
	errFinalNotEmpty  = &Error{Text: "expected an empty response to the server's final data"}
	errPlainAuthzid   = &Error{Code: "AUTH", Text: "authorization identity must be empty or equal the user name"}
	errPlainMalformed = &Error{Code: "AUTH", Text: "malformed PLAIN response"}
)

// handleAUTH: RFC 5034. Bare AUTH lists the mechanisms (Outlook-era
// clients probe with it; the connection is never dropped for it).
func (ss *session) handleAUTH(args []string) error {
	ss.user = ""
	if len(args) == 0 {
		mechs := ss.mechanisms()
		return ss.multiline("SASL mechanisms follow", len(mechs), func(w io.Writer) error {
			for _, m := range mechs {
				if _, err := io.WriteString(w, m+"\r\n"); err != nil {
					return err
				}
			}
			return nil
		})
	}
	mech := strings.ToUpper(args[0])
	var ir []byte // nil: no initial response
	if len(args) == 2 {
		if args[1] == "=" {
			ir = []byte{}
		} else {
			var err error
			if ir, err = decodeB64(args[1]); err != nil {
				return errBadBase64
			}
		}
	}
	var srv SASLServer
	switch mech {
	case "PLAIN", "LOGIN":
		if !ss.plaintextAllowed() {
			return ss.plaintextRefusal()
		}
		if mech == "PLAIN" {
			srv = &plainServer{ss: ss}
		} else {
			srv = &loginServer{ss: ss}
		}
	default:
		if !ss.hasMech(mech) {
			return errUnknownMech
		}
		var err error
		srv, err = ss.srv.sasl.NewSASL(ss.ctx, &ss.info, mech)
		if err != nil {
			return err
		}
		if srv == nil {
			return errors.New("pop3d: NewSASL returned no exchange and no error")
		}
	}
	user, err := ss.saslExchange(srv, ir)
	if err != nil {
		return err
	}
	sess, err := srv.Session(ss.ctx)
	if err != nil {
		return err
	}
	if sess == nil {
		return errors.New("pop3d: SASLServer.Session returned no session and no error")
	}
	return ss.enterTransaction(sess, user, mech)
}

func (ss *session) hasMech(m string) bool {
	for _, x := range ss.srv.mechs {
		if x == m {
			return true
		}
	}
	return false
}

// saslExchange runs the challenge/response rounds until the mechanism is
// done. Challenges go out as "+ base64" (never "+OK", RFC 5034 §4); "*"
// cancels. Server-final data (SCRAM "v=") is sent as one more "+ " line
// and must be answered by an empty line. It returns the user name for
// logs, as far as the mechanism tells.
func (ss *session) saslExchange(srv SASLServer, resp []byte) (string, error) {
	for round := 0; ; round++ {
		if round >= maxSASLRounds {
			return "", errSASLProtocol
		}
		challenge, done, err := srv.Next(ss.ctx, resp)
		if done {
			if err != nil {
				return "", err
			}
			if challenge != nil {
				line, err := ss.saslRound(challenge)
				if err != nil {
					return "", err
				}
				if len(line) != 0 {
					return "", errFinalNotEmpty
				}
			}
			return saslUser(srv), nil
		}
		if err != nil {
			return "", err
		}
		line, err := ss.saslRound(challenge)
		if err != nil {
			return "", err
		}
		if resp, err = decodeB64(string(line)); err != nil {
			return "", errBadBase64
		}
	}
}

// saslRound sends one challenge and reads the client's line. "*" cancels
// the exchange (RFC 5034 §4); a read failure aborts the connection.
func (ss *session) saslRound(challenge []byte) ([]byte, error) {
	if err := ss.writeLine("+ " + base64.StdEncoding.EncodeToString(challenge)); err != nil {
		return nil, errAbort
	}
	timeout := ss.readTimeout()
	if timeout <= 0 {
		ss.reason = "login timeout"
		return nil, errAbort
	}
	line, err := ss.c.ReadLine(ss.srv.opts.MaxSASLLine, timeout)
	if err != nil {
		ss.readFailed(err) // replies once to an over-long line
		return nil, errAbort
	}
	if string(line) == "*" {
		ss.trace("C", line)
		return nil, errAuthCancelled
	}
	if ss.srv.opts.TraceAuth {
		ss.trace("C", line)
	} else {
		ss.trace("C", []byte("***"))
	}
	return line, nil
}

// decodeB64 decodes standard base64 with padding, the SASL encoding (RFC
// 4422 §3.3 via RFC 5034 §4). An empty line decodes to an empty response.
func decodeB64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// userNamer is implemented by exchanges that know the authenticated user
// (the built-in ones; a SASLBackend's may too).
type userNamer interface{ Username() string }

func saslUser(srv SASLServer) string {
	if u, ok := srv.(userNamer); ok {
		return u.Username()
	}
	return ""
}

// plainServer is the built-in PLAIN mechanism (RFC 4616) on top of
// Backend.Login.
type plainServer struct {
	ss   *session
	user string
	sess Session
}

func (p *plainServer) Next(ctx context.Context, resp []byte) ([]byte, bool, error) {
	if resp == nil {
		return []byte{}, false, nil // empty challenge: the client sends its credentials
	}
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return nil, true, errPlainMalformed
	}
	authz, authc, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && authz != authc {
		return nil, true, errPlainAuthzid
	}
	sess, err := p.ss.srv.backend.Login(withMechanism(ctx, "PLAIN"), &p.ss.info, authc, pass)
	if err != nil {
		return nil, true, err
	}
	if sess == nil {
		return nil, true, errors.New("pop3d: Backend.Login returned no session and no error")
	}
	p.user, p.sess = authc, sess
	return nil, true, nil
}

func (p *plainServer) Session(context.Context) (Session, error) { return p.sess, nil }
func (p *plainServer) Username() string                         { return p.user }

// loginServer is the built-in LOGIN mechanism
// (draft-murchison-sasl-login) on top of Backend.Login. A non-empty
// initial response is the user name.
type loginServer struct {
	ss   *session
	step int // 0: initial response, 1: user name, 2: password
	user string
	sess Session
}

var (
	loginUserPrompt = []byte("Username:")
	loginPassPrompt = []byte("Password:")
)

func (l *loginServer) Next(ctx context.Context, resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		if len(resp) == 0 {
			l.step = 1
			return loginUserPrompt, false, nil
		}
		l.user, l.step = string(resp), 2
		return loginPassPrompt, false, nil
	case 1:
		l.user, l.step = string(resp), 2
		return loginPassPrompt, false, nil
	}
	if l.user == "" {
		return nil, true, ErrAuthFailed
	}
	sess, err := l.ss.srv.backend.Login(withMechanism(ctx, "LOGIN"), &l.ss.info, l.user, string(resp))
	if err != nil {
		return nil, true, err
	}
	if sess == nil {
		return nil, true, errors.New("pop3d: Backend.Login returned no session and no error")
	}
	l.sess = sess
	return nil, true, nil
}

func (l *loginServer) Session(context.Context) (Session, error) { return l.sess, nil }
func (l *loginServer) Username() string                         { return l.user }
