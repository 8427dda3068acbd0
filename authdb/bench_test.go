package authdb

import (
	"context"
	"fmt"
	"testing"

	"github.com/popadm/popadm/internal/pwscheme"
)

// BenchmarkLookup measures account lookups (read pool, one joined
// statement) among 1000 accounts.
func BenchmarkLookup(b *testing.B) {
	ctx := context.Background()
	db, _ := newTestDB(b)
	const n = 1000
	rows := make([]ImportRow, n)
	for i := range rows {
		rows[i] = ImportRow{Line: i + 1, Name: fmt.Sprintf("user%04d", i), Hash: vecSHA512Crypt}
	}
	if _, err := db.Import(ctx, cliReq, rows, ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := db.Lookup(ctx, fmt.Sprintf("user%04d", i%n)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkAuthenticateSHA512Crypt measures a full plaintext login with a
// SHA512-CRYPT (5000 rounds, the doveadm default) verifier.
func BenchmarkAuthenticateSHA512Crypt(b *testing.B) {
	ctx := context.Background()
	db, _ := newTestDB(b, func(o *Options) { o.Params = pwscheme.Params{} })
	mustAdd(b, db, "alice", "bench password")
	for b.Loop() {
		if _, err := db.Authenticate(ctx, pop3, "alice", "bench password"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

func benchChange(b *testing.B, mod func(*Options)) {
	ctx := context.Background()
	db, _ := newTestDB(b, mod)
	mustAdd(b, db, "alice", "bench password 0")
	req := Request{Service: ServicePoppassd, Remote: "127.0.0.1:1"}
	i := 0
	for b.Loop() {
		old, next := fmt.Sprintf("bench password %d", i), fmt.Sprintf("bench password %d", i+1)
		if err := db.ChangePassword(ctx, req, "alice", old, next); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}

// BenchmarkChangePasswordDefault measures a poppassd change with the
// default scheme, ARGON2ID (m=64 MiB, t=3): verify old + hash new + SCRAM
// + one write transaction.
func BenchmarkChangePasswordDefault(b *testing.B) {
	benchChange(b, func(o *Options) { o.Scheme, o.Params = "", pwscheme.Params{} })
}

// BenchmarkChangePasswordSHA512Crypt measures the same with SHA512-CRYPT
// (5000 rounds).
func BenchmarkChangePasswordSHA512Crypt(b *testing.B) {
	benchChange(b, func(o *Options) { o.Params = pwscheme.Params{} })
}
