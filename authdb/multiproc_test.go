package authdb

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment of a helper process (see TestHelperProcess).
const (
	envRole = "POPADM_AUTHDB_HELPER_ROLE" // changer:USER, login:USER, admin, readonly
	envPath = "POPADM_AUTHDB_HELPER_DB"
	envSecs = "POPADM_AUTHDB_HELPER_SECONDS"
	envMax  = "POPADM_AUTHDB_HELPER_MAX"
)

// helperResult is what a helper process prints (one "RESULT {json}" line).
type helperResult struct {
	Role    string         `json:"role"`
	Counts  map[string]int `json:"counts"`
	Errors  []string       `json:"errors"`
	LastPwd string         `json:"last"` // changer: the password it set last
}

// TestHelperProcess is not a test: it is the body of the processes that
// TestConcurrentProcesses and TestReadOnlyFile start from the test binary.
func TestHelperProcess(t *testing.T) {
	role := os.Getenv(envRole)
	if role == "" {
		t.Skip("helper process body; runs only when started by another test")
	}
	path := os.Getenv(envPath)
	if role == "readonly" {
		opts := testOptions()
		opts.Create = false
		ro, err := Open(context.Background(), path, opts)
		if err != nil {
			t.Fatalf("open as uid %d: %v", os.Getuid(), err)
		}
		defer ro.Close()
		checkReadOnly(t, ro)
		return
	}
	secs, _ := strconv.Atoi(os.Getenv(envSecs))
	max, _ := strconv.Atoi(os.Getenv(envMax))
	opts := testOptions()
	opts.Create = false
	res := runHelper(role, path, opts, time.Duration(secs)*time.Second, max)
	b, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", b)
}

func runHelper(role, path string, opts Options, dur time.Duration, max int) helperResult {
	ctx := context.Background()
	res := helperResult{Role: role, Counts: map[string]int{}}
	fail := func(format string, a ...any) {
		if len(res.Errors) < 20 {
			res.Errors = append(res.Errors, fmt.Sprintf(format, a...))
		}
		res.Counts["errors"]++
	}
	db, err := Open(ctx, path, opts)
	if err != nil {
		fail("open: %v", err)
		return res
	}
	defer db.Close()
	kind, user, _ := strings.Cut(role, ":")
	deadline := time.Now().Add(dur)
	for i := 0; i < max && time.Now().Before(deadline); i++ {
		switch kind {
		case "changer":
			cur := res.LastPwd
			if cur == "" {
				cur = "initial-" + user
			}
			next := fmt.Sprintf("pw-%s-%05d", user, i)
			req := Request{Service: ServicePoppassd, Remote: fmt.Sprintf("127.0.0.1:%d", 1024+i)}
			if err := db.ChangePassword(ctx, req, user, cur, next); err != nil {
				fail("change %d: %v", i, err)
				continue
			}
			res.LastPwd = next
			res.Counts["passwd"]++
		case "login":
			if _, err := db.Authenticate(ctx, Request{Service: ServicePOP3}, user, "initial-"+user); err != nil {
				fail("login %d: %v", i, err)
				continue
			}
			res.Counts["login"]++
			if i%5 == 4 {
				// A wrong password, counted: a write that the next
				// success resets (another write).
				_, err := db.Authenticate(ctx, Request{Service: ServicePOP3}, user, "wrong")
				var ae *AuthError
				if !errors.As(err, &ae) || ae.Reason != ReasonBadPassword {
					fail("wrong password %d: %v", i, err)
					continue
				}
				if err := db.RecordFailure(ctx, Request{Service: ServicePOP3}, user, ae.Reason); err != nil {
					fail("record failure %d: %v", i, err)
					continue
				}
				res.Counts["failure"]++
			}
		case "admin":
			name := fmt.Sprintf("scratch-%05d", i)
			if _, err := db.AddUser(ctx, cliReq, NewUser{Name: name}, PasswordInput{Password: "scratch password"}); err != nil {
				fail("add %d: %v", i, err)
				continue
			}
			res.Counts["add"]++
			if _, err := db.ModifyUser(ctx, cliReq, name, UserMod{DisplayName: ptr("Scratch"), QuotaBytes: ptr(int64(i))}); err != nil {
				fail("mod %d: %v", i, err)
			} else {
				res.Counts["mod"]++
			}
			if err := db.DeleteUser(ctx, cliReq, name); err != nil {
				fail("del %d: %v", i, err)
			} else {
				res.Counts["del"]++
			}
		default:
			fail("unknown role %q", role)
			return res
		}
	}
	return res
}

// helperCmd returns a command that runs TestHelperProcess in role.
func helperCmd(ctx context.Context, bin, role, path string, secs, max int) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		envRole+"="+role, envPath+"="+path,
		envSecs+"="+strconv.Itoa(secs), envMax+"="+strconv.Itoa(max))
	return cmd
}

// TestConcurrentProcesses is the proof that several OS processes can share
// one database: two poppassd-like processes change their own users'
// passwords in a loop, two POP3-like processes log in (and fail and reset)
// other users in a loop, and one admin process adds, modifies and deletes
// scratch users, all at once. Every operation must succeed, the last
// password each changer set must be the one that verifies, the audit table
// must hold exactly one row per change, and the file must pass
// integrity_check.
func TestConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes for several seconds")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	db, err := Open(ctx, path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddDomain(ctx, cliReq, Domain{Name: "example.com"}); err != nil {
		t.Fatal(err)
	}
	p, _ := db.GetPolicy(ctx)
	p.LockoutFails = 0
	if err := db.SetPolicy(ctx, cliReq, *p); err != nil {
		t.Fatal(err)
	}
	users := []string{"cp0", "cp1", "lg0", "lg1"}
	for _, u := range users {
		mustAdd(t, db, u, "initial-"+u)
	}
	auditBase := count(t, db, "SELECT count(*) FROM audit")
	db.Close()

	roles := []string{"changer:cp0", "changer:cp1", "login:lg0", "login:lg1", "admin"}
	type proc struct {
		role string
		cmd  *exec.Cmd
		out  bytes.Buffer
	}
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var procs []*proc
	for _, r := range roles {
		p := &proc{role: r, cmd: helperCmd(runCtx, os.Args[0], r, path, 3, 5000)}
		p.cmd.Stdout = &p.out
		p.cmd.Stderr = &p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	results := map[string]helperResult{}
	for _, p := range procs {
		err := p.cmd.Wait()
		var res helperResult
		found := false
		sc := bufio.NewScanner(bytes.NewReader(p.out.Bytes()))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
				found = json.Unmarshal([]byte(rest), &res) == nil
			}
		}
		if err != nil || !found {
			t.Fatalf("%s: exit %v, result found %t; output:\n%s", p.role, err, found, p.out.String())
		}
		t.Logf("%s: %v", p.role, res.Counts)
		if len(res.Errors) > 0 || res.Counts["errors"] > 0 {
			t.Errorf("%s: %d errors: %q", p.role, res.Counts["errors"], res.Errors)
		}
		results[p.role] = res
	}

	db, err = Open(ctx, path, func() Options { o := testOptions(); o.Create = false; return o }())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	wantAudit := auditBase
	for _, u := range []string{"cp0", "cp1"} {
		r := results["changer:"+u]
		if r.Counts["passwd"] == 0 {
			t.Fatalf("%s changed nothing", u)
		}
		if _, err := db.Authenticate(ctx, pop3, u, r.LastPwd); err != nil {
			t.Errorf("%s: last password set does not verify: %v", u, err)
		}
		if n := count(t, db, "SELECT count(*) FROM audit WHERE action = 'passwd' AND result = 'ok' AND target = ?", u+"@example.com"); n != r.Counts["passwd"] {
			t.Errorf("%s: %d passwd audit rows for %d changes", u, n, r.Counts["passwd"])
		}
		a, _ := db.GetUser(ctx, u)
		if a.CredVersion != int64(1+r.Counts["passwd"]) {
			t.Errorf("%s: cred_version %d after %d changes", u, a.CredVersion, r.Counts["passwd"])
		}
		wantAudit += r.Counts["passwd"]
	}
	for _, u := range []string{"lg0", "lg1"} {
		r := results["login:"+u]
		if r.Counts["login"] == 0 || r.Counts["failure"] == 0 {
			t.Fatalf("%s: %v", u, r.Counts)
		}
	}
	adm := results["admin"]
	if adm.Counts["add"] == 0 || adm.Counts["add"] != adm.Counts["mod"] || adm.Counts["add"] != adm.Counts["del"] {
		t.Fatalf("admin counts %v", adm.Counts)
	}
	for _, act := range []string{"add", "mod", "del"} {
		n := count(t, db, "SELECT count(*) FROM audit WHERE action = ? AND target LIKE 'scratch-%'", act)
		if n != adm.Counts[act] {
			t.Errorf("admin: %d %s audit rows for %d operations", n, act, adm.Counts[act])
		}
		wantAudit += adm.Counts[act]
	}
	if n := count(t, db, "SELECT count(*) FROM users WHERE name LIKE 'scratch-%'"); n != 0 {
		t.Errorf("%d scratch users left", n)
	}
	if n := count(t, db, "SELECT count(*) FROM audit"); n != wantAudit {
		t.Errorf("audit rows %d, want %d (one per change)", n, wantAudit)
	}
	if rep, err := db.Check(ctx); err != nil {
		t.Fatalf("check: %+v %v", rep, err)
	}
}

// TestReadOnlyFile opens a database whose file and directory this process
// may not write: reads work, writes fail with ErrReadOnly. As root
// (permissions do not bind root) the check runs in a helper process as
// user nobody, both while another process holds the database open and
// while nobody does.
func TestReadOnlyFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.db")
	db, err := Open(ctx, path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	db.AddDomain(ctx, cliReq, Domain{Name: "example.com"})
	mustAdd(t, db, "alice", "first password")

	if os.Geteuid() != 0 {
		db.Close()
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		opts := testOptions()
		opts.Create = false
		ro, err := Open(ctx, path, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		checkReadOnly(t, ro)
		return
	}

	// Root: give the helper (uid/gid 65534) read access only.
	bin := filepath.Join(t.TempDir(), "authdb.test")
	if err := copyFile(os.Args[0], bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(dir), filepath.Dir(bin), filepath.Dir(filepath.Dir(bin))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(label string) {
		t.Helper()
		cmd := helperCmd(ctx, bin, "readonly", path, 0, 0)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: helper as nobody failed: %v\n%s", label, err, out)
		}
		if !bytes.Contains(out, []byte("PASS")) {
			t.Fatalf("%s: helper did not pass:\n%s", label, out)
		}
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		os.Chmod(f, 0o644)
	}
	run("database open elsewhere")
	db.Close()
	run("database closed")
	// The file is untouched by the read-only process.
	db, err = Open(ctx, path, func() Options { o := testOptions(); o.Create = false; return o }())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := count(t, db, "SELECT count(*) FROM users"); n != 1 {
		t.Fatalf("users %d", n)
	}
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
