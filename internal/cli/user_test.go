package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestUserAddShowList(t *testing.T) {
	e := newEnv(t)
	r := e.mustRun("s3cret-pass\n", "user", "add", "alice@example.com", "--password-stdin", "--name", "Alice", "--quota", "1M")
	if r.out != "added user alice@example.com\n" {
		t.Errorf("stdout %q", r.out)
	}
	// JSON form.
	r = e.mustRun("other-pass\n", "user", "add", "Bob@Example.com", "--password-stdin", "--json")
	var added map[string]any
	jsonOf(t, r, &added)
	if added["ok"] != true || added["user"] != "bob@example.com" || added["action"] != "added" {
		t.Errorf("JSON %v", added)
	}
	if _, ok := added["password"]; ok {
		t.Errorf("JSON carries a password that was not generated: %v", added)
	}

	v := e.show("alice@example.com")
	if v.User != "alice@example.com" || v.DisplayName != "Alice" || v.Status != "active" || v.QuotaBytes != 1<<20 {
		t.Errorf("show %+v", v)
	}
	if !slices.Contains(v.Schemes, testScheme) || !slices.Contains(v.Schemes, "SCRAM-SHA-256") {
		t.Errorf("schemes %v", v.Schemes)
	}
	if !reflect.DeepEqual(v.UsableMechs, []string{"plain", "scram-sha-256"}) {
		t.Errorf("usable mechs %v", v.UsableMechs)
	}
	// Table form: no hashes anywhere.
	r = e.mustRun("", "user", "show", "alice@example.com")
	for _, want := range []string{"user:", "alice@example.com", "stored schemes:", "usable mechs:", "plain scram-sha-256"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("user show lacks %q:\n%s", want, r.out)
		}
	}
	for _, bad := range []string{"$6$", "4096,"} {
		if strings.Contains(r.out, bad) || strings.Contains(e.mustRun("", "user", "show", "alice@example.com", "--json").out, bad) {
			t.Errorf("user show prints a hash (%q)", bad)
		}
	}

	r = e.mustRun("", "user", "list")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "USER") || !strings.HasPrefix(lines[1], "alice@example.com") {
		t.Errorf("user list table:\n%s", r.out)
	}
	r = e.mustRun("", "user", "list", "-o", "tsv")
	if !strings.HasPrefix(r.out, "alice@example.com\tactive\t") || strings.Count(r.out, "\n") != 2 {
		t.Errorf("user list tsv:\n%q", r.out)
	}
	if got := e.users(); !reflect.DeepEqual(got, []string{"alice@example.com", "bob@example.com"}) {
		t.Errorf("users %v", got)
	}
}

func TestUserAddPasswordInputs(t *testing.T) {
	e := newEnv(t)
	// With and without a trailing newline, and CRLF: the same password.
	e.mustRun("pass word 1\n", "user", "add", "a1@example.com", "--password-stdin")
	e.mustRun("pass word 1", "user", "add", "a2@example.com", "--password-stdin")
	e.mustRun("pass word 1\r\n", "user", "add", "a3@example.com", "--password-stdin")
	// No flag and no terminal: one line of stdin.
	e.mustRun("pass word 1\nignored\n", "user", "add", "a4@example.com")
	for _, u := range []string{"a1", "a2", "a3", "a4"} {
		if res, code := e.authTest(u+"@example.com", "pass word 1"); code != 0 || res.Result != "ok" {
			t.Errorf("%s: %+v", u, res)
		}
	}
	// Only one "\n" is stripped: a trailing space stays part of the password.
	e.mustRun("trailing   \n", "user", "add", "a5@example.com", "--password-stdin")
	if res, _ := e.authTest("a5@example.com", "trailing"); res.Result != "bad-password" {
		t.Errorf("trailing spaces were stripped: %+v", res)
	}
	if res, _ := e.authTest("a5@example.com", "trailing   "); res.Result != "ok" {
		t.Errorf("password with trailing spaces: %+v", res)
	}
	// A password file.
	pf := filepath.Join(e.dir, "pw")
	if err := os.WriteFile(pf, []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun("", "user", "add", "a6@example.com", "--password-file", pf)
	if res, _ := e.authTest("a6@example.com", "from a file"); res.Result != "ok" {
		t.Errorf("password file: %+v", res)
	}
	e.unchanged(func() {
		r := e.expect(ExitNoInput, "", "user", "add", "a7@example.com", "--password-file", filepath.Join(e.dir, "missing"))
		oneLine(t, r.err)
		// Empty input.
		r = e.expect(ExitDataErr, "", "user", "add", "a7@example.com", "--password-stdin")
		if !strings.Contains(r.err, "no password on standard input") {
			t.Errorf("stderr %q", r.err)
		}
		e.expect(ExitDataErr, "\n", "user", "add", "a7@example.com", "--password-stdin")
		// Two sources.
		e.expect(ExitUsage, "x\n", "user", "add", "a7@example.com", "--password-stdin", "--random")
		e.expect(ExitUsage, "", "user", "add", "a7@example.com", "--random=4")
	})
}

func TestUserAddPrompt(t *testing.T) {
	e := newEnv(t)
	r := e.exec(runOpts{tty: true, secrets: []string{"prompted pw", "prompted pw"}}, "", "user", "add", "p@example.com")
	if r.code != 0 || !strings.Contains(r.err, "New password: ") || !strings.Contains(r.err, "Retype new password: ") {
		t.Fatalf("prompt: %s", r)
	}
	if res, _ := e.authTest("p@example.com", "prompted pw"); res.Result != "ok" {
		t.Errorf("prompted password: %+v", res)
	}
	e.unchanged(func() {
		r := e.exec(runOpts{tty: true, secrets: []string{"one password", "another one"}}, "", "user", "add", "q@example.com")
		if r.code != ExitDataErr || !strings.Contains(r.err, "passwords do not match") {
			t.Fatalf("mismatch: %s", r)
		}
	})
}

func TestUserAddRandom(t *testing.T) {
	e := newEnv(t)
	r := e.mustRun("", "user", "add", "r@example.com", "--random")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "password: ") {
		t.Fatalf("stdout %q", r.out)
	}
	pw := strings.TrimPrefix(lines[1], "password: ")
	if len(pw) != defaultRandomLen {
		t.Errorf("random password length %d", len(pw))
	}
	if res, code := e.authTest("r@example.com", pw); code != 0 || res.Result != "ok" {
		t.Errorf("random password does not log in: %+v", res)
	}
	// --quiet prints the password alone; --json puts it in the object.
	r = e.mustRun("", "user", "add", "r2@example.com", "--random=32", "--quiet")
	pw2 := strings.TrimSpace(r.out)
	if len(pw2) != 32 || strings.ContainsAny(pw2, " :") {
		t.Errorf("quiet random %q", r.out)
	}
	if res, _ := e.authTest("r2@example.com", pw2); res.Result != "ok" {
		t.Errorf("quiet random password: %+v", res)
	}
	var obj map[string]any
	jsonOf(t, e.mustRun("", "user", "add", "r3@example.com", "--random", "--json"), &obj)
	pw3, _ := obj["password"].(string)
	if len(pw3) != defaultRandomLen {
		t.Fatalf("JSON %v", obj)
	}
	if res, _ := e.authTest("r3@example.com", pw3); res.Result != "ok" {
		t.Errorf("JSON random password: %+v", res)
	}
}

func TestUserAddHash(t *testing.T) {
	e := newEnv(t)
	const h = "{SHA512-CRYPT}$6$gm3.UboKmtI9Val6$VI.eY0wWChptxOay0.XTlQGm0FEZpH9wu/zD.MFKNfKKXpIAFb45kAfB6hrpndePnoy63S.fTE2Mmh4zRg1/31"
	e.mustRun("", "user", "add", "h@example.com", "--hash", h)
	if v := e.show("h@example.com"); !reflect.DeepEqual(v.Schemes, []string{"SHA512-CRYPT"}) || !reflect.DeepEqual(v.UsableMechs, []string{"plain"}) {
		t.Errorf("hash-only account: %+v", v)
	}
	if res, _ := e.authTest("h@example.com", "Tr0ub4dor&3"); res.Result != "ok" {
		t.Errorf("imported hash: %+v", res)
	}
	// A bare crypt string gets its scheme.
	e.mustRun("", "user", "add", "h2@example.com", "--hash", "$1$xwPImcGU$r76bbKRP0aPUu5Zus00q4.")
	if v := e.show("h2@example.com"); !reflect.DeepEqual(v.Schemes, []string{"MD5-CRYPT"}) {
		t.Errorf("bare crypt: %+v", v.Schemes)
	}
	// --hash - reads the hash (here a cleartext one) from stdin.
	e.mustRun("{PLAIN}stdin plain\n", "user", "add", "h3@example.com", "--hash", "-")
	if res, _ := e.authTest("h3@example.com", "stdin plain"); res.Result != "ok" {
		t.Errorf("--hash -: %+v", res)
	}

	e.unchanged(func() {
		for _, bad := range []string{
			"{SHA512-CRYPT}not-a-crypt-string", // malformed
			"{NOSUCH}abc",                      // unknown scheme
			"{SHA256}abc",                      // wrong length
			"plain-text",                       // no scheme
			"{SHA512-CRYPT",                    // no brace
		} {
			r := e.expect(ExitDataErr, "", "user", "add", "bad@example.com", "--hash", bad)
			oneLine(t, r.err)
			if strings.Contains(r.err, bad) && len(bad) > 12 {
				t.Errorf("error echoes the hash: %q", r.err)
			}
			m := errorJSON(t, e.expect(ExitDataErr, "", "user", "add", "bad@example.com", "--hash", bad, "--json"))
			if m["user"] != "bad@example.com" {
				t.Errorf("JSON error does not name the user: %v", m)
			}
		}
		// A cleartext hash on argv is refused.
		r := e.expect(ExitUsage, "", "user", "add", "bad@example.com", "--hash", "{PLAIN}secret")
		if strings.Contains(r.err, "secret") {
			t.Errorf("stderr echoes the password: %q", r.err)
		}
	})
}

func TestUserAddErrors(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice@example.com", "first-pass")
	e.unchanged(func() {
		// Duplicate.
		r := e.expect(ExitCantCreate, "pw-12345678\n", "user", "add", "alice@example.com", "--password-stdin")
		oneLine(t, r.err)
		if !strings.Contains(r.err, "alice@example.com") {
			t.Errorf("message does not name the user: %q", r.err)
		}
		m := errorJSON(t, e.expect(ExitCantCreate, "pw-12345678\n", "user", "add", "ALICE@example.com", "--password-stdin", "--json"))
		if m["user"] != "alice@example.com" || m["error"] != "user already exists" {
			t.Errorf("JSON %v", m)
		}
		// Invalid names.
		for _, bad := range []string{"a b@example.com", "alice@", "@example.com", " alice@example.com", "a:b@example.com", "nodomain"} {
			r := e.expect(ExitDataErr, "pw-12345678\n", "user", "add", bad, "--password-stdin")
			oneLine(t, r.err)
		}
		// Unknown domain without --create-domain.
		r = e.expect(ExitNoUser, "pw-12345678\n", "user", "add", "x@other.example", "--password-stdin")
		oneLine(t, r.err)
		// Policy: too short.
		r = e.expect(ExitDataErr, "short\n", "user", "add", "bob@example.com", "--password-stdin")
		if !strings.Contains(r.err, "password refused") || strings.Contains(r.err, "short\n") {
			t.Errorf("policy message %q", r.err)
		}
		m = errorJSON(t, e.expect(ExitDataErr, "short\n", "user", "add", "bob@example.com", "--password-stdin", "--json"))
		if !strings.HasPrefix(m["error"].(string), "password refused") {
			t.Errorf("policy JSON %v", m)
		}
		// Unknown --scheme.
		e.expect(ExitDataErr, "pw-12345678\n", "user", "add", "bob@example.com", "--password-stdin", "--scheme", "NOPE")
		e.expect(ExitDataErr, "pw-12345678\n", "user", "add", "bob@example.com", "--password-stdin", "--scheme", "MD5-CRYPT")
		// Bad flag values and arguments are usage errors.
		e.expect(ExitUsage, "", "user", "add", "bob@example.com", "--expires", "someday")
		e.expect(ExitUsage, "", "user", "add", "bob@example.com", "--quota", "lots")
		e.expect(ExitUsage, "", "user", "add")
		e.expect(ExitUsage, "", "user", "add", "a@example.com", "b@example.com")
	})
	// --if-not-exists succeeds without touching the account or reading a password.
	e.unchanged(func() {
		r := e.mustRun("", "user", "add", "alice@example.com", "--if-not-exists", "--random")
		if !strings.Contains(r.out, "already exists") || strings.Contains(r.out, "password") {
			t.Errorf("stdout %q", r.out)
		}
	})
	// --create-domain and --skip-policy.
	e.mustRun("short\n", "user", "add", "x@new.example", "--password-stdin", "--create-domain", "--skip-policy")
	if res, _ := e.authTest("x@new.example", "short"); res.Result != "ok" {
		t.Errorf("skip-policy user: %+v", res)
	}
}

func TestDefaultDomain(t *testing.T) {
	e := newEnv(t)
	e.mustRun("pw-12345678\n", "--default-domain", "example.com", "user", "add", "carol", "--password-stdin")
	e.env["POPADM_DEFAULT_DOMAIN"] = "example.com"
	v := e.show("carol")
	if v.User != "carol@example.com" {
		t.Errorf("default domain from env: %+v", v)
	}
}

func TestUserPasswd(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice@example.com", "old-password")
	e.mustRun("new-password\n", "user", "passwd", "alice@example.com", "--password-stdin")
	if res, _ := e.authTest("alice@example.com", "new-password"); res.Result != "ok" {
		t.Errorf("new password: %+v", res)
	}
	if res, _ := e.authTest("alice@example.com", "old-password"); res.Result != "bad-password" {
		t.Errorf("old password still works: %+v", res)
	}
	// --old-stdin: old then new on stdin.
	e.mustRun("new-password\nnewer-password\n", "user", "passwd", "alice@example.com", "--old-stdin")
	if res, _ := e.authTest("alice@example.com", "newer-password"); res.Result != "ok" {
		t.Errorf("after --old-stdin: %+v", res)
	}
	e.accountsUnchanged(func() {
		r := e.expect(ExitNoPerm, "wrong-old\nwhatever-new\n", "user", "passwd", "alice@example.com", "--old-stdin")
		oneLine(t, r.err)
	})
	e.unchanged(func() {
		e.expect(ExitNoUser, "x-password\n", "user", "passwd", "nobody@example.com", "--password-stdin")
		e.expect(ExitDataErr, "short\n", "user", "passwd", "alice@example.com", "--password-stdin")
		e.expect(ExitUsage, "", "user", "passwd", "alice@example.com", "--old-stdin", "--hash", "{SHA}h0Vy56WuaklGamrFeLmK26eMaqY=")
	})
	// --random --must-change: POP3 refuses until changed, poppassd accepts.
	r := e.mustRun("", "user", "passwd", "alice@example.com", "--random", "--must-change", "--quiet")
	pw := strings.TrimSpace(r.out)
	if res, code := e.authTest("alice@example.com", pw); res.Result != "must-change" || code != ExitNoPerm || !res.PasswordOK {
		t.Errorf("must-change: %+v %d", res, code)
	}
	if res, _ := e.authTest("alice@example.com", pw, "--service", "poppassd"); res.Result != "ok" {
		t.Errorf("poppassd with must-change: %+v", res)
	}
	// --hash replaces the set with one hash.
	e.mustRun("", "user", "passwd", "alice@example.com", "--hash", "{SHA}h0Vy56WuaklGamrFeLmK26eMaqY=")
	if v := e.show("alice@example.com"); !reflect.DeepEqual(v.Schemes, []string{"SHA"}) {
		t.Errorf("schemes after --hash: %v", v.Schemes)
	}
}

func TestUserDel(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice@example.com", "password-1")
	e.unchanged(func() {
		// Without --yes and without a terminal: refused.
		r := e.expect(ExitUsage, "", "user", "del", "alice@example.com")
		if !strings.Contains(r.err, "--yes") {
			t.Errorf("stderr %q", r.err)
		}
		// Missing user.
		r = e.expect(ExitNoUser, "", "user", "del", "nobody@example.com", "--yes")
		oneLine(t, r.err)
		m := errorJSON(t, e.expect(ExitNoUser, "", "user", "del", "nobody@example.com", "--yes", "--json"))
		if m["user"] != "nobody@example.com" || m["error"] != "no such user" {
			t.Errorf("JSON %v", m)
		}
		// A terminal answering no.
		r = e.exec(runOpts{tty: true}, "n\n", "user", "del", "alice@example.com")
		if r.code != ExitFailure {
			t.Errorf("declined: %s", r)
		}
	})
	r := e.exec(runOpts{tty: true}, "yes\n", "user", "del", "alice@example.com")
	if r.code != 0 || !strings.Contains(r.err, "Delete user alice@example.com?") {
		t.Fatalf("confirmed delete: %s", r)
	}
	e.addUser("bob@example.com", "password-1")
	r = e.mustRun("", "user", "del", "bob@example.com", "--yes", "--json")
	var m map[string]any
	jsonOf(t, r, &m)
	if m["ok"] != true || m["user"] != "bob@example.com" {
		t.Errorf("JSON %v", m)
	}
	if got := e.users(); len(got) != 0 {
		t.Errorf("users left: %v", got)
	}
	// The audit log keeps the history.
	var entries []map[string]any
	jsonOf(t, e.mustRun("", "audit", "--user", "bob@example.com", "--json"), &entries)
	if len(entries) < 2 || entries[0]["action"] != "del" || entries[0]["actor"] != "tester" || entries[0]["service"] != "cli" {
		t.Errorf("audit %v", entries)
	}
}

func TestUserModAndState(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice@example.com", "password-1")
	e.mustRun("", "user", "mod", "alice@example.com", "--name", "Alice L.", "--quota", "2G", "--no-pop3", "--mechs", "plain,scram-sha-256,cram-md5")
	v := e.show("alice@example.com")
	if v.DisplayName != "Alice L." || v.QuotaBytes != 2<<30 || !v.NoPOP3 || v.Status != "no-pop3" {
		t.Errorf("after mod: %+v", v)
	}
	if !slices.Contains(v.Mechs, "cram-md5") || slices.Contains(v.UsableMechs, "cram-md5") {
		t.Errorf("cram-md5 should be in the set but not usable before a password change: %+v", v)
	}
	if res, _ := e.authTest("alice@example.com", "password-1"); res.Result != "not-allowed" {
		t.Errorf("no-pop3: %+v", res)
	}
	e.mustRun("", "user", "mod", "alice@example.com", "--no-pop3=false")
	e.mustRun("password-2\n", "user", "passwd", "alice@example.com", "--password-stdin")
	if v := e.show("alice@example.com"); !slices.Contains(v.UsableMechs, "cram-md5") || !slices.Contains(v.Schemes, "CRAM-MD5") {
		t.Errorf("cram-md5 after passwd: %+v", v)
	}
	if res, _ := e.authTest("alice@example.com", "password-2", "--mech", "cram-md5"); res.Result != "ok" {
		t.Errorf("auth test --mech cram-md5: %+v", res)
	}
	if res, code := e.authTest("alice@example.com", "password-2", "--mech", "apop"); res.Result != "mechanism-unavailable" || code != ExitNoPerm {
		t.Errorf("auth test --mech apop: %+v", res)
	}
	e.unchanged(func() {
		e.expect(ExitUsage, "", "user", "mod", "alice@example.com")
		e.expect(ExitNoUser, "", "user", "mod", "nobody@example.com", "--name", "x")
		e.expect(ExitDataErr, "", "user", "mod", "alice@example.com", "--rename", "not valid")
		e.expect(ExitUsage, "", "user", "expire", "alice@example.com")
		e.expect(ExitUsage, "", "user", "expire", "alice@example.com", "--now", "--never")
		e.expect(ExitNoUser, "", "user", "lock", "nobody@example.com")
	})
	e.mustRun("", "user", "mod", "alice@example.com", "--rename", "alice.l@example.com")
	if got := e.users(); !reflect.DeepEqual(got, []string{"alice.l@example.com"}) {
		t.Errorf("after rename: %v", got)
	}
}

func TestAuthTestReasons(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice@example.com", "password-1")
	tests := []struct {
		setup  []string
		user   string
		pw     string
		reason string
		code   int
	}{
		{nil, "alice@example.com", "password-1", "ok", 0},
		{nil, "alice@example.com", "wrong-password", "bad-password", ExitNoPerm},
		{nil, "nobody@example.com", "password-1", "unknown-user", ExitNoPerm},
		{[]string{"user", "disable", "alice@example.com", "--reason", "on leave"}, "alice@example.com", "password-1", "disabled", ExitNoPerm},
		{[]string{"user", "enable", "alice@example.com"}, "alice@example.com", "password-1", "ok", 0},
		{[]string{"user", "lock", "alice@example.com"}, "alice@example.com", "password-1", "locked", ExitNoPerm},
		{[]string{"user", "unlock", "alice@example.com"}, "alice@example.com", "password-1", "ok", 0},
		{[]string{"user", "expire", "alice@example.com", "--now"}, "alice@example.com", "password-1", "expired", ExitNoPerm},
		{[]string{"user", "expire", "alice@example.com", "--never"}, "alice@example.com", "password-1", "ok", 0},
		{[]string{"user", "must-change", "alice@example.com"}, "alice@example.com", "password-1", "must-change", ExitNoPerm},
		{[]string{"user", "must-change", "alice@example.com", "--clear"}, "alice@example.com", "password-1", "ok", 0},
		{[]string{"domain", "mod", "example.com", "--disabled"}, "alice@example.com", "password-1", "domain-disabled", ExitNoPerm},
		{[]string{"domain", "mod", "example.com", "--disabled=false"}, "alice@example.com", "password-1", "ok", 0},
	}
	for _, tt := range tests {
		if tt.setup != nil {
			e.mustRun("", tt.setup...)
		}
		res, code := e.authTest(tt.user, tt.pw)
		if res.Result != tt.reason || code != tt.code || res.OK != (tt.code == 0) || res.Code != tt.code {
			t.Errorf("after %v: %+v exit %d, want %s exit %d", tt.setup, res, code, tt.reason, tt.code)
		}
		// Human form: "user: reason" on stdout, nothing on stderr.
		r := e.run(tt.pw+"\n", "auth", "test", tt.user)
		if r.code != tt.code || !strings.HasPrefix(r.out, e.normalized(tt.user)+": "+tt.reason) || r.err != "" {
			t.Errorf("human auth test: %s", r)
		}
	}
	// Refusals by auth test never count towards the lockout.
	e.mustRun("", "policy", "set", "--lockout", "2/15m")
	for i := 0; i < 4; i++ {
		e.authTest("alice@example.com", "wrong-password")
	}
	if v := e.show("alice@example.com"); v.Failures != 0 || v.Locked {
		t.Errorf("auth test counted failures: %+v", v)
	}
	if res, _ := e.authTest("alice@example.com", "password-1"); res.Result != "ok" {
		t.Errorf("after failed tests: %+v", res)
	}
	e.expect(ExitUsage, "x\n", "auth", "test", "alice@example.com", "--service", "imap")
	e.expect(ExitUsage, "x\n", "auth", "test", "alice@example.com", "--mech", "gssapi")
}

// normalized is the stored form of a test user name.
func (e *testEnv) normalized(name string) string {
	return strings.ToLower(name)
}

func TestUserListFilters(t *testing.T) {
	e := newEnv(t)
	e.mustRun("", "domain", "add", "other.example")
	e.addUser("a@example.com", "password-1")
	e.addUser("b@example.com", "password-1")
	e.addUser("c@other.example", "password-1")
	e.mustRun("", "user", "disable", "b@example.com")
	e.mustRun("", "user", "lock", "c@other.example")
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--domain", "example.com"}, []string{"a@example.com", "b@example.com"}},
		{[]string{"--disabled"}, []string{"b@example.com"}},
		{[]string{"--locked"}, []string{"c@other.example"}},
		{[]string{"--expired"}, nil},
	} {
		var vs []userView
		jsonOf(t, e.mustRun("", append([]string{"user", "list", "--json"}, tt.args...)...), &vs)
		var got []string
		for _, v := range vs {
			got = append(got, v.User)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("user list %v = %v, want %v", tt.args, got, tt.want)
		}
	}
	r := e.expect(ExitNoHost, "", "user", "list", "--expired", "--fail-empty", "--json")
	if strings.TrimSpace(r.out) != "[]" {
		t.Errorf("empty JSON list: %q", r.out)
	}
	e.expect(ExitNoHost, "", "user", "list", "--expired", "--fail-empty")
	e.expect(ExitUsage, "", "user", "list", "--inactive", "soon")
	e.expect(ExitNoUser, "", "user", "list", "--domain", "nosuch.example")
}

func TestQuietAndSecretsHidden(t *testing.T) {
	e := newEnv(t)
	r := e.mustRun("apop-password\n", "user", "add", "a@example.com", "--password-stdin", "--mechs", "plain,apop,cram-md5", "--quiet")
	if r.out != "" || r.err != "" {
		t.Errorf("--quiet printed %s", r)
	}
	v := e.show("a@example.com")
	if !slices.Contains(v.Schemes, "PLAIN") || !slices.Contains(v.UsableMechs, "apop") || !slices.Contains(v.UsableMechs, "cram-md5") {
		t.Errorf("apop account %+v", v)
	}
	for _, args := range [][]string{
		{"user", "show", "a@example.com"}, {"user", "show", "a@example.com", "--json"},
		{"user", "list"}, {"user", "list", "--json"}, {"auth", "lookup", "a@example.com", "--json"},
		{"export", "csv"}, {"export", "json"}, {"audit", "--json"},
	} {
		if r := e.mustRun("", args...); strings.Contains(r.out, "apop-password") {
			t.Errorf("%v prints the password:\n%s", args, r.out)
		}
	}
	if r := e.mustRun("", "export", "json", "--include-hashes"); !strings.Contains(r.out, "{PLAIN}apop-password") {
		t.Errorf("export --include-hashes lacks the PLAIN credential")
	}
}
