package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/authdb"
)

func newCmdVersion(f *factory) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the popadm version",
		Example: `  popadm version --json`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.jsonMode() {
				return f.printJSON(map[string]any{
					"version": Version, "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH,
					"schema_version": authdb.SchemaVersion(),
				})
			}
			_, err := fmt.Fprintf(f.out, "popadm %s (%s %s/%s, schema %d)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, authdb.SchemaVersion())
			return err
		},
	}
}
