package socketmap

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// SocketMode is the permission of a unix socket made by Listen: anyone on
// the host may connect. The maps reveal only which addresses exist, which
// the SMTP server itself reveals at RCPT, and no credentials.
const SocketMode os.FileMode = 0o666

// Listen opens the listener for a socketmap address: "unix:/path" (the
// socket is made mode SocketMode; a stale socket file nobody answers on is
// replaced) or "inet:127.0.0.1:port" (loopback only).
func Listen(addr string) (net.Listener, error) {
	switch {
	case strings.HasPrefix(addr, "unix:"):
		path := strings.TrimPrefix(addr, "unix:")
		if path == "" || !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("socketmap: listen %q: want an absolute socket path", addr)
		}
		if err := removeStale(path); err != nil {
			return nil, err
		}
		ln, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("socketmap: listen %s: %w", addr, err)
		}
		if err := os.Chmod(path, SocketMode); err != nil {
			ln.Close()
			return nil, fmt.Errorf("socketmap: chmod %s: %w", path, err)
		}
		return ln, nil
	case strings.HasPrefix(addr, "inet:"):
		hp := strings.TrimPrefix(addr, "inet:")
		host, _, err := net.SplitHostPort(hp)
		if err != nil {
			return nil, fmt.Errorf("socketmap: listen %q: %w", addr, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("socketmap: listen %q: the protocol is unauthenticated, listen on loopback or a unix socket", addr)
		}
		ln, err := net.Listen("tcp", hp)
		if err != nil {
			return nil, fmt.Errorf("socketmap: listen %s: %w", addr, err)
		}
		return ln, nil
	}
	return nil, fmt.Errorf("socketmap: listen %q: want unix:/path or inet:127.0.0.1:port", addr)
}

// removeStale deletes a leftover socket file that no server answers on. A
// live socket or any other kind of file is an error.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("socketmap: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("socketmap: %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("socketmap: %s: another server is listening", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("socketmap: remove stale socket: %w", err)
	}
	return nil
}
