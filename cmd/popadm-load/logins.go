package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// runLogins measures complete POP3 login sessions: connect, greeting,
// USER, PASS, QUIT (and the server's close). Worker w of c uses the
// accounts w+1, w+1+c, ... in turn, so that no two sessions of one account
// overlap (the maildrop lock would refuse the second).
func runLogins(ctx context.Context, e *env, args []string) error {
	var lf loadFlags
	fs := newFlagSet(e, "logins")
	lf.register(fs, e, "addr", "users", "n-users", "pass", "c", "duration", "max", "timeout")
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if err := lf.check(fs); err != nil {
		return err
	}
	if lf.nUsers < lf.c {
		return fmt.Errorf("%w: -n-users (%d) must be at least -c (%d): sessions of one account would collide", errUsage, lf.nUsers, lf.c)
	}

	var sess, pass samples
	var errs errorLog
	b := newBudget(ctx, lf.max, lf.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < lf.c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mySess, myPass []time.Duration
			next := w
			for b.take() {
				user := userName(lf.users, next+1)
				next += lf.c
				if next >= lf.nUsers {
					next = w
				}
				s, p, err := loginOnce(lf.addr, user, lf.pass, lf.timeout)
				if err != nil {
					errs.add(err)
					// A refused connection must not turn into a busy loop.
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mySess = append(mySess, s)
				myPass = append(myPass, p)
			}
			sess.add(mySess...)
			pass.add(myPass...)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	ss, ps := sess.sorted(), pass.sorted()
	rate := float64(len(ss)) / elapsed.Seconds()
	r := result{
		"addr":         lf.addr,
		"c":            lf.c,
		"n_users":      lf.nUsers,
		"elapsed_s":    round3(elapsed.Seconds()),
		"logins":       len(ss),
		"errors":       errs.count(),
		"logins_per_s": round3(rate),
		"p50_ms":       ms(percentile(ss, 50)),
		"p99_ms":       ms(percentile(ss, 99)),
		"pass_p50_ms":  ms(percentile(ps, 50)),
		"pass_p99_ms":  ms(percentile(ps, 99)),
	}
	if f := errs.firstText(); f != "" {
		r["first_error"] = f
	}
	human := fmt.Sprintf("c=%d %.1f logins/s, session p50 %.2f ms p99 %.2f ms, PASS p50 %.2f ms, %d logins, %d errors in %.2fs",
		lf.c, rate, ms(percentile(ss, 50)), ms(percentile(ss, 99)), ms(percentile(ps, 50)), len(ss), errs.count(), elapsed.Seconds())
	if f := errs.firstText(); f != "" {
		human += " (first: " + f + ")"
	}
	return emit(e, "logins", lf.label, len(ss) > 0, r, human)
}

// loginOnce runs one session and returns its total time and the time of
// the PASS exchange.
func loginOnce(addr, user, pass string, timeout time.Duration) (session, passTime time.Duration, err error) {
	t0 := time.Now()
	p, err := dialPOP3(addr, timeout)
	if err != nil {
		return 0, 0, err
	}
	defer p.Close()
	if _, err := p.cmd("USER", "USER "+user); err != nil {
		return 0, 0, err
	}
	t1 := time.Now()
	if _, err := p.cmd("PASS", "PASS "+pass); err != nil {
		return 0, 0, err
	}
	passTime = time.Since(t1)
	if err := p.quit(); err != nil {
		return 0, 0, err
	}
	return time.Since(t0), passTime, nil
}
