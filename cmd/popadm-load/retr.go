package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runRetr logs in, reads the message sizes with LIST and then retrieves
// every message in turn, over and over, until the time or pass cap. The
// payload counted is the dot-unstuffed message body with its CRLF line
// ends (what LIST promises), read through a buffered reader; each
// response must end with the "." line. Throughput is reported in MB/s with
// MB = 10^6 bytes.
func runRetr(ctx context.Context, e *env, args []string) error {
	var lf loadFlags
	fs := newFlagSet(e, "retr")
	lf.register(fs, e, "addr", "pass", "c", "duration", "max", "timeout")
	fs.StringVar(&lf.users, "user", "", "login name; with -c > 1 it must contain %d (worker i logs in as i)")
	fs.Lookup("max").Usage = "cap on the number of RETR commands"
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if err := lf.check(fs); err != nil {
		return err
	}
	if lf.users == "" {
		return fmt.Errorf("%w: -user is required", errUsage)
	}
	if lf.c > 1 && !strings.Contains(lf.users, "%d") {
		return fmt.Errorf("%w: with -c > 1, -user must contain %%d: two sessions of one account would collide", errUsage)
	}

	var bytesTotal, retrs, mismatches atomic.Int64
	var msgs atomic.Int64
	var errs errorLog
	var lat samples
	b := newBudget(ctx, lf.max, lf.duration+time.Hour) // the clock starts after login
	var wg sync.WaitGroup
	var startMu sync.Mutex
	var firstStart time.Time
	var lastEnd time.Time
	for w := 0; w < lf.c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := userName(lf.users, w+1)
			p, sizes, err := retrSession(lf.addr, user, lf.pass, lf.timeout)
			if err != nil {
				errs.add(err)
				return
			}
			defer p.Close()
			msgs.Store(int64(len(sizes)))
			if len(sizes) == 0 {
				errs.add(fmt.Errorf("%s: maildrop is empty", user))
				return
			}
			start := time.Now()
			until := start.Add(lf.duration)
			startMu.Lock()
			if firstStart.IsZero() || start.Before(firstStart) {
				firstStart = start
			}
			startMu.Unlock()
			var my []time.Duration
			ok := true
		loop:
			for time.Now().Before(until) {
				for i, size := range sizes {
					if !time.Now().Before(until) || !b.take() {
						break loop
					}
					t0 := time.Now()
					if _, err := p.cmd("RETR", "RETR "+strconv.Itoa(i+1)); err != nil {
						errs.add(err)
						ok = false
						break loop
					}
					n, err := p.readMulti(nil)
					if err != nil {
						errs.add(fmt.Errorf("RETR %d: %w", i+1, err))
						ok = false
						break loop
					}
					my = append(my, time.Since(t0))
					bytesTotal.Add(n)
					retrs.Add(1)
					if n != size {
						mismatches.Add(1)
					}
				}
			}
			end := time.Now()
			startMu.Lock()
			if end.After(lastEnd) {
				lastEnd = end
			}
			startMu.Unlock()
			lat.add(my...)
			if ok {
				if err := p.quit(); err != nil {
					errs.add(err)
				}
			}
		}()
	}
	wg.Wait()

	elapsed := lastEnd.Sub(firstStart)
	if firstStart.IsZero() || elapsed <= 0 {
		elapsed = time.Nanosecond
	}
	ls := lat.sorted()
	mbps := float64(bytesTotal.Load()) / 1e6 / elapsed.Seconds()
	r := result{
		"addr":           lf.addr,
		"c":              lf.c,
		"messages":       msgs.Load(),
		"retrs":          retrs.Load(),
		"bytes":          bytesTotal.Load(),
		"elapsed_s":      round3(elapsed.Seconds()),
		"mb_per_s":       round3(mbps),
		"retr_p50_ms":    ms(percentile(ls, 50)),
		"retr_p99_ms":    ms(percentile(ls, 99)),
		"size_mismatch":  mismatches.Load(),
		"errors":         errs.count(),
		"mb_is_10_pow_6": true,
	}
	if f := errs.firstText(); f != "" {
		r["first_error"] = f
	}
	human := fmt.Sprintf("c=%d %.1f MB/s (MB = 10^6 B), %d RETR of %d messages, %d bytes in %.2fs, RETR p50 %.2f ms, %d errors",
		lf.c, mbps, retrs.Load(), msgs.Load(), bytesTotal.Load(), elapsed.Seconds(), ms(percentile(ls, 50)), errs.count())
	if m := mismatches.Load(); m > 0 {
		human += fmt.Sprintf(", WARNING: %d responses differ from the LIST size", m)
	}
	if f := errs.firstText(); f != "" {
		human += " (first: " + f + ")"
	}
	return emit(e, "retr", lf.label, errs.count() == 0 && retrs.Load() > 0, r, human)
}

// retrSession connects, logs in and lists the maildrop.
func retrSession(addr, user, pass string, timeout time.Duration) (*pop3Conn, []int64, error) {
	p, err := dialPOP3(addr, timeout)
	if err != nil {
		return nil, nil, err
	}
	if err := p.login(user, pass); err != nil {
		p.Close()
		return nil, nil, err
	}
	sizes, err := p.list()
	if err != nil {
		p.Close()
		return nil, nil, err
	}
	return p, sizes, nil
}
