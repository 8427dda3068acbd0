// Package poppassd implements a server for the Eudora password-change
// protocol ("poppassd", TCP port 106), as spoken by Eudora, Roundcube,
// Horde, SquirrelMail, RainLoop/SnappyMail and Afterlogic.
//
// There is no RFC. The protocol is what Steve Dorner's description and the
// C servers (Norstad, Debian 1.8.5, poppassd-ceti, qpopper) made of it; this
// package keeps their reply texts and fixes their known flaws. A complete
// successful conversation (S: server, C: client, every line ends in CRLF
// from the server and in CRLF or a bare LF from the client):
//
//	S: 200 poppassd v1.0 hello, who are you?
//	C: user alice@example.com
//	S: 200 Your password please.
//	C: pass old secret
//	S: 200 Your new password please.
//	C: newpass new secret with spaces
//	S: 200 Password changed, thank-you.
//	C: quit
//	S: 200 Bye.
//	   (server closes)
//
// A failed one, byte for byte the same for an unknown user, a wrong
// password, a disabled account and an account that may not change its
// password, with the same delay before the reply and the same close after
// it:
//
//	S: 200 poppassd v1.0 hello, who are you?
//	C: user alice@example.com
//	S: 200 Your password please.
//	C: pass wrong
//	   (Options.FailureDelay, default 3 s, counted from the receipt of "pass")
//	S: 500 Old password is incorrect.
//	   (server closes)
//
// A new password refused by the backend's policy:
//
//	C: newpass abc
//	S: 500 Password must have at least 8 characters.
//	   (server closes)
//
// Rules:
//
//   - Replies are exactly one line, "200 <text>" for success and
//     "500 <text>" for every error. Nothing else (no 1xx/3xx/4xx: Horde
//     accepts only 200/220/250/300 and poppass.cgi hangs on 300), no
//     multi-line replies. The only unsolicited line is the 500 sent before
//     the server closes a connection that timed out ("500 Timeout, closing
//     connection.") or at shutdown ("500 Server shutting down.").
//   - After every 500 the server closes the connection. Afterlogic reads
//     after a 500 until EOF and would otherwise wait for its timeout.
//   - Keywords are case-insensitive (ASCII only): USER, user, User.
//   - The argument is everything after the first space, verbatim: inner and
//     trailing spaces belong to it, and so does any further leading space
//     (a line of "pass", two spaces and "x" carries the password " x").
//   - Only complete lines are executed. A last line without a line feed at
//     EOF is dropped: a cut-off "newpass" never changes a password (Debian
//     executes it).
//   - The order is strict: user, pass, newpass. Any other command at a
//     stage is answered with what was expected ("500 Username required.",
//     "500 Password required.", "500 New password required.") and a close.
//     "newpass" is only accepted after a successful "pass" on the same
//     connection (CVE-2005-0002). After a successful change only "quit" is
//     accepted ("500 Quit required." otherwise).
//   - "quit" at any stage answers "200 Bye." and closes. Clients need not
//     send it: the change is committed before "200 Password changed" is
//     sent (Roundcube and Horde never send quit after success).
//   - Usernames: printable UTF-8 without spaces, at most 256 bytes.
//     Passwords ("pass" and "newpass" alike): at most
//     Options.MaxPasswordLen bytes (default 256), valid UTF-8, no control
//     bytes (C0 or DEL; NUL and CR included, which Debian silently cuts
//     at). A violation is refused with a 500, never truncated. These checks
//     look only at the typed text, so their replies reveal nothing about
//     accounts.
//   - A line longer than the line limit (512 bytes, or more when
//     MaxPasswordLen needs it) gets "500 Line too long." and a close.
//   - Each read waits at most Options.IdleTimeout (default 60 s) and the
//     whole conversation at most Options.SessionTimeout (default 2 min).
//   - Backend failures that do not depend on the account get
//     "500 Server error, password not changed." after the same delay as a
//     refusal; their detail goes to the log only.
//
// # Failure timing
//
// The Debian server leaks a correct password of a system account through
// its close timing: a correct password is refused at once, a wrong one
// after a 3 s sleep. Here every refusal of "pass" is answered at the same
// moment, receipt of "pass" plus FailureDelay, whatever the backend
// answered and however fast it did, and is always followed by the same
// close. The backend's own time is hidden as long as it stays below
// FailureDelay. A temporary backend failure (ErrUnavailable) gets its own
// reply text at that same moment: it must not depend on the account, so
// it tells nothing about the password.
//
// # Logging
//
// The Backend logs every authentication attempt with its reason (it knows
// it; the wire never does). This package logs protocol events at Debug,
// and one line per completed or refused change (Info; Error when the
// backend failed):
//
//	msg="password changed" proto=poppassd user=alice@example.com remote=127.0.0.1:40000 cid=...
//	msg="password change refused" proto=poppassd user=alice@example.com remote=127.0.0.1:40000 reason=policy cid=...
//
// The reasons of a refused change are policy (the backend's PolicyError),
// invalid (empty, too long, control characters, not UTF-8), auth
// (ErrAuthFailed from ChangePassword) and server-error (with err=...).
//
// Passwords never appear in logs. The optional protocol trace
// (Options.Debug) replaces the arguments of pass and newpass, and of
// unrecognised commands, with "***" unless Options.TraceAuth is set.
//
// # Deployment
//
// The protocol is clear text. Listen on loopback (the default of
// `popadm serve poppassd`) for a webmail on the same host, or use ServeTLS
// for an implicit-TLS port (Eudora's "SSL alternate port"). ServeConn
// serves one conversation on an existing connection, for inetd.
package poppassd
