package authdb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/pwscheme"
)

func TestAddUserCredentialSet(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	cases := []struct {
		name    string
		mechs   []string
		schemes string
	}{
		{"default", nil, "SCRAM-SHA-256,SHA512-CRYPT"},
		{"plainonly", []string{"plain"}, "SHA512-CRYPT"},
		{"all", []string{"scram-sha-256", "scram-sha-1", "cram-md5", "apop"}, "CRAM-MD5,PLAIN,SCRAM-SHA-1,SCRAM-SHA-256,SHA512-CRYPT"},
	}
	for _, c := range cases {
		a := mustAdd(t, db, c.name, "the password", c.mechs...)
		if got := strings.Join(a.Schemes, ","); got != c.schemes {
			t.Errorf("%s: schemes %s, want %s", c.name, got, c.schemes)
		}
		if a.Credentials != nil {
			t.Errorf("%s: AddUser returned credential values", c.name)
		}
		full, err := db.Lookup(ctx, c.name)
		if err != nil {
			t.Fatal(err)
		}
		for scheme, v := range full.Credentials {
			if !strings.HasPrefix(v, "{"+scheme+"}") {
				t.Errorf("%s: credential %s stored as %.20q", c.name, scheme, v)
			}
			info, _ := pwscheme.Lookup(scheme)
			if info.Verify {
				if ok, err := pwscheme.Verify(v, "the password", full.Name); !ok || err != nil {
					t.Errorf("%s: %s does not verify: %v", c.name, scheme, err)
				}
			}
		}
		if full.CredVersion != 1 || full.Changed.IsZero() || full.Created.IsZero() {
			t.Errorf("%s: account %+v", c.name, full)
		}
	}
	all, _ := db.Lookup(ctx, "all")
	// The stored CRAM-MD5 context and PLAIN secret serve their mechanisms.
	d1, err := pwscheme.CRAMMD5Digest(all.Credentials["CRAM-MD5"], []byte("<1@x>"))
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := pwscheme.CRAMMD5Digest("{PLAIN}the password", []byte("<1@x>"))
	if d1 != d2 {
		t.Fatal("CRAM-MD5 context does not match the password")
	}
	if s, ok := pwscheme.PlainSecret(all.Credentials["PLAIN"]); !ok || s != "the password" {
		t.Fatal("APOP secret not stored")
	}
	if n := count(t, db, "SELECT count(*) FROM audit WHERE action = 'add' AND actor = 'tester' AND service = 'cli'"); n != 3 {
		t.Fatalf("add audit rows = %d", n)
	}
	if n := count(t, db, "SELECT count(*) FROM audit WHERE detail LIKE '%the password%'"); n != 0 {
		t.Fatal("password in the audit table")
	}
}

func TestAddUserFields(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	exp := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	a, err := db.AddUser(ctx, cliReq, NewUser{
		Name: "Carol@Example.com", DisplayName: "Carol C.", Disabled: true, MustChange: true,
		Expires: exp, Maildrop: "/srv/mail/carol", QuotaBytes: 500 << 20, Scheme: "pbkdf2",
	}, PasswordInput{Password: "carol's password"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "carol@example.com" || a.Local != "carol" || a.Domain != "example.com" || a.DisplayName != "Carol C." ||
		!a.Disabled || !a.MustChange || !a.Expires.Equal(exp) || a.Maildrop != "/srv/mail/carol" ||
		a.QuotaBytes != 500<<20 || a.Scheme != "PBKDF2" {
		t.Fatalf("account %+v", a)
	}
	if strings.Join(a.Schemes, ",") != "PBKDF2,SCRAM-SHA-256" {
		t.Fatalf("schemes %v", a.Schemes)
	}
}

func TestAddUserErrors(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	mustAdd(t, db, "alice", "first password")
	before := snapshot(t, db)
	pw := PasswordInput{Password: "good password"}
	cases := []struct {
		name string
		u    NewUser
		pw   PasswordInput
		want error
	}{
		{"duplicate", NewUser{Name: "alice"}, pw, ErrUserExists},
		{"duplicate other case", NewUser{Name: "ALICE@example.com"}, pw, ErrUserExists},
		{"invalid name", NewUser{Name: "al ice"}, pw, ErrInvalidName},
		{"invalid name slash", NewUser{Name: "a/b"}, pw, ErrInvalidName},
		{"no domain", NewUser{Name: "bob@nowhere.org"}, pw, ErrNoSuchDomain},
		{"malformed hash", NewUser{Name: "bob"}, PasswordInput{Hash: "{SHA512-CRYPT}nonsense"}, ErrInvalidHash},
		{"unknown scheme hash", NewUser{Name: "bob"}, PasswordInput{Hash: "{NOPE}abc"}, ErrInvalidHash},
		{"no prefix hash", NewUser{Name: "bob"}, PasswordInput{Hash: "$6$abc$def"}, ErrInvalidHash},
		{"both inputs", NewUser{Name: "bob"}, PasswordInput{Password: "good password", Hash: vecPlain}, ErrInvalidInput},
		{"no input", NewUser{Name: "bob"}, PasswordInput{}, ErrInvalidInput},
		{"bad mech", NewUser{Name: "bob", Mechs: []string{"gssapi"}}, pw, ErrInvalidInput},
		{"bad scheme", NewUser{Name: "bob", Scheme: "rot13"}, pw, ErrInvalidInput},
		{"short password", NewUser{Name: "bob"}, PasswordInput{Password: "short"}, ErrInvalidInput},
		{"control in display name", NewUser{Name: "bob", DisplayName: "a\nb"}, pw, ErrInvalidInput},
		{"maildrop traversal", NewUser{Name: "bob", Maildrop: "/srv/../etc"}, pw, ErrInvalidInput},
		{"negative quota", NewUser{Name: "bob", QuotaBytes: -1}, pw, ErrInvalidInput},
	}
	for _, c := range cases {
		_, err := db.AddUser(ctx, cliReq, c.u, c.pw)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if after := snapshot(t, db); after != before {
		t.Fatalf("refused AddUser changed the database:\n%s\n---\n%s", before, after)
	}
	// IfNotExists returns the existing account unchanged.
	a, err := db.AddUser(ctx, cliReq, NewUser{Name: "alice", IfNotExists: true, DisplayName: "X"}, pw)
	if err != nil || a.Name != "alice@example.com" || a.DisplayName != "" {
		t.Fatalf("IfNotExists: %+v %v", a, err)
	}
	if after := snapshot(t, db); after != before {
		t.Fatal("IfNotExists on an existing user changed the database")
	}
	// CreateDomain creates the domain (audited).
	if _, err := db.AddUser(ctx, cliReq, NewUser{Name: "bob@new.org", CreateDomain: true}, pw); err != nil {
		t.Fatal(err)
	}
	if d, err := db.GetDomain(ctx, "new.org"); err != nil || d.Users != 1 {
		t.Fatalf("GetDomain: %+v %v", d, err)
	}
}

func TestAddUserWithHash(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	a, err := db.AddUser(ctx, cliReq, NewUser{Name: "hashed"}, PasswordInput{Hash: vecSHA512Crypt})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(a.Schemes, ",") != "SHA512-CRYPT" {
		t.Fatalf("schemes %v", a.Schemes)
	}
	full, _ := db.Lookup(ctx, "hashed")
	if full.Credentials["SHA512-CRYPT"] != vecSHA512Crypt {
		t.Fatal("hash not stored verbatim")
	}
	if _, err := db.Authenticate(ctx, Request{Service: ServicePOP3}, "hashed", vecPassword); err != nil {
		t.Fatal(err)
	}
}

func TestSetPassword(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	a := mustAdd(t, db, "alice", "first password", "apop")
	if err := db.SetPassword(ctx, cliReq, "alice", PasswordInput{Password: "second password", MustChange: true}); err != nil {
		t.Fatal(err)
	}
	b, _ := db.Lookup(ctx, "alice")
	if b.CredVersion != a.CredVersion+1 || !b.MustChange {
		t.Fatalf("after SetPassword: %+v", b)
	}
	if s, _ := pwscheme.PlainSecret(b.Credentials["PLAIN"]); s != "second password" {
		t.Fatal("APOP secret not replaced")
	}
	if ok, _ := pwscheme.Verify(b.Credentials["SHA512-CRYPT"], "second password", ""); !ok {
		t.Fatal("verifier not replaced")
	}
	// Must-change: POP3 refuses with PasswordOK, poppassd may change.
	_, err := db.Authenticate(ctx, Request{Service: ServicePOP3}, "alice", "second password")
	if ae := authErr(t, err, ReasonPasswordRequired); !ae.PasswordOK {
		t.Fatal("PasswordOK false for must-change")
	}
	if err := db.ChangePassword(ctx, Request{Service: ServicePoppassd}, "alice", "second password", "third password"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, Request{Service: ServicePOP3}, "alice", "third password"); err != nil {
		t.Fatal(err)
	}

	// A hash replaces the whole set with that one credential; the scheme
	// override is kept on the account.
	if err := db.SetPassword(ctx, cliReq, "alice", PasswordInput{Hash: vecMD5Crypt}); err != nil {
		t.Fatal(err)
	}
	c, _ := db.GetUser(ctx, "alice")
	if strings.Join(c.Schemes, ",") != "MD5-CRYPT" {
		t.Fatalf("schemes %v", c.Schemes)
	}
	if err := db.SetPassword(ctx, cliReq, "alice", PasswordInput{Password: "fourth password", Scheme: "sha256-crypt"}); err != nil {
		t.Fatal(err)
	}
	c, _ = db.GetUser(ctx, "alice")
	if c.Scheme != "SHA256-CRYPT" || strings.Join(c.Schemes, ",") != "PLAIN,SHA256-CRYPT" {
		t.Fatalf("scheme override: %+v", c)
	}
	if n := count(t, db, "SELECT count(*) FROM audit WHERE action = 'passwd' AND target = 'alice@example.com' AND result = 'ok'"); n != 4 {
		t.Fatalf("passwd audit rows = %d, want 4", n)
	}

	before := snapshot(t, db)
	for _, c := range []struct {
		user string
		pw   PasswordInput
		want error
	}{
		{"nobody", PasswordInput{Password: "good password"}, ErrNoSuchUser},
		{"bad name!/", PasswordInput{Password: "good password"}, ErrInvalidName},
		{"alice", PasswordInput{Hash: "{ARGON2ID}$argon2id$v=19$broken"}, ErrInvalidHash},
		{"alice", PasswordInput{Password: "fourth password"}, ErrInvalidInput}, // same as current
		{"alice", PasswordInput{Password: "x"}, ErrInvalidInput},
		{"alice", PasswordInput{Password: "good password", Scheme: "NOPE"}, ErrInvalidInput},
	} {
		if err := db.SetPassword(ctx, cliReq, c.user, c.pw); !errors.Is(err, c.want) {
			t.Errorf("SetPassword(%s) = %v, want %v", c.user, err, c.want)
		}
	}
	if after := snapshot(t, db); after != before {
		t.Fatal("refused SetPassword changed the database")
	}
}

func TestDeleteUser(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	mustAdd(t, db, "alice", "first password")
	mustAdd(t, db, "bob", "second password")
	before := snapshot(t, db)
	for _, name := range []string{"carol", "x y"} {
		err := db.DeleteUser(ctx, cliReq, name)
		if !errors.Is(err, ErrNoSuchUser) && !errors.Is(err, ErrInvalidName) {
			t.Fatalf("DeleteUser(%s) = %v", name, err)
		}
	}
	if err := db.DeleteUser(ctx, cliReq, "carol"); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("DeleteUser missing = %v", err)
	}
	if after := snapshot(t, db); after != before {
		t.Fatal("refused DeleteUser changed the database")
	}
	if err := db.DeleteUser(ctx, cliReq, "Alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetUser(ctx, "alice"); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("GetUser after delete = %v", err)
	}
	if n := count(t, db, "SELECT count(*) FROM credentials c JOIN users u ON u.id = c.user_id WHERE u.name = 'bob@example.com'"); n != 2 {
		t.Fatalf("bob's credentials: %d", n)
	}
	if n := count(t, db, "SELECT count(*) FROM credentials"); n != 2 {
		t.Fatalf("credentials left: %d (cascade failed)", n)
	}
	if n := count(t, db, "SELECT count(*) FROM audit WHERE action = 'del' AND target = 'alice@example.com'"); n != 1 {
		t.Fatal("no del audit row")
	}
	if err := db.DeleteUser(ctx, cliReq, "alice"); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("second delete = %v", err)
	}
}

func TestModifyUser(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	mustAdd(t, db, "alice", "first password", "apop", "cram-md5")
	mustAdd(t, db, "bob", "second password")
	exp := time.Date(2032, 5, 6, 0, 0, 0, 0, time.UTC)
	a, err := db.ModifyUser(ctx, cliReq, "alice", UserMod{
		DisplayName: ptr("Alice A."), Disabled: ptr(true), DisableNote: ptr("left"),
		MustChange: ptr(true), Expires: &exp, NoPOP3: ptr(true), NoPasswd: ptr(true),
		Maildrop: ptr("/srv/alice"), QuotaBytes: ptr(int64(1000)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.DisplayName != "Alice A." || !a.Disabled || a.DisableNote != "left" || !a.MustChange ||
		!a.Expires.Equal(exp) || !a.NoPOP3 || !a.NoPasswd || a.Maildrop != "/srv/alice" || a.QuotaBytes != 1000 {
		t.Fatalf("after modify: %+v", a)
	}
	entries, _ := db.Audit(ctx, AuditFilter{User: "alice", Action: ActionModify})
	if len(entries) != 1 || !strings.Contains(entries[0].Detail, "disabled=true") || !strings.Contains(entries[0].Detail, "quota=1000") {
		t.Fatalf("mod audit: %+v", entries)
	}

	// Removing apop drops the plaintext secret; cram-md5 stays.
	v := a.CredVersion
	a, err = db.ModifyUser(ctx, cliReq, "alice", UserMod{Mechs: &[]string{"cram-md5"}, Expires: &time.Time{}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(a.Mechs, ",") != "plain,cram-md5" || strings.Join(a.Schemes, ",") != "CRAM-MD5,SHA512-CRYPT" {
		t.Fatalf("mechs %v schemes %v", a.Mechs, a.Schemes)
	}
	if a.CredVersion != v+1 || !a.Expires.IsZero() {
		t.Fatalf("cred_version %d (was %d), expires %v", a.CredVersion, v, a.Expires)
	}

	// Lock and unlock are audited as such; unlock clears the counter.
	if _, err := db.w.Exec("UPDATE users SET failures = 3 WHERE name = 'alice@example.com'"); err != nil {
		t.Fatal(err)
	}
	if a, err = db.ModifyUser(ctx, cliReq, "alice", UserMod{Locked: ptr(true)}); err != nil || !a.Locked || a.Failures != 3 {
		t.Fatalf("lock: %+v %v", a, err)
	}
	if a, err = db.ModifyUser(ctx, cliReq, "alice", UserMod{Locked: ptr(false)}); err != nil || a.Locked || a.Failures != 0 {
		t.Fatalf("unlock: %+v %v", a, err)
	}
	for _, act := range []string{ActionLock, ActionUnlock} {
		if e, _ := db.Audit(ctx, AuditFilter{User: "alice", Action: act}); len(e) != 1 {
			t.Fatalf("%s audit rows: %d", act, len(e))
		}
	}

	// Rename, keeping credentials.
	if a, err = db.ModifyUser(ctx, cliReq, "alice", UserMod{Rename: ptr("alicia")}); err != nil || a.Name != "alicia@example.com" || a.Local != "alicia" {
		t.Fatalf("rename: %+v %v", a, err)
	}
	if _, err := db.GetUser(ctx, "alice"); !errors.Is(err, ErrNoSuchUser) {
		t.Fatal("old name still there")
	}

	before := snapshot(t, db)
	for _, c := range []struct {
		user string
		m    UserMod
		want error
	}{
		{"nobody", UserMod{Disabled: ptr(true)}, ErrNoSuchUser},
		{"alicia", UserMod{Rename: ptr("bob")}, ErrUserExists},
		{"alicia", UserMod{Rename: ptr("x@nowhere.org")}, ErrNoSuchDomain},
		{"alicia", UserMod{Rename: ptr("bad name")}, ErrInvalidName},
		{"alicia", UserMod{Mechs: &[]string{"kerberos"}}, ErrInvalidInput},
		{"alicia", UserMod{DisplayName: ptr("a\x00b")}, ErrInvalidInput},
		{"alicia", UserMod{QuotaBytes: ptr(int64(-5))}, ErrInvalidInput},
	} {
		if _, err := db.ModifyUser(ctx, cliReq, c.user, c.m); !errors.Is(err, c.want) {
			t.Errorf("ModifyUser(%s, %+v) = %v, want %v", c.user, c.m, err, c.want)
		}
	}
	if after := snapshot(t, db); after != before {
		t.Fatal("refused ModifyUser changed the database")
	}
	// A no-op modification writes no audit row.
	if _, err := db.ModifyUser(ctx, cliReq, "alicia", UserMod{DisplayName: ptr("Alice A.")}); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, db); after != before {
		t.Fatal("no-op ModifyUser changed the database")
	}
}

func TestListUsers(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, _ := newTestDB(t, func(o *Options) { o.Now = clk.Now })
	if err := db.AddDomain(ctx, cliReq, Domain{Name: "other.org"}); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, db, "alice", "first password")
	mustAdd(t, db, "bob", "first password")
	mustAdd(t, db, "carol@other.org", "first password")
	mustAdd(t, db, "dave", "first password")
	db.ModifyUser(ctx, cliReq, "bob", UserMod{Disabled: ptr(true)})
	db.ModifyUser(ctx, cliReq, "carol@other.org", UserMod{Locked: ptr(true)})
	db.ModifyUser(ctx, cliReq, "dave", UserMod{MustChange: ptr(true)})
	clk.Advance(100 * 24 * time.Hour)
	if _, err := db.Authenticate(ctx, Request{Service: ServicePOP3}, "alice", "first password"); err != nil {
		t.Fatal(err)
	}
	names := func(f UserFilter) string {
		us, err := db.ListUsers(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, u := range us {
			if u.Credentials != nil {
				t.Fatal("ListUsers returned credential values")
			}
			n = append(n, u.Local)
		}
		return strings.Join(n, ",")
	}
	for f, want := range map[*UserFilter]string{
		{}:                              "alice,bob,carol,dave",
		{Domain: "Other.org"}:           "carol",
		{Disabled: true}:                "bob",
		{Locked: true}:                  "carol",
		{Expired: true}:                 "dave",
		{Inactive: 90 * 24 * time.Hour}: "bob,carol,dave",
		{Domain: "nowhere.org"}:         "",
	} {
		if got := names(*f); got != want {
			t.Errorf("ListUsers(%+v) = %s, want %s", *f, got, want)
		}
	}
	if _, err := db.ListUsers(ctx, UserFilter{Domain: "bad domain"}); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("bad domain filter: %v", err)
	}
}

func TestDomains(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	if err := db.AddDomain(ctx, cliReq, Domain{Name: "Other.ORG", Description: "second"}); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, db, "alice@other.org", "first password")
	before := snapshot(t, db)
	for _, c := range []struct {
		err  error
		want error
	}{
		{db.AddDomain(ctx, cliReq, Domain{Name: "other.org"}), ErrDomainExists},
		{db.AddDomain(ctx, cliReq, Domain{Name: "bad_domain"}), ErrInvalidName},
		{db.AddDomain(ctx, cliReq, Domain{Name: "ok.org", Description: "a\tb"}), ErrInvalidInput},
		{db.DeleteDomain(ctx, cliReq, "other.org"), ErrDomainInUse},
		{db.DeleteDomain(ctx, cliReq, "missing.org"), ErrNoSuchDomain},
		{func() error { _, err := db.GetDomain(ctx, "missing.org"); return err }(), ErrNoSuchDomain},
		{func() error {
			_, err := db.ModifyDomain(ctx, cliReq, "missing.org", DomainMod{Disabled: ptr(true)})
			return err
		}(), ErrNoSuchDomain},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("got %v, want %v", c.err, c.want)
		}
	}
	if after := snapshot(t, db); after != before {
		t.Fatal("refused domain operation changed the database")
	}
	doms, err := db.ListDomains(ctx)
	if err != nil || len(doms) != 2 || doms[0].Name != "example.com" || doms[1].Name != "other.org" || doms[1].Users != 1 || doms[1].Description != "second" {
		t.Fatalf("ListDomains: %+v %v", doms, err)
	}
	// Disabling the domain refuses its logins, with the password right.
	if d, err := db.ModifyDomain(ctx, cliReq, "other.org", DomainMod{Disabled: ptr(true)}); err != nil || !d.Disabled {
		t.Fatalf("ModifyDomain: %+v %v", d, err)
	}
	_, err = db.Authenticate(ctx, Request{Service: ServicePOP3}, "alice@other.org", "first password")
	if ae := authErr(t, err, ReasonDomainDisabled); !ae.PasswordOK {
		t.Fatal("PasswordOK false")
	}
	if err := db.DeleteUser(ctx, cliReq, "alice@other.org"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteDomain(ctx, cliReq, "other.org"); err != nil {
		t.Fatal(err)
	}
	for _, act := range []string{ActionDomainAdd, ActionDomainModify, ActionDomainDelete} {
		if e, _ := db.Audit(ctx, AuditFilter{Action: act, User: "other.org"}); len(e) != 1 {
			t.Errorf("%s audit rows: %d", act, len(e))
		}
	}
}
