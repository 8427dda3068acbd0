package authdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenNonexistent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	opts := testOptions()
	opts.Create = false
	_, err := Open(context.Background(), path, opts)
	if !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("Open missing = %v, want ErrNotInitialized", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name the path", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Open without Create created the file")
	}
	// A missing directory fails even with Create.
	opts.Create = true
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "no", "dir.db"), opts); err == nil {
		t.Fatal("Create in a missing directory succeeded")
	}
	// A directory is not a database.
	if _, err := Open(context.Background(), t.TempDir(), opts); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("Open on a directory = %v", err)
	}
}

func TestOpenCreateAndReopen(t *testing.T) {
	ctx := context.Background()
	db, path := newTestDB(t)
	mustAdd(t, db, "alice", "first password")
	rep, err := db.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SchemaVersion != SchemaVersion() || !rep.OK() {
		t.Fatalf("check: %+v", rep)
	}
	db.Close()

	opts := testOptions()
	opts.Create = false
	db2, err := Open(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if _, err := db2.Authenticate(ctx, Request{Service: ServicePOP3}, "alice", "first password"); err != nil {
		t.Fatal(err)
	}
	var mode string
	db2.r.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	if mode != "wal" {
		t.Fatalf("journal_mode %s", mode)
	}
	if err := db2.Init(ctx); err != nil {
		t.Fatalf("Init on a current database: %v", err)
	}
}

func TestDSN(t *testing.T) {
	d := &DB{path: "/var/lib/pop adm/a?b#c%d.db", opts: Options{}}
	w := d.dsn(false)
	want := "file:/var/lib/pop adm/a%3Fb%23c%25d.db?_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate&_synchronous=NORMAL&_foreign_keys=1&mode=rw"
	if w != want {
		t.Fatalf("write DSN\n got %s\nwant %s", w, want)
	}
	r := d.dsn(true)
	if !strings.Contains(r, "mode=ro") || strings.Contains(r, "_journal_mode") {
		t.Fatalf("read-only DSN %s", r)
	}
	for _, s := range []string{w, r} {
		if strings.Contains(s, "cache=shared") {
			t.Fatalf("shared cache in %s", s)
		}
	}
}

func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "we?ird #dir%20")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "auth.db")
	db, err := Open(context.Background(), path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}

func TestOpenSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	db, path := newTestDB(t)
	db.Close()
	raw := rawDB(t, path)
	if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	before, _ := os.ReadFile(path)
	for _, o := range []func(*Options){nil, func(o *Options) { o.Migrate = true }} {
		opts := testOptions()
		if o != nil {
			o(&opts)
		}
		if _, err := Open(ctx, path, opts); !errors.Is(err, ErrSchemaTooNew) {
			t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
		}
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("refused Open changed the file")
	}
	// AnyVersion still allows Check and Backup.
	opts := testOptions()
	opts.AnyVersion = true
	db2, err := Open(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	rep, err := db2.Check(ctx)
	if !errors.Is(err, ErrCheckFailed) || rep.SchemaVersion != SchemaVersion()+1 {
		t.Fatalf("Check of a too-new schema: %+v %v", rep, err)
	}
	if _, _, err := db2.Migrate(ctx); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Migrate down = %v", err)
	}
}

// createAtVersion makes a database at schema version v by applying the
// first v migrations, with one account when the schema has the tables.
func createAtVersion(t *testing.T, v int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("v%d.db", v))
	raw := rawDB(t, path)
	ms := loadMigrations()
	for i := 0; i < v; i++ {
		if _, err := raw.Exec(ms[i].sql); err != nil {
			t.Fatalf("migration %s: %v", ms[i].name, err)
		}
	}
	if v >= 1 {
		stmts := []string{
			`INSERT INTO meta (key, value) VALUES ('application', 'popadm')`,
			`INSERT INTO domains (id, name, created_at) VALUES (1, 'example.com', 1)`,
			`INSERT INTO users (id, domain_id, local, name, created_at, cred_version) VALUES (1, 1, 'old', 'old@example.com', 1, 1)`,
			`INSERT INTO credentials (user_id, scheme, value, created_at) VALUES (1, 'SHA512-CRYPT', '` + vecSHA512Crypt + `', 1)`,
		}
		for _, s := range stmts {
			if _, err := raw.Exec(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	return path
}

func TestMigrateFromEveryVersion(t *testing.T) {
	ctx := context.Background()
	latest := SchemaVersion()
	if latest < 2 {
		t.Fatalf("SchemaVersion %d", latest)
	}
	// The reference: a database created fresh.
	fresh, _ := newTestDB(t)
	wantSchema := schemaDump(t, fresh)

	for v := 0; v < latest; v++ {
		t.Run(fmt.Sprintf("from-v%d", v), func(t *testing.T) {
			path := createAtVersion(t, v)
			opts := testOptions()
			opts.Create = false
			_, err := Open(ctx, path, opts)
			switch {
			case v == 0 && !errors.Is(err, ErrNotInitialized):
				t.Fatalf("Open v0 = %v, want ErrNotInitialized", err)
			case v > 0 && !errors.Is(err, ErrNotMigrated):
				t.Fatalf("Open v%d = %v, want ErrNotMigrated", v, err)
			}
			if v == 0 {
				opts.Create = true // "db init" on an empty file
			} else {
				opts.Migrate = true
			}
			db, err := Open(ctx, path, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := schemaDump(t, db); got != wantSchema {
				t.Fatalf("schema after migration differs from a fresh one:\n%s\n---\n%s", got, wantSchema)
			}
			if _, err := db.Check(ctx); err != nil {
				t.Fatal(err)
			}
			if v >= 1 {
				// The data survived, and works with the new schema.
				if _, err := db.Authenticate(ctx, Request{Service: ServicePOP3}, "old", vecPassword); err != nil {
					t.Fatal(err)
				}
				p, _ := db.GetPolicy(ctx)
				p.History = 2
				if err := db.SetPolicy(ctx, cliReq, *p); err != nil {
					t.Fatal(err)
				}
			}
			from, to, err := db.Migrate(ctx)
			if err != nil || from != latest || to != latest {
				t.Fatalf("second Migrate = %d, %d, %v", from, to, err)
			}
		})
	}
}

// schemaDump lists the schema objects with normalised SQL.
func schemaDump(t *testing.T, db *DB) string {
	t.Helper()
	rows, err := db.r.Query("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name string
		var sql *string
		rows.Scan(&typ, &name, &sql)
		s := ""
		if sql != nil {
			s = strings.Join(strings.Fields(*sql), " ")
		}
		fmt.Fprintf(&b, "%s %s %s\n", typ, name, s)
	}
	return b.String()
}

func TestOpenForeignDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	raw := rawDB(t, path)
	if _, err := raw.Exec("CREATE TABLE something (x)"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err := Open(context.Background(), path, testOptions())
	if err == nil || !strings.Contains(err.Error(), "not a popadm database") {
		t.Fatalf("Open foreign = %v", err)
	}
}

func TestReadOnlyOption(t *testing.T) {
	ctx := context.Background()
	db, path := newTestDB(t)
	mustAdd(t, db, "alice", "first password")
	db.Close()

	opts := testOptions()
	opts.Create = false
	opts.ReadOnly = true
	ro, err := Open(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	checkReadOnly(t, ro)
}

// checkReadOnly asserts reads work and every kind of write fails with
// ErrReadOnly.
func checkReadOnly(t *testing.T, ro *DB) {
	t.Helper()
	ctx := context.Background()
	if !ro.ReadOnly() {
		t.Fatal("ReadOnly() = false")
	}
	users, err := ro.ListUsers(ctx, UserFilter{})
	if err != nil || len(users) != 1 {
		t.Fatalf("ListUsers read-only: %v %v", users, err)
	}
	if _, err := ro.Check(ctx); err != nil {
		t.Fatalf("Check read-only: %v", err)
	}
	// A login still works; its bookkeeping write fails quietly.
	if _, err := ro.Authenticate(ctx, Request{Service: ServicePOP3}, "alice", "first password"); err != nil {
		t.Fatalf("Authenticate read-only: %v", err)
	}
	writes := map[string]error{
		"add": func() error {
			_, err := ro.AddUser(ctx, cliReq, NewUser{Name: "bob"}, PasswordInput{Password: "second password"})
			return err
		}(),
		"passwd": ro.SetPassword(ctx, cliReq, "alice", PasswordInput{Password: "second password"}),
		"del":    ro.DeleteUser(ctx, cliReq, "alice"),
		"domain": ro.AddDomain(ctx, cliReq, Domain{Name: "other.org"}),
		"change": ro.ChangePassword(ctx, Request{Service: ServicePoppassd}, "alice", "first password", "second password"),
	}
	for op, err := range writes {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only database = %v, want ErrReadOnly", op, err)
		} else if !strings.Contains(err.Error(), "read-only") || !strings.Contains(err.Error(), ro.Path()) {
			t.Errorf("%s: error %q should say read-only and name the path", op, err)
		}
	}
	dest := filepath.Join(t.TempDir(), "backup.db")
	if err := ro.Backup(ctx, dest); err != nil {
		t.Fatalf("Backup from read-only: %v", err)
	}
}

func TestCheckFindsProblems(t *testing.T) {
	ctx := context.Background()
	db, path := newTestDB(t)
	mustAdd(t, db, "alice", "first password")
	raw := rawDB(t, path)
	// foreign_keys is off on this connection: plant a dangling credential.
	if _, err := raw.Exec(`INSERT INTO credentials (user_id, scheme, value, created_at) VALUES (999, 'PLAIN', '{PLAIN}x', 1)`); err != nil {
		t.Fatal(err)
	}
	rep, err := db.Check(ctx)
	if !errors.Is(err, ErrCheckFailed) || len(rep.ForeignKeys) != 1 || rep.OK() {
		t.Fatalf("Check = %+v, %v", rep, err)
	}
}

func TestBackup(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	mustAdd(t, db, "alice", "first password")
	dest := filepath.Join(t.TempDir(), "copy.db")
	if err := db.Backup(ctx, dest); err != nil {
		t.Fatal(err)
	}
	if err := db.Backup(ctx, dest); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("Backup over an existing file = %v", err)
	}
	opts := testOptions()
	opts.Create = false
	cp, err := Open(ctx, dest, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if _, err := cp.Authenticate(ctx, Request{Service: ServicePOP3}, "alice", "first password"); err != nil {
		t.Fatalf("login on the backup: %v", err)
	}
	if _, err := cp.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
