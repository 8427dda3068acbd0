package cli

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/popadm/popadm/internal/importfmt"
)

func TestExportDovecotRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.mustRun("", "domain", "add", "other.example")
	e.addUser("alice@example.com", "alice-password", "--name", "Alice")
	e.addUser("bob@example.com", "bob-password", "--mechs", "plain,apop")
	e.addUser("carol@other.example", "carol-password", "--disabled")
	e.mustRun("", "user", "add", "dave@example.com", "--hash", "{SSHA}DBdZET4UzUWH2rWw4wiEAT1x67OuxK5t")

	r := e.mustRun("", "export", "dovecot-passwd")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 4 {
		t.Fatalf("export:\n%s", r.out)
	}
	for _, l := range lines {
		f := strings.Split(l, ":")
		if len(f) != 8 || !strings.HasPrefix(f[1], "{") {
			t.Errorf("not a passwd-file line: %q", l)
		}
	}
	if !strings.HasPrefix(lines[0], "alice@example.com:{"+testScheme+"}$6$") || !strings.HasSuffix(lines[0], ":::Alice:::") {
		t.Errorf("alice line %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "bob@example.com:{"+testScheme+"}") {
		t.Errorf("bob: slow hash expected before PLAIN: %q", lines[1])
	}
	if !strings.HasSuffix(lines[2], "::::::nologin") {
		t.Errorf("disabled carol: %q", lines[2])
	}
	if lines[3] != "dave@example.com:{SSHA}DBdZET4UzUWH2rWw4wiEAT1x67OuxK5t::::::" {
		t.Errorf("dave: %q", lines[3])
	}
	// --prefer picks the cleartext for APOP users.
	if r := e.mustRun("", "export", "dovecot-passwd", "--prefer", "plain", "--domain", "example.com"); !strings.Contains(r.out, "bob@example.com:{PLAIN}bob-password::::::") {
		t.Errorf("--prefer plain:\n%s", r.out)
	}

	// Import into a fresh database: every user logs in.
	e2 := newEnv(t)
	e2.mustRun("", "domain", "add", "other.example")
	e2.mustRun(r.out, "import", "dovecot-passwd", "-")
	full := e.mustRun("", "export", "dovecot-passwd").out
	e3 := newEnv(t)
	e3.mustRun(full, "import", "dovecot-passwd", "-", "--create-domains")
	// The copy exports the same hashes (before any login rehashes them).
	if again := e3.mustRun("", "export", "dovecot-passwd").out; again != full {
		t.Errorf("second export differs:\n%s\nvs\n%s", again, full)
	}
	for user, pw := range map[string]string{"alice@example.com": "alice-password", "bob@example.com": "bob-password", "dave@example.com": "Tr0ub4dor&3"} {
		if res, _ := e3.authTest(user, pw); res.Result != "ok" {
			t.Errorf("%s after round trip: %+v", user, res)
		}
	}
	if res, _ := e3.authTest("carol@other.example", "carol-password"); res.Result != "disabled" || !res.PasswordOK {
		t.Errorf("carol after round trip: %+v", res)
	}
}

func TestExportCSVAndJSON(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice@example.com", "alice-password", "--name", "Alice, A.")
	e.addUser("bob@example.com", "bob-password")

	r := e.mustRun("", "export", "csv")
	recs, err := csv.NewReader(strings.NewReader(r.out)).ReadAll()
	if err != nil || len(recs) != 3 {
		t.Fatalf("csv: %v\n%s", err, r.out)
	}
	if !reflect.DeepEqual(recs[0], importfmt.CSVHeader(false)) || recs[1][0] != "alice@example.com" || recs[1][1] != "Alice, A." {
		t.Errorf("csv rows %v", recs)
	}
	if strings.Contains(r.out, "$6$") {
		t.Errorf("csv without --include-hashes has hashes")
	}
	var js []importfmt.JSONRecord
	jsonOf(t, e.mustRun("", "export", "json"), &js)
	if len(js) != 2 || js[0].Hash != "" || js[0].Credentials != nil || js[0].Mechs == nil {
		t.Errorf("json without hashes: %+v", js)
	}
	jsonOf(t, e.mustRun("", "export", "json", "--include-hashes"), &js)
	if !strings.HasPrefix(js[0].Hash, "{"+testScheme+"}") || js[0].Credentials["SCRAM-SHA-256"] == "" {
		t.Errorf("json with hashes: %+v", js[0])
	}

	// csv --include-hashes reads back with import csv.
	out := filepath.Join(e.dir, "accounts.csv")
	r = e.mustRun("", "export", "csv", "--include-hashes", "--file", out)
	if r.out != "" {
		t.Errorf("stdout with --file: %q", r.out)
	}
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v %v", st, err)
	}
	e2 := newEnv(t)
	r = e2.mustRun("", "import", "csv", out)
	if !strings.Contains(r.err, "ignoring CSV column") {
		t.Errorf("no note about ignored columns: %q", r.err)
	}
	if v := e2.show("alice@example.com"); v.DisplayName != "Alice, A." {
		t.Errorf("display name after csv round trip: %+v", v)
	}
	if res, _ := e2.authTest("bob@example.com", "bob-password"); res.Result != "ok" {
		t.Errorf("bob after csv round trip: %+v", res)
	}
	e.expect(ExitUsage, "", "export", "ldif")
	e.expect(ExitNoUser, "", "export", "csv", "--domain", "nosuch.example")
}
