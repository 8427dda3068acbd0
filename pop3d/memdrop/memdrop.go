// Package memdrop is an in-memory pop3d.Backend for tests and examples.
//
// Each user has a password and a maildrop of messages held in memory. A
// login locks the maildrop until the session is closed, so a second login
// gets pop3d.ErrInUse (RFC 1939 §4). The password serves USER/PASS, AUTH
// PLAIN and LOGIN (through pop3d), APOP, CRAM-MD5 and SCRAM-SHA-256.
// Unknown users and wrong passwords get the same pop3d.ErrAuthFailed.
//
// Hooks on Backend inject failures; counters (Commits, Closes, OpenReaders)
// let tests check what the server did.
package memdrop

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/popadm/popadm/pop3d"
)

// Mechanisms lists the SASL mechanisms NewSASL serves, for
// pop3d.Options.SASLMechanisms.
var Mechanisms = []string{"CRAM-MD5", "SCRAM-SHA-256"}

// Backend is an in-memory pop3d.Backend, pop3d.APOPBackend and
// pop3d.SASLBackend. The zero value is not usable; call New. Its methods
// are safe for concurrent use. Set the hook fields before the server
// starts.
type Backend struct {
	// OpenError, if set, is called by Session.Open; a non-nil result is
	// returned instead of the message.
	OpenError func(user string, i int) error
	// MessagesError, if set, is called by Session.Messages; a non-nil
	// result is returned instead of the listing.
	MessagesError func(user string) error
	// CommitError, if set, is called by Session.Commit; a non-nil result
	// is returned and nothing is removed.
	CommitError func(user string) error
	// Hostname is used in CRAM-MD5 challenges. Empty means "localhost".
	Hostname string

	mu    sync.Mutex
	users map[string]*mailbox
	seq   int // UID counter, shared so UIDs are never reused
}

type mailbox struct {
	password string
	msgs     []*message
	locked   bool
	logins   int
	commits  int
	closes   int
	readers  int // open message readers
}

type message struct {
	data []byte
	uid  string
}

var (
	_ pop3d.Backend     = (*Backend)(nil)
	_ pop3d.APOPBackend = (*Backend)(nil)
	_ pop3d.SASLBackend = (*Backend)(nil)
)

// New returns an empty Backend.
func New() *Backend {
	return &Backend{users: make(map[string]*mailbox)}
}

// AddUser creates user with password, or changes the password of an
// existing user.
func (b *Backend) AddUser(user, password string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if mb, ok := b.users[user]; ok {
		mb.password = password
		return
	}
	b.users[user] = &mailbox{password: password}
}

// AddMessage appends a message to user's maildrop and returns its UID.
// Line ends are normalised to CRLF and a final CRLF is added if missing,
// as a maildrop's transmitted form must be (RFC 1939 §3); a lone CR is
// kept. A session already open does not see the new message. It panics
// for an unknown user.
func (b *Backend) AddMessage(user string, msg []byte) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	mb := b.mustUser(user)
	b.seq++
	uid := "mem" + strconv.Itoa(b.seq)
	mb.msgs = append(mb.msgs, &message{data: ToCRLF(msg), uid: uid})
	return uid
}

// ToCRLF returns msg with every line ending in CRLF: a bare LF becomes
// CRLF, and CRLF is appended to a non-empty message that does not end
// with a line end.
func ToCRLF(msg []byte) []byte {
	out := make([]byte, 0, len(msg)+len(msg)/32+2)
	for i, c := range msg {
		if c == '\n' && (i == 0 || msg[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

// Messages returns a copy of the messages in user's maildrop, in their
// transmitted (CRLF) form.
func (b *Backend) Messages(user string) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	mb := b.mustUser(user)
	out := make([][]byte, len(mb.msgs))
	for i, m := range mb.msgs {
		out[i] = bytes.Clone(m.data)
	}
	return out
}

// Stats reports, for user, how many logins succeeded, how many times
// Session.Commit and Session.Close were called, how many message readers
// are open and whether the maildrop is locked.
func (b *Backend) Stats(user string) Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	mb := b.mustUser(user)
	return Stats{Logins: mb.logins, Commits: mb.commits, Closes: mb.closes, OpenReaders: mb.readers, Locked: mb.locked}
}

// Stats are the counters of one maildrop.
type Stats struct {
	Logins      int  // successful logins
	Commits     int  // Session.Commit calls
	Closes      int  // Session.Close calls
	OpenReaders int  // readers from Session.Open not yet closed
	Locked      bool // a session holds the maildrop
}

func (b *Backend) mustUser(user string) *mailbox {
	mb, ok := b.users[user]
	if !ok {
		panic(fmt.Sprintf("memdrop: unknown user %q", user))
	}
	return mb
}

// password returns the password of user; ok is false for unknown users.
func (b *Backend) password(user string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	mb, ok := b.users[user]
	if !ok {
		return "", false
	}
	return mb.password, true
}

// Login implements pop3d.Backend.
func (b *Backend) Login(ctx context.Context, c *pop3d.ConnInfo, user, password string) (pop3d.Session, error) {
	pw, ok := b.password(user)
	if !ok || pw != password {
		return nil, pop3d.ErrAuthFailed
	}
	return b.open(user)
}

// LoginAPOP implements pop3d.APOPBackend: digest must be the lower-case
// hex MD5 of timestamp followed by the password.
func (b *Backend) LoginAPOP(ctx context.Context, c *pop3d.ConnInfo, user, timestamp, digest string) (pop3d.Session, error) {
	pw, ok := b.password(user)
	if !ok {
		return nil, pop3d.ErrAuthFailed
	}
	sum := md5.Sum([]byte(timestamp + pw))
	if hex.EncodeToString(sum[:]) != digest {
		return nil, pop3d.ErrAuthFailed
	}
	return b.open(user)
}

// open locks user's maildrop and returns a session over a snapshot of it.
func (b *Backend) open(user string) (pop3d.Session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	mb := b.mustUser(user)
	if mb.locked {
		return nil, pop3d.ErrInUse
	}
	mb.locked = true
	mb.logins++
	return &session{b: b, user: user, mb: mb, msgs: append([]*message(nil), mb.msgs...)}, nil
}

// session is one locked maildrop.
type session struct {
	b    *Backend
	user string
	mb   *mailbox
	msgs []*message // snapshot at login
	done bool
}

func (s *session) Messages(ctx context.Context) ([]pop3d.Message, error) {
	if f := s.b.MessagesError; f != nil {
		if err := f(s.user); err != nil {
			return nil, err
		}
	}
	out := make([]pop3d.Message, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = pop3d.Message{Size: int64(len(m.data)), UID: m.uid}
	}
	return out, nil
}

func (s *session) Open(ctx context.Context, i int) (io.ReadCloser, error) {
	if i < 0 || i >= len(s.msgs) {
		return nil, fmt.Errorf("memdrop: open %s message %d: out of range", s.user, i)
	}
	if f := s.b.OpenError; f != nil {
		if err := f(s.user, i); err != nil {
			return nil, err
		}
	}
	s.b.mu.Lock()
	s.mb.readers++
	s.b.mu.Unlock()
	return &reader{Reader: bytes.NewReader(s.msgs[i].data), s: s}, nil
}

// reader counts open readers so tests can check that they are closed.
type reader struct {
	*bytes.Reader
	s      *session
	closed bool
}

func (r *reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.s.b.mu.Lock()
	r.s.mb.readers--
	r.s.b.mu.Unlock()
	return nil
}

// Commit removes the given messages of the snapshot from the maildrop by
// identity, so messages added during the session survive.
func (s *session) Commit(ctx context.Context, deleted []int) error {
	s.b.mu.Lock()
	s.mb.commits++
	s.b.mu.Unlock()
	if f := s.b.CommitError; f != nil {
		if err := f(s.user); err != nil {
			return err
		}
	}
	gone := make(map[*message]bool, len(deleted))
	for _, i := range deleted {
		if i < 0 || i >= len(s.msgs) {
			return fmt.Errorf("memdrop: commit %s: message %d out of range", s.user, i)
		}
		gone[s.msgs[i]] = true
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	kept := s.mb.msgs[:0:0]
	for _, m := range s.mb.msgs {
		if !gone[m] {
			kept = append(kept, m)
		}
	}
	s.mb.msgs = kept
	return nil
}

// Close releases the lock. A second Close is counted (so tests can detect
// it) but has no other effect.
func (s *session) Close() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.mb.closes++
	if !s.done {
		s.done = true
		s.mb.locked = false
	}
	return nil
}
