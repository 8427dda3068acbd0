package server

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestPlanDropNothing(t *testing.T) {
	p, err := planDrop(&Config{})
	if p != nil || err != nil {
		t.Fatalf("no user: %v, %v", p, err)
	}
	if _, err := planDrop(&Config{Group: "nogroup"}); err == nil || !strings.Contains(err.Error(), "needs a user") {
		t.Fatalf("group alone: %v", err)
	}
}

func TestPlanDropRefusesPAM(t *testing.T) {
	for _, auth := range []string{"pam", "sqlite,pam", "SQLite, PAM"} {
		_, err := planDrop(&Config{User: "nobody", Auth: auth})
		if !errors.Is(err, errPAMNeedsRoot) {
			t.Fatalf("auth %q: err = %v", auth, err)
		}
	}
	if !strings.Contains(errPAMNeedsRoot.Error(), "root") || !strings.Contains(errPAMNeedsRoot.Error(), "shadow") {
		t.Fatalf("message does not explain why: %v", errPAMNeedsRoot)
	}
}

func TestPlanDropBadUsers(t *testing.T) {
	if _, err := planDrop(&Config{User: "popadm-no-such-user"}); err == nil || !strings.Contains(err.Error(), "popadm-no-such-user") {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := planDrop(&Config{User: "root"}); err == nil || !strings.Contains(err.Error(), "uid 0") {
		t.Fatalf("root: %v", err)
	}
	if _, err := planDrop(&Config{User: "nobody", Group: "popadm-no-such-group"}); err == nil || !strings.Contains(err.Error(), "popadm-no-such-group") {
		t.Fatalf("unknown group: %v", err)
	}
}

// TestPlanDropSelf: as a non-root user, naming yourself is a no-op and
// naming anyone else an error.
func TestPlanDropSelf(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("runs as root")
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if p, err := planDrop(&Config{User: me.Username}); p != nil || err != nil {
		t.Fatalf("self: %v, %v", p, err)
	}
	for _, other := range []string{"daemon", "nobody"} {
		if o, err := user.Lookup(other); err != nil || o.Uid == me.Uid {
			continue
		}
		if _, err := planDrop(&Config{User: other}); err == nil || !strings.Contains(err.Error(), "not root") {
			t.Fatalf("other user %s: %v", other, err)
		}
		return
	}
	t.Log("no other user to try")
}

func TestPlanDropAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	for _, name := range []string{"nobody", nobody.Uid} {
		p, err := planDrop(&Config{User: name})
		if err != nil {
			t.Fatal(err)
		}
		if p.uid != uid || p.gid != gid || !slices.Contains(p.groups, gid) || slices.Contains(p.groups, 0) {
			t.Fatalf("%s: plan %+v", name, p)
		}
	}
	p, err := planDrop(&Config{User: "nobody", Group: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if p.gid != 0 || !slices.Contains(p.groups, 0) {
		t.Fatalf("group override: %+v", p)
	}
}

// TestDropApply switches a child process to nobody and checks its
// identity there, and that root cannot be regained.
func TestDropApply(t *testing.T) {
	if os.Getenv("POPADM_TEST_DROP_CHILD") == "1" {
		dropChild()
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDropApply$")
	cmd.Env = append(os.Environ(), "POPADM_TEST_DROP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	want := fmt.Sprintf("uid=%s euid=%s gid=%s egid=%s", nobody.Uid, nobody.Uid, nobody.Gid, nobody.Gid)
	if !strings.Contains(string(out), want) {
		t.Fatalf("child printed %q, want %q", out, want)
	}
	_, groups, _ := strings.Cut(strings.TrimSpace(string(out)), "groups=[")
	for _, g := range strings.Fields(strings.TrimSuffix(groups, "]")) {
		if g == "0" {
			t.Fatalf("root group kept: %q", out)
		}
	}
	if !strings.Contains(string(out), "dropped privileges") {
		t.Fatalf("no log line: %q", out)
	}
}

func dropChild() {
	p, err := planDrop(&Config{User: "nobody"})
	if err == nil {
		err = p.apply(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	groups, _ := os.Getgroups()
	fmt.Printf("uid=%d euid=%d gid=%d egid=%d groups=%v\n", os.Getuid(), os.Geteuid(), os.Getgid(), os.Getegid(), groups)
	os.Exit(0)
}
