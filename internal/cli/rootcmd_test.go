package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// TestNewRootCommandManPages renders the man pages the way
// scripts/gendocs.go does and checks that every visible command has a
// page with a synopsis and a one-line description.
func TestNewRootCommandManPages(t *testing.T) {
	root := NewRootCommand()
	root.DisableAutoGenTag = true
	dir := t.TempDir()
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := doc.GenManTree(root, &doc.GenManHeader{Section: "1", Date: &date, Source: "popadm"}, dir); err != nil {
		t.Fatal(err)
	}
	var visit func(c *cobra.Command)
	n := 0
	visit = func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c != root {
			return
		}
		n++
		if c.Short == "" {
			t.Errorf("%s has no short description", c.CommandPath())
		}
		page := filepath.Join(dir, strings.ReplaceAll(c.CommandPath(), " ", "-")+".1")
		b, err := os.ReadFile(page)
		if err != nil {
			t.Errorf("no man page for %s: %v", c.CommandPath(), err)
			return
		}
		if s := string(b); !strings.Contains(s, ".SH SYNOPSIS") || !strings.Contains(s, `\fB`+c.CommandPath()) {
			t.Errorf("%s: page lacks the synopsis:\n%s", page, s)
		}
		for _, sub := range c.Commands() {
			visit(sub)
		}
	}
	visit(root)
	for _, want := range []string{"popadm serve", "popadm user add", "popadm db backup"} {
		if _, err := os.Stat(filepath.Join(dir, strings.ReplaceAll(want, " ", "-")+".1")); err != nil {
			t.Errorf("no page for %s", want)
		}
	}
	if n < 10 {
		t.Fatalf("only %d commands visited", n)
	}
}
