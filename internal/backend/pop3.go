package backend

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/xdg-go/scram"

	"github.com/popadm/popadm/authdb"
	"github.com/popadm/popadm/internal/maildrop"
	"github.com/popadm/popadm/internal/mbox"
	"github.com/popadm/popadm/internal/pwscheme"
	"github.com/popadm/popadm/pop3d"
)

// POP3 adapts a Backend to pop3d.Backend, pop3d.APOPBackend and
// pop3d.SASLBackend.
type POP3 struct{ *Backend }

// POP3 returns the POP3 side of b.
func (b *Backend) POP3() *POP3 { return &POP3{b} }

var (
	_ pop3d.Backend     = (*POP3)(nil)
	_ pop3d.APOPBackend = (*POP3)(nil)
	_ pop3d.SASLBackend = (*POP3)(nil)
)

// errLoginDelay is the reply to an address that failed too often.
var errLoginDelay = &pop3d.Error{Code: "LOGIN-DELAY", Text: "too many failed logins from your address, try again later"}

func (p *POP3) attempt(c *pop3d.ConnInfo, mech, user string) attempt {
	return attempt{proto: "pop3", mech: mech, user: p.normalize(user), remote: remoteString(c.Remote), tls: c.TLS != nil, start: time.Now()}
}

// Login implements pop3d.Backend for USER/PASS, AUTH PLAIN and AUTH LOGIN.
func (p *POP3) Login(ctx context.Context, c *pop3d.ConnInfo, username, password string) (pop3d.Session, error) {
	a := p.attempt(c, pop3d.Mechanism(ctx), username)
	if blocked, _ := p.throttled(a); blocked {
		return nil, errLoginDelay
	}
	req := authdb.Request{Service: authdb.ServicePOP3, Remote: a.remote}
	acct, err := p.opts.Store.Authenticate(ctx, req, a.user, password)
	if err != nil {
		return nil, p.refuse(ctx, a, password, err)
	}
	return p.open(ctx, a, acct)
}

// refuse turns a store refusal into the wire reply, after the failure
// policy. Only a client that proved the right password learns more than
// "authentication failed" (expired or disabled account).
func (p *POP3) refuse(ctx context.Context, a attempt, password string, err error) error {
	var ae *authdb.AuthError
	if errors.As(err, &ae) && ae.PasswordOK {
		p.logFailure(a, ae.Reason)
		p.opts.Limiter.Success(a.user)
		switch ae.Reason {
		case authdb.ReasonExpired, authdb.ReasonPasswordRequired:
			return &pop3d.Error{Code: "AUTH", Text: "password expired, change it via the password service"}
		case authdb.ReasonDisabled, authdb.ReasonDomainDisabled:
			return &pop3d.Error{Code: "AUTH", Text: "account disabled"}
		case authdb.ReasonNotAllowed:
			return &pop3d.Error{Code: "AUTH", Text: "POP3 access is not enabled for this account"}
		}
		return pop3d.ErrAuthFailed
	}
	if !errors.As(err, &ae) {
		p.logFailure(a, reasonOf(err))
		p.log.Error("auth store failure", "proto", "pop3", "user", a.user, "err", err)
		return pop3d.ErrTemp
	}
	p.fail(ctx, a, password, err)
	return pop3d.ErrAuthFailed
}

// open locks and scans the account's maildrop after a successful login.
func (p *POP3) open(ctx context.Context, a attempt, acct *authdb.Account) (pop3d.Session, error) {
	p.opts.Limiter.Success(a.user)
	kind, path, err := p.LocationFor(acct)
	if err != nil {
		p.log.Error("mail location", "user", acct.Name, "err", err)
		return nil, &pop3d.Error{Code: "SYS/PERM", Text: "maildrop unavailable"}
	}
	var sess pop3d.Session
	switch kind {
	case "mbox":
		sess, err = p.openMbox(ctx, acct, path)
	default:
		mo := p.opts.Maildrop
		mo.Create = true
		var md *maildrop.Maildrop
		md, err = maildrop.Open(ctx, path, mo)
		if err == nil {
			sess = &session{md: md}
		}
	}
	switch {
	case errors.Is(err, maildrop.ErrInUse), errors.Is(err, mbox.ErrInUse):
		p.log.Info("maildrop in use", "proto", "pop3", "user", acct.Name, "remote", a.remote)
		if p.opts.Metrics != nil {
			p.opts.Metrics.InUse()
		}
		return nil, pop3d.ErrInUse
	case errors.Is(err, mbox.ErrTooBig), errors.Is(err, mbox.ErrUnsafe), errors.Is(err, mbox.ErrFormat):
		p.log.Error("open maildrop", "proto", "pop3", "user", acct.Name, "path", path, "err", err)
		return nil, &pop3d.Error{Code: "SYS/PERM", Text: "maildrop cannot be served, ask the administrator"}
	case err != nil:
		p.log.Error("open maildrop", "proto", "pop3", "user", acct.Name, "path", path, "err", err)
		return nil, pop3d.ErrTemp
	}
	p.logSuccess(attempt{proto: a.proto, mech: a.mech, user: acct.Name, remote: a.remote, tls: a.tls, start: a.start})
	return sess, nil
}

// openMbox opens an mbox spool. A system account's spool must belong to
// that user (as Postfix creates it); other spools are checked for type and
// link count only.
func (p *POP3) openMbox(ctx context.Context, acct *authdb.Account, path string) (pop3d.Session, error) {
	mo := p.opts.Mbox
	mo.RequireUID = -1
	if acct.Domain == "" {
		u, err := user.Lookup(acct.Name)
		if err != nil {
			return nil, fmt.Errorf("backend: system user %q: %w", acct.Name, err)
		}
		uid, err := strconv.Atoi(u.Uid)
		if err != nil {
			return nil, fmt.Errorf("backend: system user %q: uid %q", acct.Name, u.Uid)
		}
		mo.RequireUID = uid
	}
	sp, err := mbox.Open(ctx, path, mo)
	if err != nil {
		return nil, err
	}
	return &mboxSession{sp: sp}, nil
}

// LoginAPOP implements pop3d.APOPBackend. It needs the account's PLAIN
// credential (stored only for accounts with the apop mechanism).
func (p *POP3) LoginAPOP(ctx context.Context, c *pop3d.ConnInfo, username, timestamp, digest string) (pop3d.Session, error) {
	a := p.attempt(c, "APOP", username)
	if blocked, _ := p.throttled(a); blocked {
		return nil, errLoginDelay
	}
	check := func(acct *authdb.Account) (bool, error) {
		secret, ok := plainSecret(acct)
		if !ok {
			return false, &authdb.AuthError{User: acct.Name, Reason: authdb.ReasonMechUnavailable}
		}
		want := pwscheme.APOPDigest(timestamp, secret)
		return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(digest))) == 1, nil
	}
	req := authdb.Request{Service: authdb.ServicePOP3, Remote: a.remote}
	acct, err := p.opts.Store.AuthenticateWith(ctx, req, a.user, "apop", check)
	if err != nil {
		return nil, p.refuse(ctx, a, "", err)
	}
	return p.open(ctx, a, acct)
}

func plainSecret(acct *authdb.Account) (string, bool) {
	for _, v := range acct.Credentials {
		if s, ok := pwscheme.PlainSecret(v); ok {
			return s, true
		}
	}
	return "", false
}

// NewSASL implements pop3d.SASLBackend for CRAM-MD5, SCRAM-SHA-256 and
// SCRAM-SHA-1.
func (p *POP3) NewSASL(ctx context.Context, c *pop3d.ConnInfo, mech string) (pop3d.SASLServer, error) {
	switch strings.ToUpper(mech) {
	case "CRAM-MD5":
		return &cramServer{p: p, c: c}, nil
	case "SCRAM-SHA-256":
		return newSCRAMServer(p, c, "SCRAM-SHA-256", scram.SHA256, "SHA-256")
	case "SCRAM-SHA-1":
		return newSCRAMServer(p, c, "SCRAM-SHA-1", scram.SHA1, "SHA-1")
	}
	return nil, &pop3d.Error{Code: "AUTH", Text: "unsupported authentication mechanism"}
}

var challengeSeq atomic.Uint64

// cramServer runs RFC 2195 CRAM-MD5.
type cramServer struct {
	p         *POP3
	c         *pop3d.ConnInfo
	challenge string
	a         attempt
	acct      *authdb.Account
}

func (s *cramServer) Next(ctx context.Context, resp []byte) ([]byte, bool, error) {
	if s.challenge == "" {
		if len(resp) > 0 {
			return nil, true, &pop3d.Error{Code: "AUTH", Text: "CRAM-MD5 takes no initial response"}
		}
		var r [8]byte
		_, _ = rand.Read(r[:])
		s.challenge = fmt.Sprintf("<%d.%d.%s@%s>", os.Getpid(), challengeSeq.Add(1), hex.EncodeToString(r[:]), s.p.opts.Hostname)
		return []byte(s.challenge), false, nil
	}
	user, digest, ok := strings.Cut(string(resp), " ")
	if !ok || user == "" {
		return nil, true, &pop3d.Error{Code: "AUTH", Text: "malformed CRAM-MD5 response"}
	}
	s.a = s.p.attempt(s.c, "CRAM-MD5", user)
	if blocked, _ := s.p.throttled(s.a); blocked {
		return nil, true, errLoginDelay
	}
	check := func(acct *authdb.Account) (bool, error) {
		stored, ok := cramCredential(acct)
		if !ok {
			return false, &authdb.AuthError{User: acct.Name, Reason: authdb.ReasonMechUnavailable}
		}
		want, err := pwscheme.CRAMMD5Digest(stored, []byte(s.challenge))
		if err != nil {
			return false, err
		}
		return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(digest))) == 1, nil
	}
	req := authdb.Request{Service: authdb.ServicePOP3, Remote: s.a.remote}
	acct, err := s.p.opts.Store.AuthenticateWith(ctx, req, s.a.user, "cram-md5", check)
	if err != nil {
		return nil, true, s.p.refuse(ctx, s.a, "", err)
	}
	s.acct = acct
	return nil, true, nil
}

// Username returns the login name the client gave, for logs.
func (s *cramServer) Username() string { return s.a.user }

func (s *cramServer) Session(ctx context.Context) (pop3d.Session, error) {
	return s.p.open(ctx, s.a, s.acct)
}

func cramCredential(acct *authdb.Account) (string, bool) {
	if v, ok := acct.Credentials["CRAM-MD5"]; ok {
		return v, true
	}
	for _, v := range acct.Credentials {
		if _, ok := pwscheme.PlainSecret(v); ok {
			return v, true
		}
	}
	return "", false
}

// scramServer runs RFC 5802/7677 SCRAM through xdg-go/scram. Unknown users
// and accounts without a verifier get a fake, stable verifier so that the
// exchange fails only at the proof, like a wrong password: the first
// server message never reveals whether an account exists.
type scramServer struct {
	p      *POP3
	c      *pop3d.ConnInfo
	mech   string
	conv   *scram.ServerConversation
	user   string
	real   bool
	acct   *authdb.Account
	a      attempt
	steps  int
	failed error
}

func newSCRAMServer(p *POP3, c *pop3d.ConnInfo, mech string, hf scram.HashGeneratorFcn, hashName string) (*scramServer, error) {
	s := &scramServer{p: p, c: c, mech: mech}
	scheme := strings.ToUpper(mech)
	lookup := func(name string) (scram.StoredCredentials, error) {
		s.user = p.normalize(name)
		s.a = p.attempt(c, mech, name)
		acct, err := p.opts.Store.Lookup(context.Background(), s.user)
		if err == nil {
			if v, ok := acct.Credentials[scheme]; ok {
				if sc, perr := pwscheme.ParseSCRAM(v); perr == nil {
					s.real = true
					return storedCreds(sc), nil
				}
			}
		} else if !errors.Is(err, authdb.ErrAuthFailed) {
			s.failed = err
		}
		return fakeCreds(p, hashName, s.user), nil
	}
	srv, err := hf.NewServer(lookup)
	if err != nil {
		return nil, fmt.Errorf("backend: scram server: %w", err)
	}
	s.conv = srv.NewConversation()
	return s, nil
}

func storedCreds(sc *pwscheme.SCRAM) scram.StoredCredentials {
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(sc.Salt), Iters: sc.Iter},
		StoredKey:  sc.StoredKey,
		ServerKey:  sc.ServerKey,
	}
}

// fakeKey is a per-process secret for fake SCRAM salts.
var fakeKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}()

func fakeCreds(p *POP3, hashName, user string) scram.StoredCredentials {
	m := hmac.New(sha256.New, fakeKey)
	m.Write([]byte(hashName + "\x00" + user))
	sum := m.Sum(nil)
	n := 32
	if hashName == "SHA-1" {
		n = 20
	}
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(sum[:16]), Iters: 4096},
		StoredKey:  sum[:n],
		ServerKey:  append([]byte(nil), sum[len(sum)-n:]...),
	}
}

func (s *scramServer) Next(ctx context.Context, resp []byte) ([]byte, bool, error) {
	if resp == nil {
		// Client-first mechanism: ask for the client's first message.
		return []byte{}, false, nil
	}
	s.steps++
	out, err := s.conv.Step(string(resp))
	if s.failed != nil {
		s.logStore(s.failed)
		return nil, true, pop3d.ErrTemp
	}
	if s.steps == 1 {
		if err != nil {
			return nil, true, &pop3d.Error{Code: "AUTH", Text: "malformed SCRAM message"}
		}
		if blocked, _ := s.p.throttled(s.a); blocked {
			return nil, true, errLoginDelay
		}
		return []byte(out), false, nil
	}
	valid := err == nil && s.conv.Valid() && s.real
	check := func(*authdb.Account) (bool, error) { return valid, nil }
	req := authdb.Request{Service: authdb.ServicePOP3, Remote: s.a.remote}
	acct, aerr := s.p.opts.Store.AuthenticateWith(ctx, req, s.user, strings.ToLower(s.mech), check)
	if aerr != nil {
		return nil, true, s.p.refuse(ctx, s.a, "", aerr)
	}
	s.acct = acct
	return []byte(out), true, nil
}

func (s *scramServer) logStore(err error) {
	s.p.log.Error("auth store failure", "proto", "pop3", "user", s.user, "err", err)
}

// Username returns the login name the client gave, for logs.
func (s *scramServer) Username() string { return s.user }

func (s *scramServer) Session(ctx context.Context) (pop3d.Session, error) {
	return s.p.open(ctx, s.a, s.acct)
}

// session adapts a maildrop to pop3d.Session.
type session struct {
	md   *maildrop.Maildrop
	msgs []maildrop.Message
}

func (s *session) Messages(ctx context.Context) ([]pop3d.Message, error) {
	s.msgs = s.md.Messages()
	out := make([]pop3d.Message, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = pop3d.Message{Size: m.Size, UID: m.UIDL}
	}
	return out, nil
}

func (s *session) Open(ctx context.Context, i int) (io.ReadCloser, error) {
	r, err := s.md.Open(i)
	if errors.Is(err, maildrop.ErrGone) {
		return nil, &pop3d.Error{Code: "SYS/PERM", Text: "message " + strconv.Itoa(i+1) + " was removed by another program"}
	}
	return r, err
}

func (s *session) Commit(ctx context.Context, deleted []int) error {
	return s.md.Commit(deleted)
}

func (s *session) Close() error { return s.md.Close() }

// mboxSession adapts an mbox spool to pop3d.Session.
type mboxSession struct{ sp *mbox.Spool }

func (s *mboxSession) Messages(ctx context.Context) ([]pop3d.Message, error) {
	msgs := s.sp.Messages()
	out := make([]pop3d.Message, len(msgs))
	for i, m := range msgs {
		out[i] = pop3d.Message{Size: m.Size, UID: m.UIDL}
	}
	return out, nil
}

func (s *mboxSession) Open(ctx context.Context, i int) (io.ReadCloser, error) {
	r, err := s.sp.Open(i)
	if errors.Is(err, mbox.ErrChanged) || errors.Is(err, mbox.ErrGone) {
		return nil, &pop3d.Error{Code: "SYS/TEMP", Text: "maildrop was changed by another program, log in again"}
	}
	return r, err
}

func (s *mboxSession) Commit(ctx context.Context, deleted []int) error {
	return s.sp.Commit(deleted)
}

func (s *mboxSession) Close() error { return s.sp.Close() }
