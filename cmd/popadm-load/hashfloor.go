package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/popadm/popadm/internal/pwscheme"
)

// scramScheme is the second credential of a default credential set.
const scramScheme = "SCRAM-SHA-256"

// runHashFloor measures how fast this machine hashes passwords, with c
// goroutines and no network or database: with -op set, a full default
// credential set per operation (the slow verifier of -scheme plus a
// SCRAM-SHA-256 verifier at 4096 iterations: what a poppassd change must
// compute); with -op verify, one verification against a stored value of
// -scheme (what a login without the verify cache must compute).
func runHashFloor(ctx context.Context, e *env, args []string) error {
	var lf loadFlags
	fs := newFlagSet(e, "hashfloor")
	lf.register(fs, e, "c", "duration", "max")
	scheme := fs.String("scheme", "SHA512-CRYPT", "password scheme of the slow verifier")
	op := fs.String("op", "set", "set (slow verifier + SCRAM-SHA-256) or verify (one verification)")
	setDefault(fs, "duration", "5s")
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if err := lf.check(fs); err != nil {
		return err
	}
	password := randomPassword()
	var work func() error
	switch *op {
	case "set":
		work = func() error {
			if _, err := pwscheme.Generate(*scheme, password, pwscheme.Params{}); err != nil {
				return err
			}
			_, err := pwscheme.Generate(scramScheme, password, pwscheme.Params{})
			return err
		}
	case "verify":
		stored, err := pwscheme.Generate(*scheme, password, pwscheme.Params{})
		if err != nil {
			return fmt.Errorf("%w: -scheme %s: %v", errUsage, *scheme, err)
		}
		work = func() error {
			ok, err := pwscheme.Verify(stored, password, "load@example.com")
			if err == nil && !ok {
				err = fmt.Errorf("hashfloor: %s does not verify its own password", *scheme)
			}
			return err
		}
	default:
		return fmt.Errorf("%w: -op must be set or verify", errUsage)
	}
	if err := work(); err != nil { // also warms up, untimed
		return fmt.Errorf("%w: -scheme %s: %v", errUsage, *scheme, err)
	}

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
			for b.take() {
				t0 := time.Now()
				if err := work(); err != nil {
					errs.add(err)
					return
				}
				my = append(my, time.Since(t0))
			}
			lat.add(my...)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	ls := lat.sorted()
	rate := float64(len(ls)) / elapsed.Seconds()
	r := result{
		"scheme":    *scheme,
		"op":        *op,
		"c":         lf.c,
		"ops":       len(ls),
		"elapsed_s": round3(elapsed.Seconds()),
		"ops_per_s": round3(rate),
		"p50_ms":    ms(percentile(ls, 50)),
		"p99_ms":    ms(percentile(ls, 99)),
		"errors":    errs.count(),
	}
	what := "credential sets (" + *scheme + " + " + scramScheme + ")"
	if *op == "verify" {
		what = *scheme + " verifies"
	}
	human := fmt.Sprintf("c=%d %.1f %s/s, p50 %.2f ms, %d in %.2fs", lf.c, rate, what, ms(percentile(ls, 50)), len(ls), elapsed.Seconds())
	if f := errs.firstText(); f != "" {
		r["first_error"] = f
		human += " (" + f + ")"
	}
	return emit(e, "hashfloor", lf.label, errs.count() == 0 && len(ls) > 0, r, human)
}

// randomPassword returns a fresh 16-byte random password.
func randomPassword() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
