package authdb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

var pop3 = Request{Service: ServicePOP3, Remote: "192.0.2.7:40000"}

func TestAuthenticateOK(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, _ := newTestDB(t, func(o *Options) { o.Now = clk.Now })
	mustAdd(t, db, "alice", "pässwörd€ 1")
	before := count(t, db, "SELECT count(*) FROM audit")
	a, err := db.Authenticate(ctx, pop3, "ALICE", "pässwörd€ 1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "alice@example.com" || a.Credentials != nil || !a.LastLogin.Equal(clk.Now()) {
		t.Fatalf("account %+v", a)
	}
	got, _ := db.GetUser(ctx, "alice")
	if !got.LastLogin.Equal(clk.Now()) {
		t.Fatalf("last login %v, want %v", got.LastLogin, clk.Now())
	}
	if n := count(t, db, "SELECT count(*) FROM audit"); n != before {
		t.Fatal("a login wrote an audit row")
	}
	// A second login within a minute does not write.
	clk.Advance(10 * time.Second)
	if _, err := db.Authenticate(ctx, pop3, "alice", "pässwörd€ 1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetUser(ctx, "alice"); !got.LastLogin.Equal(clk.Now().Add(-10 * time.Second)) {
		t.Fatal("last login rewritten within the resolution")
	}
	// Lookup gives the credentials for challenge/response.
	l, err := db.Lookup(ctx, "alice@EXAMPLE.com")
	if err != nil || len(l.Credentials) != 2 {
		t.Fatalf("Lookup: %+v %v", l, err)
	}
	if _, err := db.Lookup(ctx, "nobody"); err == nil {
		t.Fatal("Lookup of an unknown user succeeded")
	} else {
		authErr(t, err, ReasonUnknownUser)
	}
}

func TestAuthenticateRefusals(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, _ := newTestDB(t, func(o *Options) { o.Now = clk.Now })
	const pw = "right password"
	mk := func(name string, m UserMod) {
		mustAdd(t, db, name, pw)
		if _, err := db.ModifyUser(ctx, cliReq, name, m); err != nil {
			t.Fatal(err)
		}
	}
	past := clk.Now().Add(-time.Hour)
	mk("plain", UserMod{})
	mk("disabled", UserMod{Disabled: ptr(true), DisableNote: ptr("unpaid")})
	mk("locked", UserMod{Locked: ptr(true)})
	mk("lockdis", UserMod{Locked: ptr(true), Disabled: ptr(true)})
	mk("nopop", UserMod{NoPOP3: ptr(true)})
	mk("nopasswd", UserMod{NoPasswd: ptr(true)})
	mk("expired", UserMod{Expires: &past})
	mk("mustchange", UserMod{MustChange: ptr(true)})
	mk("expdis", UserMod{Expires: &past, Disabled: ptr(true)})
	auditBefore := count(t, db, "SELECT count(*) FROM audit")

	cases := []struct {
		user, pw string
		svc      Service
		reason   Reason
		pwOK     bool
	}{
		{"nobody", pw, ServicePOP3, ReasonUnknownUser, false},
		{"bad name", pw, ServicePOP3, ReasonUnknownUser, false},
		{"plain", "wrong", ServicePOP3, ReasonBadPassword, false},
		{"plain", "", ServicePOP3, ReasonBadPassword, false},
		{"disabled", "wrong", ServicePOP3, ReasonBadPassword, false},
		{"disabled", pw, ServicePOP3, ReasonDisabled, true},
		{"locked", pw, ServicePOP3, ReasonLocked, false},
		{"locked", "wrong", ServicePOP3, ReasonLocked, false},
		{"lockdis", pw, ServicePOP3, ReasonLocked, false},
		{"nopop", pw, ServicePOP3, ReasonNotAllowed, true},
		{"nopasswd", pw, ServicePoppassd, ReasonNotAllowed, true},
		{"expired", pw, ServicePOP3, ReasonExpired, true},
		{"expired", "wrong", ServicePOP3, ReasonBadPassword, false},
		{"mustchange", pw, ServicePOP3, ReasonPasswordRequired, true},
		{"expdis", pw, ServicePOP3, ReasonDisabled, true},
	}
	for _, c := range cases {
		_, err := db.Authenticate(ctx, Request{Service: c.svc}, c.user, c.pw)
		ae := authErr(t, err, c.reason)
		if ae.PasswordOK != c.pwOK {
			t.Errorf("%s/%s: PasswordOK %t, want %t", c.user, c.svc, ae.PasswordOK, c.pwOK)
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("error %q holds the password", err)
		}
	}
	// Services the flags do not concern pass.
	for _, c := range []struct {
		user string
		svc  Service
	}{{"nopop", ServicePoppassd}, {"nopasswd", ServicePOP3}, {"expired", ServicePoppassd}, {"mustchange", ServicePoppassd}} {
		if _, err := db.Authenticate(ctx, Request{Service: c.svc}, c.user, pw); err != nil {
			t.Errorf("%s on %s: %v", c.user, c.svc, err)
		}
	}
	// The disable note reaches the log detail.
	_, err := db.Authenticate(ctx, pop3, "disabled", pw)
	if ae := authErr(t, err, ReasonDisabled); ae.Detail != "unpaid" {
		t.Fatalf("detail %q", ae.Detail)
	}
	// Logins, refused or not, are not audited by the store.
	if n := count(t, db, "SELECT count(*) FROM audit"); n != auditBefore {
		t.Fatalf("logins wrote %d audit rows", n-auditBefore)
	}
}

func TestAccountCheckForChallengeResponse(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	mustAdd(t, db, "alice", "first password", "cram-md5")
	a, err := db.Lookup(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(ServicePOP3, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordLogin(ctx, pop3, a, "CRAM-MD5"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetUser(ctx, "alice"); got.LastLogin.IsZero() {
		t.Fatal("RecordLogin did not record")
	}
	a.Locked, a.Disabled = true, true
	if e := authErr(t, a.Check(ServicePOP3, time.Now()), ReasonLocked); e.PasswordOK {
		t.Fatal("locked with PasswordOK")
	}
	if err := db.RecordLogin(ctx, pop3, nil, "APOP"); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("RecordLogin(nil) = %v", err)
	}
}

func TestRehashOnLogin(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	// A weak imported hash with mechs that need more forms.
	if _, err := db.AddUser(ctx, cliReq, NewUser{Name: "old", Mechs: []string{"scram-sha-256", "cram-md5"}}, PasswordInput{Hash: vecMD5Crypt}); err != nil {
		t.Fatal(err)
	}
	a0, _ := db.GetUser(ctx, "old")
	a, err := db.Authenticate(ctx, pop3, "old", vecPassword)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := db.GetUser(ctx, "old")
	if strings.Join(got.Schemes, ",") != "CRAM-MD5,SCRAM-SHA-256,SHA512-CRYPT" {
		t.Fatalf("after rehash: %v", got.Schemes)
	}
	if got.CredVersion != a0.CredVersion+1 || !got.Changed.Equal(a0.Changed) {
		t.Fatalf("rehash: cred_version %d→%d, changed %v→%v", a0.CredVersion, got.CredVersion, a0.Changed, got.Changed)
	}
	_ = a
	e, _ := db.Audit(ctx, AuditFilter{User: "old", Action: ActionRehash})
	if len(e) != 1 || e[0].Service != "pop3" || !strings.Contains(e[0].Detail, "MD5-CRYPT -> ") {
		t.Fatalf("rehash audit: %+v", e)
	}
	// The same password still works, and no second rehash happens.
	if _, err := db.Authenticate(ctx, pop3, "old", vecPassword); err != nil {
		t.Fatal(err)
	}
	if e, _ := db.Audit(ctx, AuditFilter{Action: ActionRehash}); len(e) != 1 {
		t.Fatalf("rehash rows: %d", len(e))
	}
	// A failed login rehashes nothing.
	mustAdd(t, db, "x", "first password")
	if _, err := db.AddUser(ctx, cliReq, NewUser{Name: "old2"}, PasswordInput{Hash: vecMD5Crypt}); err != nil {
		t.Fatal(err)
	}
	db.Authenticate(ctx, pop3, "old2", "wrong")
	if g, _ := db.GetUser(ctx, "old2"); strings.Join(g.Schemes, ",") != "MD5-CRYPT" {
		t.Fatal("a failed login rehashed")
	}
	// An account with only a plaintext-equivalent form logs in through it
	// and gains a slow verifier.
	if _, err := db.AddUser(ctx, cliReq, NewUser{Name: "plainonly", Mechs: []string{"apop"}}, PasswordInput{Hash: vecPlain}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, pop3, "plainonly", vecPassword); err != nil {
		t.Fatal(err)
	}
	if g, _ := db.GetUser(ctx, "plainonly"); strings.Join(g.Schemes, ",") != "PLAIN,SHA512-CRYPT" {
		t.Fatalf("plain-only after login: %v", g.Schemes)
	}
}

func TestRecordFailureLockout(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, _ := newTestDB(t, func(o *Options) { o.Now = clk.Now })
	p, _ := db.GetPolicy(ctx)
	p.LockoutFails, p.LockoutWindow = 3, 10*time.Minute
	if err := db.SetPolicy(ctx, cliReq, *p); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, db, "alice", "right password")
	fail := func() {
		t.Helper()
		if err := db.RecordFailure(ctx, pop3, "alice", ReasonBadPassword); err != nil {
			t.Fatal(err)
		}
	}
	fail()
	fail()
	// The window passes: the counter restarts.
	clk.Advance(11 * time.Minute)
	fail()
	if a, _ := db.GetUser(ctx, "alice"); a.Failures != 1 || a.Locked {
		t.Fatalf("after window: %+v", a)
	}
	// A success resets the counter.
	if _, err := db.Authenticate(ctx, pop3, "alice", "right password"); err != nil {
		t.Fatal(err)
	}
	if a, _ := db.GetUser(ctx, "alice"); a.Failures != 0 {
		t.Fatalf("failures after success: %d", a.Failures)
	}
	// Reasons other than a bad password, and unknown users, do not count.
	if err := db.RecordFailure(ctx, pop3, "alice", ReasonDisabled); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordFailure(ctx, pop3, "nobody", ReasonBadPassword); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordFailure(ctx, pop3, "bad name", ReasonBadPassword); err != nil {
		t.Fatal(err)
	}
	if a, _ := db.GetUser(ctx, "alice"); a.Failures != 0 {
		t.Fatalf("failures %d", a.Failures)
	}
	fail()
	fail()
	fail()
	a, _ := db.GetUser(ctx, "alice")
	if !a.Locked || a.Failures != 3 {
		t.Fatalf("not locked: %+v", a)
	}
	e, _ := db.Audit(ctx, AuditFilter{User: "alice", Action: ActionLock})
	if len(e) != 1 || e[0].Remote != pop3.Remote || e[0].Service != "pop3" {
		t.Fatalf("lock audit %+v", e)
	}
	// Locked: the right password is refused without PasswordOK.
	_, err := db.Authenticate(ctx, pop3, "alice", "right password")
	if ae := authErr(t, err, ReasonLocked); ae.PasswordOK {
		t.Fatal("PasswordOK on a locked account")
	}
	fail() // counting on while locked writes no second lock row
	if e, _ := db.Audit(ctx, AuditFilter{Action: ActionLock}); len(e) != 1 {
		t.Fatalf("lock rows %d", len(e))
	}
	if _, err := db.ModifyUser(ctx, cliReq, "alice", UserMod{Locked: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, pop3, "alice", "right password"); err != nil {
		t.Fatal(err)
	}
	// No trace of wrong passwords anywhere.
	if n := count(t, db, "SELECT count(*) FROM audit WHERE detail LIKE '%password%'"); n != 0 {
		t.Fatal("audit mentions a password")
	}
}

func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, _ := newTestDB(t, func(o *Options) { o.Now = clk.Now })
	p, _ := db.GetPolicy(ctx)
	p.MaxAge = 30 * 24 * time.Hour
	if err := db.SetPolicy(ctx, cliReq, *p); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, db, "alice", "old password", "scram-sha-1")
	past := clk.Now().Add(-time.Hour)
	db.ModifyUser(ctx, cliReq, "alice", UserMod{Expires: &past, MustChange: ptr(true)})
	a0, _ := db.GetUser(ctx, "alice")
	req := Request{Service: ServicePoppassd, Remote: "198.51.100.9:5555"}
	clk.Advance(time.Hour)
	if err := db.ChangePassword(ctx, req, "alice", "old password", "new password"); err != nil {
		t.Fatal(err)
	}
	a, _ := db.GetUser(ctx, "alice")
	if a.CredVersion != a0.CredVersion+1 || a.MustChange || !a.Expires.Equal(clk.Now().Add(30*24*time.Hour)) ||
		!a.Changed.Equal(clk.Now()) || strings.Join(a.Schemes, ",") != "SCRAM-SHA-1,SHA512-CRYPT" {
		t.Fatalf("after change: %+v", a)
	}
	if _, err := db.Authenticate(ctx, pop3, "alice", "new password"); err != nil {
		t.Fatal(err)
	}
	authErr(t, func() error { _, err := db.Authenticate(ctx, pop3, "alice", "old password"); return err }(), ReasonBadPassword)
	e, _ := db.Audit(ctx, AuditFilter{User: "alice", Action: ActionPasswd})
	if len(e) != 1 || e[0].Result != "ok" || e[0].Remote != req.Remote || e[0].Service != "poppassd" || e[0].Actor != "poppassd" {
		t.Fatalf("audit %+v", e)
	}

	// Refusals: each audited as failed with its reason, nothing else
	// changed.
	mustAdd(t, db, "locked", "old password")
	db.ModifyUser(ctx, cliReq, "locked", UserMod{Locked: ptr(true)})
	mustAdd(t, db, "nochange", "old password")
	db.ModifyUser(ctx, cliReq, "nochange", UserMod{NoPasswd: ptr(true)})
	mustAdd(t, db, "off", "old password")
	db.ModifyUser(ctx, cliReq, "off", UserMod{Disabled: ptr(true)})
	auditsBefore := count(t, db, "SELECT count(*) FROM audit")
	credsBefore := snapshotCreds(t, db)
	cases := []struct {
		user, old, new string
		reason         Reason
		rule           string
	}{
		{"nobody", "old password", "new password 2", ReasonUnknownUser, ""},
		{"alice", "wrong", "new password 2", ReasonBadPassword, ""},
		{"locked", "old password", "new password 2", ReasonLocked, ""},
		{"nochange", "old password", "new password 2", ReasonNotAllowed, ""},
		{"off", "old password", "new password 2", ReasonDisabled, ""},
		{"alice", "new password", "new password", "", "same-as-old"},
		{"alice", "new password", "short", "", "min-length"},
		{"alice", "new password", "new\npassword", "", "control-char"},
	}
	for _, c := range cases {
		err := db.ChangePassword(ctx, req, c.user, c.old, c.new)
		if c.reason != "" {
			authErr(t, err, c.reason)
		} else {
			var pe *PolicyError
			if !errors.As(err, &pe) || pe.Rule != c.rule {
				t.Fatalf("%s: %v, want policy %s", c.user, err, c.rule)
			}
		}
	}
	if got := snapshotCreds(t, db); got != credsBefore {
		t.Fatal("a refused change changed credentials")
	}
	if n := count(t, db, "SELECT count(*) FROM audit"); n != auditsBefore+len(cases) {
		t.Fatalf("audit rows %d, want %d", n, auditsBefore+len(cases))
	}
	failed, _ := db.Audit(ctx, AuditFilter{Action: ActionPasswd, Limit: len(cases)})
	for i, f := range failed {
		c := cases[len(cases)-1-i]
		want := string(c.reason)
		if c.rule != "" {
			want = "policy " + c.rule
		}
		if f.Result != "failed" || f.Detail != want || f.Remote != req.Remote {
			t.Errorf("audit %d: %+v, want detail %q", i, f, want)
		}
	}
	if n := count(t, db, "SELECT count(*) FROM audit WHERE detail LIKE '%new password%' OR detail LIKE '%old password%'"); n != 0 {
		t.Fatal("password in audit")
	}
}

// snapshotCreds dumps the credentials and account rows only.
func snapshotCreds(t *testing.T, db *DB) string {
	t.Helper()
	s := snapshot(t, db)
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "credentials ") || strings.HasPrefix(l, "users ") || strings.HasPrefix(l, "password_history ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func TestUnknownUserCostsAVerify(t *testing.T) {
	// The dummy hash is made once per scheme and is verifiable; unknown
	// users are checked against it (the cost itself is a benchmark matter).
	db, _ := newTestDB(t)
	if _, err := db.Authenticate(context.Background(), pop3, "nobody", "x"); err == nil {
		t.Fatal("unknown user accepted")
	}
	h := db.dummyHash("SHA512-CRYPT")
	if !strings.HasPrefix(h, "{SHA512-CRYPT}$6$rounds=1000$") {
		t.Fatalf("dummy hash %.30q does not use the configured scheme and cost", h)
	}
	if h2 := db.dummyHash("SHA512-CRYPT"); h2 != h {
		t.Fatal("dummy hash regenerated")
	}
}
