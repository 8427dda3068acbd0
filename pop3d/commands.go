package pop3d

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/popadm/popadm/internal/lineserver"
)

var (
	errNoUser    = &Error{Text: "USER first"}
	errNoAPOP    = &Error{Text: "APOP not available"}
	errTLSActive = &Error{Text: "command not permitted when TLS active"}
	errNoTLS     = &Error{Text: "STLS not available"}
	errCommit    = &Error{Code: "SYS/TEMP", Text: "some deleted messages not removed"}
)

// plaintextAllowed reports whether USER/PASS, AUTH PLAIN and AUTH LOGIN
// may be used on this connection: over TLS, from a local address, or when
// Options.AllowInsecureAuth is set (RFC 2595 §2.3, RFC 8314 §4).
func (ss *session) plaintextAllowed() bool {
	return ss.info.TLS != nil || ss.srv.opts.AllowInsecureAuth || ss.srv.isLocal(ss.info.Remote)
}

// plaintextRefusal is the [AUTH] error for a refused plaintext mechanism;
// it never says "lock" or "wait" (fetchmail would take it for a busy
// maildrop and retry forever).
func (ss *session) plaintextRefusal() error {
	if ss.srv.tlsConf != nil {
		return errPlaintext
	}
	return errPlaintextNoTLS
}

// handleUSER: RFC 1939 §7. The reply is +OK for every name, so user names
// cannot be probed; the check happens at PASS.
func (ss *session) handleUSER(args []string) error {
	if !ss.plaintextAllowed() {
		return ss.plaintextRefusal()
	}
	ss.user = args[0]
	ss.userSeen = true
	return ss.ok("send PASS")
}

// handlePASS: RFC 1939 §7. The argument is the rest of the line, spaces
// included. The dispatcher checked that USER came right before.
func (ss *session) handlePASS(args []string) error {
	user := ss.user
	ss.user = ""
	if !ss.plaintextAllowed() {
		return ss.plaintextRefusal()
	}
	sess, err := ss.srv.backend.Login(ss.ctx, &ss.info, user, args[0])
	if err != nil {
		return err
	}
	if sess == nil {
		return errors.New("pop3d: Backend.Login returned no session and no error")
	}
	return ss.enterTransaction(sess, user, "USER")
}

// handleAPOP: RFC 1939 §7, offered only with Options.APOP.
func (ss *session) handleAPOP(args []string) error {
	ss.user = ""
	if ss.srv.apop == nil {
		return errNoAPOP
	}
	digest := strings.ToLower(args[1])
	if len(digest) != 32 || strings.Trim(digest, "0123456789abcdef") != "" {
		return ErrAuthFailed // a malformed digest cannot match
	}
	sess, err := ss.srv.apop.LoginAPOP(ss.ctx, &ss.info, args[0], ss.timestamp, digest)
	if err != nil {
		return err
	}
	if sess == nil {
		return errors.New("pop3d: LoginAPOP returned no session and no error")
	}
	return ss.enterTransaction(sess, args[0], "APOP")
}

// enterTransaction completes a login: it reads the maildrop listing and
// only then answers +OK (RFC 1939 §4: the maildrop is locked and opened
// before the reply; a failure is an -ERR to the login command, never a
// +OK followed by an -ERR). On failure the session is closed.
func (ss *session) enterTransaction(sess Session, user, mech string) error {
	msgs, err := sess.Messages(ss.ctx)
	if err == nil {
		err = checkMessages(msgs)
	}
	if err != nil {
		if cerr := sess.Close(); cerr != nil {
			ss.log.Error("closing maildrop", "user", user, "err", cerr)
		}
		var pe *Error
		if errors.As(err, &pe) {
			return err
		}
		ss.log.Error("listing maildrop", "user", user, "err", err)
		return ErrTemp
	}
	ss.sess = sess
	ss.msgs = msgs
	ss.deleted = make([]bool, len(msgs))
	for _, m := range msgs {
		ss.sizeTotal += m.Size
	}
	ss.username, ss.mech = user, mech
	ss.state = stateTransaction
	lineserver.SetUser(ss.ctx, user)
	ss.log.Info("login", "user", user, "mech", mech, "messages", len(msgs), "octets", ss.sizeTotal)
	if printableText(user) && len(user) <= 64 && user != "" {
		return ss.ok("%s's maildrop has %d messages (%d octets)", user, len(msgs), ss.sizeTotal)
	}
	return ss.ok("maildrop has %d messages (%d octets)", len(msgs), ss.sizeTotal)
}

// checkMessages enforces the Session.Messages contract the protocol
// depends on: sizes are not negative; UIDs are 1-70 octets of 0x21-0x7E
// and unique (RFC 1939 §7). A broken listing would corrupt client state,
// so it fails the login instead.
func checkMessages(msgs []Message) error {
	seen := make(map[string]struct{}, len(msgs))
	for i, m := range msgs {
		if m.Size < 0 {
			return fmt.Errorf("pop3d: message %d has negative size %d", i+1, m.Size)
		}
		if len(m.UID) < 1 || len(m.UID) > 70 {
			return fmt.Errorf("pop3d: message %d has a UID of %d octets", i+1, len(m.UID))
		}
		for j := 0; j < len(m.UID); j++ {
			if m.UID[j] < 0x21 || m.UID[j] > 0x7e {
				return fmt.Errorf("pop3d: message %d has a UID with octet %#x", i+1, m.UID[j])
			}
		}
		if _, dup := seen[m.UID]; dup {
			return fmt.Errorf("pop3d: message %d has a duplicate UID", i+1)
		}
		seen[m.UID] = struct{}{}
	}
	return nil
}

// handleSTLS: RFC 2595 §4. Bytes pipelined after STLS are discarded by
// StartTLS (CVE-2011-0411); the USER and UTF8 state is forgotten.
func (ss *session) handleSTLS([]string) error {
	if ss.info.TLS != nil {
		return errTLSActive
	}
	if ss.srv.tlsConf == nil {
		return errNoTLS
	}
	if n := ss.c.Buffered(); n > 0 {
		ss.log.Warn("discarding plaintext pipelined after STLS", "octets", n)
	}
	if err := ss.ok("Begin TLS negotiation"); err != nil {
		return err
	}
	if err := ss.c.StartTLS(ss.srv.tlsConf, ss.srv.opts.HandshakeTimeout); err != nil {
		ss.log.Info("STLS handshake failed", "err", err)
		ss.reason = "tls handshake failed"
		return errAbort
	}
	ss.info.TLS = ss.c.TLS()
	ss.user, ss.utf8 = "", false
	return nil
}

// handleUTF8: RFC 6856 §2. Messages are passed through 8-bit unchanged
// either way and UTF-8 user names and passwords are always accepted; the
// command only records that the client asked.
func (ss *session) handleUTF8([]string) error {
	ss.utf8 = true
	return ss.ok("UTF8 enabled")
}

// capabilities returns the CAPA lines for the current state and
// connection (RFC 2449 §5: what is valid in AUTHORIZATION is announced in
// both states, so USER and SASL stay after login).
func (ss *session) capabilities() []string {
	o := &ss.srv.opts
	caps := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"}
	if ss.srv.tlsConf != nil && ss.info.TLS == nil && ss.state == stateAuthorization {
		caps = append(caps, "STLS")
	}
	plain := ss.plaintextAllowed()
	if plain {
		caps = append(caps, "USER")
	}
	if mechs := ss.mechanisms(); len(mechs) > 0 {
		caps = append(caps, "SASL "+strings.Join(mechs, " "))
	}
	caps = append(caps, "UTF8 USER")
	if o.Expire != "" {
		caps = append(caps, "EXPIRE "+o.Expire)
	}
	if o.LoginDelay > 0 {
		c := "LOGIN-DELAY " + strconv.Itoa(o.LoginDelay)
		if ss.state == stateAuthorization {
			c += " USER"
		}
		caps = append(caps, c)
	}
	if o.Implementation != "" {
		caps = append(caps, "IMPLEMENTATION "+o.Implementation)
	}
	return caps
}

// mechanisms lists the SASL mechanisms available on this connection.
func (ss *session) mechanisms() []string {
	var m []string
	if ss.plaintextAllowed() {
		m = append(m, "PLAIN", "LOGIN")
	}
	return append(m, ss.srv.mechs...)
}

// handleCAPA: RFC 2449 §5.
func (ss *session) handleCAPA([]string) error {
	caps := ss.capabilities()
	return ss.multiline("Capability list follows", len(caps), func(w io.Writer) error {
		for _, c := range caps {
			if _, err := io.WriteString(w, c+"\r\n"); err != nil {
				return err
			}
		}
		return nil
	})
}

// handleQUIT: RFC 1939 §4 in AUTHORIZATION (no UPDATE) and §6 in
// TRANSACTION: enter UPDATE, remove the deleted messages, release the
// lock, then reply. Commit runs with a context Shutdown does not cancel.
func (ss *session) handleQUIT([]string) error {
	if ss.state == stateAuthorization {
		ss.reason = "quit"
		if err := ss.ok("bye"); err != nil {
			return err
		}
		return errQuit
	}
	ss.state = stateUpdate
	var del []int
	for i, d := range ss.deleted {
		if d {
			del = append(del, i)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ss.ctx), commitTimeout)
	err := ss.sess.Commit(ctx, del)
	cancel()
	// Release the lock before replying: a client that reconnects as soon
	// as it reads +OK must not meet its own old session's [IN-USE].
	ss.closeSession()
	ss.reason = "quit"
	if err != nil {
		ss.log.Error("removing deleted messages", "user", ss.username, "deleted", len(del), "err", err)
		var pe *Error
		if !errors.As(err, &pe) {
			pe = errCommit
		}
		_ = ss.writeLine(errorLine(pe))
		return errQuit
	}
	if err := ss.ok("bye, %d messages deleted", len(del)); err != nil {
		return err
	}
	return errQuit
}

// msg resolves a message-number argument to an index of a message that
// exists and is not deleted (RFC 1939 §5). Numbers never shift: 0, signs,
// non-digits, numbers past the end (4294967297 included) are refused.
func (ss *session) msg(arg string) (int, error) {
	n := parseMsgNum(arg)
	if n < 1 || n > len(ss.msgs) {
		return 0, errNoSuchMessage
	}
	if ss.deleted[n-1] {
		return 0, errDeleted
	}
	return n - 1, nil
}

// handleSTAT: RFC 1939 §5. Deleted messages are not counted.
func (ss *session) handleSTAT([]string) error {
	return ss.ok("%d %d", len(ss.msgs)-ss.nDeleted, ss.sizeTotal-ss.sizeDel)
}

// handleLIST: RFC 1939 §5.
func (ss *session) handleLIST(args []string) error {
	if len(args) == 1 {
		i, err := ss.msg(args[0])
		if err != nil {
			return err
		}
		return ss.ok("%d %d", i+1, ss.msgs[i].Size)
	}
	n := len(ss.msgs) - ss.nDeleted
	return ss.multiline(fmt.Sprintf("%d messages (%d octets)", n, ss.sizeTotal-ss.sizeDel), n, func(w io.Writer) error {
		for i, m := range ss.msgs {
			if ss.deleted[i] {
				continue
			}
			if _, err := fmt.Fprintf(w, "%d %d\r\n", i+1, m.Size); err != nil {
				return err
			}
		}
		return nil
	})
}

// handleUIDL: RFC 1939 §7.
func (ss *session) handleUIDL(args []string) error {
	if len(args) == 1 {
		i, err := ss.msg(args[0])
		if err != nil {
			return err
		}
		return ss.ok("%d %s", i+1, ss.msgs[i].UID)
	}
	n := len(ss.msgs) - ss.nDeleted
	return ss.multiline("unique-id listing follows", n, func(w io.Writer) error {
		for i, m := range ss.msgs {
			if ss.deleted[i] {
				continue
			}
			if _, err := fmt.Fprintf(w, "%d %s\r\n", i+1, m.UID); err != nil {
				return err
			}
		}
		return nil
	})
}

// handleDELE: RFC 1939 §5. Only marks; removal happens in UPDATE.
func (ss *session) handleDELE(args []string) error {
	i, err := ss.msg(args[0])
	if err != nil {
		return err
	}
	ss.deleted[i] = true
	ss.nDeleted++
	ss.sizeDel += ss.msgs[i].Size
	return ss.ok("message %d deleted", i+1)
}

// handleNOOP: RFC 1939 §5.
func (ss *session) handleNOOP([]string) error { return ss.ok("") }

// handleRSET: RFC 1939 §5. Unmarks every deleted message.
func (ss *session) handleRSET([]string) error {
	clear(ss.deleted)
	ss.nDeleted, ss.sizeDel = 0, 0
	return ss.ok("maildrop has %d messages (%d octets)", len(ss.msgs), ss.sizeTotal)
}
