package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testEnv is a temporary database plus the environment popadm sees.
type testEnv struct {
	t   *testing.T
	dir string
	db  string
	env map[string]string
}

// result is one popadm invocation.
type result struct {
	code     int
	out, err string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
}

// runOpts changes how an invocation sees its terminal.
type runOpts struct {
	tty       bool     // standard input is a terminal
	stderrTTY bool     // standard error is a terminal
	secrets   []string // answers to no-echo prompts, in order
}

// testScheme keeps the suite fast: SHA512-CRYPT at 5000 rounds instead of
// the ARGON2ID default.
const testScheme = "SHA512-CRYPT"

// newEnv creates and initialises a database with the domain example.com.
func newEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newEmptyEnv(t)
	e.mustRun("", "db", "init")
	e.mustRun("", "domain", "add", "example.com")
	return e
}

// newEmptyEnv names a database that does not exist yet.
func newEmptyEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	return &testEnv{t: t, dir: dir, db: filepath.Join(dir, "auth.db"), env: map[string]string{"USER": "tester"}}
}

// exec runs popadm --db <db> args with stdin and returns what it printed.
func (e *testEnv) exec(o runOpts, stdin string, args ...string) result {
	e.t.Helper()
	var out, errb bytes.Buffer
	f := newFactory(strings.NewReader(stdin), &out, &errb)
	f.getenv = func(k string) string { return e.env[k] }
	f.storeOptions.Scheme = testScheme
	f.stdinIsTerminal = func() bool { return o.tty }
	f.stderrIsTerminal = func() bool { return o.stderrTTY }
	secrets := append([]string(nil), o.secrets...)
	f.readSecret = func(prompt string) (string, error) {
		fmt.Fprint(&errb, prompt)
		if len(secrets) == 0 {
			return "", io.EOF
		}
		s := secrets[0]
		secrets = secrets[1:]
		return s, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := f.run(ctx, append([]string{"--db", e.db}, args...))
	r := result{code: code, out: out.String(), err: errb.String()}
	e.t.Logf("popadm %s\n%s", strings.Join(args, " "), r)
	return r
}

func (e *testEnv) run(stdin string, args ...string) result {
	e.t.Helper()
	return e.exec(runOpts{}, stdin, args...)
}

func (e *testEnv) mustRun(stdin string, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != 0 {
		e.t.Fatalf("popadm %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// expect runs popadm and checks the exit code.
func (e *testEnv) expect(code int, stdin string, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != code {
		e.t.Fatalf("popadm %s: exit %d, want %d\n%s", strings.Join(args, " "), r.code, code, r)
	}
	return r
}

// addUser creates name with password pw.
func (e *testEnv) addUser(name, pw string, extra ...string) {
	e.t.Helper()
	e.mustRun(pw+"\n", append([]string{"user", "add", name, "--password-stdin"}, extra...)...)
}

// state is everything an administrator could see change: the accounts
// with their hashes, and the audit log.
func (e *testEnv) state(withAudit bool) string {
	e.t.Helper()
	r := e.mustRun("", "export", "json", "--include-hashes")
	d := e.mustRun("", "domain", "list", "--json")
	s := r.out + d.out
	if withAudit {
		s += e.mustRun("", "audit", "--json", "--limit", "1000").out
	}
	return s
}

// unchanged runs fn and fails when the accounts, domains or audit log
// differ afterwards.
func (e *testEnv) unchanged(fn func()) {
	e.t.Helper()
	e.compareState(true, fn)
}

// accountsUnchanged is unchanged without the audit log (a refused
// password change is audited).
func (e *testEnv) accountsUnchanged(fn func()) {
	e.t.Helper()
	e.compareState(false, fn)
}

func (e *testEnv) compareState(withAudit bool, fn func()) {
	e.t.Helper()
	before := e.state(withAudit)
	fn()
	if after := e.state(withAudit); after != before {
		e.t.Fatalf("state changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// jsonOf parses stdout as JSON into v.
func jsonOf(t *testing.T, r result, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.out), v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r)
	}
}

// errorJSON parses a JSON error object.
func errorJSON(t *testing.T, r result) map[string]any {
	t.Helper()
	var m map[string]any
	jsonOf(t, r, &m)
	if m["ok"] != false {
		t.Fatalf("JSON error without ok=false: %v", m)
	}
	if int(m["code"].(float64)) != r.code {
		t.Fatalf("JSON code %v, exit %d", m["code"], r.code)
	}
	if _, ok := m["error"].(string); !ok {
		t.Fatalf("JSON error without error text: %v", m)
	}
	return m
}

// users returns the user names of user list --json.
func (e *testEnv) users() []string {
	e.t.Helper()
	var vs []userView
	jsonOf(e.t, e.mustRun("", "user", "list", "--json"), &vs)
	var out []string
	for _, v := range vs {
		out = append(out, v.User)
	}
	return out
}

// show returns user show --json.
func (e *testEnv) show(name string) userView {
	e.t.Helper()
	var v userView
	jsonOf(e.t, e.mustRun("", "user", "show", name, "--json"), &v)
	return v
}

// authResult runs auth test and returns its JSON result.
func (e *testEnv) authTest(name, pw string, extra ...string) (authResult, int) {
	e.t.Helper()
	r := e.run(pw+"\n", append([]string{"auth", "test", name, "--json"}, extra...)...)
	var res authResult
	jsonOf(e.t, r, &res)
	return res, r.code
}

// oneLine fails unless s is exactly one line "popadm: ..." (human errors
// are printed once).
func oneLine(t *testing.T, s string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "popadm: ") {
		t.Fatalf("stderr %q does not start with popadm:", s)
	}
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "popadm: ") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error printed %d times: %q", n, s)
	}
}
