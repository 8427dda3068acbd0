package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestDomainCommands(t *testing.T) {
	e := newEnv(t)
	r := e.mustRun("", "domain", "add", "other.example", "--description", "second")
	if r.out != "added domain other.example\n" {
		t.Errorf("add: %q", r.out)
	}
	e.addUser("a@other.example", "password-1")
	var ds []domainView
	jsonOf(t, e.mustRun("", "domain", "list", "--json"), &ds)
	if len(ds) != 2 || ds[1].Domain != "other.example" || ds[1].Users != 1 || ds[1].Description != "second" {
		t.Errorf("list %+v", ds)
	}
	r = e.mustRun("", "domain", "list")
	if !strings.HasPrefix(r.out, "DOMAIN") || !strings.Contains(r.out, "other.example") {
		t.Errorf("list table:\n%s", r.out)
	}
	var d domainView
	jsonOf(t, e.mustRun("", "domain", "show", "other.example", "--json"), &d)
	if d.Users != 1 || d.Disabled {
		t.Errorf("show %+v", d)
	}
	e.unchanged(func() {
		r := e.expect(ExitCantCreate, "", "domain", "add", "example.com")
		oneLine(t, r.err)
		e.expect(ExitDataErr, "", "domain", "add", "bad domain")
		e.expect(ExitNoUser, "", "domain", "show", "nosuch.example")
		m := errorJSON(t, e.expect(ExitNoUser, "", "domain", "del", "nosuch.example", "--yes", "--json"))
		if m["domain"] != "nosuch.example" {
			t.Errorf("JSON %v", m)
		}
		// Still has a user.
		r = e.expect(ExitDataErr, "", "domain", "del", "other.example", "--yes")
		if !strings.Contains(r.err, "users") {
			t.Errorf("in use: %q", r.err)
		}
		e.expect(ExitUsage, "", "domain", "del", "other.example")
		e.expect(ExitUsage, "", "domain", "mod", "other.example")
	})
	e.mustRun("", "user", "del", "a@other.example", "--yes")
	e.mustRun("", "domain", "del", "other.example", "--yes")
	jsonOf(t, e.mustRun("", "domain", "list", "--json"), &ds)
	if len(ds) != 1 {
		t.Errorf("after del: %+v", ds)
	}
}

func TestPolicy(t *testing.T) {
	e := newEnv(t)
	var p policyView
	jsonOf(t, e.mustRun("", "policy", "show", "--json"), &p)
	if p.MinLength != 8 || p.DefaultScheme != testScheme || p.LockoutFails != 10 || p.LockoutWindow != "15m" {
		t.Errorf("defaults %+v", p)
	}
	e.mustRun("", "policy", "set", "--min-length", "12", "--history", "2", "--max-age", "180d", "--lockout", "3/1h", "--default-mechs", "plain,scram-sha-256,cram-md5")
	jsonOf(t, e.mustRun("", "policy", "show", "--json"), &p)
	if p.MinLength != 12 || p.History != 2 || p.MaxAge != "180d" || p.LockoutFails != 3 || p.LockoutWindow != "1h" || len(p.DefaultMechs) != 3 {
		t.Errorf("after set %+v", p)
	}
	r := e.mustRun("", "policy", "show")
	if !strings.Contains(r.out, "lockout:") || !strings.Contains(r.out, "3/1h") {
		t.Errorf("show:\n%s", r.out)
	}
	// The policy applies to the CLI.
	e.unchanged(func() {
		r := e.expect(ExitDataErr, "eleven-char\n", "user", "add", "a@example.com", "--password-stdin")
		if !strings.Contains(r.err, "password refused") {
			t.Errorf("min-length: %q", r.err)
		}
	})
	e.addUser("a@example.com", "twelve-chars")
	if v := e.show("a@example.com"); v.Expires == nil || len(v.Mechs) != 3 {
		t.Errorf("max-age and default mechs not applied: %+v", v)
	}
	e.unchanged(func() {
		e.expect(ExitUsage, "", "policy", "set")
		e.expect(ExitUsage, "", "policy", "set", "--lockout", "often")
		e.expect(ExitUsage, "", "policy", "set", "--max-age", "forever")
		e.expect(ExitDataErr, "", "policy", "set", "--default-scheme", "NOSUCH")
		e.expect(ExitDataErr, "", "policy", "set", "--default-scheme", "PLAIN")
	})
	e.mustRun("", "policy", "set", "--default-scheme", "blf-crypt", "--quiet")
	jsonOf(t, e.mustRun("", "policy", "show", "--json"), &p)
	if p.DefaultScheme != "BLF-CRYPT" {
		t.Errorf("default scheme %q", p.DefaultScheme)
	}
}

func TestAuditAndActor(t *testing.T) {
	e := newEnv(t)
	e.env["SUDO_USER"] = "root-via-sudo"
	e.addUser("a@example.com", "password-1")
	e.mustRun("", "--actor", "ops-script", "user", "lock", "a@example.com")
	var entries []map[string]any
	jsonOf(t, e.mustRun("", "audit", "--json"), &entries)
	if len(entries) < 3 || entries[0]["action"] != "lock" || entries[0]["actor"] != "ops-script" || entries[1]["actor"] != "root-via-sudo" {
		t.Fatalf("audit %v", entries)
	}
	jsonOf(t, e.mustRun("", "audit", "--json", "--action", "add", "--user", "A@example.com"), &entries)
	if len(entries) != 1 || entries[0]["target"] != "a@example.com" {
		t.Errorf("filtered %v", entries)
	}
	jsonOf(t, e.mustRun("", "audit", "--json", "--limit", "1"), &entries)
	if len(entries) != 1 {
		t.Errorf("limit: %v", entries)
	}
	jsonOf(t, e.mustRun("", "audit", "--json", "--since", "1h"), &entries)
	if len(entries) < 3 {
		t.Errorf("since 1h: %v", entries)
	}
	future := time.Now().Add(48 * time.Hour).Format("2006-01-02")
	r := e.expect(ExitNoHost, "", "audit", "--since", future, "--fail-empty", "--json")
	if strings.TrimSpace(r.out) != "[]" {
		t.Errorf("empty audit: %q", r.out)
	}
	r = e.mustRun("", "audit")
	if !strings.HasPrefix(r.out, "TIME") || !strings.Contains(r.out, "ops-script") {
		t.Errorf("table:\n%s", r.out)
	}
	e.expect(ExitUsage, "", "audit", "--since", "yesterday-ish")
}

func TestUsageErrors(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"--bogus"},
		{"user", "add", "a@example.com", "--password", "secret"},
		{"user", "bogus"},
		{"bogus"},
		{"user", "show"},
		{"user", "show", "a", "b"},
		{"-o", "yaml", "user", "list"},
		{"user", "list", "--limit"},
		{"db", "backup"},
	} {
		r := e.expect(ExitUsage, "", args...)
		if !strings.HasPrefix(r.err, "popadm: ") || r.out != "" {
			t.Errorf("%v: %s", args, r)
		}
		if strings.Contains(r.err, "secret") {
			t.Errorf("%v echoes a password: %q", args, r.err)
		}
	}
	// Under --json a usage error is a JSON object on stdout.
	m := errorJSON(t, e.expect(ExitUsage, "", "--json", "user", "add", "a@example.com", "--bogus"))
	if !strings.Contains(m["error"].(string), "bogus") {
		t.Errorf("JSON %v", m)
	}
	// A bare group prints its help on stderr.
	r := e.expect(ExitUsage, "", "user")
	if !strings.Contains(r.err, "Available Commands") || !strings.Contains(r.err, "popadm: popadm user needs a subcommand") || r.out != "" {
		t.Errorf("group help: %s", r)
	}
	errorJSON(t, e.expect(ExitUsage, "", "--json", "-o", "tsv", "user", "list"))
}

func TestHelpVersionCompletion(t *testing.T) {
	e := newEmptyEnv(t)
	r := e.mustRun("", "--help")
	for _, cmd := range []string{"user", "domain", "pw", "auth", "import", "export", "audit", "policy", "db", "completion", "version"} {
		if !strings.Contains(r.out, "  "+cmd+" ") {
			t.Errorf("help lacks %s:\n%s", cmd, r.out)
		}
	}
	r = e.mustRun("", "user", "add", "--help")
	if !strings.Contains(r.out, "--password-stdin") || strings.Contains(r.out, "--password ") {
		t.Errorf("user add help:\n%s", r.out)
	}
	r = e.mustRun("", "version")
	if !strings.HasPrefix(r.out, "popadm "+Version+" ("+runtime.Version()) {
		t.Errorf("version %q", r.out)
	}
	var v map[string]any
	jsonOf(t, e.mustRun("", "version", "--json"), &v)
	if v["version"] != Version || v["go"] != runtime.Version() {
		t.Errorf("version JSON %v", v)
	}
	for shell, marker := range map[string]string{"bash": "bash completion", "zsh": "#compdef popadm", "fish": "complete -c popadm"} {
		r := e.mustRun("", "completion", shell)
		if !strings.Contains(r.out, marker) {
			t.Errorf("completion %s lacks %q", shell, marker)
		}
	}
}

// TestMain runs the exported entry point end to end: the database from
// the environment, the password on stdin.
func TestMainEntryPoint(t *testing.T) {
	db := filepath.Join(t.TempDir(), "auth.db")
	t.Setenv("POPADM_DB", db)
	t.Setenv("POPADM_DEFAULT_DOMAIN", "example.com")
	run := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), args, strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, stderr := run("", "db", "init"); code != 0 {
		t.Fatalf("db init: %d %s", code, stderr)
	}
	run("", "policy", "set", "--default-scheme", testScheme)
	run("", "domain", "add", "example.com")
	if code, out, stderr := run("main-password\n", "user", "add", "alice", "--password-stdin"); code != 0 || out != "added user alice@example.com\n" {
		t.Fatalf("user add: %d %q %q", code, out, stderr)
	}
	if code, out, _ := run("main-password", "auth", "test", "alice"); code != 0 || out != "alice@example.com: ok\n" {
		t.Errorf("auth test: %d %q", code, out)
	}
	if code, _, stderr := run("", "user", "del", "alice"); code != ExitUsage || !strings.Contains(stderr, "--yes") {
		t.Errorf("del without --yes: %d %q", code, stderr)
	}
}
