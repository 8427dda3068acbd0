// Command popadm-load is the load generator of popadm's benchmark harness
// (scripts/bench.sh, `make bench`). It drives a running popadm server on a
// loopback address and measures login rates, RETR and UIDL speed, memory
// per idle session and poppassd change rates, plus the baselines these are
// compared against: the raw loopback TCP rate and the password hashing
// rate of this machine.
//
// Every measuring subcommand prints one JSON object on a line of standard
// output (for the harness to collect) and one human-readable summary line
// on standard error. Every loop is bounded both in count (-max) and in time
// (-duration). Only loopback addresses are accepted.
//
// Usage:
//
//	popadm-load SUBCOMMAND [flags]
//
// Run `popadm-load help` for the list of subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// subcommand is one entry of the command table.
type subcommand struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env carries the process streams, so that subcommands can be run from
// tests.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// errUsage marks an error in the command line; main exits with status 2.
var errUsage = errors.New("usage")

// errFailed marks a measurement that ran but is not valid (its JSON line
// has "ok": false); main exits with status 1 without printing more.
var errFailed = errors.New("measurement failed")

func commands() map[string]subcommand {
	return map[string]subcommand{
		"logins":    {"USER/PASS/QUIT login rate and latency", runLogins},
		"retr":      {"RETR throughput over a whole maildrop, in MB/s (10^6 bytes)", runRetr},
		"uidl":      {"login and UIDL response times, cold and warm", runUIDL},
		"idle":      {"server memory per idle logged-in session", runIdle},
		"passwd":    {"poppassd password change rate and latency", runPasswd},
		"hashfloor": {"password hashing rate of this machine (credential sets or verifies)", runHashFloor},
		"rawtcp":    {"raw loopback TCP throughput baseline, in MB/s", runRawTCP},
		"maildir":   {"write test messages into Maildirs", runMaildir},
		"usercsv":   {"write a user import CSV sharing one password hash", runUserCSV},
		"ready":     {"wait for a server's ready file and print one address", runReady},
		"report":    {"median table (Markdown) from collected JSON lines", runReport},
		"benchstat": {"median table (Markdown) from `go test -bench` output", runBenchstat},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: popadm-load SUBCOMMAND [flags]   (SUBCOMMAND -h for its flags)")
	fmt.Fprintln(w)
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
}

// run dispatches args to a subcommand and returns the exit status.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "popadm-load: unknown subcommand %q\n", args[0])
		usage(e.stderr)
		return 2
	}
	err := cmd.run(ctx, e, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		if msg := err.Error(); msg != errUsage.Error() {
			fmt.Fprintf(e.stderr, "popadm-load %s: %v\n", args[0], err)
		}
		return 2
	case errors.Is(err, errFailed):
		return 1
	default:
		fmt.Fprintf(e.stderr, "popadm-load %s: %v\n", args[0], err)
		return 1
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	code := run(ctx, e, os.Args[1:])
	stop()
	os.Exit(code)
}
