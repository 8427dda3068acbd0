package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The four base names and the dovecot-uidlist of maildir-migration.md
// §2.2 (one real run of Postfix, dovecot-lda, maildrop and qmail).
const (
	migLDA     = "1795846770.M623478P13624.vm,S=203,W=211"
	migPostfix = "1795846764.Vfe00I9843cbM704526.vm"
	migCourier = "1795846783.M982723P13884V000000000000FE00I000000000098405B_0.vm,S=194"
	migQmail   = "1795846789.14103.vm"
	// migLate arrived after Dovecot's last sync: no record.
	migLate = "1795846900.Vfe00I9843ccM000001.vm"
)

const migUIDList = "3 V1795846770 N5 G84302a2572720a6b3835000083ecc375\n" +
	"1 :" + migLDA + "\n" +
	"2 W475 :" + migPostfix + "\n" +
	"3 W202 :" + migCourier + "\n" +
	"4 W261 :" + migQmail + "\n"

// migBody returns a message of n LF lines whose physical size is exactly
// psize octets.
func migBody(psize, lines int) string {
	var b strings.Builder
	b.WriteString("Subject: m\n")
	for i := 1; i < lines-1; i++ {
		b.WriteString("x\n")
	}
	b.WriteString(strings.Repeat("y", psize-b.Len()-1) + "\n")
	return b.String()
}

var listLineRE = regexp.MustCompile(`^(\d+) (\d+)\r\n$`)

// TestMigrateDovecot: a Maildir left by Dovecot keeps its UIDLs and order
// through popadm migrate dovecot; new mail gets a distinct UIDL and a
// flag rename changes nothing.
func TestMigrateDovecot(t *testing.T) {
	e := newEnv(t)
	e.addUser("mig@example.com", "Mig-pass 1")
	dir := e.maildir("mig")
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"cur/" + migLDA + ":2,":        migBody(203, 8), // W=211
		"cur/" + migPostfix + ":2,S":   migBody(300, 5),
		"cur/" + migCourier + ":2,":    migBody(194, 8),
		"cur/" + migQmail + ":2,":      migBody(250, 11),
		"new/" + migLate:               migBody(100, 3),
		"dovecot-uidlist":              migUIDList,
		"dovecot-uidvalidity":          "6b0a7272",
		"dovecot-uidvalidity.6b0a7272": "",
	}
	for rel, body := range files {
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"000000016b0a7272", "000000026b0a7272", "000000036b0a7272", "000000046b0a7272", "000000056b0a7272"}
	wantBases := []string{migLDA, migPostfix, migCourier, migQmail, migLate}

	// A dry run reports and writes nothing.
	out := e.cli("", "--json", "migrate", "dovecot", dir, "--dry-run")
	var rep struct {
		Written  bool `json:"written"`
		Migrated int  `json:"migrated"`
		Kept     int  `json:"kept"`
		Messages []struct {
			Base, UIDL, Source string
			Order              int
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Written || rep.Migrated != 5 || rep.Kept != 0 || len(rep.Messages) != 5 {
		t.Fatalf("dry run report %s", out)
	}
	for i, m := range rep.Messages {
		if m.Base != wantBases[i] || m.UIDL != want[i] || m.Order != i+1 {
			t.Errorf("report row %d: %+v, want %s %s", i, m, wantBases[i], want[i])
		}
	}
	if rep.Messages[4].Source != "predicted" {
		t.Errorf("late message source %q", rep.Messages[4].Source)
	}
	if _, err := os.Stat(filepath.Join(dir, "popadm-uidl")); !os.IsNotExist(err) {
		t.Fatalf("dry run wrote the override: %v", err)
	}

	// A wrong format is a usage error; then the real run.
	if _, _, code := e.run("", "migrate", "dovecot", dir, "--uidl-format", "%Hu"); code != 64 {
		t.Errorf("bad format: exit %d", code)
	}
	table := e.cli("", "migrate", "dovecot", dir, "--uidl-format", "%08Xu%08Xv")
	if !strings.Contains(table, "000000016b0a7272") || !strings.Contains(table, migLDA) {
		t.Errorf("table report:\n%s", table)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "popadm-uidl")); err != nil ||
		!strings.HasPrefix(string(b), "popadm-uidl 1\n"+migLDA+"\t000000016b0a7272\t1\n") {
		t.Fatalf("override file %q, %v", b, err)
	}

	e.start()
	session := func() ([]string, []string) {
		p := dialPOP3(t, e.addr("pop3"))
		defer p.C.Close()
		p.login("mig@example.com", "Mig-pass 1")
		_, ul := p.multi("UIDL")
		_, ll := p.multi("LIST")
		p.Cmd("QUIT")
		var sizes []string
		for _, l := range strings.SplitAfter(ll, "\r\n") {
			if m := listLineRE.FindStringSubmatch(l); m != nil {
				sizes = append(sizes, m[2])
			}
		}
		return uidls(t, ul), sizes
	}
	got, sizes := session()
	if !slices.Equal(got, want) {
		t.Fatalf("UIDL over POP3: %v, want %v", got, want)
	}
	// LIST follows the same order: the LDA message (W=211) is first.
	if len(sizes) != 5 || sizes[0] != "211" {
		t.Errorf("LIST sizes %v", sizes)
	}

	// New mail, and a flag rename of the Postfix file.
	e.deliver("mig", "Subject: new\n\nhello\n")
	if err := os.Rename(filepath.Join(dir, "cur", migPostfix+":2,S"), filepath.Join(dir, "cur", migPostfix+":2,RS")); err != nil {
		t.Fatal(err)
	}
	got, _ = session()
	if len(got) != 6 || !slices.Equal(got[:5], want) {
		t.Fatalf("after delivery and rename: %v", got)
	}
	if slices.Contains(want, got[5]) || !strings.Contains(got[5], ".") {
		t.Errorf("new message UIDL %q is not a distinct base name", got[5])
	}
	again, _ := session()
	if !slices.Equal(again, got) {
		t.Errorf("unstable UIDLs: %v then %v", got, again)
	}
}

// TestMigrateRefusesBadState: a malformed uidlist names the line and
// writes nothing; a missing one exits 66.
func TestMigrateRefusesBadState(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(t.TempDir(), "Maildir")
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, code := e.run("", "migrate", "courier", dir); code != 66 {
		t.Errorf("missing courierpop3dsizelist: exit %d", code)
	}
	bad := "3 V1795846770 N5\n2 :" + migLDA + "\n1 :" + migQmail + "\n"
	if err := os.WriteFile(filepath.Join(dir, "dovecot-uidlist"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := e.run("", "migrate", "dovecot", dir)
	if code != 65 || !strings.Contains(errOut, "line 3") {
		t.Errorf("malformed uidlist: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "popadm-uidl")); !os.IsNotExist(err) {
		t.Errorf("override written: %v", err)
	}
	// Courier: the §3.2 list, with one file Courier never saw.
	list := "/3 5 1795846809\n" +
		migPostfix + ":2,S 475 1:1795846809:0\n" +
		migLDA + ":2, 211 2:1795846809:0\n"
	for rel, body := range map[string]string{
		"courierpop3dsizelist":       list,
		"cur/" + migLDA + ":2,":      migBody(203, 8),
		"cur/" + migPostfix + ":2,S": migBody(300, 5),
		"new/" + migLate:             "x\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := e.run("", "-o", "tsv", "migrate", "courier", dir)
	wantOut := migPostfix + "\tUID1-1795846809\t1\trecord\n" + migLDA + "\tUID2-1795846809\t2\trecord\n" + migLate + "\t" + migLate + "\t-\tpopadm\n"
	if code != 0 || out != wantOut || !strings.Contains(errOut, "download them once more") {
		t.Errorf("courier: exit %d\n%s\nwant\n%s\nstderr %s", code, out, wantOut, errOut)
	}
}

// TestMigrateRefusesSharedUIDL: two different messages that would share a
// UIDL are refused, naming both; with %f each message keeps its own name.
func TestMigrateRefusesSharedUIDL(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(t.TempDir(), "Maildir")
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	const a, b = "1700000000.M1P1.h", "1700000001.M1P1.h"
	for rel, body := range map[string]string{
		"cur/" + a + ":2,S": "x\n",
		"new/" + b:          "y\n",
		"dovecot-uidlist":   "3 V1700000000 N3\n1 P" + b + " :" + a + "\n2 P :" + b + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, errOut, code := e.run("", "migrate", "dovecot", dir)
	if code != 65 || !strings.Contains(errOut, a) || !strings.Contains(errOut, b) {
		t.Errorf("shared UIDL: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "popadm-uidl")); !os.IsNotExist(err) {
		t.Errorf("override written: %v", err)
	}
	// %f: the UIDL equals the message's own base name, which is fine.
	uidlist := "3 V1700000000 N3\n1 :" + a + "\n"
	if err := os.WriteFile(filepath.Join(dir, "dovecot-uidlist"), []byte(uidlist), 0o600); err != nil {
		t.Fatal(err)
	}
	out := e.cli("", "-o", "tsv", "migrate", "dovecot", dir, "--uidl-format", "%f")
	if want := a + "\t" + a + "\t1\tformat\n" + b + "\t" + b + "\t2\tpredicted\n"; out != want {
		t.Errorf("%%f: got\n%s\nwant\n%s", out, want)
	}
}
