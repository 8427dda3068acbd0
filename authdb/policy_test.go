package authdb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckPassword(t *testing.T) {
	p := DefaultPolicy()
	cases := []struct {
		pw, rule string
		pol      func(*Policy)
	}{
		{"correct horse", "", nil},
		{"pässwörd€", "", nil},
		{"", "empty", nil},
		{"sh0rt!", "min-length", nil},
		{"1234567", "min-length", nil},
		{"12345678", "", nil},
		// 7 characters in NFC although 8 code points in NFD.
		{"abcdefe\u0301", "min-length", nil},
		{"abcdefé", "", func(p *Policy) { p.MinLength = 7 }},
		{"has\x00nul!", "control-char", nil},
		{"has\rcr!!!", "control-char", nil},
		{"has\nlf!!!", "control-char", nil},
		{"has\x7fdel!", "control-char", nil},
		{"has\u0085nel!", "control-char", nil},
		{"bad\xffutf8!", "invalid-utf8", nil},
		{strings.Repeat("x", 257), "max-length", nil},
		{strings.Repeat("x", 256), "", nil},
		{"pässwörd€", "ascii-only", func(p *Policy) { p.ASCIIOnly = true }},
		{"password", "", func(p *Policy) { p.ASCIIOnly = true }},
	}
	for _, c := range cases {
		pol := p
		if c.pol != nil {
			c.pol(&pol)
		}
		err := checkPassword(pol, c.pw)
		if c.rule == "" {
			if err != nil {
				t.Errorf("checkPassword(%q) = %v, want nil", c.pw, err)
			}
			continue
		}
		var pe *PolicyError
		if !errors.As(err, &pe) || pe.Rule != c.rule {
			t.Errorf("checkPassword(%q) = %v, want rule %s", c.pw, err, c.rule)
			continue
		}
		if !errors.Is(err, ErrInvalidInput) {
			t.Errorf("PolicyError does not match ErrInvalidInput")
		}
		if c.pw != "" && strings.Contains(err.Error(), c.pw) {
			t.Errorf("error %q echoes the password", err)
		}
	}
}

func TestPolicyDefaultsAndRoundTrip(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	p, err := db.GetPolicy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultPolicy()
	want.DefaultScheme = "SHA512-CRYPT" // Options.Scheme
	if p.MinLength != 8 || p.MaxLength != 256 || !p.RejectSame || p.History != 0 || p.LockoutFails != 10 ||
		p.LockoutWindow != 15*time.Minute || p.DefaultScheme != want.DefaultScheme ||
		strings.Join(p.DefaultMechs, ",") != "plain,scram-sha-256" {
		t.Fatalf("defaults: %+v", p)
	}
	set := Policy{MinLength: 10, MaxLength: 100, RejectSame: false, History: 3, ASCIIOnly: true,
		MaxAge: 90 * 24 * time.Hour, LockoutFails: 5, LockoutWindow: time.Hour,
		DefaultScheme: "pbkdf2", DefaultMechs: []string{"cram-md5"}}
	if err := db.SetPolicy(ctx, cliReq, set); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetPolicy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	set.DefaultScheme = "PBKDF2"
	set.DefaultMechs = []string{"plain", "cram-md5"}
	if got.MinLength != set.MinLength || got.MaxLength != set.MaxLength || got.RejectSame || got.History != 3 ||
		!got.ASCIIOnly || got.MaxAge != set.MaxAge || got.LockoutFails != 5 || got.LockoutWindow != time.Hour ||
		got.DefaultScheme != "PBKDF2" || strings.Join(got.DefaultMechs, ",") != "plain,cram-md5" {
		t.Fatalf("round trip: got %+v, want %+v", got, set)
	}
	if n := count(t, db, "SELECT count(*) FROM audit WHERE action = 'policy'"); n != 1 {
		t.Fatalf("policy audit rows = %d", n)
	}

	// Storing the configured scheme keeps following the configuration.
	got.DefaultScheme = "SHA512-CRYPT"
	if err := db.SetPolicy(ctx, cliReq, *got); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count(*) FROM policy WHERE key = 'default_scheme' AND value = ''"); n != 1 {
		t.Fatal("configured scheme stored explicitly")
	}
}

func TestSetPolicyInvalid(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	before := snapshot(t, db)
	bad := []func(*Policy){
		func(p *Policy) { p.MinLength = -1 },
		func(p *Policy) { p.MaxLength = 0 },
		func(p *Policy) { p.MaxLength = 5000 },
		func(p *Policy) { p.MinLength = 300 },
		func(p *Policy) { p.History = -1 },
		func(p *Policy) { p.MaxAge = -time.Second },
		func(p *Policy) { p.LockoutWindow = 0 },
		func(p *Policy) { p.DefaultScheme = "NOPE" },
		func(p *Policy) { p.DefaultScheme = "DES-CRYPT" },
		func(p *Policy) { p.DefaultMechs = []string{"ntlm"} },
	}
	for i, m := range bad {
		p, _ := db.GetPolicy(ctx)
		m(p)
		if err := db.SetPolicy(ctx, cliReq, *p); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("case %d: %v, want ErrInvalidInput", i, err)
		}
	}
	if after := snapshot(t, db); after != before {
		t.Fatalf("invalid policy changed the database:\n%s\n---\n%s", before, after)
	}
}

func TestPolicyEnforcedForCLI(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	mustAdd(t, db, "alice", "first password")
	before := snapshot(t, db)
	for _, pw := range []string{"short", "with\nnewline", "first password"} {
		err := db.SetPassword(ctx, cliReq, "alice", PasswordInput{Password: pw})
		var pe *PolicyError
		if !errors.As(err, &pe) {
			t.Fatalf("SetPassword(%q) = %v, want PolicyError", pw, err)
		}
	}
	if _, err := db.AddUser(ctx, cliReq, NewUser{Name: "bob"}, PasswordInput{Password: "short"}); err == nil {
		t.Fatal("AddUser accepted a short password")
	}
	if after := snapshot(t, db); after != before {
		t.Fatal("refused passwords changed the database")
	}
	// SkipPolicy is the admin override.
	if err := db.SetPassword(ctx, cliReq, "alice", PasswordInput{Password: "short", SkipPolicy: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, Request{Service: ServicePOP3}, "alice", "short"); err != nil {
		t.Fatal(err)
	}
}

func TestPasswordHistory(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	p, _ := db.GetPolicy(ctx)
	p.History = 3
	if err := db.SetPolicy(ctx, cliReq, *p); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, db, "alice", "password-1")
	req := Request{Service: ServicePoppassd, Remote: "192.0.2.1:1234"}
	for i, pw := range []string{"password-2", "password-3"} {
		old := []string{"password-1", "password-2"}[i]
		if err := db.ChangePassword(ctx, req, "alice", old, pw); err != nil {
			t.Fatal(err)
		}
	}
	// password-1 is among the last three.
	err := db.ChangePassword(ctx, req, "alice", "password-3", "password-1")
	var pe *PolicyError
	if !errors.As(err, &pe) || pe.Rule != "history" {
		t.Fatalf("reuse: %v, want history refusal", err)
	}
	if err := db.ChangePassword(ctx, req, "alice", "password-3", "password-4"); err != nil {
		t.Fatal(err)
	}
	// Now password-1 has dropped out (remembered: 2, 3, 4).
	if err := db.ChangePassword(ctx, req, "alice", "password-4", "password-1"); err != nil {
		t.Fatalf("password-1 should be allowed again: %v", err)
	}
	if n := count(t, db, "SELECT count(*) FROM password_history"); n != 3 {
		t.Fatalf("history rows = %d, want 3", n)
	}
	// History holds slow verifiers, never plaintext.
	if n := count(t, db, "SELECT count(*) FROM password_history WHERE value NOT LIKE '{SHA512-CRYPT}%' OR value LIKE '%password-%'"); n != 0 {
		t.Fatal("history holds something other than slow verifiers")
	}
	// An admin reset is checked against history too.
	err = db.SetPassword(ctx, cliReq, "alice", PasswordInput{Password: "password-3"})
	if !errors.As(err, &pe) || pe.Rule != "history" {
		t.Fatalf("admin reuse: %v", err)
	}
}
