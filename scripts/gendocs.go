//go:build ignore

// Gendocs writes the man pages of every popadm command to docs/man and the
// bash, zsh and fish completion scripts to scripts/completions. Run it
// from the repository root with `make docs` (go run scripts/gendocs.go).
//
// The output is reproducible: the page date is SOURCE_DATE_EPOCH when set,
// otherwise the date of the last commit, and environment variables that
// change flag defaults are cleared first.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/popadm/popadm/internal/cli"
)

const (
	manDir        = "docs/man"
	completionDir = "scripts/completions"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "POPADM_") {
			os.Unsetenv(name)
		}
	}
	root := cli.NewRootCommand()
	root.DisableAutoGenTag = true
	// The completion command is added by cobra when the program runs;
	// add it here so it has a page too.
	root.InitDefaultCompletionCmd()

	date, err := pageDate()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(manDir, 0o755); err != nil {
		return fmt.Errorf("man: %w", err)
	}
	old, err := filepath.Glob(filepath.Join(manDir, "*.1"))
	if err != nil {
		return fmt.Errorf("man: %w", err)
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("man: remove stale page: %w", err)
		}
	}
	header := &doc.GenManHeader{
		Section: "1",
		Date:    &date,
		Source:  "popadm",
		Manual:  "popadm manual",
	}
	if err := doc.GenManTree(root, header, manDir); err != nil {
		return fmt.Errorf("man: %w", err)
	}
	pages, _ := filepath.Glob(filepath.Join(manDir, "*.1"))

	if err := os.MkdirAll(completionDir, 0o755); err != nil {
		return fmt.Errorf("completions: %w", err)
	}
	gens := []struct {
		file string
		gen  func(*os.File) error
	}{
		{"popadm.bash", func(f *os.File) error { return root.GenBashCompletionV2(f, true) }},
		{"popadm.zsh", func(f *os.File) error { return root.GenZshCompletion(f) }},
		{"popadm.fish", func(f *os.File) error { return root.GenFishCompletion(f, true) }},
	}
	for _, g := range gens {
		if err := writeFile(filepath.Join(completionDir, g.file), g.gen); err != nil {
			return fmt.Errorf("completions: %w", err)
		}
	}
	fmt.Printf("wrote %d man pages to %s and %d completion scripts to %s\n", len(pages), manDir, len(gens), completionDir)
	return nil
}

// pageDate is the date printed in the man pages.
func pageDate() (time.Time, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	out, err := exec.Command("git", "log", "-1", "--format=%ct").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil {
			return time.Unix(n, 0).UTC(), nil
		}
	}
	return time.Now().UTC(), nil
}

// writeFile writes path through gen, replacing it only when complete.
func writeFile(path string, gen func(*os.File) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := gen(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("generate %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
