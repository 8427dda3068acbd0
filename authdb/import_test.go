package authdb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func importRows() []ImportRow {
	return []ImportRow{
		{Line: 1, Name: "one", Hash: vecSHA512Crypt, DisplayName: "One"},
		{Line: 2, Name: "two@example.com", Password: "clear password"},
		{Line: 3, Name: "three", Hash: vecCRAMMD5, Maildrop: "/srv/three"},
	}
}

func TestImportFail(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	var progress []int
	rep, err := db.Import(ctx, cliReq, importRows(), ImportOptions{Progress: func(done, total int) {
		if total != 3 {
			t.Errorf("total %d", total)
		}
		progress = append(progress, done)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Added != 3 || rep.Updated+rep.Skipped+rep.Failed != 0 || len(rep.Rows) != 3 {
		t.Fatalf("report %+v", rep)
	}
	if len(progress) != 3 || progress[2] != 3 {
		t.Fatalf("progress %v", progress)
	}
	for _, c := range []struct{ user, pw string }{{"one", vecPassword}, {"two", "clear password"}, {"three", vecPassword}} {
		if _, err := db.Authenticate(ctx, pop3, c.user, c.pw); err != nil {
			t.Errorf("login %s after import: %v", c.user, err)
		}
	}
	if n := count(t, db, "SELECT count(*) FROM audit WHERE action = 'import'"); n != 3 {
		t.Fatalf("import audit rows %d", n)
	}

	// A conflict aborts everything and names the line.
	before := snapshot(t, db)
	rows := []ImportRow{
		{Line: 10, Name: "four", Hash: vecSHA512Crypt},
		{Line: 11, Name: "one", Hash: vecSHA512Crypt},
		{Line: 12, Name: "five", Hash: vecSHA512Crypt},
	}
	rep, err = db.Import(ctx, cliReq, rows, ImportOptions{OnConflict: "fail"})
	if !errors.Is(err, ErrUserExists) || !strings.Contains(err.Error(), "line 11") {
		t.Fatalf("conflict: %v", err)
	}
	if rep == nil || rep.Failed != 1 || rep.Rows[0].Line != 11 || rep.Rows[0].Action != "failed" {
		t.Fatalf("conflict report %+v", rep)
	}
	// A bad row aborts everything too.
	for _, bad := range []ImportRow{
		{Line: 13, Name: "bad name", Hash: vecSHA512Crypt},
		{Line: 13, Name: "six", Hash: "{SHA512-CRYPT}garbage"},
		{Line: 13, Name: "six", Hash: "{WHAT}x"},
		{Line: 13, Name: "six"},
		{Line: 13, Name: "six@nowhere.org", Hash: vecSHA512Crypt},
	} {
		_, err := db.Import(ctx, cliReq, append(rows[:1:1], bad), ImportOptions{})
		if err == nil || !strings.Contains(err.Error(), "line 13") {
			t.Fatalf("bad row %+v: %v", bad, err)
		}
	}
	if after := snapshot(t, db); after != before {
		t.Fatal("an aborted import changed the database")
	}
}

func TestImportSkip(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	mustAdd(t, db, "one", "existing password")
	rows := append(importRows(),
		ImportRow{Line: 4, Name: "bad name", Hash: vecSHA512Crypt},
		ImportRow{Line: 5, Name: "four", Hash: "{SHA512-CRYPT}garbage"},
		ImportRow{Line: 6, Name: "five@new.org", Hash: vecSHA512Crypt},
	)
	rep, err := db.Import(ctx, cliReq, rows, ImportOptions{OnConflict: "skip"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Added != 2 || rep.Skipped != 1 || rep.Failed != 3 || rep.Updated != 0 {
		t.Fatalf("report %+v", rep)
	}
	actions := map[int]string{}
	for _, r := range rep.Rows {
		actions[r.Line] = r.Action
		if r.Action == "failed" && r.Error == "" {
			t.Errorf("line %d failed without a reason", r.Line)
		}
	}
	if actions[1] != "skipped" || actions[2] != "added" || actions[4] != "failed" || actions[5] != "failed" || actions[6] != "failed" {
		t.Fatalf("actions %v", actions)
	}
	// The skipped account keeps its password.
	if _, err := db.Authenticate(ctx, pop3, "one", "existing password"); err != nil {
		t.Fatal(err)
	}
	// With CreateDomain the unknown domain is created.
	rep, err = db.Import(ctx, cliReq, rows[5:], ImportOptions{OnConflict: "skip", CreateDomain: true})
	if err != nil || rep.Added != 1 {
		t.Fatalf("CreateDomain import: %+v %v", rep, err)
	}
}

func TestImportUpdateAndDryRun(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, _ := newTestDB(t, func(o *Options) { o.Now = clk.Now })
	a := mustAdd(t, db, "one", "existing password")

	before := snapshot(t, db)
	rep, err := db.Import(ctx, cliReq, importRows(), ImportOptions{OnConflict: "update", DryRun: true})
	if err != nil || rep.Updated != 1 || rep.Added != 2 {
		t.Fatalf("dry run: %+v %v", rep, err)
	}
	if after := snapshot(t, db); after != before {
		t.Fatal("dry run changed the database")
	}

	clk.Advance(time.Hour)
	rep, err = db.Import(ctx, cliReq, importRows(), ImportOptions{OnConflict: "update"})
	if err != nil || rep.Updated != 1 || rep.Added != 2 {
		t.Fatalf("update: %+v %v", rep, err)
	}
	b, _ := db.GetUser(ctx, "one")
	if b.DisplayName != "One" || b.CredVersion != a.CredVersion+1 || !b.Changed.Equal(clk.Now()) || strings.Join(b.Schemes, ",") != "SHA512-CRYPT" {
		t.Fatalf("updated account %+v", b)
	}
	if _, err := db.Authenticate(ctx, pop3, "one", vecPassword); err != nil {
		t.Fatal(err)
	}
	// In update mode a bad row aborts.
	before = snapshot(t, db)
	_, err = db.Import(ctx, cliReq, []ImportRow{{Line: 1, Name: "one", Hash: vecMD5Crypt}, {Line: 2, Name: "x", Hash: "nope"}}, ImportOptions{OnConflict: "update"})
	if !errors.Is(err, ErrInvalidHash) {
		t.Fatalf("bad row in update mode: %v", err)
	}
	if _, err := db.Import(ctx, cliReq, nil, ImportOptions{OnConflict: "merge"}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("bad mode: %v", err)
	}
	if after := snapshot(t, db); after != before {
		t.Fatal("aborted import changed the database")
	}
}

func TestExport(t *testing.T) {
	ctx := context.Background()
	db, _ := newTestDB(t)
	mustAdd(t, db, "bob", "bob's password", "apop")
	mustAdd(t, db, "alice", "alice's password")
	accts, err := db.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(accts) != 2 || accts[0].Name != "alice@example.com" || accts[1].Name != "bob@example.com" {
		t.Fatalf("export order %+v", accts)
	}
	if len(accts[0].Credentials) != 2 || len(accts[1].Credentials) != 2 || accts[1].Credentials["PLAIN"] != "{PLAIN}bob's password" {
		t.Fatalf("export credentials missing")
	}
	// Export → Import into a fresh database reproduces working logins.
	db2, _ := newTestDB(t)
	var rows []ImportRow
	for i, a := range accts {
		_, v, _ := credSet(a.Credentials).verifier()
		rows = append(rows, ImportRow{Line: i + 1, Name: a.Name, Hash: v})
	}
	if _, err := db2.Import(ctx, cliReq, rows, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db2.Authenticate(ctx, pop3, "bob", "bob's password"); err != nil {
		t.Fatal(err)
	}
}

func TestAuditQuery(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	db, _ := newTestDB(t, func(o *Options) { o.Now = clk.Now })
	t0 := clk.Now()
	mustAdd(t, db, "alice", "first password")
	clk.Advance(time.Hour)
	mustAdd(t, db, "bob", "first password")
	clk.Advance(time.Hour)
	db.SetPassword(ctx, Request{Service: ServiceCLI, Actor: "root", Remote: ""}, "alice", PasswordInput{Password: "second password"})

	all, err := db.Audit(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// domain-add, add alice, add bob, passwd alice; newest first.
	if len(all) != 4 || all[0].Action != ActionPasswd || all[3].Action != ActionDomainAdd {
		t.Fatalf("audit %+v", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Time.After(all[i-1].Time) {
			t.Fatal("not newest first")
		}
	}
	if all[0].Actor != "root" || all[0].Target != "alice@example.com" || all[0].Result != "ok" {
		t.Fatalf("entry %+v", all[0])
	}
	for f, want := range map[*AuditFilter]int{
		{User: "ALICE"}: 2,
		{User: "alice@example.com", Action: "add"}: 1,
		{Action: ActionAdd}:                        2,
		{Since: t0.Add(30 * time.Minute)}:          2,
		{Limit: 1}:                                 1,
		{User: "nobody"}:                           0,
	} {
		got, err := db.Audit(ctx, *f)
		if err != nil || len(got) != want {
			t.Errorf("Audit(%+v) = %d rows, %v; want %d", *f, len(got), err, want)
		}
	}
}
