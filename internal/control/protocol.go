// Package control is the administration socket of `popadm serve`: a unix
// socket speaking JSON lines, one request object per line answered by one
// response object per line. The CLI commands `popadm who`, `popadm kick`
// and `popadm reload` are its clients.
//
// Requests:
//
//	{"cmd":"who"}
//	{"cmd":"kick","target":"ann@example.com","reason":"maintenance"}
//	{"cmd":"reload"}
//
// Responses carry "ok"; on failure "error" says why. who answers with
// "sessions", kick with "kicked" (the number of sessions ended), reload
// with "message".
//
// The socket is created with mode 0660 in a directory created with mode
// 0750: whoever may connect may end sessions, so access is limited to the
// server's user and group.
package control

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// DefaultSocket is the path of the control socket when none is configured.
const DefaultSocket = "/run/popadm/control.sock"

// Commands understood by the server.
const (
	CmdWho    = "who"
	CmdKick   = "kick"
	CmdReload = "reload"
)

// maxLine bounds one request or response line.
const maxLine = 1 << 20

// Request is one command sent to the server.
type Request struct {
	// Cmd is CmdWho, CmdKick or CmdReload.
	Cmd string `json:"cmd"`
	// Target selects the sessions of a kick (see ParseTarget).
	Target string `json:"target,omitempty"`
	// Reason is sent to the kicked clients.
	Reason string `json:"reason,omitempty"`
}

// Response is the server's answer to one Request.
type Response struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Sessions answers who.
	Sessions []Session `json:"sessions,omitempty"`
	// Kicked answers kick: how many sessions were ended.
	Kicked int `json:"kicked"`
	// Message answers reload.
	Message string `json:"message,omitempty"`
}

// Session is one connection as listed by who.
type Session struct {
	// ID is the connection id, as in the server log (cid).
	ID string `json:"id"`
	// Service names the listener: pop3, pop3s, poppassd, poppassd-tls.
	Service string `json:"service"`
	// Proto is the protocol: pop3, pop3s or poppassd.
	Proto string `json:"proto"`
	// User is the logged-in user, "" before a successful login.
	User string `json:"user"`
	// Remote is the client address (ip:port).
	Remote string `json:"remote"`
	// Since is when the connection was accepted.
	Since time.Time `json:"since"`
	// TLS reports whether the connection is encrypted (implicit TLS or
	// after STLS).
	TLS bool `json:"tls"`
}

// ErrBadTarget is returned by ParseTarget for an empty or malformed target.
var ErrBadTarget = errors.New("control: bad kick target")

// Target selects sessions for kick: one user, or every client address in
// a network (a single address is a /32 or /128 network).
type Target struct {
	user   string
	prefix netip.Prefix
}

// ParseTarget reads a kick target: "IP/bits" is a network, a bare IP
// address is that address, anything else is a user name, compared without
// regard to case with the name the client logged in with.
func ParseTarget(s string) (Target, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Target{}, fmt.Errorf("%w: empty", ErrBadTarget)
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Target{}, fmt.Errorf("%w: %q is not an IP/mask network", ErrBadTarget, s)
		}
		return Target{prefix: unmapPrefix(p).Masked()}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return Target{prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return Target{}, fmt.Errorf("%w: %q", ErrBadTarget, s)
	}
	return Target{user: s}, nil
}

// unmapPrefix turns an IPv4-mapped IPv6 network into the IPv4 one.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// IsUser reports whether t selects a user rather than a network.
func (t Target) IsUser() bool { return t.user != "" }

// String returns the target in the form ParseTarget reads.
func (t Target) String() string {
	if t.user != "" {
		return t.user
	}
	return t.prefix.String()
}

// Match reports whether a session of user (empty before login) from
// remote is selected.
func (t Target) Match(user string, remote net.Addr) bool {
	if t.user != "" {
		return user != "" && strings.EqualFold(user, t.user)
	}
	if !t.prefix.IsValid() {
		return false
	}
	ap, ok := addrOf(remote)
	return ok && t.prefix.Contains(ap)
}

// addrOf returns the IP address of a network address.
func addrOf(a net.Addr) (netip.Addr, bool) {
	var ip net.IP
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	case *net.IPAddr:
		ip = a.IP
	default:
		return netip.Addr{}, false
	}
	ap, ok := netip.AddrFromSlice(ip)
	return ap.Unmap(), ok
}
