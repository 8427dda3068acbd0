package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// ErrUnreachable is returned by the Client when nothing answers on the
// socket (no server running, wrong path, no permission).
var ErrUnreachable = errors.New("control: server unreachable")

// ServerError is a request the server refused or failed (Response.Error).
type ServerError struct {
	// Msg is the server's error text.
	Msg string
}

// Error implements error.
func (e *ServerError) Error() string { return e.Msg }

// defaultClientTimeout bounds a request when ctx has no deadline.
const defaultClientTimeout = 30 * time.Second

// Client sends requests to the control socket at Path, one connection per
// request.
type Client struct {
	// Path is the socket path.
	Path string
}

// Do sends req and returns the server's response. A refused request is a
// *ServerError; a socket nobody answers on is ErrUnreachable.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, c.Path, err)
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultClientTimeout)
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("control: encode request: %w", err)
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("control: send %s: %w", req.Cmd, err)
	}
	line, err := readLine(bufio.NewReader(conn))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("control: %s: %w", req.Cmd, cerr)
		}
		return nil, fmt.Errorf("control: %s: no response: %w", req.Cmd, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("control: %s: malformed response: %w", req.Cmd, err)
	}
	if !resp.OK {
		return &resp, &ServerError{Msg: resp.Error}
	}
	return &resp, nil
}

// Who lists the server's sessions.
func (c *Client) Who(ctx context.Context) ([]Session, error) {
	resp, err := c.Do(ctx, Request{Cmd: CmdWho})
	if err != nil {
		return nil, err
	}
	return resp.Sessions, nil
}

// Kick ends the sessions target selects (see ParseTarget) and returns how
// many there were.
func (c *Client) Kick(ctx context.Context, target, reason string) (int, error) {
	resp, err := c.Do(ctx, Request{Cmd: CmdKick, Target: target, Reason: reason})
	if err != nil {
		return 0, err
	}
	return resp.Kicked, nil
}

// Reload asks the server to reload its certificate, as SIGHUP does, and
// returns the server's description of the result.
func (c *Client) Reload(ctx context.Context) (string, error) {
	resp, err := c.Do(ctx, Request{Cmd: CmdReload})
	if err != nil {
		return "", err
	}
	return resp.Message, nil
}
