package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// altSuffix makes the second password of each account from the first when
// -pass2 is not given.
const altSuffix = "#alt"

// restoreTimeout bounds the phase that changes every account back to the
// first password after the measurement.
const restoreTimeout = 5 * time.Minute

// errOldPassword is a "500" reply to "pass".
var errOldPassword = errors.New("poppassd: old password refused")

// runPasswd measures poppassd password changes: connect, user, pass,
// newpass, quit. Each account alternates between two passwords, so the
// loop can go on; worker w of c owns the accounts w+1, w+1+c, ... After
// the measurement every account that was left on the second password is
// changed back to the first (not timed), so that runs can be repeated.
func runPasswd(ctx context.Context, e *env, args []string) error {
	var lf loadFlags
	fs := newFlagSet(e, "passwd")
	lf.register(fs, e, "addr", "users", "n-users", "pass", "c", "duration", "max", "timeout")
	pass2 := fs.String("pass2", "", "second password (default: the first followed by \""+altSuffix+"\")")
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if err := lf.check(fs); err != nil {
		return err
	}
	if lf.nUsers < lf.c {
		return fmt.Errorf("%w: -n-users (%d) must be at least -c (%d): changes of one account would collide", errUsage, lf.nUsers, lf.c)
	}
	pw := [2]string{lf.pass, *pass2}
	if pw[1] == "" {
		pw[1] = lf.pass + altSuffix
	}
	if pw[0] == pw[1] {
		return fmt.Errorf("%w: the two passwords must differ", errUsage)
	}

	// onSecond[i] reports whether account i+1 is believed to have pw[1].
	onSecond := make([]bool, lf.nUsers)
	var lat samples
	var errs errorLog
	b := newBudget(ctx, lf.max, lf.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < lf.c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var my []time.Duration
			i := w
			for b.take() {
				st := onSecond[i]
				t0 := time.Now()
				err := changeOnce(lf.addr, userName(lf.users, i+1), pw[b2i(st)], pw[b2i(!st)], lf.timeout)
				switch {
				case err == nil:
					my = append(my, time.Since(t0))
					onSecond[i] = !st
				case errors.Is(err, errOldPassword):
					// A change whose reply was lost went through after all.
					onSecond[i] = !st
					errs.add(err)
				default:
					errs.add(err)
					time.Sleep(10 * time.Millisecond)
				}
				i += lf.c
				if i >= lf.nUsers {
					i = w
				}
			}
			lat.add(my...)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	restored, restoreErrs := restorePasswords(ctx, &lf, pw, onSecond)

	ls := lat.sorted()
	rate := float64(len(ls)) / elapsed.Seconds()
	r := result{
		"addr":           lf.addr,
		"c":              lf.c,
		"n_users":        lf.nUsers,
		"elapsed_s":      round3(elapsed.Seconds()),
		"changes":        len(ls),
		"errors":         errs.count(),
		"changes_per_s":  round3(rate),
		"p50_ms":         ms(percentile(ls, 50)),
		"p99_ms":         ms(percentile(ls, 99)),
		"restored":       restored,
		"restore_errors": restoreErrs.count(),
	}
	human := fmt.Sprintf("c=%d %.1f changes/s, p50 %.1f ms p99 %.1f ms, %d changes, %d errors in %.2fs, %d accounts changed back",
		lf.c, rate, ms(percentile(ls, 50)), ms(percentile(ls, 99)), len(ls), errs.count(), elapsed.Seconds(), restored)
	var firsts []string
	if f := errs.firstText(); f != "" {
		firsts = append(firsts, f)
	}
	if f := restoreErrs.firstText(); f != "" {
		firsts = append(firsts, "changing back: "+f)
	}
	if len(firsts) > 0 {
		r["first_error"] = strings.Join(firsts, "; ")
		human += " (" + strings.Join(firsts, "; ") + ")"
	}
	return emit(e, "passwd", lf.label, len(ls) > 0 && restoreErrs.count() == 0, r, human)
}

// restorePasswords changes every account still on the second password back
// to the first, c at a time, within restoreTimeout.
func restorePasswords(ctx context.Context, lf *loadFlags, pw [2]string, onSecond []bool) (int, *errorLog) {
	var errs errorLog
	var mu sync.Mutex
	restored := 0
	todo := make(chan int, len(onSecond))
	for i, st := range onSecond {
		if st {
			todo <- i
		}
	}
	close(todo)
	until := time.Now().Add(restoreTimeout)
	var wg sync.WaitGroup
	for w := 0; w < lf.c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range todo {
				if ctx.Err() != nil || !time.Now().Before(until) {
					errs.add(fmt.Errorf("%s: not changed back: out of time", userName(lf.users, i+1)))
					continue
				}
				if err := changeOnce(lf.addr, userName(lf.users, i+1), pw[1], pw[0], lf.timeout); err != nil {
					errs.add(err)
					continue
				}
				mu.Lock()
				restored++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return restored, &errs
}

// changeOnce runs one poppassd conversation that changes user's password
// from old to new.
func changeOnce(addr, user, old, new string, timeout time.Duration) error {
	lc, err := dialLine(addr, timeout)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer lc.Close()
	step := func(name, line string) error {
		if line != "" {
			if err := lc.send(line); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		reply, err := lc.readLine()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if !strings.HasPrefix(reply, "200") {
			if name == "pass" && strings.HasPrefix(reply, "500") {
				return fmt.Errorf("%s: %w: %q", user, errOldPassword, printable([]byte(reply)))
			}
			return fmt.Errorf("%s: %s: %q", user, name, printable([]byte(reply)))
		}
		return nil
	}
	if err := step("greeting", ""); err != nil {
		return err
	}
	if err := step("user", "user "+user); err != nil {
		return err
	}
	if err := step("pass", "pass "+old); err != nil {
		return err
	}
	if err := step("newpass", "newpass "+new); err != nil {
		return err
	}
	if err := step("quit", "quit"); err != nil {
		return err
	}
	lc.waitClose()
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
