package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runIdle opens -n logged-in POP3 sessions (accounts 1..n of the pattern)
// and keeps them open, reads the server's resident memory (VmRSS from
// /proc/PID/status) before and after, and reports the growth per session
// in KiB (1024 bytes). It then sends QUIT on every session and checks that
// each got +OK.
func runIdle(ctx context.Context, e *env, args []string) error {
	var lf loadFlags
	fs := newFlagSet(e, "idle")
	lf.register(fs, e, "addr", "users", "pass", "c", "duration", "timeout")
	n := fs.Int("n", 10000, "number of sessions to hold open")
	pid := fs.Int("pid", 0, "process id of the server (its /proc/PID/status is read)")
	settle := fs.Duration("settle", 2*time.Second, "pause between the last login and the second memory reading")
	setDefault(fs, "c", "32")
	setDefault(fs, "duration", "10m")
	fs.Lookup("duration").Usage = "time cap of the login phase"
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if err := lf.check(fs); err != nil {
		return err
	}
	if *n < 1 || *n > maxConcurrency {
		return fmt.Errorf("%w: -n must be in 1..%d", errUsage, maxConcurrency)
	}
	if *pid <= 0 {
		return fmt.Errorf("%w: -pid is required", errUsage)
	}
	if *settle < 0 || *settle > time.Minute {
		return fmt.Errorf("%w: -settle must be in 0..1m", errUsage)
	}
	limit, err := raiseNoFile(uint64(*n) + 256)
	if err != nil {
		return fmt.Errorf("raise the open file limit: %w", err)
	}
	if limit < uint64(*n)+64 {
		return fmt.Errorf("the open file limit is %d, too low for %d sessions (raise the hard limit, ulimit -Hn)", limit, *n)
	}
	before, err := vmRSSKiB(*pid)
	if err != nil {
		return err
	}

	conns := make([]*pop3Conn, *n)
	var errs errorLog
	var next atomic.Int64
	until := time.Now().Add(lf.duration)
	t0 := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < min(lf.c, *n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(until) {
				i := int(next.Add(1)) - 1
				if i >= *n {
					return
				}
				p, err := dialPOP3(lf.addr, lf.timeout)
				if err == nil {
					err = p.login(userName(lf.users, i+1), lf.pass)
					if err != nil {
						p.Close()
					}
				}
				if err != nil {
					errs.add(err)
					continue
				}
				conns[i] = p
			}
		}()
	}
	wg.Wait()
	loginTime := time.Since(t0)
	opened := 0
	for _, p := range conns {
		if p != nil {
			opened++
		}
	}
	if *settle > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(*settle):
		}
	}
	after, rssErr := vmRSSKiB(*pid)

	// QUIT every session, c at a time.
	var quitOK atomic.Int64
	var quitErrs errorLog
	next.Store(0)
	for w := 0; w < min(lf.c, *n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *n {
					return
				}
				p := conns[i]
				if p == nil {
					continue
				}
				if _, err := p.cmd("QUIT", "QUIT"); err != nil {
					quitErrs.add(err)
				} else {
					quitOK.Add(1)
				}
				p.Close()
			}
		}()
	}
	wg.Wait()

	perSession := 0.0
	if opened > 0 && rssErr == nil {
		perSession = float64(after-before) / float64(opened)
	}
	r := result{
		"addr":            lf.addr,
		"n":               *n,
		"opened":          opened,
		"login_errors":    errs.count(),
		"login_s":         round3(loginTime.Seconds()),
		"rss_before_kib":  before,
		"rss_after_kib":   after,
		"kib_per_session": round3(perSession),
		"quit_ok":         quitOK.Load(),
		"quit_errors":     quitErrs.count(),
	}
	human := fmt.Sprintf("%d/%d sessions open (in %.1fs), RSS %d -> %d KiB, %.2f KiB per session, %d QUIT +OK",
		opened, *n, loginTime.Seconds(), before, after, perSession, quitOK.Load())
	var firsts []string
	if f := errs.firstText(); f != "" {
		firsts = append(firsts, "login: "+f)
	}
	if f := quitErrs.firstText(); f != "" {
		firsts = append(firsts, "quit: "+f)
	}
	if rssErr != nil {
		firsts = append(firsts, rssErr.Error())
	}
	if len(firsts) > 0 {
		r["first_error"] = strings.Join(firsts, "; ")
		human += " (" + strings.Join(firsts, "; ") + ")"
	}
	ok := opened == *n && quitOK.Load() == int64(*n) && rssErr == nil
	return emit(e, "idle", lf.label, ok, r, human)
}

// vmRSSKiB returns the VmRSS line of /proc/PID/status in KiB.
func vmRSSKiB(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("server memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmRSS:") {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, "VmRSS:"))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("server memory: odd VmRSS line %q", line)
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("server memory: %w", err)
	}
	return 0, fmt.Errorf("server memory: no VmRSS in /proc/%d/status", pid)
}

// setDefault changes the default value of a registered flag.
func setDefault(fs *flag.FlagSet, name, value string) {
	f := fs.Lookup(name)
	if err := f.Value.Set(value); err != nil {
		panic("popadm-load: bad default for -" + name)
	}
	f.DefValue = value
}
