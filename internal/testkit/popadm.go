package testkit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// popadmPkg is the import path of the popadm command.
const popadmPkg = "github.com/popadm/popadm/cmd/popadm"

// build is the one build of the popadm binary per test process; it is
// shared by every test of the process, as `go build` is too slow to run
// per test.
var build struct {
	once sync.Once
	path string
	err  error
}

// Popadm returns the popadm binary to test: $POPADM_BIN when set (make
// test sets it), otherwise one built once per test process into a new
// temporary directory.
func Popadm(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("POPADM_BIN"); b != "" {
		return b
	}
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "popadm-test-bin")
		if err != nil {
			build.err = fmt.Errorf("testkit: build popadm: %w", err)
			return
		}
		build.path = filepath.Join(dir, "popadm")
		out, err := exec.Command("go", "build", "-o", build.path, popadmPkg).CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("testkit: go build: %w\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// RunPopadm runs the popadm binary with args and stdin and returns its
// stdout, its stderr and its exit code; t fails when it cannot run.
func RunPopadm(t testing.TB, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(Popadm(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return so.String(), se.String(), code
}

// CLI runs the popadm binary on one account database.
type CLI struct {
	// T is the test that fails when the binary cannot run, or when Must
	// sees a non-zero exit.
	T testing.TB
	// DB is the database path, passed as --db.
	DB string
}

// Run runs `popadm --db DB args...` with stdin and returns its stdout, its
// stderr and its exit code.
func (c CLI) Run(stdin string, args ...string) (stdout, stderr string, code int) {
	c.T.Helper()
	return RunPopadm(c.T, stdin, append([]string{"--db", c.DB}, args...)...)
}

// Must is Run that fails T, with both outputs, unless popadm exits 0; it
// returns stdout.
func (c CLI) Must(stdin string, args ...string) string {
	c.T.Helper()
	out, errOut, code := c.Run(stdin, args...)
	if code != 0 {
		c.T.Fatalf("popadm %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return out
}
