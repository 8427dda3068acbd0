package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// runUIDL opens -repeat sessions one after the other. In each it times the
// PASS exchange (the server opens and scans the maildrop) and the complete
// UIDL response, then quits. The first session is the cold one (as cold
// as the server and the maildrop's caches are when it starts); the median
// of the others is the warm figure.
func runUIDL(ctx context.Context, e *env, args []string) error {
	var lf loadFlags
	fs := newFlagSet(e, "uidl")
	lf.register(fs, e, "addr", "pass", "timeout")
	fs.StringVar(&lf.users, "user", "", "login name")
	repeat := fs.Int("repeat", 5, "number of sessions (the first is the cold one)")
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if err := lf.check(fs); err != nil {
		return err
	}
	if lf.users == "" || strings.Contains(lf.users, "%d") {
		return fmt.Errorf("%w: -user is required and names one account", errUsage)
	}
	if *repeat < 1 || *repeat > 1000 {
		return fmt.Errorf("%w: -repeat must be in 1..1000", errUsage)
	}

	var logins, uidls []time.Duration
	count := -1
	var failure error
	for i := 0; i < *repeat && ctx.Err() == nil; i++ {
		l, u, n, err := uidlOnce(lf.addr, lf.users, lf.pass, lf.timeout)
		if err != nil {
			failure = fmt.Errorf("session %d: %w", i+1, err)
			break
		}
		if count >= 0 && n != count {
			failure = fmt.Errorf("session %d: UIDL listed %d messages, session 1 listed %d", i+1, n, count)
			break
		}
		count = n
		logins = append(logins, l)
		uidls = append(uidls, u)
	}
	ok := failure == nil && len(logins) == *repeat
	r := result{
		"addr":     lf.addr,
		"messages": count,
		"sessions": len(logins),
	}
	human := fmt.Sprintf("%d messages", count)
	if len(logins) > 0 {
		r["login_cold_ms"] = ms(logins[0])
		r["uidl_cold_ms"] = ms(uidls[0])
		human += fmt.Sprintf(", cold: PASS %.1f ms, UIDL %.1f ms", ms(logins[0]), ms(uidls[0]))
	}
	if len(logins) > 1 {
		lw, uw := medianDuration(logins[1:]), medianDuration(uidls[1:])
		r["login_warm_ms"] = ms(lw)
		r["uidl_warm_ms"] = ms(uw)
		human += fmt.Sprintf(", warm (median of %d): PASS %.1f ms, UIDL %.1f ms", len(logins)-1, ms(lw), ms(uw))
	}
	if failure != nil {
		r["first_error"] = failure.Error()
		human += " (" + failure.Error() + ")"
	}
	return emit(e, "uidl", lf.label, ok, r, human)
}

// uidlOnce runs one session and returns the PASS time, the UIDL time and
// the number of UIDL lines.
func uidlOnce(addr, user, pass string, timeout time.Duration) (login, uidl time.Duration, n int, err error) {
	p, err := dialPOP3(addr, timeout)
	if err != nil {
		return 0, 0, 0, err
	}
	defer p.Close()
	if _, err := p.cmd("USER", "USER "+user); err != nil {
		return 0, 0, 0, err
	}
	t0 := time.Now()
	if _, err := p.cmd("PASS", "PASS "+pass); err != nil {
		return 0, 0, 0, err
	}
	login = time.Since(t0)
	t1 := time.Now()
	if _, err := p.cmd("UIDL", "UIDL"); err != nil {
		return 0, 0, 0, err
	}
	var bad string
	_, err = p.readMulti(func(line []byte) {
		n++
		if bad == "" && len(strings.Fields(string(line))) != 2 {
			bad = printable(line)
		}
	})
	uidl = time.Since(t1)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("UIDL: %w", err)
	}
	if bad != "" {
		return 0, 0, 0, fmt.Errorf("UIDL: bad line %q", bad)
	}
	if err := p.quit(); err != nil {
		return 0, 0, 0, err
	}
	return login, uidl, n, nil
}
