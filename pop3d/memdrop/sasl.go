package memdrop

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/xdg-go/scram"

	"github.com/popadm/popadm/pop3d"
)

// scramIterations is the PBKDF2 iteration count of SCRAM verifiers (RFC
// 7677 §4 minimum).
const scramIterations = 4096

// NewSASL implements pop3d.SASLBackend for the mechanisms in Mechanisms.
func (b *Backend) NewSASL(ctx context.Context, c *pop3d.ConnInfo, mech string) (pop3d.SASLServer, error) {
	switch mech {
	case "CRAM-MD5":
		host := b.Hostname
		if host == "" {
			host = "localhost"
		}
		return &cramServer{b: b, challenge: fmt.Sprintf("<%s.%d@%s>", randHex(8), time.Now().Unix(), host)}, nil
	case "SCRAM-SHA-256":
		srv, err := scram.SHA256.NewServer(b.scramLookup)
		if err != nil {
			return nil, fmt.Errorf("memdrop: scram server: %w", err)
		}
		return &scramServer{b: b, conv: srv.NewConversation()}, nil
	}
	return nil, pop3d.ErrMechUnavailable
}

func randHex(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return hex.EncodeToString(p)
}

// cramServer is CRAM-MD5 (RFC 2195).
type cramServer struct {
	b         *Backend
	challenge string
	user      string
	step      int
}

func (c *cramServer) Next(ctx context.Context, resp []byte) ([]byte, bool, error) {
	if c.step == 0 {
		c.step = 1
		if len(resp) != 0 {
			return nil, true, pop3d.ErrAuthFailed // CRAM-MD5 has no initial response
		}
		return []byte(c.challenge), false, nil
	}
	user, digest, ok := strings.Cut(string(resp), " ")
	if !ok {
		return nil, true, pop3d.ErrAuthFailed
	}
	pw, known := c.b.password(user)
	mac := hmac.New(md5.New, []byte(pw))
	mac.Write([]byte(c.challenge))
	want := hex.EncodeToString(mac.Sum(nil))
	if !known || !hmac.Equal([]byte(want), []byte(strings.ToLower(digest))) {
		return nil, true, pop3d.ErrAuthFailed
	}
	c.user = user
	return nil, true, nil
}

func (c *cramServer) Session(ctx context.Context) (pop3d.Session, error) { return c.b.open(c.user) }

// Username returns the authenticated user, for the server's log.
func (c *cramServer) Username() string { return c.user }

// scramServer is SCRAM-SHA-256 (RFC 7677).
type scramServer struct {
	b    *Backend
	conv *scram.ServerConversation
}

// scramLookup derives the stored credentials from the password. Unknown
// users get credentials for a random password, so the exchange runs to
// the end and fails like a wrong password.
func (b *Backend) scramLookup(user string) (scram.StoredCredentials, error) {
	pw, ok := b.password(user)
	if !ok {
		pw = randHex(16)
	}
	cl, err := scram.SHA256.NewClient(user, pw, "")
	if err != nil {
		return scram.StoredCredentials{}, fmt.Errorf("memdrop: scram credentials: %w", err)
	}
	salt := "memdrop-salt-" + user
	return cl.GetStoredCredentials(scram.KeyFactors{Salt: salt, Iters: scramIterations}), nil
}

func (s *scramServer) Next(ctx context.Context, resp []byte) ([]byte, bool, error) {
	if resp == nil {
		return []byte{}, false, nil // no initial response: ask for client-first
	}
	out, err := s.conv.Step(string(resp))
	if err != nil {
		return nil, true, pop3d.ErrAuthFailed
	}
	if s.conv.Done() {
		if !s.conv.Valid() {
			return nil, true, pop3d.ErrAuthFailed
		}
		return []byte(out), true, nil // server-final "v=..."
	}
	return []byte(out), false, nil
}

func (s *scramServer) Session(ctx context.Context) (pop3d.Session, error) {
	if !s.conv.Valid() {
		return nil, errors.New("memdrop: scram session before a valid exchange")
	}
	return s.b.open(s.conv.Username())
}

// Username returns the authenticated user, for the server's log.
func (s *scramServer) Username() string { return s.conv.Username() }
