package maildrop

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestHelperCommit is not a test: it is the child process of
// TestKilledDuringCommit, selected by MAILDROP_HELPER_COMMIT_DIR. It
// deletes every even-numbered message.
func TestHelperCommit(t *testing.T) {
	dir := os.Getenv("MAILDROP_HELPER_COMMIT_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	m, err := Open(context.Background(), dir, Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	var del []int
	for i := range m.Messages() {
		if i%2 == 0 {
			del = append(del, i)
		}
	}
	fmt.Println("committing")
	if err := m.Commit(del); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	m.Close()
	fmt.Println("done")
	os.Exit(0)
}

func TestKilledDuringCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	const n = 400
	for round := range 3 {
		dir := newMaildir(t)
		content := map[string]string{}
		for i := range n {
			name := fmt.Sprintf("1700%06d.M%dP1.h", i, i)
			body := fmt.Sprintf("Subject: %d\n\n%s\n", i, name)
			put(t, dir, "new", name, body)
			content[name] = body
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCommit$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MAILDROP_HELPER_COMMIT_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || line != "committing\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("helper said %q, %v", line, err)
		}
		time.Sleep(time.Duration(round) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()

		// Every message is either gone (and was marked) or intact.
		names := listDir(t, dir, "new")
		left := map[string]bool{}
		for _, name := range names {
			b, err := os.ReadFile(filepath.Join(dir, "new", name))
			if err != nil {
				t.Fatal(err)
			}
			if want, ok := content[name]; !ok || string(b) != want {
				t.Fatalf("round %d: %s is not an original message: %q", round, name, b)
			}
			left[name] = true
		}
		for i := range n {
			name := fmt.Sprintf("1700%06d.M%dP1.h", i, i)
			if i%2 == 1 && !left[name] {
				t.Fatalf("round %d: unmarked message %s was removed", round, name)
			}
		}
		// The dead session's lock is broken at once, and the maildrop
		// opens with exactly the surviving messages.
		m := openT(t, dir, Options{})
		if got := len(m.Messages()); got != len(names) {
			t.Fatalf("round %d: %d messages listed, %d files", round, got, len(names))
		}
		m.Close()
		t.Logf("round %d: %d of %d marked messages removed before the kill", round, n-len(names), n/2)
	}
}
