package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/popadm/popadm/internal/control"
)

func init() {
	extraCommands = append(extraCommands, newCmdWho, newCmdKick, newCmdReload)
}

// addControlFlag registers --control-socket on cmd.
func addControlFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVar(path, "control-socket", "",
		"control socket `path` of popadm serve (env POPADM_CONTROL; default "+control.DefaultSocket+")")
}

// controlClient returns the client for the socket named by the flag, the
// environment or the default.
func (f *factory) controlClient(path string) *control.Client {
	if path == "" {
		path = f.getenv("POPADM_CONTROL")
	}
	if path == "" {
		path = control.DefaultSocket
	}
	return &control.Client{Path: path}
}

// controlError maps a control client error to its exit code: 75 when the
// server cannot be reached, 1 for a request the server failed.
func controlError(c *control.Client, err error) error {
	if errors.Is(err, control.ErrUnreachable) {
		return &exitError{code: ExitTempFail, short: "server unreachable",
			fields: map[string]any{"path": c.Path},
			err:    fmt.Errorf("cannot connect to the control socket %s: is popadm serve running? (%w)", c.Path, err)}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &exitError{code: ExitTempFail, short: "server did not answer", fields: map[string]any{"path": c.Path}, err: err}
	}
	return withSubject(err, "path", c.Path)
}

func newCmdWho(f *factory) *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "who",
		Short: "List the sessions of the running server",
		Long: `List the open POP3 and poppassd connections of popadm serve, through its
control socket: service, protocol, user (empty before login), client
address, TLS, and since when. With --json, an array of objects.`,
		Example: `  popadm who
  popadm who --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := f.controlClient(socket)
			sessions, err := c.Who(cmd.Context())
			if err != nil {
				return controlError(c, err)
			}
			if sessions == nil {
				sessions = []control.Session{}
			}
			if f.jsonMode() {
				return f.printJSON(sessions)
			}
			rows := make([][]string, 0, len(sessions))
			for _, s := range sessions {
				rows = append(rows, []string{s.User, s.Proto, s.Service, s.Remote, yesNo(s.TLS),
					fmtTime(s.Since, "-"), s.ID})
			}
			return f.printTable([]string{"USER", "PROTO", "SERVICE", "REMOTE", "TLS", "SINCE", "ID"}, rows)
		},
	}
	addControlFlag(cmd, &socket)
	return cmd
}

func newCmdKick(f *factory) *cobra.Command {
	var socket, reason string
	cmd := &cobra.Command{
		Use:   "kick USER|IP|IP/mask",
		Short: "End the sessions of a user or a client network",
		Long: `End every session of a user (compared without regard to case with the name
the client logged in with), or every connection from an address or
network, in all services of popadm serve. A POP3 client reads
"-ERR [SYS/TEMP] <reason>" and the connection closes without UPDATE:
messages it marked deleted stay. A poppassd client reads "500 <reason>".
Exit 68 when no session matched.`,
		Example: `  popadm kick ann@example.com
  popadm kick 192.0.2.7 --reason "maintenance, retry in 5 minutes"
  popadm kick 2001:db8::/32 --json`,
		Args: exactArgs(1, "USER|IP|IP/mask"),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := args[0]
			if _, err := control.ParseTarget(target); err != nil {
				return &exitError{code: ExitDataErr, short: "bad kick target",
					fields: map[string]any{"target": target}, err: err}
			}
			c := f.controlClient(socket)
			n, err := c.Kick(cmd.Context(), target, reason)
			if err != nil {
				return withSubject(controlError(c, err), "target", target)
			}
			if n == 0 {
				return &exitError{code: ExitNoHost, short: "no session matched",
					fields: map[string]any{"target": target},
					err:    fmt.Errorf("%s: no session matched", target)}
			}
			return f.done(map[string]any{"target": target, "kicked": n},
				"kicked %d %s of %s", n, plural(n, "session"), target)
		},
	}
	addControlFlag(cmd, &socket)
	cmd.Flags().StringVar(&reason, "reason", "", "`text` sent to the clients (default \"disconnected by the administrator\")")
	return cmd
}

func newCmdReload(f *factory) *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Reload the TLS certificate of the running server (like SIGHUP)",
		Long: `Ask popadm serve, through its control socket, to reload its TLS certificate
and key as SIGHUP does. Sessions are not interrupted. If the new files
cannot be loaded, the server keeps the old certificate and the command
fails.`,
		Example: `  popadm reload`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := f.controlClient(socket)
			msg, err := c.Reload(cmd.Context())
			if err != nil {
				return controlError(c, err)
			}
			return f.done(map[string]any{"message": msg}, "%s", msg)
		},
	}
	addControlFlag(cmd, &socket)
	return cmd
}

// plural returns word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
