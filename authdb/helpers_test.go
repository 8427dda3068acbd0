package authdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/pwscheme"
)

// Test vectors from doveadm pw (password "Tr0ub4dor&3").
const (
	vecPassword    = "Tr0ub4dor&3"
	vecSHA512Crypt = "{SHA512-CRYPT}$6$gm3.UboKmtI9Val6$VI.eY0wWChptxOay0.XTlQGm0FEZpH9wu/zD.MFKNfKKXpIAFb45kAfB6hrpndePnoy63S.fTE2Mmh4zRg1/31"
	vecMD5Crypt    = "{MD5-CRYPT}$1$xwPImcGU$r76bbKRP0aPUu5Zus00q4."
	vecCRAMMD5     = "{CRAM-MD5}c0a49b541c47c13e0fed75e90df0510e8e19d265316dbafce5048e1f92c94232"
	vecPlain       = "{PLAIN}Tr0ub4dor&3"
)

// cheap is the slow-verifier configuration of most tests: SHA512-CRYPT at
// its minimum 1000 rounds keeps tests fast.
var cheap = pwscheme.Params{Rounds: 1000}

var cliReq = Request{Service: ServiceCLI, Actor: "tester"}

// clock is a settable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testOptions() Options {
	return Options{
		Create:        true,
		DefaultDomain: "example.com",
		Scheme:        "SHA512-CRYPT",
		Params:        cheap,
		Logger:        quietLogger(),
	}
}

// newTestDB opens a fresh database in t.TempDir() with the domain
// example.com. mod may adjust the options.
func newTestDB(t testing.TB, mod ...func(*Options)) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth.db")
	opts := testOptions()
	for _, m := range mod {
		m(&opts)
	}
	db, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.AddDomain(context.Background(), cliReq, Domain{Name: "example.com"}); err != nil {
		t.Fatalf("AddDomain: %v", err)
	}
	return db, path
}

// mustAdd creates an account with a clear password.
func mustAdd(t testing.TB, db *DB, name, password string, mechs ...string) *Account {
	t.Helper()
	u := NewUser{Name: name}
	if len(mechs) > 0 {
		u.Mechs = mechs
	}
	a, err := db.AddUser(context.Background(), cliReq, u, PasswordInput{Password: password})
	if err != nil {
		t.Fatalf("AddUser %s: %v", name, err)
	}
	return a
}

// snapshot dumps every table, so a test can show an operation changed
// nothing.
func snapshot(t testing.TB, db *DB) string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.r.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, tbl := range tables {
		rows, err := db.r.QueryContext(ctx, "SELECT * FROM "+tbl+" ORDER BY rowid")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %v\n", tbl, vals)
		}
		rows.Close()
	}
	var v int
	db.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	fmt.Fprintf(&b, "user_version %d\n", v)
	return b.String()
}

// count returns SELECT count(*) for a query.
func count(t testing.TB, db *DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.r.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// authErr asserts err is an *AuthError with the given reason.
func authErr(t testing.TB, err error, want Reason) *AuthError {
	t.Helper()
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T), want *AuthError %s", err, err, want)
	}
	if ae.Reason != want {
		t.Fatalf("reason %s, want %s (%v)", ae.Reason, want, err)
	}
	if !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("%v does not match ErrAuthFailed", err)
	}
	return ae
}

// rawDB opens a plain connection to path for test setup that bypasses the
// store (setting user_version, breaking foreign keys).
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	r, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	r.SetMaxOpenConns(1)
	t.Cleanup(func() { r.Close() })
	return r
}

func ptr[T any](v T) *T { return &v }
