package authdb

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// maxCacheEntries bounds the verify cache (one entry per account).
const maxCacheEntries = 100000

// gate bounds the number of concurrent slow hash operations and remembers
// recent successful verifications.
//
// The cache holds, per account, HMAC-SHA-256(k, name ‖ stored verifier ‖
// password) with k random per process, so memory holds no password and
// nothing usable outside this process. Binding the stored verifier string
// (which carries a random salt) means any change of the credential set, by
// any process, and any re-creation of the account invalidates the entry:
// the next login reads the new verifier and misses. Only successful
// verifications are cached; wrong passwords always pay the full cost.
type gate struct {
	sem chan struct{}
	ttl time.Duration
	key [32]byte

	mu      sync.Mutex
	entries map[string]cacheEntry // by account name
}

type cacheEntry struct {
	mac     []byte
	expires time.Time
}

func newGate(maxVerify int, ttl time.Duration) *gate {
	if maxVerify <= 0 {
		maxVerify = 2 * runtime.GOMAXPROCS(0)
	}
	g := &gate{sem: make(chan struct{}, maxVerify), ttl: ttl, entries: map[string]cacheEntry{}}
	rand.Read(g.key[:])
	return g
}

// slow runs fn while holding one of the MaxVerify slots. Argon2id needs
// 64 MiB and about 160 ms per call; unbounded, a burst of logins would
// exhaust memory and CPU together.
func (g *gate) slow(ctx context.Context, fn func()) error {
	select {
	case g.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for a hash slot: %w", ErrTemporary, ctx.Err())
	}
	defer func() { <-g.sem }()
	fn()
	return nil
}

func (g *gate) mac(name, stored, password string) []byte {
	h := hmac.New(sha256.New, g.key[:])
	for _, s := range []string{name, stored, password} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// cached reports whether password was verified against stored for name
// within the TTL.
func (g *gate) cached(now time.Time, name, stored, password string) bool {
	if g.ttl <= 0 {
		return false
	}
	g.mu.Lock()
	e, ok := g.entries[name]
	g.mu.Unlock()
	if !ok || now.After(e.expires) {
		return false
	}
	return hmac.Equal(e.mac, g.mac(name, stored, password))
}

// remember records a successful verification.
func (g *gate) remember(now time.Time, name, stored, password string) {
	if g.ttl <= 0 {
		return
	}
	mac := g.mac(name, stored, password)
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.entries) >= maxCacheEntries {
		for k, e := range g.entries {
			if now.After(e.expires) {
				delete(g.entries, k)
			}
		}
		for k := range g.entries {
			if len(g.entries) < maxCacheEntries {
				break
			}
			delete(g.entries, k)
		}
	}
	g.entries[name] = cacheEntry{mac: mac, expires: now.Add(g.ttl)}
}

// AuthenticateWith runs a login by a mechanism whose proof the caller
// checks (APOP, CRAM-MD5, SCRAM): check gets the account with its
// credentials and reports whether the client's proof is right; it may
// return an *AuthError (e.g. ReasonMechUnavailable when the account lacks
// the form the mechanism needs), which is passed on, and any other error
// counts as a wrong proof and is logged. mech is the mechanism name in
// lower case; one the account's mechanism set lacks is refused with
// ReasonMechUnavailable before check runs.
//
// The refusal order is Authenticate's: unknown user, locked (whatever the
// proof), mechanism unavailable, wrong proof, then the account state for
// req.Service with PasswordOK set. On success the login is recorded as by
// RecordLogin and the account is returned without credential values.
func (d *DB) AuthenticateWith(ctx context.Context, req Request, username, mech string, check func(*Account) (bool, error)) (*Account, error) {
	acct, err := d.Lookup(ctx, username)
	if err != nil {
		return nil, err
	}
	if acct.Locked {
		return nil, &AuthError{User: acct.Name, Reason: ReasonLocked}
	}
	if mech != MechPlain && !hasMech(acct.Mechs, mech) {
		return nil, &AuthError{User: acct.Name, Reason: ReasonMechUnavailable, Detail: mech + " not enabled for the account"}
	}
	ok, cerr := check(acct)
	var ae *AuthError
	if errors.As(cerr, &ae) {
		return nil, cerr
	}
	if cerr != nil {
		d.log.Error("authdb: credential check failed", "user", acct.Name, "mech", mech, "err", cerr)
		return nil, &AuthError{User: acct.Name, Reason: ReasonBadPassword, Detail: "stored credential unusable"}
	}
	if !ok {
		return nil, &AuthError{User: acct.Name, Reason: ReasonBadPassword}
	}
	if err := acct.Check(req.Service, d.now()); err != nil {
		return nil, err
	}
	acct.Credentials = nil
	if !d.readOnly {
		if err := d.RecordLogin(ctx, req, acct, mech); err != nil {
			d.log.Warn("authdb: recording login failed", "user", acct.Name, "err", err)
		}
	}
	acct.LastLogin, acct.Failures = d.now(), 0
	return acct, nil
}
