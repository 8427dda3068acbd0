package authdb

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestBusyBecomesTemporary holds the write lock from another connection
// (as another process would) and checks that a write gives up with
// ErrTemporary after its retries, never with SQLite's "database is locked",
// and succeeds once the lock is gone.
func TestBusyBecomesTemporary(t *testing.T) {
	ctx := context.Background()
	db, path := newTestDB(t, func(o *Options) { o.busyTimeout = 20 * time.Millisecond })
	mustAdd(t, db, "alice", "first password")

	other, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("UPDATE users SET display_name = 'holder'"); err != nil {
		t.Fatal(err)
	}

	err = db.SetPassword(ctx, cliReq, "alice", PasswordInput{Password: "second password"})
	if !errors.Is(err, ErrTemporary) {
		t.Fatalf("SetPassword under a held lock = %v, want ErrTemporary", err)
	}
	if strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("SQLite's message reached the caller: %v", err)
	}
	// Reads still work while another process writes (WAL).
	if _, err := db.Authenticate(ctx, pop3, "alice", "first password"); err != nil {
		t.Fatalf("login during a held write lock: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPassword(ctx, cliReq, "alice", PasswordInput{Password: "second password"}); err != nil {
		t.Fatal(err)
	}
}
