package authdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/popadm/popadm/internal/pwscheme"
)

// mechForms maps a mechanism to the stored scheme it needs beside the slow
// verifier. "plain" needs only the verifier.
var mechForms = map[string]string{
	MechSCRAMSHA256: "SCRAM-SHA-256",
	MechSCRAMSHA1:   "SCRAM-SHA-1",
	MechCRAMMD5:     "CRAM-MD5",
	MechAPOP:        "PLAIN",
}

// isMechForm reports whether scheme is one of the mechanism-specific forms
// (or another plaintext-equivalent one) rather than a slow verifier.
func isMechForm(scheme string) bool {
	for _, f := range mechForms {
		if f == scheme {
			return true
		}
	}
	if info, ok := pwscheme.Lookup(scheme); ok && info.PlainEquivalent {
		return true
	}
	return scheme == "DIGEST-MD5"
}

// canonScheme returns the registry's name for a scheme (aliases resolved),
// or the upper-cased input for an unknown one.
func canonScheme(s string) string {
	if info, ok := pwscheme.Lookup(s); ok && info.Name != "" {
		return info.Name
	}
	return strings.ToUpper(s)
}

// checkGenScheme validates a scheme the store is asked to generate.
func checkGenScheme(s string) (string, error) {
	info, ok := pwscheme.Lookup(s)
	if !ok {
		return "", fmt.Errorf("%w: unknown password scheme %q", ErrInvalidInput, s)
	}
	if !info.Generate {
		return "", fmt.Errorf("%w: password scheme %s cannot be generated", ErrInvalidInput, info.Name)
	}
	return canonScheme(s), nil
}

// credSet is a computed credential set: scheme → "{SCHEME}value".
type credSet map[string]string

// schemes lists the set's schemes, sorted.
func (c credSet) schemes() []string {
	out := make([]string, 0, len(c))
	for s := range c {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// verifier returns the slow verifier of a stored set: the first scheme
// (in sorted order) that is not a mechanism form. ok is false when the set
// has only mechanism forms (a hash-only import of {PLAIN}, say).
func (c credSet) verifier() (scheme, value string, ok bool) {
	for _, s := range c.schemes() {
		if !isMechForm(s) {
			return s, c[s], true
		}
	}
	return "", "", false
}

// plainCandidate picks the one credential a plaintext password is checked
// against: the slow verifier if there is one, else a SCRAM verifier, else
// any plaintext-equivalent form. Only one is tried, so a wrong password
// costs one verify, and a set whose forms disagree is not accepted through
// its weakest member.
func (c credSet) plainCandidate() (string, bool) {
	if _, v, ok := c.verifier(); ok {
		return v, true
	}
	best, bestRank := "", 99
	for _, s := range c.schemes() {
		info, ok := pwscheme.Lookup(s)
		if !ok || !info.Verify {
			continue
		}
		rank := 2
		if !info.PlainEquivalent {
			rank = 1
		}
		if rank < bestRank {
			best, bestRank = c[s], rank
		}
	}
	return best, best != ""
}

// buildSet computes the credential set for password: the slow verifier in
// scheme always, plus the form each of mechs needs. It is the slow part of
// every password change and runs before any transaction opens.
func (d *DB) buildSet(ctx context.Context, user, password, scheme string, mechs []string) (credSet, error) {
	var set credSet
	var err error
	if gerr := d.gate.slow(ctx, func() { set, err = d.generateSet(user, password, scheme, mechs) }); gerr != nil {
		return nil, gerr
	}
	return set, err
}

func (d *DB) generateSet(user, password, scheme string, mechs []string) (credSet, error) {
	p := d.opts.Params
	p.User = user
	set := credSet{}
	v, err := pwscheme.Generate(scheme, password, p)
	if err != nil {
		return nil, unhashable(scheme, err)
	}
	set[canonScheme(scheme)] = v
	for _, m := range mechs {
		form, ok := mechForms[m]
		if !ok {
			continue
		}
		if _, done := set[form]; done {
			continue
		}
		// Mechanism forms use their scheme's own defaults (SCRAM: 4096
		// iterations, as Dovecot), not the slow verifier's cost.
		v, err := pwscheme.Generate(form, password, pwscheme.Params{User: user})
		if err != nil {
			return nil, unhashable(form, err)
		}
		set[form] = v
	}
	return set, nil
}

// unhashable turns a Generate refusal of the password itself (too long
// for BLF-CRYPT, refused by SASLprep for SCRAM) into a policy refusal;
// other errors stay internal.
func unhashable(scheme string, err error) error {
	if errors.Is(err, pwscheme.ErrMalformed) {
		return &PolicyError{Rule: "unhashable", Msg: "the password cannot be stored as " + scheme}
	}
	return fmt.Errorf("authdb: hash password (%s): %w", scheme, err)
}

// hashSet turns a ready "{SCHEME}value" into a one-credential set.
func hashSet(hash string) (credSet, error) {
	if err := pwscheme.Validate(hash); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidHash, err)
	}
	h, err := pwscheme.Parse(hash)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidHash, err)
	}
	return credSet{canonScheme(h.Scheme): hash}, nil
}

// missingForms reports whether a stored set lacks the slow verifier or a
// form that mechs need.
func missingForms(stored credSet, mechs []string) bool {
	if _, _, ok := stored.verifier(); !ok {
		return true
	}
	for _, m := range mechs {
		if f, ok := mechForms[m]; ok {
			if _, have := stored[f]; !have {
				return true
			}
		}
	}
	return false
}

// effectiveScheme is the slow-verifier scheme for an account.
func effectiveScheme(acct *Account, p Policy) string {
	if acct != nil && acct.Scheme != "" {
		return acct.Scheme
	}
	return p.DefaultScheme
}

// dummyHash returns a hash of a random password in scheme, generated once
// per scheme. Unknown users are verified against it, so a login attempt
// costs the same whether or not the account exists.
func (d *DB) dummyHash(scheme string) string {
	d.dummyMu.Lock()
	defer d.dummyMu.Unlock()
	if h, ok := d.dummy[scheme]; ok {
		return h
	}
	var b [18]byte
	rand.Read(b[:])
	h, err := pwscheme.Generate(scheme, base64.RawStdEncoding.EncodeToString(b[:]), d.opts.Params)
	if err != nil {
		d.log.Warn("authdb: cannot make the timing-equaliser hash", "scheme", scheme, "err", err)
		return ""
	}
	d.dummy[scheme] = h
	return h
}

// spendVerify burns one verify of the configured scheme (unknown users,
// accounts without a usable credential).
func (d *DB) spendVerify(ctx context.Context, scheme, password string) {
	if d.opts.NoUnknownUserDelay {
		return
	}
	if h := d.dummyHash(scheme); h != "" {
		d.gate.slow(ctx, func() { pwscheme.Verify(h, password, "") })
	}
}

// storeSet replaces an account's credentials with set inside tx and bumps
// cred_version. When history > 0 the set's slow verifier is remembered
// (never a plaintext-equivalent form) and older entries beyond history are
// dropped; history 0 forgets them all; history < 0 (a rehash of the same
// password) leaves the history alone.
func storeSet(ctx context.Context, tx *sql.Tx, userID int64, set credSet, now time.Time, history int) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM credentials WHERE user_id = ?", userID); err != nil {
		return err
	}
	for _, s := range set.schemes() {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO credentials (user_id, scheme, value, created_at) VALUES (?, ?, ?, ?)",
			userID, s, set[s], now.Unix()); err != nil {
			return err
		}
	}
	if history < 0 {
		_, err := tx.ExecContext(ctx, "UPDATE users SET cred_version = cred_version + 1 WHERE id = ?", userID)
		return err
	}
	if _, v, ok := set.verifier(); ok && history > 0 {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO password_history (user_id, value, created_at) VALUES (?, ?, ?)",
			userID, v, now.Unix()); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM password_history WHERE user_id = ? AND id NOT IN
		(SELECT id FROM password_history WHERE user_id = ? ORDER BY id DESC LIMIT ?)`,
		userID, userID, history); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "UPDATE users SET cred_version = cred_version + 1 WHERE id = ?", userID)
	return err
}
