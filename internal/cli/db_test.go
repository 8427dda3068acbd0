package cli

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/popadm/popadm/authdb"
)

func TestDBInitCheckBackup(t *testing.T) {
	e := newEmptyEnv(t)
	// Every command but db init on a missing database: exit 78.
	for _, args := range [][]string{{"user", "list"}, {"user", "show", "a@example.com"}, {"domain", "add", "example.com"}, {"audit"}, {"db", "check"}} {
		r := e.expect(ExitConfig, "", args...)
		oneLine(t, r.err)
		if !strings.Contains(r.err, "db init") {
			t.Errorf("%v: message does not say what to do: %q", args, r.err)
		}
		if _, err := os.Stat(e.db); err == nil {
			t.Fatalf("%v created the database", args)
		}
	}
	m := errorJSON(t, e.expect(ExitConfig, "", "user", "list", "--json"))
	if m["path"] != e.db {
		t.Errorf("JSON %v", m)
	}
	// A missing directory.
	e2 := &testEnv{t: t, dir: e.dir, db: filepath.Join(e.dir, "nodir", "auth.db"), env: e.env}
	e2.expect(ExitConfig, "", "db", "init")

	r := e.mustRun("", "db", "init")
	if !strings.Contains(r.out, "created database") {
		t.Errorf("init: %q", r.out)
	}
	var obj map[string]any
	jsonOf(t, e.mustRun("", "db", "init", "--json"), &obj)
	if obj["created"] != false || int(obj["schema_version"].(float64)) != authdb.SchemaVersion() {
		t.Errorf("second init: %v", obj)
	}
	r = e.mustRun("", "db", "check")
	if !strings.Contains(r.out, "status:") || !strings.Contains(r.out, "ok") {
		t.Errorf("check: %q", r.out)
	}
	jsonOf(t, e.mustRun("", "db", "check", "--json"), &obj)
	if obj["ok"] != true {
		t.Errorf("check JSON %v", obj)
	}
	r = e.mustRun("", "db", "migrate")
	if !strings.Contains(r.out, "is current") {
		t.Errorf("migrate: %q", r.out)
	}

	e.mustRun("", "domain", "add", "example.com")
	e.addUser("alice@example.com", "password-1")
	backup := filepath.Join(e.dir, "backup.db")
	e.mustRun("", "db", "backup", backup)
	e.expect(ExitCantCreate, "", "db", "backup", backup)
	eb := &testEnv{t: t, dir: e.dir, db: backup, env: e.env}
	if res, _ := eb.authTest("alice@example.com", "password-1"); res.Result != "ok" {
		t.Errorf("backup copy: %+v", res)
	}
}

// setUserVersion writes PRAGMA user_version directly.
func setUserVersion(t *testing.T, path string, v int) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), "PRAGMA user_version = "+strconv.Itoa(v)); err != nil {
		t.Fatal(err)
	}
}

func TestDBSchemaTooNew(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice@example.com", "password-1")
	setUserVersion(t, e.db, 999)
	for _, args := range [][]string{{"user", "list"}, {"user", "add", "b@example.com", "--random"}, {"db", "migrate"}, {"db", "init"}} {
		r := e.expect(ExitConfig, "", args...)
		oneLine(t, r.err)
		if !strings.Contains(r.err, "newer") {
			t.Errorf("%v: %q", args, r.err)
		}
	}
	m := errorJSON(t, e.expect(ExitConfig, "", "user", "list", "--json"))
	if !strings.Contains(m["error"].(string), "newer") {
		t.Errorf("JSON %v", m)
	}
	// check reports it without failing to open.
	r := e.expect(ExitFailure, "", "db", "check")
	if !strings.Contains(r.out, "newer") {
		t.Errorf("check: %s", r)
	}
}

func TestDBSchemaOld(t *testing.T) {
	e := newEnv(t)
	if authdb.SchemaVersion() < 2 {
		t.Skip("only one schema version")
	}
	setUserVersion(t, e.db, authdb.SchemaVersion()-1)
	r := e.expect(ExitConfig, "", "user", "list")
	if !strings.Contains(r.err, "db migrate") {
		t.Errorf("old schema: %q", r.err)
	}
}

func TestDBReadOnly(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice@example.com", "password-1")
	e.unchanged(func() {
		// Reads work, every change exits 78.
		e.mustRun("", "--read-only", "user", "list")
		for _, args := range [][]string{
			{"--read-only", "user", "add", "b@example.com", "--random"},
			{"--read-only", "user", "lock", "alice@example.com"},
			{"--read-only", "domain", "add", "other.example"},
			{"--read-only", "policy", "set", "--min-length", "12"},
		} {
			r := e.expect(ExitConfig, "", args...)
			oneLine(t, r.err)
			if !strings.Contains(r.err, "read-only") {
				t.Errorf("%v: %q", args, r.err)
			}
		}
	})
	if os.Geteuid() == 0 {
		t.Log("running as root: file permissions do not make the database read-only")
		return
	}
	if err := os.Chmod(e.db, 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(e.db, 0o644) })
	e.mustRun("", "user", "list")
	r := e.expect(ExitConfig, "", "user", "lock", "alice@example.com")
	if !strings.Contains(r.err, "read-only") {
		t.Errorf("chmod 444: %q", r.err)
	}
}

func TestDBPathFromEnv(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice@example.com", "password-1")
	other := newEmptyEnv(t)
	other.env["POPADM_DB"] = e.db
	// exec always passes --db; run Main-like without it.
	var out strings.Builder
	f := newFactory(strings.NewReader(""), &out, &out)
	f.getenv = func(k string) string { return other.env[k] }
	f.storeOptions.Scheme = testScheme
	if code := f.run(context.Background(), []string{"user", "list", "-o", "tsv"}); code != 0 || !strings.HasPrefix(out.String(), "alice@example.com\t") {
		t.Errorf("POPADM_DB: exit %d, %q", code, out.String())
	}
}
