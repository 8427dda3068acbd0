// Package throttle slows down and refuses repeated failed logins, per client
// address and per account name, for every protocol of one process.
//
// Policy, in the order a login attempt meets it:
//
//   - Before checking credentials, Check refuses the attempt outright when the
//     client address (IPv4 /32, IPv6 /64) has failed Options.IPLimit times
//     within Options.Window. The daemons answer that with a [LOGIN-DELAY]
//     (POP3) or a generic refusal (poppassd). The refusal depends only on the
//     address, never on whether the account exists, so it leaks nothing.
//   - After a failure, Failure returns how long to wait before replying: the
//     base delay, doubled for each earlier failure of the same address or
//     account name within the window, capped at Options.MaxDelay. The account
//     name is keyed as typed (normalised), whether or not it exists, so the
//     delay is the same for unknown users and wrong passwords.
//   - A wrong password that repeats one already seen for the same account
//     within the window (a phone polling with an old password) is not counted
//     again: Failure reports counted=false and the caller does not increment
//     the account's persistent failure counter. Only an HMAC of the password
//     under a per-process random key is kept, in memory, never on disk.
//   - Success clears the account name's record (not the address's).
//
// Memory is bounded: at most Options.MaxEntries keys are tracked; the oldest
// are evicted first.
package throttle

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Options configures a Limiter. Zero fields take the documented defaults.
type Options struct {
	// BaseDelay is the wait before every failure reply (default 2s).
	BaseDelay time.Duration
	// MaxDelay caps the growing delay (default 15s).
	MaxDelay time.Duration
	// Window is how long failures are remembered (default 15m).
	Window time.Duration
	// IPLimit is the number of failures from one address within Window
	// after which further attempts are refused before any credential check
	// (default 20; negative disables the refusal).
	IPLimit int
	// MaxEntries bounds the number of tracked keys (default 100000).
	MaxEntries int
	// Now returns the current time (tests).
	Now func() time.Time
}

// Limiter tracks failures. It is safe for concurrent use.
type Limiter struct {
	opts Options
	key  [32]byte

	mu      sync.Mutex
	entries map[string]*entry
	order   []string // insertion order for eviction; may hold stale keys
}

type entry struct {
	fails int
	first time.Time
	last  time.Time
	seen  [][16]byte // fingerprints of distinct wrong passwords (users only)
}

const maxFingerprints = 8

// New returns a Limiter with opts.
func New(opts Options) *Limiter {
	if opts.BaseDelay == 0 {
		opts.BaseDelay = 2 * time.Second
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = 15 * time.Second
	}
	if opts.MaxDelay < opts.BaseDelay {
		opts.MaxDelay = opts.BaseDelay
	}
	if opts.Window == 0 {
		opts.Window = 15 * time.Minute
	}
	if opts.IPLimit == 0 {
		opts.IPLimit = 20
	}
	if opts.MaxEntries == 0 {
		opts.MaxEntries = 100000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Limiter{opts: opts, entries: make(map[string]*entry)}
	if _, err := rand.Read(l.key[:]); err != nil {
		panic("throttle: no randomness: " + err.Error())
	}
	return l
}

// BaseDelay returns the configured delay applied to every failure.
func (l *Limiter) BaseDelay() time.Duration { return l.opts.BaseDelay }

// Check reports whether an attempt from remote may proceed. When it may
// not, retry says how long until the address's record expires.
func (l *Limiter) Check(remote string) (ok bool, retry time.Duration) {
	if l.opts.IPLimit < 0 {
		return true, 0
	}
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.live(ipKey(remote), now)
	if e == nil || e.fails < l.opts.IPLimit {
		return true, 0
	}
	return false, e.first.Add(l.opts.Window).Sub(now)
}

// Blocked reports whether the address is currently refused, for metrics and
// tests.
func (l *Limiter) Blocked(remote string) bool {
	ok, _ := l.Check(remote)
	return !ok
}

// Failure records a failed attempt by user from remote with the given
// password and returns the delay to apply before replying, and whether the
// attempt counts against the account (false when the same wrong password
// was already seen for this account within the window). An empty password
// stands for a challenge/response proof, which always counts.
func (l *Limiter) Failure(remote, user, password string) (delay time.Duration, counted bool) {
	now := l.opts.Now()
	fp := l.fingerprint(user, password)
	l.mu.Lock()
	defer l.mu.Unlock()

	ue := l.get("u:"+user, now)
	counted = true
	for _, s := range ue.seen {
		if password != "" && hmac.Equal(s[:], fp[:]) {
			counted = false
			break
		}
	}
	if counted && password != "" {
		if len(ue.seen) == maxFingerprints {
			ue.seen = ue.seen[1:]
		}
		ue.seen = append(ue.seen, fp)
	}
	if counted {
		ue.fails++
	}
	ue.last = now

	ie := l.get(ipKey(remote), now)
	ie.fails++
	ie.last = now

	n := max(ue.fails, ie.fails)
	delay = l.opts.BaseDelay
	for i := 1; i < n && delay < l.opts.MaxDelay; i++ {
		delay *= 2
	}
	return min(delay, l.opts.MaxDelay), counted
}

// Success forgets the failures of user (the address keeps its record, so
// one valid account cannot launder guesses against others).
func (l *Limiter) Success(user string) {
	l.mu.Lock()
	delete(l.entries, "u:"+user)
	l.mu.Unlock()
}

func (l *Limiter) fingerprint(user, password string) [16]byte {
	m := hmac.New(sha256.New, l.key[:])
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var fp [16]byte
	copy(fp[:], m.Sum(nil))
	return fp
}

// live returns the unexpired entry for k, or nil. l.mu must be held.
func (l *Limiter) live(k string, now time.Time) *entry {
	e := l.entries[k]
	if e == nil {
		return nil
	}
	if now.Sub(e.first) > l.opts.Window {
		delete(l.entries, k)
		return nil
	}
	return e
}

// get returns the live entry for k, creating it. l.mu must be held.
func (l *Limiter) get(k string, now time.Time) *entry {
	if e := l.live(k, now); e != nil {
		return e
	}
	for len(l.entries) >= l.opts.MaxEntries && len(l.order) > 0 {
		old := l.order[0]
		l.order = l.order[1:]
		delete(l.entries, old)
	}
	if len(l.order) > 2*l.opts.MaxEntries {
		l.compact()
	}
	e := &entry{first: now}
	l.entries[k] = e
	l.order = append(l.order, k)
	return e
}

// compact drops order slots whose entries are gone. l.mu must be held.
func (l *Limiter) compact() {
	kept := l.order[:0]
	seen := make(map[string]bool, len(l.entries))
	for _, k := range l.order {
		if _, ok := l.entries[k]; ok && !seen[k] {
			seen[k] = true
			kept = append(kept, k)
		}
	}
	l.order = kept
}

// ipKey maps "ip:port" (or a bare ip) to its throttling prefix: the address
// for IPv4, the /64 for IPv6.
func ipKey(remote string) string {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "i:" + host
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "i:" + p.String()
	}
	return "i:" + a.String()
}
