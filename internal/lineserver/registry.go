package lineserver

import (
	"context"
	"errors"
	"net"
	"sort"
	"time"
)

// SessionInfo describes one connection of a Server, for Sessions and Kick.
type SessionInfo struct {
	// ID is the connection id (ConnID).
	ID string
	// Proto is Options.Proto, or what the handler set with SetProto.
	Proto string
	// User is the name the handler set with SetUser after a successful
	// login; "" before.
	User string
	// Remote is the client address.
	Remote net.Addr
	// Since is when the connection was accepted.
	Since time.Time
	// TLS reports whether the connection runs over TLS (implicit TLS, or
	// after StartTLS on a Conn created with NewConn).
	TLS bool
}

// ErrKicked matches (errors.Is) the cause of a connection context that
// Kick cancelled. The cause itself is a *KickError carrying the reason.
var ErrKicked = errors.New("lineserver: session kicked")

// KickError is the cause (context.Cause) of a connection context cancelled
// by Kick.
type KickError struct {
	// Reason is the text the administrator gave, for the client.
	Reason string
}

// Error implements error.
func (e *KickError) Error() string { return "lineserver: session kicked: " + e.Reason }

// Is reports whether target is ErrKicked.
func (e *KickError) Is(target error) bool { return target == ErrKicked }

// KickReason reports whether ctx, or a parent of it, was cancelled by Kick
// and returns the reason given.
func KickReason(ctx context.Context) (string, bool) {
	if ctx.Err() == nil {
		return "", false
	}
	var ke *KickError
	if errors.As(context.Cause(ctx), &ke) {
		return ke.Reason, true
	}
	return "", false
}

// SetUser records the logged-in user of the connection ctx belongs to, as
// shown by Sessions and matched by Kick. It does nothing for a context not
// from a Server.
func SetUser(ctx context.Context, user string) {
	if slot, ok := ctx.Value(slotKey{}).(*connSlot); ok {
		slot.mu.Lock()
		slot.user = user
		slot.mu.Unlock()
	}
}

// SetProto replaces Options.Proto for the connection ctx belongs to (for
// example "pop3s" for an implicit-TLS connection of a POP3 server). It does
// nothing for a context not from a Server.
func SetProto(ctx context.Context, proto string) {
	if slot, ok := ctx.Value(slotKey{}).(*connSlot); ok {
		slot.mu.Lock()
		slot.proto = proto
		slot.mu.Unlock()
	}
}

// Sessions returns a snapshot of the connections being served, oldest
// first.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	out := make([]SessionInfo, 0, len(s.conns))
	for t := range s.conns {
		out = append(out, t.info())
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Since.Equal(out[j].Since) {
			return out[i].Since.Before(out[j].Since)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Kick cancels the context of every connection for which match returns
// true, with a *KickError carrying reason as the cause, and returns how
// many it cancelled. Handlers see their context cancelled like at
// Shutdown (KickReason tells them apart): they end the session at the next
// command boundary, typically after one last line with the reason. Kick
// does not wait for them. match is called with the Server's lock held and
// must not call the Server.
func (s *Server) Kick(match func(SessionInfo) bool, reason string) int {
	cause := &KickError{Reason: reason}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for t := range s.conns {
		if match(t.info()) {
			t.slot.kick(cause)
			n++
		}
	}
	return n
}

// info returns the metadata of t.
func (t *tracked) info() SessionInfo {
	t.slot.mu.Lock()
	defer t.slot.mu.Unlock()
	return SessionInfo{
		ID:     t.id,
		Proto:  t.slot.proto,
		User:   t.slot.user,
		Remote: t.nc.RemoteAddr(),
		Since:  t.slot.since,
		TLS:    t.slot.tls,
	}
}

// setTLS records that the connection runs over TLS.
func (s *connSlot) setTLS() {
	s.mu.Lock()
	s.tls = true
	s.mu.Unlock()
}

// armKick sets the cancel function of the connection context, and applies
// a Kick that came before it.
func (s *connSlot) armKick(cancel context.CancelCauseFunc) {
	s.mu.Lock()
	s.cancel = cancel
	kicked := s.kicked
	s.mu.Unlock()
	if kicked != nil {
		cancel(kicked)
	}
}

// kick cancels the connection context with cause, or remembers cause until
// armKick.
func (s *connSlot) kick(cause error) {
	s.mu.Lock()
	cancel := s.cancel
	if cancel == nil {
		s.kicked = cause
	}
	s.mu.Unlock()
	if cancel != nil {
		cancel(cause)
	}
}
