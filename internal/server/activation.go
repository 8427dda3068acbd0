package server

import (
	"fmt"
	"net"
	"strings"

	"github.com/coreos/go-systemd/v22/activation"
)

// The service names of `popadm serve`: the keys of the bound-address map
// given to Config.Ready and the FileDescriptorName= values of the systemd
// socket units.
const (
	svcPOP3        = "pop3"
	svcPOP3S       = "pop3s"
	svcPoppassd    = "poppassd"
	svcPoppassdTLS = "poppassd-tls"
)

// serviceNames lists the services in their start order.
func serviceNames() []string {
	return []string{svcPOP3, svcPOP3S, svcPoppassd, svcPoppassdTLS}
}

// listenerSet holds the bound listeners of each service.
type listenerSet map[string][]net.Listener

// close closes every listener; closing one twice is harmless.
func (ls listenerSet) close() {
	for _, lns := range ls {
		for _, ln := range lns {
			ln.Close()
		}
	}
}

// enabledServices reports which services cfg runs. The TLS variants run
// only when a certificate is configured.
func enabledServices(cfg *Config) map[string]bool {
	tls := cfg.TLSCert != "" || cfg.TLSKey != ""
	return map[string]bool{
		svcPOP3:        cfg.POP3,
		svcPOP3S:       cfg.POP3 && tls,
		svcPoppassd:    cfg.Poppassd,
		svcPoppassdTLS: cfg.Poppassd && tls,
	}
}

// assignFDs maps the names of the sockets systemd passed (LISTEN_FDNAMES,
// set by FileDescriptorName=) to services. A socket named after a service
// goes to it. Any other name (none given, or systemd's default, the socket
// unit's name) is accepted only when exactly one of pop3d and poppassd
// runs, and goes to its cleartext service. A socket for a service that is
// not enabled is an error: its connections would never be answered.
func assignFDs(names []string, enabled map[string]bool) ([]string, error) {
	var single string
	switch {
	case enabled[svcPOP3] && !enabled[svcPoppassd]:
		single = svcPOP3
	case enabled[svcPoppassd] && !enabled[svcPOP3]:
		single = svcPoppassd
	}
	out := make([]string, len(names))
	for i, n := range names {
		svc := n
		if !isServiceName(n) {
			if single == "" {
				return nil, fmt.Errorf("server: socket activation: socket %d is named %q; with more than one service enabled every socket needs FileDescriptorName= set to one of %s",
					i+3, n, strings.Join(serviceNames(), ", "))
			}
			svc = single
		}
		if !enabled[svc] {
			return nil, fmt.Errorf("server: socket activation: received a %s socket but the %s service is not enabled%s",
				svc, svc, tlsHint(svc))
		}
		out[i] = svc
	}
	return out, nil
}

func isServiceName(n string) bool {
	for _, s := range serviceNames() {
		if n == s {
			return true
		}
	}
	return false
}

func tlsHint(svc string) string {
	if svc == svcPOP3S || svc == svcPoppassdTLS {
		return " (it needs tls-cert and tls-key)"
	}
	return ""
}

// activatedListeners takes the listening sockets systemd passed (see
// sd_listen_fds(3)) and unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES
// so no child process inherits them. It returns nil when the process was
// not socket-activated.
func activatedListeners(enabled map[string]bool) (listenerSet, error) {
	files := activation.Files(true)
	if len(files) == 0 {
		return nil, nil
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name()
		if strings.HasPrefix(names[i], "LISTEN_FD_") || names[i] == "unknown" {
			names[i] = ""
		}
	}
	closeFiles := func() {
		for _, f := range files {
			f.Close()
		}
	}
	svcs, err := assignFDs(names, enabled)
	if err != nil {
		closeFiles()
		return nil, err
	}
	ls := listenerSet{}
	for i, f := range files {
		ln, err := net.FileListener(f)
		if err != nil {
			closeFiles()
			ls.close()
			return nil, fmt.Errorf("server: socket activation: socket %d (%s): %w (want a listening stream socket: ListenStream=)", i+3, svcs[i], err)
		}
		f.Close() // FileListener holds its own descriptor
		ls[svcs[i]] = append(ls[svcs[i]], ln)
	}
	return ls, nil
}

// bindListeners returns the listeners of every enabled service: the
// sockets systemd passed, and for each service that received none, its
// configured addresses bound now. poppassd must be on loopback unless
// PoppassdAllowRemote is set, whichever way its socket came.
func bindListeners(cfg *Config) (listenerSet, error) {
	enabled := enabledServices(cfg)
	ls, err := activatedListeners(enabled)
	if err != nil {
		return nil, err
	}
	if ls == nil {
		ls = listenerSet{}
	}
	configured := map[string][]string{
		svcPOP3:        cfg.POP3Listen,
		svcPOP3S:       cfg.POP3SListen,
		svcPoppassd:    cfg.PoppassdListen,
		svcPoppassdTLS: cfg.PoppassdTLSListen,
	}
	if !cfg.PoppassdAllowRemote {
		for _, svc := range []string{svcPoppassd, svcPoppassdTLS} {
			if !enabled[svc] {
				continue
			}
			for _, ln := range ls[svc] {
				if !isLoopbackAddr(ln.Addr()) {
					ls.close()
					return nil, fmt.Errorf("server: %s socket %s is not loopback; poppassd carries passwords in clear text, set poppassd-allow-remote (and prefer the TLS listener) to listen there", svc, ln.Addr())
				}
			}
			if len(ls[svc]) > 0 {
				continue
			}
			for _, a := range configured[svc] {
				if !isLoopbackListen(a) {
					ls.close()
					return nil, fmt.Errorf("server: poppassd listen address %q is not loopback; poppassd carries passwords in clear text, set poppassd-allow-remote (and prefer the TLS listener) to listen there", a)
				}
			}
		}
	}
	for _, svc := range serviceNames() {
		if !enabled[svc] || len(ls[svc]) > 0 {
			continue
		}
		for _, a := range configured[svc] {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				ls.close()
				return nil, fmt.Errorf("server: listen %s on %s: %w", svc, a, err)
			}
			ls[svc] = append(ls[svc], ln)
		}
	}
	return ls, nil
}

// isLoopbackAddr reports whether a bound address is a loopback one.
func isLoopbackAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
