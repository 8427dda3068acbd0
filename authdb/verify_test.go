package authdb

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/pwscheme"
)

func TestAuthenticateWith(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, _ := newTestDB(t, func(o *Options) { o.Now = clk.Now })
	mustAdd(t, db, "alice", "first password", "apop", "cram-md5")
	mustAdd(t, db, "bob", "first password") // plain, scram-sha-256
	mustAdd(t, db, "carol", "first password", "apop")
	db.ModifyUser(ctx, cliReq, "carol", UserMod{Locked: ptr(true)})
	mustAdd(t, db, "dave", "first password", "apop")
	db.ModifyUser(ctx, cliReq, "dave", UserMod{Disabled: ptr(true)})

	// An APOP-style check against the stored PLAIN secret.
	apop := func(secret string) func(*Account) (bool, error) {
		return func(a *Account) (bool, error) {
			s, ok := pwscheme.PlainSecret(a.Credentials["PLAIN"])
			if !ok {
				return false, &AuthError{User: a.Name, Reason: ReasonMechUnavailable}
			}
			return s == secret, nil
		}
	}
	a, err := db.AuthenticateWith(ctx, pop3, "Alice", "apop", apop("first password"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "alice@example.com" || a.Credentials != nil || !a.LastLogin.Equal(clk.Now()) {
		t.Fatalf("account %+v", a)
	}
	if g, _ := db.GetUser(ctx, "alice"); !g.LastLogin.Equal(clk.Now()) {
		t.Fatal("login not recorded")
	}
	calls := 0
	counting := func(a *Account) (bool, error) { calls++; return true, nil }
	cases := []struct {
		user, mech string
		check      func(*Account) (bool, error)
		reason     Reason
		pwOK       bool
	}{
		{"nobody", "apop", counting, ReasonUnknownUser, false},
		{"alice", "apop", apop("wrong"), ReasonBadPassword, false},
		{"bob", "apop", counting, ReasonMechUnavailable, false},
		{"bob", "cram-md5", counting, ReasonMechUnavailable, false},
		{"carol", "apop", counting, ReasonLocked, false},
		{"dave", "apop", apop("first password"), ReasonDisabled, true},
		{"alice", "apop", func(*Account) (bool, error) { return false, errors.New("broken") }, ReasonBadPassword, false},
		{"alice", "apop", func(a *Account) (bool, error) { return false, &AuthError{User: a.Name, Reason: ReasonMechUnavailable} }, ReasonMechUnavailable, false},
	}
	for _, c := range cases {
		_, err := db.AuthenticateWith(ctx, pop3, c.user, c.mech, c.check)
		if ae := authErr(t, err, c.reason); ae.PasswordOK != c.pwOK {
			t.Errorf("%s/%s: PasswordOK %t", c.user, c.mech, ae.PasswordOK)
		}
	}
	if calls != 0 {
		t.Fatalf("check ran %d times for unknown, locked or mechanism-less accounts", calls)
	}
	if _, err := db.AuthenticateWith(ctx, pop3, "bob", "scram-sha-256", func(a *Account) (bool, error) {
		_, ok := a.Credentials["SCRAM-SHA-256"]
		return ok, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyCache(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "auth.db")
	opts := testOptions()
	opts.Now = clk.Now
	opts.VerifyCacheTTL = 10 * time.Minute
	db, err := Open(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.AddDomain(ctx, cliReq, Domain{Name: "example.com"})
	mustAdd(t, db, "alice", "first password")

	full, _ := db.Lookup(ctx, "alice")
	stored := full.Credentials["SHA512-CRYPT"]
	if db.gate.cached(clk.Now(), full.Name, stored, "first password") {
		t.Fatal("cached before any login")
	}
	if _, err := db.Authenticate(ctx, pop3, "alice", "first password"); err != nil {
		t.Fatal(err)
	}
	if !db.gate.cached(clk.Now(), full.Name, stored, "first password") {
		t.Fatal("successful login not cached")
	}
	if db.gate.cached(clk.Now(), full.Name, stored, "first passwore") {
		t.Fatal("cache accepts another password")
	}
	// A wrong password is never cached and still refused.
	authErr(t, func() error { _, err := db.Authenticate(ctx, pop3, "alice", "wrong"); return err }(), ReasonBadPassword)
	if len(db.gate.entries) != 1 {
		t.Fatalf("cache entries %d", len(db.gate.entries))
	}
	// Another process changes the password: the old one stops working at
	// once in this process, though its cache entry has not expired.
	opts2 := opts
	opts2.Create = false
	other, err := Open(ctx, path, opts2)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.SetPassword(ctx, cliReq, "alice", PasswordInput{Password: "second password"}); err != nil {
		t.Fatal(err)
	}
	authErr(t, func() error { _, err := db.Authenticate(ctx, pop3, "alice", "first password"); return err }(), ReasonBadPassword)
	if _, err := db.Authenticate(ctx, pop3, "alice", "second password"); err != nil {
		t.Fatal(err)
	}
	// The account state is read at every login, cache or not.
	other.ModifyUser(ctx, cliReq, "alice", UserMod{Disabled: ptr(true)})
	authErr(t, func() error { _, err := db.Authenticate(ctx, pop3, "alice", "second password"); return err }(), ReasonDisabled)
	// Entries expire.
	full, _ = db.Lookup(ctx, "alice")
	clk.Advance(11 * time.Minute)
	if db.gate.cached(clk.Now(), full.Name, full.Credentials["SHA512-CRYPT"], "second password") {
		t.Fatal("entry outlived its TTL")
	}
	// Deleting and re-creating the account with another password does not
	// let the old one in.
	other.ModifyUser(ctx, cliReq, "alice", UserMod{Disabled: ptr(false)})
	if _, err := db.Authenticate(ctx, pop3, "alice", "second password"); err != nil {
		t.Fatal(err)
	}
	other.DeleteUser(ctx, cliReq, "alice")
	mustAdd(t, other, "alice", "third password")
	authErr(t, func() error { _, err := db.Authenticate(ctx, pop3, "alice", "second password"); return err }(), ReasonBadPassword)

	// A poppassd change remembers the new password (the client just proved
	// it) and the old one stops working.
	if err := db.ChangePassword(ctx, pop3, "alice", "third password", "fourth password"); err != nil {
		t.Fatal(err)
	}
	full, _ = db.Lookup(ctx, "alice")
	if !db.gate.cached(clk.Now(), full.Name, full.Credentials["SHA512-CRYPT"], "fourth password") {
		t.Fatal("new password not remembered after a change")
	}
	authErr(t, func() error { _, err := db.Authenticate(ctx, pop3, "alice", "third password"); return err }(), ReasonBadPassword)

	// Disabled by default.
	plain, _ := newTestDB(t)
	mustAdd(t, plain, "bob", "first password")
	plain.Authenticate(ctx, pop3, "bob", "first password")
	if len(plain.gate.entries) != 0 {
		t.Fatal("cache used without VerifyCacheTTL")
	}
}

func TestMaxVerify(t *testing.T) {
	db, _ := newTestDB(t, func(o *Options) { o.MaxVerify = 1 })
	mustAdd(t, db, "alice", "first password")
	hold, release := make(chan struct{}), make(chan struct{})
	go db.gate.slow(context.Background(), func() { close(hold); <-release })
	<-hold
	defer close(release)
	// The gate itself: a full gate and an ended context give ErrTemporary.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	if err := db.gate.slow(done, func() { ran = true }); !errors.Is(err, ErrTemporary) || ran {
		t.Fatalf("full gate = %v (ran %t)", err, ran)
	}
	// A login waiting for a slot gives up with its context, as a temporary
	// failure, not as a refusal.
	ctx, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	_, err := db.Authenticate(ctx, pop3, "alice", "first password")
	if !errors.Is(err, ErrTemporary) || errors.Is(err, ErrAuthFailed) {
		t.Fatalf("login while every slot is busy = %v, want ErrTemporary", err)
	}
	if cap(db.gate.sem) != 1 {
		t.Fatalf("slots %d", cap(db.gate.sem))
	}
}
