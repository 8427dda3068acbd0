// Package lineserver is the connection layer shared by the line-oriented
// protocol servers (POP3 and poppassd).
//
// A Server owns listeners and connections: Serve runs an accept loop with
// a 5 ms to 1 s backoff on temporary errors and returns ErrServerClosed once
// Close or Shutdown was called; it never spins on a closed listener. Every
// accepted connection gets an id (ConnID), a context that is cancelled by
// Shutdown and Close, global and per-IP connection limits (Options.MaxConns,
// Options.MaxConnsPerIP) and a panic guard that logs the stack and lets the
// protocol write one last error line (Options.OnPanic) before the
// connection is closed.
//
// The Server keeps a registry of its connections for administration:
// Sessions returns a snapshot (id, proto, user, client address, start,
// TLS); handlers record the logged-in user with SetUser (and may refine the
// proto with SetProto), TLS is noted by Conn itself. Kick cancels the
// contexts of the connections a predicate selects with a *KickError cause,
// which handlers tell apart from Shutdown with KickReason to send one last
// line with the reason.
//
// A Conn wraps a net.Conn for line I/O:
//
//   - ReadLine reads one line of at most max octets (terminator included)
//     with a read deadline per call. It accepts CRLF and bare LF, never
//     buffers more than max octets of a line, returns ErrLineTooLong for an
//     over-long line (the caller replies once and closes: the tail of the
//     line is never read as a new command) and io.ErrUnexpectedEOF for a
//     final line cut off without a line end (never executed).
//   - WriteLine and Printf buffer single response lines; Flush sends them
//     with a per-write deadline. Stream gives one longer deadline to a
//     multi-line response of unbounded size.
//   - StartTLS runs the server side of a TLS handshake and rebuilds the
//     reader, so plaintext pipelined after a STARTTLS-style command is
//     discarded and never read as a command (RFC 2595 §4, CVE-2011-0411).
//   - Cancelling the context passed to NewConn interrupts a pending or
//     future read (the next ReadLine returns the context's error), while a
//     write in progress runs to completion, bounded by its own deadline.
//     Shutdown uses this to end idle sessions at a command boundary.
//
// StdioConn turns stdin/stdout into a net.Conn for inetd mode.
package lineserver
