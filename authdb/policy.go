package authdb

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/popadm/popadm/internal/pwscheme"
)

// DefaultPolicy returns the built-in policy (see the Policy field docs).
// DefaultScheme is left empty: the effective scheme is resolved against
// Options.Scheme.
func DefaultPolicy() Policy {
	return Policy{
		MinLength:     8,
		MaxLength:     256,
		RejectSame:    true,
		LockoutFails:  10,
		LockoutWindow: 15 * time.Minute,
		DefaultMechs:  []string{MechPlain, MechSCRAMSHA256},
	}
}

// maxPasswordBytes bounds Policy.MaxLength: longer inputs only make slow
// hashes slower.
const maxPasswordBytes = 4096

// configuredScheme is the fallback slow-verifier scheme when the policy
// stores none.
func (d *DB) configuredScheme() string {
	if d.opts.Scheme != "" {
		return canonScheme(d.opts.Scheme)
	}
	return DefaultScheme
}

// GetPolicy returns the stored policy, defaults filled in and
// DefaultScheme resolved to the effective scheme.
func (d *DB) GetPolicy(ctx context.Context) (*Policy, error) {
	p, err := d.policy(ctx)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// policyTTL bounds how long the login path reuses a policy it read: a
// change made by another process (popadm policy set) applies within it.
const policyTTL = 2 * time.Second

// loginPolicy returns the policy for the login hot path, read at most once
// per policyTTL, so a login does not pay a policy query.
func (d *DB) loginPolicy(ctx context.Context) (Policy, error) {
	now := time.Now()
	d.polMu.Lock()
	if !d.polAt.IsZero() && now.Sub(d.polAt) < policyTTL {
		p := d.pol
		d.polMu.Unlock()
		return p, nil
	}
	d.polMu.Unlock()
	p, err := d.policy(ctx)
	if err != nil {
		return p, err
	}
	d.polMu.Lock()
	d.pol, d.polAt = p, now
	d.polMu.Unlock()
	return p, nil
}

// forgetPolicy drops the login path's copy after a change in this process.
func (d *DB) forgetPolicy() {
	d.polMu.Lock()
	d.polAt = time.Time{}
	d.polMu.Unlock()
}

func (d *DB) policy(ctx context.Context) (Policy, error) {
	rows, err := d.r.QueryContext(ctx, "SELECT key, value FROM policy")
	if err != nil {
		return Policy{}, d.mapErr("read policy", err)
	}
	defer rows.Close()
	kv := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return Policy{}, d.mapErr("read policy", err)
		}
		kv[k] = v
	}
	if err := rows.Err(); err != nil {
		return Policy{}, d.mapErr("read policy", err)
	}
	p := DefaultPolicy()
	bad := func(k string) (Policy, error) {
		return Policy{}, fmt.Errorf("authdb: read policy: bad value for %s", k)
	}
	atoi := func(k string, dst *int) bool {
		if v, ok := kv[k]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return false
			}
			*dst = n
		}
		return true
	}
	dur := func(k string, dst *time.Duration) bool {
		if v, ok := kv[k]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return false
			}
			*dst = time.Duration(n) * time.Second
		}
		return true
	}
	boolean := func(k string, dst *bool) bool {
		if v, ok := kv[k]; ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return false
			}
			*dst = b
		}
		return true
	}
	for k, ok := range map[string]bool{
		"min_length":     atoi("min_length", &p.MinLength),
		"max_length":     atoi("max_length", &p.MaxLength),
		"history":        atoi("history", &p.History),
		"lockout_fails":  atoi("lockout_fails", &p.LockoutFails),
		"reject_same":    boolean("reject_same", &p.RejectSame),
		"ascii_only":     boolean("ascii_only", &p.ASCIIOnly),
		"max_age":        dur("max_age", &p.MaxAge),
		"lockout_window": dur("lockout_window", &p.LockoutWindow),
	} {
		if !ok {
			return bad(k)
		}
	}
	p.DefaultScheme = kv["default_scheme"]
	if p.DefaultScheme == "" {
		p.DefaultScheme = d.configuredScheme()
	}
	if v, ok := kv["default_mechs"]; ok {
		m, err := normalizeMechs(strings.Split(v, ","))
		if err != nil {
			return bad("default_mechs")
		}
		p.DefaultMechs = m
	}
	return p, nil
}

// validatePolicy checks a policy before it is stored.
func validatePolicy(p *Policy) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: policy: %s", ErrInvalidInput, fmt.Sprintf(format, a...))
	}
	switch {
	case p.MinLength < 0:
		return bad("min length %d < 0", p.MinLength)
	case p.MaxLength < 1 || p.MaxLength > maxPasswordBytes:
		return bad("max length %d not in 1..%d", p.MaxLength, maxPasswordBytes)
	case p.MinLength > p.MaxLength:
		return bad("min length %d > max length %d", p.MinLength, p.MaxLength)
	case p.History < 0 || p.History > 100:
		return bad("history %d not in 0..100", p.History)
	case p.MaxAge < 0:
		return bad("negative max age")
	case p.LockoutFails < 0:
		return bad("negative lockout count")
	case p.LockoutWindow < 0:
		return bad("negative lockout window")
	case p.LockoutFails > 0 && p.LockoutWindow < time.Second:
		return bad("lockout window under one second")
	}
	if p.DefaultScheme != "" {
		s, err := checkGenScheme(p.DefaultScheme)
		if err != nil {
			return err
		}
		p.DefaultScheme = s
	}
	m, err := normalizeMechs(p.DefaultMechs)
	if err != nil {
		return err
	}
	p.DefaultMechs = m
	return nil
}

// SetPolicy validates and stores every field of p and writes an audit row
// listing the new values. A DefaultScheme equal to the configured
// fallback (Options.Scheme, else ARGON2ID) is stored empty, so the policy
// keeps following the configuration.
func (d *DB) SetPolicy(ctx context.Context, req Request, p Policy) error {
	if err := validatePolicy(&p); err != nil {
		return err
	}
	scheme := p.DefaultScheme
	if scheme == d.configuredScheme() {
		scheme = ""
	}
	kv := [][2]string{
		{"min_length", strconv.Itoa(p.MinLength)},
		{"max_length", strconv.Itoa(p.MaxLength)},
		{"reject_same", strconv.FormatBool(p.RejectSame)},
		{"history", strconv.Itoa(p.History)},
		{"ascii_only", strconv.FormatBool(p.ASCIIOnly)},
		{"max_age", strconv.FormatInt(int64(p.MaxAge/time.Second), 10)},
		{"lockout_fails", strconv.Itoa(p.LockoutFails)},
		{"lockout_window", strconv.FormatInt(int64(p.LockoutWindow/time.Second), 10)},
		{"default_scheme", scheme},
		{"default_mechs", strings.Join(p.DefaultMechs, ",")},
	}
	var detail []string
	for _, e := range kv {
		detail = append(detail, e[0]+"="+e[1])
	}
	now := d.now()
	defer d.forgetPolicy()
	return d.write(ctx, "set policy", func(tx *sql.Tx) error {
		for _, e := range kv {
			if _, err := tx.ExecContext(ctx,
				"INSERT INTO policy (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
				e[0], e[1]); err != nil {
				return err
			}
		}
		return d.audit(ctx, tx, now, req, ActionPolicy, "", "ok", strings.Join(detail, " "))
	})
}

// checkPassword applies the rules that need only the new password. It
// never echoes the password.
func checkPassword(p Policy, pw string) error {
	refuse := func(rule, msg string) error { return &PolicyError{Rule: rule, Msg: msg} }
	if pw == "" {
		return refuse("empty", "the password is empty")
	}
	if !utf8.ValidString(pw) {
		return refuse("invalid-utf8", "the password is not valid UTF-8")
	}
	if len(pw) > p.MaxLength {
		return refuse("max-length", fmt.Sprintf("the password is longer than %d bytes", p.MaxLength))
	}
	for _, r := range pw {
		if unicode.IsControl(r) {
			return refuse("control-char", "the password contains a control character")
		}
		if p.ASCIIOnly && r > unicode.MaxASCII {
			return refuse("ascii-only", "the password must be ASCII only")
		}
	}
	if n := utf8.RuneCountInString(norm.NFC.String(pw)); n < p.MinLength {
		return refuse("min-length", fmt.Sprintf("the password is shorter than %d characters", p.MinLength))
	}
	return nil
}

// samePassword compares two passwords as the user sees them (NFC).
func samePassword(a, b string) bool {
	return norm.NFC.String(a) == norm.NFC.String(b)
}

// checkHistory verifies pw against the stored history verifiers and, when
// current is not empty and the policy rejects reuse, against the current
// slow verifier (an admin reset has no old plaintext to compare).
func (d *DB) checkHistory(ctx context.Context, p Policy, acct *Account, pw, current string) error {
	verify := func(stored string) (ok bool, err error) {
		err = d.gate.slow(ctx, func() { ok, _ = pwscheme.Verify(stored, pw, acct.Name) })
		return ok, err
	}
	if p.RejectSame && current != "" {
		ok, err := verify(current)
		if err != nil {
			return err
		}
		if ok {
			return &PolicyError{Rule: "same-as-old", Msg: "the new password equals the current one"}
		}
	}
	if p.History <= 0 {
		return nil
	}
	rows, err := d.r.QueryContext(ctx,
		"SELECT value FROM password_history WHERE user_id = ? ORDER BY id DESC LIMIT ?", acct.ID, p.History)
	if err != nil {
		return d.mapErr("read password history", err)
	}
	var hist []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return d.mapErr("read password history", err)
		}
		hist = append(hist, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d.mapErr("read password history", err)
	}
	for _, h := range hist {
		ok, err := verify(h)
		if err != nil {
			return err
		}
		if ok {
			return &PolicyError{Rule: "history", Msg: fmt.Sprintf("the password was used recently (last %d are remembered)", p.History)}
		}
	}
	return nil
}
