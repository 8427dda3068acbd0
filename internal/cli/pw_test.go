package cli

import (
	"strings"
	"testing"

	"github.com/popadm/popadm/internal/pwscheme"
)

func TestPw(t *testing.T) {
	e := newEmptyEnv(t) // pw needs no database
	r := e.mustRun("Tr0ub4dor&3\n", "pw", "-s", "SHA512-CRYPT")
	h := strings.TrimSpace(r.out)
	if !strings.HasPrefix(h, "{SHA512-CRYPT}$6$") || strings.Count(r.out, "\n") != 1 {
		t.Fatalf("pw output %q", r.out)
	}
	if ok, err := pwscheme.Verify(h, "Tr0ub4dor&3", ""); !ok || err != nil {
		t.Errorf("generated hash does not verify: %v", err)
	}
	// -r and -V, like doveadm pw.
	r = e.mustRun("Tr0ub4dor&3", "pw", "-s", "sha256-crypt", "-r", "1000", "-V")
	if !strings.HasPrefix(r.out, "{SHA256-CRYPT}$5$rounds=1000$") || !strings.HasSuffix(r.out, " (verified)\n") {
		t.Errorf("pw -r -V: %q", r.out)
	}
	// -u for DIGEST-MD5 gives the documented vector.
	r = e.mustRun("Tr0ub4dor&3\n", "pw", "-s", "DIGEST-MD5", "-u", "alice@example.com")
	if r.out != "{DIGEST-MD5}586259300d78ce471a600dda94f1ad20\n" {
		t.Errorf("DIGEST-MD5: %q", r.out)
	}
	// Terminal prompt with confirmation.
	r = e.exec(runOpts{tty: true, secrets: []string{"abc", "abc"}}, "", "pw", "-s", "PLAIN")
	if r.code != 0 || r.out != "{PLAIN}abc\n" {
		t.Errorf("prompted pw: %s", r)
	}
	var obj map[string]any
	jsonOf(t, e.mustRun("pw\n", "pw", "-s", "CRAM-MD5", "--json"), &obj)
	if obj["scheme"] != "CRAM-MD5" || !strings.HasPrefix(obj["hash"].(string), "{CRAM-MD5}") {
		t.Errorf("JSON %v", obj)
	}
	e.expect(ExitDataErr, "pw\n", "pw", "-s", "NOSUCH")
	e.expect(ExitDataErr, "pw\n", "pw", "-s", "MD5-CRYPT") // verify-only scheme
	e.expect(ExitUsage, "pw\n", "pw", "extra")
	e.expect(ExitUsage, "pw\n", "pw", "--password", "x")
}

func TestPwVerify(t *testing.T) {
	e := newEmptyEnv(t)
	const h = "{SHA512-CRYPT}$6$gm3.UboKmtI9Val6$VI.eY0wWChptxOay0.XTlQGm0FEZpH9wu/zD.MFKNfKKXpIAFb45kAfB6hrpndePnoy63S.fTE2Mmh4zRg1/31"
	r := e.mustRun("Tr0ub4dor&3\n", "pw", "verify", h)
	if r.out != h+" (verified)\n" {
		t.Errorf("verify: %q", r.out)
	}
	// A bare crypt string is accepted and shown with its scheme.
	r = e.mustRun("Tr0ub4dor&3\n", "pw", "verify", "$1$xwPImcGU$r76bbKRP0aPUu5Zus00q4.")
	if r.out != "{MD5-CRYPT}$1$xwPImcGU$r76bbKRP0aPUu5Zus00q4. (verified)\n" {
		t.Errorf("bare verify: %q", r.out)
	}
	r = e.expect(ExitNoPerm, "wrong\n", "pw", "verify", h)
	oneLine(t, r.err)
	if r.out != "" {
		t.Errorf("stdout on mismatch: %q", r.out)
	}
	m := errorJSON(t, e.expect(ExitNoPerm, "wrong\n", "pw", "verify", h, "--json"))
	if m["verified"] != false {
		t.Errorf("JSON %v", m)
	}
	var ok map[string]any
	jsonOf(t, e.mustRun("Tr0ub4dor&3\n", "pw", "verify", h, "--json"), &ok)
	if ok["verified"] != true || ok["scheme"] != "SHA512-CRYPT" {
		t.Errorf("JSON %v", ok)
	}
	e.mustRun("Tr0ub4dor&3\n", "pw", "verify", "{DIGEST-MD5}586259300d78ce471a600dda94f1ad20", "-u", "alice@example.com")
	e.expect(ExitDataErr, "x\n", "pw", "verify", "{SHA512-CRYPT}garbage")
	e.expect(ExitDataErr, "x\n", "pw", "verify", "{NOSUCH}abc")
	e.expect(ExitDataErr, "x\n", "pw", "verify", "no-scheme")
	e.expect(ExitUsage, "x\n", "pw", "verify")
}

func TestPwSchemes(t *testing.T) {
	e := newEmptyEnv(t)
	r := e.mustRun("", "pw", "schemes")
	if !strings.HasPrefix(r.out, "SCHEME") || !strings.Contains(r.out, "ARGON2ID") || !strings.Contains(r.out, "scram-sha-256") {
		t.Errorf("schemes table:\n%s", r.out)
	}
	var vs []schemeView
	jsonOf(t, e.mustRun("", "pw", "schemes", "--json"), &vs)
	found := map[string]schemeView{}
	for _, v := range vs {
		found[v.Name] = v
	}
	if p := found["PLAIN"]; !p.PlainEquivalent || len(p.Mechs) < 5 {
		t.Errorf("PLAIN %+v", p)
	}
	if a := found["ARGON2ID"]; !a.Generate || a.Weak || len(a.Mechs) != 1 || a.Mechs[0] != "plain" {
		t.Errorf("ARGON2ID %+v", a)
	}
	if len(vs) != len(pwscheme.Schemes()) {
		t.Errorf("%d schemes listed", len(vs))
	}
}

// TestArgon2Default checks the real default scheme once: no --scheme, no
// store option.
func TestArgon2Default(t *testing.T) {
	e := newEnv(t)
	r := e.mustRun("argon-password\n", "pw")
	if !strings.HasPrefix(r.out, "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$") {
		t.Errorf("pw default scheme: %q", r.out)
	}
	e.mustRun("", "user", "add", "a@example.com", "--hash", strings.TrimSpace(r.out))
	if res, _ := e.authTest("a@example.com", "argon-password"); res.Result != "ok" {
		t.Errorf("argon2id login: %+v", res)
	}
}
