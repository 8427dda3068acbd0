package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/popadm/popadm/internal/control"
	"github.com/popadm/popadm/internal/lineserver"
	"github.com/popadm/popadm/internal/tlsutil"
)

// ControlNone as Config.ControlSocket disables the control socket.
const ControlNone = "none"

// sessionSource is a protocol server whose sessions the control socket
// lists and ends (*pop3d.Server, *poppassd.Server).
type sessionSource interface {
	Sessions() []lineserver.SessionInfo
	Kick(match func(lineserver.SessionInfo) bool, reason string) int
}

// namedSource is a sessionSource with its service name.
type namedSource struct {
	name string
	src  sessionSource
}

// controlHandler answers the control socket over the running services.
type controlHandler struct {
	srcs   []namedSource
	reload func() (string, error)
}

// Who implements control.Handler.
func (h *controlHandler) Who() []control.Session {
	var out []control.Session
	for _, ns := range h.srcs {
		for _, si := range ns.src.Sessions() {
			remote := ""
			if si.Remote != nil {
				remote = si.Remote.String()
			}
			out = append(out, control.Session{
				ID: si.ID, Service: ns.name, Proto: si.Proto, User: si.User,
				Remote: remote, Since: si.Since, TLS: si.TLS,
			})
		}
	}
	return out
}

// Kick implements control.Handler: every service.
func (h *controlHandler) Kick(t control.Target, reason string) int {
	n := 0
	for _, ns := range h.srcs {
		n += ns.src.Kick(func(si lineserver.SessionInfo) bool { return t.Match(si.User, si.Remote) }, reason)
	}
	return n
}

// Reload implements control.Handler.
func (h *controlHandler) Reload() (string, error) { return h.reload() }

// listenControl creates the control socket of cfg, or returns nil when it
// is disabled. When a user to switch to is configured, the socket and its
// directory are handed to that user so the server can remove the socket at
// exit. Errors on the default path (not configured explicitly) only
// disable the socket with a warning: the server still starts.
func listenControl(cfg *Config, drop *dropPlan) (net.Listener, error) {
	path := cfg.ControlSocket
	explicit := path != ""
	if !explicit {
		path = control.DefaultSocket
	}
	if path == ControlNone {
		return nil, nil
	}
	_, serr := os.Stat(filepath.Dir(path))
	newDir := errors.Is(serr, os.ErrNotExist)
	ln, err := control.Listen(path)
	if err == nil && drop != nil {
		err = chownControl(path, newDir, drop)
		if err != nil {
			_ = ln.Close()
		}
	}
	if err != nil {
		if explicit {
			return nil, fmt.Errorf("server: control socket: %w (set control-socket none to disable)", err)
		}
		cfg.Logger.Warn("control socket unavailable; who, kick and reload are disabled", "path", path, "err", err)
		return nil, nil
	}
	return ln, nil
}

// chownControl gives the socket, and its directory if Listen created it,
// to the user the server switches to.
func chownControl(path string, newDir bool, drop *dropPlan) error {
	paths := []string{path}
	if newDir {
		paths = append(paths, filepath.Dir(path))
	}
	for _, p := range paths {
		if err := os.Lchown(p, drop.uid, drop.gid); err != nil {
			return fmt.Errorf("server: control socket: chown %s: %w", p, err)
		}
	}
	return nil
}

// serveControl answers the control socket until ctx is done.
func serveControl(ctx context.Context, ln net.Listener, h *controlHandler, log *slog.Logger) {
	log.Info("listening", "service", "control", "addr", ln.Addr().String())
	if err := control.NewServer(h, log).Serve(ctx, ln); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Error("control socket", "err", err)
	}
}

// reloadCert reloads the certificate and key, as SIGHUP and the control
// socket's reload ask, and logs the result; via names the trigger.
func reloadCert(log *slog.Logger, r *tlsutil.Reloader, certFile, via string) (string, error) {
	if r == nil {
		log.Info("reload: no certificate configured", "via", via)
		return "no certificate configured; nothing to reload", nil
	}
	if err := r.Reload(); err != nil {
		log.Error("certificate reload failed; keeping the old one", "err", err, "via", via)
		return "", fmt.Errorf("server: certificate reload failed, keeping the old one: %w", err)
	}
	log.Info("certificate reloaded", "cert", certFile, "via", via)
	return "certificate reloaded: " + certFile, nil
}
