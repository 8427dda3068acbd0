package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestAgainstPopadm drives the real server built by `make build` (the
// binary named by $POPADM_BIN, as `make test` sets it) with every
// measuring subcommand at small counts.
func TestAgainstPopadm(t *testing.T) {
	bin := os.Getenv("POPADM_BIN")
	if bin == "" {
		t.Skip("POPADM_BIN is not set (make test sets it)")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	db := filepath.Join(dir, "auth.db")
	mail := filepath.Join(dir, "mail")
	popadm := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--db", db}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("popadm %v: %v\n%s", args, err, out)
		}
	}
	load := func(args ...string) map[string]any {
		t.Helper()
		out, errText, code := runCmd(t, testVars, args...)
		if code != 0 {
			t.Fatalf("%v: code %d\n%s%s", args, code, out, errText)
		}
		return decodeResult(t, out)
	}
	popadm("db", "init")
	popadm("domain", "add", "example.com")
	csv := filepath.Join(dir, "users.csv")
	for i, args := range [][]string{
		{"-users", "l%d@example.com", "-n-users", "4"},
		{"-users", "p%d@example.com", "-n-users", "2"},
		{"-users", "m@example.com"},
	} {
		a := append([]string{"usercsv", "-o", csv, "-header=" + strconv.FormatBool(i == 0)}, args...)
		if _, errText, code := runCmd(t, testVars, a...); code != 0 {
			t.Fatal(errText)
		}
	}
	popadm("import", "csv", csv, "--create-domains")
	if _, errText, code := runCmd(t, nil, "maildir", "-dir", filepath.Join(mail, "example.com", "m"), "-n", "20", "-size", "5000", "-fast"); code != 0 {
		t.Fatal(errText)
	}
	if _, errText, code := runCmd(t, nil, "maildir", "-dir", filepath.Join(mail, "example.com", "l%d"), "-count", "4", "-n", "0"); code != 0 {
		t.Fatal(errText)
	}
	popadm("tls", "self-signed", "--cert", filepath.Join(dir, "cert.pem"), "--key", filepath.Join(dir, "key.pem"))

	ready := filepath.Join(dir, "ready")
	srv := exec.CommandContext(ctx, bin, "--db", db, "serve",
		"--pop3-listen", "127.0.0.1:0", "--pop3s-listen", "127.0.0.1:0", "--poppassd-listen", "127.0.0.1:0",
		"--tls-cert", filepath.Join(dir, "cert.pem"), "--tls-key", filepath.Join(dir, "key.pem"),
		"--mail-location", "maildir:"+mail+"/%d/%n", "--hostname", "localhost",
		"--scheme", "SHA512-CRYPT", "--failure-delay", "50ms", "--log-level", "warn", "--ready-file", ready)
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Signal(os.Interrupt)
		_ = srv.Wait()
	})
	addr := func(key string) string {
		out, errText, code := runCmd(t, nil, "ready", "-file", ready, "-key", key, "-pid", strconv.Itoa(srv.Process.Pid))
		if code != 0 {
			t.Fatalf("ready: %s", errText)
		}
		return out[:len(out)-1]
	}
	pop3, ppd := addr("pop3"), addr("poppassd")

	if m := load("logins", "-addr", pop3, "-users", "l%d@example.com", "-n-users", "4", "-c", "2", "-max", "12", "-duration", "1m"); num(t, m, "logins") != 12 || num(t, m, "errors") != 0 {
		t.Errorf("logins: %v", m)
	}
	if m := load("retr", "-addr", pop3, "-user", "m@example.com", "-max", "40", "-duration", "1m"); num(t, m, "retrs") != 40 || num(t, m, "size_mismatch") != 0 {
		t.Errorf("retr: %v", m)
	}
	if m := load("uidl", "-addr", pop3, "-user", "m@example.com", "-repeat", "3"); num(t, m, "messages") != 20 {
		t.Errorf("uidl: %v", m)
	}
	if m := load("idle", "-addr", pop3, "-users", "l%d@example.com", "-n", "4", "-pid", strconv.Itoa(srv.Process.Pid), "-settle", "0s"); num(t, m, "quit_ok") != 4 {
		t.Errorf("idle: %v", m)
	}
	if m := load("passwd", "-addr", ppd, "-users", "p%d@example.com", "-n-users", "2", "-c", "2", "-max", "5", "-duration", "1m"); num(t, m, "changes") != 5 || num(t, m, "restore_errors") != 0 {
		t.Errorf("passwd: %v", m)
	}
	// Every account is back on the first password.
	if m := load("logins", "-addr", pop3, "-users", "p%d@example.com", "-n-users", "2", "-max", "2", "-duration", "1m"); num(t, m, "errors") != 0 {
		t.Errorf("login after passwd: %v", m)
	}
}
