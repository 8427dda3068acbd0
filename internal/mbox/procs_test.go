package mbox

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperMDA delivers the messages MBOX_IDS (comma-separated) to
// MBOX_SPOOL, MBOX_LINES lines each, with random pauses of up to
// MBOX_PAUSE_MS, appending each ID to MBOX_LEDGER after the delivery's
// locks are released.
func helperMDA() int {
	spool, ledger := os.Getenv("MBOX_SPOOL"), os.Getenv("MBOX_LEDGER")
	lines, _ := strconv.Atoi(os.Getenv("MBOX_LINES"))
	pause, _ := strconv.Atoi(os.Getenv("MBOX_PAUSE_MS"))
	fcntlOnly := os.Getenv("MBOX_FCNTL_ONLY") == "1"
	for _, id := range strings.Split(os.Getenv("MBOX_IDS"), ",") {
		if pause > 0 {
			time.Sleep(time.Duration(rand.IntN(pause*1000)) * time.Microsecond)
		}
		n := lines
		if rand.IntN(8) == 0 {
			n = lines * 40 // now and then a bigger message
		}
		dotWait := 30 * time.Millisecond
		if fcntlOnly {
			dotWait = 3 * time.Millisecond
		}
		if err := deliverPostfix(spool, mdaMessage(id, n), dotWait, fcntlOnly); err != nil {
			fmt.Fprintln(os.Stderr, "mda:", err)
			return 1
		}
		if ledger != "" {
			lf, err := os.OpenFile(ledger, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				fmt.Fprintln(os.Stderr, "mda:", err)
				return 1
			}
			fmt.Fprintln(lf, id)
			lf.Close()
		}
	}
	return 0
}

// helperHold takes the spool locks the way Postfix does (dotlock with
// O_EXCL if MBOX_HOLD_DOT=1, open O_APPEND, classic F_SETLK if
// MBOX_HOLD_FCNTL=1), says "held", waits for its stdin to close, then
// appends the message MBOX_APPEND (if set), fsyncs and unlocks.
func helperHold() int {
	spool := os.Getenv("MBOX_SPOOL")
	fail := func(err error) int { fmt.Println("error:", err); return 1 }
	dot := spool + ".lock"
	if os.Getenv("MBOX_HOLD_DOT") == "1" {
		f, err := os.OpenFile(dot, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0)
		if err != nil {
			return fail(err)
		}
		f.Close()
		defer os.Remove(dot)
	}
	f, err := os.OpenFile(spool, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fail(err)
	}
	if os.Getenv("MBOX_HOLD_FCNTL") == "1" {
		if err := classicLock(f, unix.F_WRLCK, 5*time.Second); err != nil {
			return fail(err)
		}
	}
	fmt.Println("held")
	io.Copy(io.Discard, os.Stdin)
	if id := os.Getenv("MBOX_APPEND"); id != "" {
		if _, err := f.Write(mdaMessage(id, 3)); err != nil {
			return fail(err)
		}
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := classicUnlock(f); err != nil {
		return fail(err)
	}
	f.Close()
	fmt.Println("done")
	return 0
}

// messageID extracts the Message-ID local part of an mdaMessage.
var messageID = regexp.MustCompile(`(?m)^Message-ID: <([^@>]+)@test>\r?$`)

// helperCommit is the session of the crash test: it opens MBOX_SPOOL,
// picks a random set of messages, or those listed in MBOX_DELETE
// (reporting "del <ids>"), says "commit",
// and commits. With CRASH_AT set it kills itself with SIGKILL right after
// that UPDATE step.
func helperCommit() int {
	o := Options{
		JournalDir:  os.Getenv("MBOX_JOURNAL"),
		LockTimeout: 20 * time.Second,
		Hostname:    "mboxtest",
		RequireUID:  -1,
		backoffMin:  time.Millisecond,
		backoffMax:  10 * time.Millisecond,
	}
	at := os.Getenv("CRASH_AT")
	o.crash = func(step string) {
		if step == at {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never returns
		}
	}
	s, err := Open(context.Background(), os.Getenv("MBOX_SPOOL"), o)
	if err != nil {
		fmt.Println("err open:", err)
		return 1
	}
	defer s.Close()
	all := os.Getenv("MBOX_DELETE_ALL") == "1"
	var fixed []int // MBOX_DELETE: the indexes to delete
	for _, f := range strings.Split(os.Getenv("MBOX_DELETE"), ",") {
		if n, err := strconv.Atoi(f); err == nil {
			fixed = append(fixed, n)
		}
	}
	var del []int
	var ids []string
	for i := range s.Messages() {
		r, err := s.Open(i)
		if err != nil {
			fmt.Println("err read:", err)
			return 1
		}
		b, err := io.ReadAll(r)
		if err != nil {
			fmt.Println("err read:", err)
			return 1
		}
		m := messageID.FindSubmatch(b)
		if m == nil {
			fmt.Printf("err message %d has no Message-ID\n", i)
			return 1
		}
		if all || fixed == nil && rand.IntN(5) < 2 || slices.Contains(fixed, i) {
			del = append(del, i)
			ids = append(ids, string(m[1]))
		}
	}
	if len(del) == 0 && len(s.Messages()) > 0 {
		del = append(del, 0)
		r, _ := s.Open(0)
		b, _ := io.ReadAll(r)
		ids = append(ids, string(messageID.FindSubmatch(b)[1]))
	}
	fmt.Println("del", strings.Join(ids, " "))
	fmt.Println("commit")
	if err := s.Commit(del); err != nil {
		fmt.Println("err commit:", err)
		return 1
	}
	fmt.Println("ok")
	return 0
}

// helper is a running helper process.
type helper struct {
	cmd   *exec.Cmd
	out   *bufio.Reader
	stdin io.WriteCloser
}

// startHelper re-executes the test binary as helper name with env.
func startHelper(t testing.TB, name string, env ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	// Under -race, a process otherwise sleeps a second before it exits.
	race := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(os.Environ(), append([]string{"MBOX_HELPER=" + name, "GORACE=" + race}, env...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, out: bufio.NewReader(out), stdin: stdin}
	t.Cleanup(func() {
		h.stdin.Close()
		h.cmd.Process.Kill()
		h.cmd.Wait()
	})
	return h
}

// expect reads one line from the helper and fails unless it is want.
func (h *helper) expect(t testing.TB, want string) {
	t.Helper()
	line, err := h.out.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != want {
		t.Fatalf("helper said %q (%v), want %q", line, err, want)
	}
}

// wait closes the helper's stdin and waits for it to exit successfully.
func (h *helper) wait(t testing.TB) {
	t.Helper()
	h.stdin.Close()
	rest, _ := io.ReadAll(h.out)
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("helper failed: %v; output %q", err, rest)
	}
}
