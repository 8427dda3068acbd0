package hard

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/popadm/popadm/internal/maildrop"
)

var xid = regexp.MustCompile(`(?m)^X-Id: (\S+)\r?$`)

// message returns a test message with a unique X-Id and a body of a few
// hundred octets to a few kilobytes.
func message(r *rand.Rand, id string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "From: sender@example.com\nTo: user@example.com\nSubject: test %s\nX-Id: %s\n\n", id, id)
	for i := range 5 + r.IntN(60) {
		fmt.Fprintf(&sb, "line %d of message %s %s\n", i, id, strings.Repeat("x", r.IntN(60)))
	}
	return sb.String()
}

// killPlan is what one faulted session did before the kill.
type killPlan struct {
	marked    map[string]bool // X-Ids of the messages marked deleted
	quitSent  bool
	committed bool // QUIT answered +OK
}

// faultSession logs in, marks a random subset of messages (numbers mapped
// to X-Ids by idOf), then kills the server a random 0-5 ms after QUIT or,
// one time in five, before QUIT.
func faultSession(t *testing.T, r *rand.Rand, s *server, user, pass string, idOf func(p *pop3c, n int, uidl string) string) killPlan {
	t.Helper()
	p := dialPOP3(t, s.addr("pop3"))
	defer p.Close()
	if l := p.login(user, pass); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("login: %q\n%s", l, s.log)
	}
	plan := killPlan{marked: map[string]bool{}}
	for n, u := range p.uidls() {
		if r.IntN(2) == 0 {
			continue
		}
		id := idOf(p, n, u)
		p.must("DELE %d", n)
		plan.marked[id] = true
	}
	delay := time.Duration(r.IntN(5001)) * time.Microsecond
	if r.IntN(5) == 0 {
		time.Sleep(delay)
		s.Kill()
		return plan
	}
	p.Send("QUIT")
	plan.quitSent = true
	time.Sleep(delay)
	s.Kill()
	p.C.SetDeadline(time.Now().Add(2 * time.Second))
	plan.committed = strings.HasPrefix(p.Line(), "+OK")
	return plan
}

// checkGone checks that the missing messages were marked, that nothing is
// missing without QUIT and that everything marked is gone after +OK.
func checkGone(t *testing.T, it int, all []string, present map[string]bool, plan killPlan, atomic bool) (gone int) {
	t.Helper()
	for _, id := range all {
		if present[id] {
			continue
		}
		gone++
		if !plan.marked[id] {
			t.Fatalf("iteration %d: message %s lost without being marked", it, id)
		}
		if !plan.quitSent {
			t.Fatalf("iteration %d: message %s deleted without QUIT", it, id)
		}
	}
	if plan.committed && gone != len(plan.marked) {
		t.Fatalf("iteration %d: QUIT answered +OK but %d of %d marked messages remain", it, len(plan.marked)-gone, len(plan.marked))
	}
	if atomic && gone != 0 && gone != len(plan.marked) {
		t.Fatalf("iteration %d: %d of %d marked messages deleted (UPDATE not atomic)", it, gone, len(plan.marked))
	}
	return gone
}

// TestKillDuringMaildirUpdate kills popadm serve pop3d at random points of
// the UPDATE state of a Maildir and checks that every message is intact
// and present once, or deleted after being marked.
func TestKillDuringMaildirUpdate(t *testing.T) {
	hard(t)
	n := iterations(20, 300)
	e := newEnv(t, "")
	const user, pass = "kim@example.com", "Kill-pass 0001"
	e.addUser(user, pass)
	dir := filepath.Join(e.mailRoot, "example.com", "kim")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var committed, partial, untouched int
	for it := range n {
		// A fresh Maildir of 20 messages.
		os.RemoveAll(dir)
		for _, sub := range []string{"new", "cur", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]string{} // X-Id -> sha of stored form
		var ids []string
		for k := range 20 {
			id := fmt.Sprintf("%d.%d", it, k)
			m := message(r, id)
			if _, err := maildrop.Deliver(dir, []byte(m)); err != nil {
				t.Fatal(err)
			}
			want[id] = sha([]byte(m))
			ids = append(ids, id)
		}
		byUIDL := map[string]string{}
		for _, f := range maildirFiles(t, dir) {
			b, _ := os.ReadFile(f)
			base, _, _ := strings.Cut(filepath.Base(f), ":")
			byUIDL[maildrop.DefaultUIDL(base)] = idIn(t, b)
		}
		s := e.start("pop3d")
		plan := faultSession(t, r, s, user, pass, func(_ *pop3c, _ int, u string) string {
			id, ok := byUIDL[u]
			if !ok {
				t.Fatalf("unknown UIDL %q", u)
			}
			return id
		})
		// On disk: every file is a whole message, each at most once.
		present := map[string]bool{}
		for _, f := range maildirFiles(t, dir) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			id := idIn(t, b)
			if present[id] {
				t.Fatalf("iteration %d: message %s present twice", it, id)
			}
			present[id] = true
			if sha(b) != want[id] {
				t.Fatalf("iteration %d: message %s (%s) damaged", it, id, f)
			}
		}
		gone := checkGone(t, it, ids, present, plan, false)
		switch {
		case gone == 0:
			untouched++
		case gone == len(plan.marked):
			committed++
		default:
			partial++
		}
		// The next login works (the stale session lock is handled) and
		// lists exactly what is on disk.
		s = e.start("pop3d")
		p := dialPOP3(t, s.addr("pop3"))
		if l := p.login(user, pass); !strings.HasPrefix(l, "+OK") {
			t.Fatalf("iteration %d: login after kill: %q\n%s", it, l, s.log)
		}
		u := p.uidls()
		if len(u) != len(present) {
			t.Fatalf("iteration %d: %d messages listed, %d on disk", it, len(u), len(present))
		}
		for num := range u {
			if r.IntN(4) != 0 {
				continue
			}
			m := p.retr(num)
			if id := idIn(t, []byte(m)); !present[id] {
				t.Fatalf("iteration %d: RETR %d gave %s, not on disk", it, num, id)
			}
		}
		p.must("QUIT")
		p.Close()
		s.Kill()
	}
	t.Logf("maildir: %d iterations: %d UPDATEs complete, %d partial, %d untouched", n, committed, partial, untouched)
}

// maildirFiles lists the message files in new and cur.
func maildirFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range ents {
			if !strings.HasPrefix(en.Name(), ".") {
				out = append(out, filepath.Join(dir, sub, en.Name()))
			}
		}
	}
	return out
}

// idIn returns the X-Id of a message.
func idIn(t *testing.T, b []byte) string {
	t.Helper()
	m := xid.FindSubmatch(b)
	if m == nil {
		t.Fatalf("message without X-Id (damaged?): %.200q", b)
	}
	return string(m[1])
}

// TestKillDuringMboxUpdate kills popadm serve pop3d at random points of
// the UPDATE state of an mbox spool; after each kill the next login (which
// runs the journal recovery) must show exactly the messages not deleted
// by a committed UPDATE, each intact, and the file must stay an mbox.
func TestKillDuringMboxUpdate(t *testing.T) {
	hard(t)
	n := iterations(20, 300)
	e := newEnv(t, "")
	const user, pass = "mia@example.com", "Mbox-pass 0001"
	e.addUser(user, pass)
	spool := filepath.Join(e.dir, "spool", "mia")
	if err := os.MkdirAll(filepath.Dir(spool), 0o700); err != nil {
		t.Fatal(err)
	}
	e.cli("", "user", "mod", user, "--maildrop", "mbox:"+spool)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	var committed, untouched int
	for it := range n {
		want := map[string]string{} // X-Id -> sha of the transmitted form
		entry := map[string]string{}
		var ids []string
		var file strings.Builder
		for k := range 20 {
			id := fmt.Sprintf("%d.%d", it, k)
			m := message(r, id)
			want[id] = sha([]byte(crlf(m)))
			entry[id] = "From sender@example.com Sat Nov 28 08:40:20 2026\n" + m + "\n"
			file.WriteString(entry[id])
			ids = append(ids, id)
		}
		if err := os.WriteFile(spool, []byte(file.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		s := e.start("pop3d")
		killed := s
		plan := faultSession(t, r, s, user, pass, func(p *pop3c, num int, _ string) string {
			p.must("TOP %d 0", num)
			return idIn(t, []byte(p.multi()))
		})
		s = e.start("pop3d")
		p := dialPOP3(t, s.addr("pop3"))
		if l := p.login(user, pass); !strings.HasPrefix(l, "+OK") {
			dl, derr := os.ReadFile(spool + ".lock")
			if derr == nil && len(dl) == 0 {
				t.Fatalf("iteration %d: login after kill: %q: the killed server left an empty dotlock "+
					"(killed between creating and writing it), which is only broken after the stale-lock time", it, l)
			}
			t.Fatalf("iteration %d: login after kill: %q\ndotlock: %q %v\nkilled server log:\n%s\nserver log:\n%s", it, l, dl, derr, killed.log, s.log)
		}
		present := map[string]bool{}
		for num := range p.uidls() {
			m := p.retr(num)
			id := idIn(t, []byte(m))
			if present[id] {
				t.Fatalf("iteration %d: message %s listed twice", it, id)
			}
			present[id] = true
			if sha([]byte(m)) != want[id] {
				t.Fatalf("iteration %d: message %s damaged:\n%s", it, id, m)
			}
		}
		p.must("QUIT")
		p.Close()
		s.Kill()
		if gone := checkGone(t, it, ids, present, plan, true); gone == 0 {
			untouched++
		} else {
			committed++
		}
		// The spool holds exactly the kept entries, byte for byte.
		b, err := os.ReadFile(spool)
		if err != nil {
			t.Fatal(err)
		}
		var exp strings.Builder
		for _, id := range ids {
			if present[id] {
				exp.WriteString(entry[id])
			}
		}
		if len(b) != 0 && !strings.HasSuffix(string(b), "\n\n") {
			t.Fatalf("iteration %d: spool does not end in a blank line: %q", it, b[max(0, len(b)-40):])
		}
		if string(b) != exp.String() {
			t.Fatalf("iteration %d: spool content differs from the kept messages (%d octets, want %d)", it, len(b), exp.Len())
		}
	}
	t.Logf("mbox: %d iterations: %d UPDATEs committed, %d untouched", n, committed, untouched)
}
