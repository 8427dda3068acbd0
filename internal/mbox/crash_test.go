package mbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashRun is the outcome of one session run by the commit helper.
type crashRun struct {
	del    []string // IDs the session deleted
	killed bool     // the session died before Commit returned
}

// runCommitHelper runs one session in a separate process. at is an UPDATE
// step to die after, "random" to be killed by us at a random moment after
// it starts Commit, or "" to finish.
func runCommitHelper(t testing.TB, spool, journalDir, at string, deleteAll bool, extra ...string) crashRun {
	t.Helper()
	env := append([]string{"MBOX_SPOOL=" + spool, "MBOX_JOURNAL=" + journalDir}, extra...)
	if at != "random" && at != "" {
		env = append(env, "CRASH_AT="+at)
	}
	if deleteAll {
		env = append(env, "MBOX_DELETE_ALL=1")
	}
	h := startHelper(t, "commit", env...)
	line, err := h.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "del") {
		t.Fatalf("commit helper said %q (%v)", line, err)
	}
	run := crashRun{del: strings.Fields(strings.TrimPrefix(line, "del"))}
	h.expect(t, "commit")
	if at == "random" {
		time.Sleep(time.Duration(rand.IntN(12000)) * time.Microsecond)
		h.cmd.Process.Signal(syscall.SIGKILL)
	}
	rest, _ := io.ReadAll(h.out)
	werr := h.cmd.Wait()
	switch {
	case werr == nil && strings.TrimSpace(string(rest)) == "ok":
	case isKilled(werr):
		run.killed = true
	default:
		t.Fatalf("commit helper failed: %v, output %q", werr, rest)
	}
	return run
}

// isKilled reports whether a process ended by SIGKILL.
func isKilled(err error) bool {
	var ee interface{ Sys() any }
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// verifySpool parses a spool of mdaMessages independently of the package
// parser and checks each message line by line. It returns how often each
// ID occurs.
func verifySpool(b []byte) (map[string]int, error) {
	count := map[string]int{}
	if len(b) == 0 {
		return count, nil
	}
	if !bytes.HasPrefix(b, []byte("From ")) {
		return nil, fmt.Errorf("spool starts with %q", b[:min(len(b), 20)])
	}
	if !bytes.HasSuffix(b, []byte("\n\n")) {
		return nil, fmt.Errorf("spool ends in %q", b[max(0, len(b)-20):])
	}
	for len(b) > 0 {
		end := bytes.Index(b, []byte("\n\nFrom "))
		var m []byte
		if end < 0 {
			m, b = b[:len(b)-1], nil
		} else {
			m, b = b[:end+1], b[end+2:]
		}
		id, err := verifyMessage(m)
		if err != nil {
			return nil, err
		}
		count[id]++
	}
	return count, nil
}

var xLines = regexp.MustCompile(`(?m)^X-Lines: (\d+)$`)

// verifyMessage checks one message (From_ line to its last LF).
func verifyMessage(m []byte) (string, error) {
	hdr, body, ok := bytes.Cut(m, []byte("\n\n"))
	if !ok {
		return "", fmt.Errorf("message without body: %q", m[:min(len(m), 200)])
	}
	idm, nm := messageID.FindSubmatch(hdr), xLines.FindSubmatch(hdr)
	if idm == nil || nm == nil || !isStrictFrom(append(bytes.SplitN(hdr, []byte("\n"), 2)[0], '\n')) {
		return "", fmt.Errorf("bad header: %q", hdr)
	}
	id := string(idm[1])
	n, _ := strconv.Atoi(string(nm[1]))
	var want strings.Builder
	for k := 1; k <= n; k++ {
		want.WriteString(bodyLine(id, k))
	}
	if string(body) != want.String() {
		return "", fmt.Errorf("message %s damaged: %d bytes, want %d", id, len(body), want.Len())
	}
	return id, nil
}

// crashStats are the figures of a crash loop.
type crashStats struct {
	iterations, killed, completed          int
	journals, tmps                         int
	redone, rejournaled, finished, tmpGone int
	delivered, removed                     int
}

// TestCrashLoop kills sessions with SIGKILL at every UPDATE step and at
// random moments while a separate MDA process keeps delivering the
// Postfix way (and under the fcntl lock alone once the dead session's
// dotlock blocks it, as procmail does), then recovers and checks the
// invariants of mbox-spool.md §4.5 after every iteration. MBOX_CRASH_ITER
// sets the number of iterations (default 40).
func TestCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	iters := 40
	if v, err := strconv.Atoi(os.Getenv("MBOX_CRASH_ITER")); err == nil && v > 0 {
		iters = v
	}
	budget := max(40*time.Second, time.Duration(iters)*time.Second)
	modes := []string{stepJournalHalf, stepJournalSynced, stepJournalRenamed, stepWriteHalf, stepWritten,
		stepSynced, stepTruncated, stepJournalUnlinked, "random", "random", ""}
	notCommitted := map[string]bool{stepJournalHalf: true, stepJournalSynced: true}

	dir := t.TempDir()
	spool := filepath.Join(dir, "mail", "user")
	ledger := filepath.Join(dir, "ledger")
	if err := os.MkdirAll(filepath.Dir(spool), 0o755); err != nil {
		t.Fatal(err)
	}
	var initial []string
	var buf bytes.Buffer
	for i := range 6 {
		id := fmt.Sprintf("init%d", i)
		buf.Write(mdaMessage(id, 10+i))
		initial = append(initial, id)
	}
	if err := os.WriteFile(spool, buf.Bytes(), 0o660); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ledger, []byte(strings.Join(initial, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		if err := os.Chown(spool, 1234, 8); err != nil {
			t.Fatal(err)
		}
	}
	o := Options{
		JournalDir:  filepath.Join(dir, "journal"),
		LockTimeout: 20 * time.Second,
		Hostname:    "mboxtest",
		RequireUID:  -1,
		Logger:      discardLog(),
		backoffMin:  time.Millisecond,
		backoffMax:  10 * time.Millisecond,
	}
	o, _ = o.withDefaults()
	if err := ensureDir(o.JournalDir); err != nil {
		t.Fatal(err)
	}
	sf, err := filesFor(o.JournalDir, spool)
	if err != nil {
		t.Fatal(err)
	}
	st0 := statT(t, spool)
	deleted := map[string]bool{}
	var stats crashStats
	next := 0
	start := time.Now()
	defer func() {
		t.Logf("crash loop: %d iterations in %s: %d sessions killed, %d completed; %d deliveries, %d messages removed",
			stats.iterations, time.Since(start).Round(time.Millisecond), stats.killed, stats.completed, stats.delivered, stats.removed)
		t.Logf("crash loop: journals found %d, unfinished journals %d; recoveries: %d rewrites redone (%d re-journaled with mail delivered after the crash), %d already complete, %d unfinished journals discarded",
			stats.journals, stats.tmps, stats.redone, stats.rejournaled, stats.finished, stats.tmpGone)
	}()

	for it := 0; it < iters && time.Since(start) < budget; it++ {
		mode := modes[it%len(modes)]
		var ids []string
		for range 4 {
			ids = append(ids, fmt.Sprintf("m%05d", next))
			next++
		}
		mda := startHelper(t, "mda", "MBOX_SPOOL="+spool, "MBOX_LEDGER="+ledger, "MBOX_IDS="+strings.Join(ids, ","),
			"MBOX_LINES=12", "MBOX_PAUSE_MS=8", "MBOX_FCNTL_ONLY=1")
		run := runCommitHelper(t, spool, o.JournalDir, mode, it%7 == 6)
		stats.iterations++
		if run.killed {
			stats.killed++
		} else {
			stats.completed++
		}
		if exists(sf.journal) {
			stats.journals++
		}
		if exists(sf.tmp) {
			stats.tmps++
		}
		// Let the MDA deliver after the crash, before recovery.
		time.Sleep(time.Duration(rand.IntN(10000)) * time.Microsecond)
		r, err := recoverSpool(context.Background(), spool, &o, sf, o.Logger)
		if err != nil {
			t.Fatalf("iteration %d (%q): recover: %v", it, mode, err)
		}
		stats.redone += b2i(r.redone)
		stats.rejournaled += b2i(r.rejournaled)
		stats.finished += b2i(r.finished)
		stats.tmpGone += b2i(r.tmpRemoved)
		mda.wait(t)
		stats.delivered += len(ids)
		// The next session clears a dotlock left by a session that was
		// killed outside UPDATE.
		s, err := Open(context.Background(), spool, o)
		if err != nil {
			t.Fatalf("iteration %d (%q): open after crash: %v", it, mode, err)
		}
		s.Close()

		b := mustRead(t, spool)
		count, err := verifySpool(b)
		if err != nil {
			t.Fatalf("iteration %d (%q): %v", it, mode, err)
		}
		present := 0
		for _, id := range run.del {
			present += count[id]
		}
		switch {
		case present != 0 && present != len(run.del):
			t.Fatalf("iteration %d (%q): %d of %d deleted messages present: partial delete", it, mode, present, len(run.del))
		case !run.killed && present != 0:
			t.Fatalf("iteration %d (%q): committed deletes still present", it, mode)
		case run.killed && notCommitted[mode] && present == 0 && len(run.del) > 0:
			t.Fatalf("iteration %d (%q): deletes applied before the commit point", it, mode)
		case run.killed && !notCommitted[mode] && mode != "random" && present != 0:
			t.Fatalf("iteration %d (%q): deletes lost after the commit point", it, mode)
		}
		if present == 0 {
			for _, id := range run.del {
				deleted[id] = true
			}
			stats.removed += len(run.del)
		}
		inLedger := map[string]bool{}
		for _, id := range strings.Fields(string(mustRead(t, ledger))) {
			inLedger[id] = true
			want := 1
			if deleted[id] {
				want = 0
			}
			if count[id] != want {
				t.Fatalf("iteration %d (%q): message %s present %d times, want %d", it, mode, id, count[id], want)
			}
		}
		for id := range count {
			if !inLedger[id] {
				t.Fatalf("iteration %d (%q): unknown message %s", it, mode, id)
			}
		}
		st := statT(t, spool)
		if !st.sameFile(st0) || st.uid != st0.uid || st.gid != st0.gid || st.mode != st0.mode {
			t.Fatalf("iteration %d (%q): spool identity changed: %+v, was %+v", it, mode, st, st0)
		}
		if _, err := os.Lstat(spool + ".lock"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("iteration %d (%q): dotlock left behind", it, mode)
		}
		if exists(sf.journal) || exists(sf.tmp) {
			t.Fatalf("iteration %d (%q): journal left behind", it, mode)
		}
	}
	// An MDA can still deliver afterwards, and the result parses.
	if err := deliverPostfix(spool, mdaMessage("final", 3), time.Second, false); err != nil {
		t.Fatal(err)
	}
	if count, err := verifySpool(mustRead(t, spool)); err != nil || count["final"] != 1 {
		t.Fatalf("final delivery: %v %v", count, err)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
