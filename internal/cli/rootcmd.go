package cli

import (
	"os"

	"github.com/spf13/cobra"
)

// NewRootCommand returns the complete popadm command tree wired to the
// process's standard streams, for tools that describe it: man pages and
// shell completions (scripts/gendocs.go). Programs that run popadm should
// call Main, which also formats errors, sets exit codes and closes the
// databases a command opened.
func NewRootCommand() *cobra.Command {
	return newRootCmd(newFactory(os.Stdin, os.Stdout, os.Stderr))
}
