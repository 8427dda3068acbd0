package hard

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/testkit"
)

// TestKillDuringPasswordChange kills popadm serve poppassd at random
// moments of a password change: the database stays intact, the password
// is the old or the new one, and the audit log has a "passwd ok" row for
// every change that took effect.
func TestKillDuringPasswordChange(t *testing.T) {
	hard(t)
	n := iterations(20, 200)
	e := newEnv(t, "")
	const user = "pat@example.com"
	cur := "Start-pass 0000"
	e.addUser(user, cur)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	changed, kept := 0, 0
	for it := range n {
		next := fmt.Sprintf("Next-pass %04d", it+1)
		s := e.start("poppassd")
		p, err := testkit.DialLine(t, "", s.addr("poppassd"), 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c := p.C
		for _, step := range []string{"", "user " + user, "pass " + cur} {
			if step != "" {
				p.Send(step)
			}
			if l := p.Line(); !strings.HasPrefix(l, "200") {
				t.Fatalf("iteration %d: %q: %q\n%s", it, step, l, s.log)
			}
		}
		fmt.Fprintf(c, "newpass %s\r\n", next)
		time.Sleep(time.Duration(r.IntN(25001)) * time.Microsecond)
		s.Kill()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		reply := p.Line()
		c.Close()

		integrity(t, e.db)
		oldOK, newOK := e.authOK(user, cur), e.authOK(user, next)
		switch {
		case oldOK && newOK, !oldOK && !newOK:
			t.Fatalf("iteration %d: old password ok=%v, new ok=%v", it, oldOK, newOK)
		case newOK:
			changed++
			cur = next
		default:
			kept++
			if strings.HasPrefix(reply, "200") {
				t.Fatalf("iteration %d: change answered %q but the old password is active", it, reply)
			}
		}
		if got := e.passwdOK(user); got != changed {
			t.Fatalf("iteration %d: %d \"passwd ok\" audit rows, %d changes took effect", it, got, changed)
		}
	}
	t.Logf("poppassd: %d iterations: %d changes took effect, %d did not", n, changed, kept)
}

// holdLock takes the database write lock (BEGIN IMMEDIATE) on its own
// connection and releases it after d; the returned channel closes on
// release.
func holdLock(t *testing.T, path string, d time.Duration) (release time.Time, released chan struct{}) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	release = time.Now().Add(d)
	released = make(chan struct{})
	go func() {
		time.Sleep(time.Until(release))
		conn.ExecContext(ctx, "ROLLBACK")
		conn.Close()
		db.Close()
		close(released)
	}()
	t.Cleanup(func() { <-released })
	return release, released
}

// lockedPOP3 logs in over POP3 and reports whether the login answered
// +OK and whether it answered before release.
func lockedPOP3(t *testing.T, s *server, user, pass string, release time.Time) (ok, beforeRelease bool, reply string) {
	p := dialPOP3(t, s.addr("pop3"))
	defer p.Close()
	reply = p.login(user, pass)
	beforeRelease = time.Now().Before(release)
	if strings.HasPrefix(reply, "+OK") {
		p.must("STAT")
		p.must("QUIT")
		return true, beforeRelease, reply
	}
	return false, beforeRelease, reply
}

// TestDatabaseLockedByAdmin holds the database write lock in a long
// transaction, as an administrator's sqlite3 shell can: POP3 logins of an
// account whose last login is recent (a read-only path) answer +OK while
// the lock is held; a poppassd change never hangs: it answers 500 while
// the lock is held, or 200 once it is gone; afterwards changes work.
func TestDatabaseLockedByAdmin(t *testing.T) {
	hard(t)
	e := newEnv(t, "")
	const user, pass = "lee@example.com", "Lock-pass 0001"
	const cold, coldPass = "cal@example.com", "Cold-pass 0001"
	e.addUser(user, pass)
	e.addUser(cold, coldPass)
	s := e.start("")
	// A first login writes last_login; the next ones within a minute only read.
	if ok, _, l := lockedPOP3(t, s, user, pass, time.Now()); !ok {
		t.Fatalf("login: %q", l)
	}

	cur := pass
	for round, hold := range []time.Duration{8 * time.Second, 24 * time.Second} {
		release, released := holdLock(t, e.db, hold)
		next := fmt.Sprintf("Lock-pass %04d", round+2)
		type result struct {
			replies []string
			locked  bool
		}
		done := make(chan result, 1)
		go func() {
			r := passwdSession(t, s.addr("poppassd"), "user "+user, "pass "+cur, "newpass "+next)
			done <- result{r, time.Now().Before(release)}
		}()
		ok, before, l := lockedPOP3(t, s, user, cur, release)
		if !ok || !before {
			t.Errorf("hold %v: POP3 login (recent last login) answered %q, before the lock was released: %v", hold, l, before)
		}
		if round == 0 {
			// An account whose last login is old writes it at login: it
			// may wait for the lock, but must end with +OK.
			ok, before, l := lockedPOP3(t, s, cold, coldPass, release)
			if !ok {
				t.Errorf("hold %v: POP3 login (stale last login) answered %q", hold, l)
			}
			t.Logf("hold %v: POP3 login with a last_login write answered before the lock was released: %v", hold, before)
		}
		var res result
		select {
		case res = <-done:
		case <-time.After(hold + 25*time.Second):
			t.Fatalf("hold %v: poppassd change hangs while the database is locked\n%s", hold, s.log)
		}
		last := res.replies[len(res.replies)-1]
		switch {
		case strings.HasPrefix(last, "500 Server error") && res.locked:
			<-released
			if !e.authOK(user, cur) {
				t.Fatalf("hold %v: change failed with %q but the old password no longer works", hold, last)
			}
		case strings.HasPrefix(last, "200 ") && len(res.replies) == 4 && !res.locked:
			<-released
			if !e.authOK(user, next) {
				t.Fatalf("hold %v: change answered 200 but the new password does not work", hold)
			}
			cur = next
		default:
			t.Fatalf("hold %v: poppassd replies %q (answered while locked: %v)\n%s", hold, res.replies, res.locked, s.log)
		}
		t.Logf("hold %v: poppassd answered %q while locked: %v", hold, last, res.locked)
		if hold > 21*time.Second && !strings.HasPrefix(last, "500") {
			t.Errorf("hold %v: change waited out a lock longer than the busy timeout and its retries", hold)
		}
	}
	integrity(t, e.db)
	// Once the lock is gone, changes work again.
	got := passwdSession(t, s.addr("poppassd"), "user "+user, "pass "+cur, "newpass Lock-pass 0009")
	if len(got) != 4 || !strings.HasPrefix(got[3], "200 ") {
		t.Fatalf("change after the lock: %q\n%s", got, s.log)
	}
	if !e.authOK(user, "Lock-pass 0009") {
		t.Fatal("new password does not work")
	}
}

// immutable sets or clears the immutable attribute of paths.
func immutable(on bool, paths ...string) error {
	flag := "-i"
	if on {
		flag = "+i"
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if out, err := exec.Command("chattr", flag, p).CombinedOutput(); err != nil {
			return fmt.Errorf("chattr %s %s: %v %s", flag, p, err, out)
		}
	}
	return nil
}

// TestReadOnlyDatabase makes the database immutable while the server runs:
// a poppassd change answers 500, POP3 logins work or answer [SYS/TEMP],
// and after the database is writable again changes work.
func TestReadOnlyDatabase(t *testing.T) {
	hard(t)
	needRoot(t)
	if _, err := exec.LookPath("chattr"); err != nil {
		t.Skip("chattr not installed")
	}
	e := newEnv(t, "")
	const user, pass = "rob@example.com", "Read-pass 0001"
	e.addUser(user, pass)
	e.cli("", "domain", "add", "other.example") // some WAL content
	s := e.start("")
	// One login first so that the server has the database open.
	p := dialPOP3(t, s.addr("pop3"))
	if l := p.login(user, pass); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("login: %q", l)
	}
	p.must("QUIT")
	p.Close()

	// Not the -shm file: SQLite maps it, and a write to a mapped immutable
	// file is a SIGBUS, which no program can answer.
	paths := []string{e.db, e.db + "-wal", e.db + "-journal", filepath.Dir(e.db)}
	if err := immutable(true, paths...); err != nil {
		immutable(false, paths...)
		t.Skipf("cannot make the database read-only: %v", err)
	}
	t.Cleanup(func() { immutable(false, paths...) })

	got := passwdSession(t, s.addr("poppassd"), "user "+user, "pass "+pass, "newpass Read-pass 0002")
	last := got[len(got)-1]
	if !strings.HasPrefix(last, "500 Server error") {
		t.Errorf("poppassd change on a read-only database: %q\n%s", got, s.log)
	}
	for range 3 {
		p := dialPOP3(t, s.addr("pop3"))
		l := p.login(user, pass)
		switch {
		case strings.HasPrefix(l, "+OK"):
			p.must("STAT")
			p.must("QUIT")
		case strings.HasPrefix(l, "-ERR [SYS/TEMP]"):
			t.Logf("POP3 login on a read-only database: %q", l)
		default:
			t.Errorf("POP3 login on a read-only database: %q", l)
		}
		p.Close()
	}
	if err := immutable(false, paths...); err != nil {
		t.Fatal(err)
	}
	integrity(t, e.db)
	if !e.authOK(user, pass) {
		t.Fatal("old password lost")
	}
	got = passwdSession(t, s.addr("poppassd"), "user "+user, "pass "+pass, "newpass Read-pass 0003")
	if len(got) != 4 || !strings.HasPrefix(got[3], "200 ") {
		t.Fatalf("change after the database is writable again: %q\n%s", got, s.log)
	}
	if !e.authOK(user, "Read-pass 0003") {
		t.Fatal("new password does not work")
	}
	if strings.Contains(s.log.String(), "Read-pass") {
		t.Fatal("password in the server log")
	}
}
