// Package pop3d implements a POP3 server (RFC 1939) with CAPA (RFC 2449),
// STLS and implicit TLS (RFC 2595, RFC 8314), response codes (RFC 2449
// §8, RFC 3206), SASL authentication (RFC 5034) and the UTF8 command (RFC
// 6856). It speaks the protocol only: a Backend authenticates users and
// opens maildrops, and pop3d never touches storage or credentials itself.
//
// Supported:
//
//   - RFC 1939: USER, PASS (the argument is the rest of the line, spaces
//     included), APOP (Options.APOP; a fresh <pid.counter.time@host>
//     timestamp in every greeting), STAT, LIST, RETR, DELE, NOOP, RSET,
//     QUIT, TOP (any line count, huge ones included), UIDL. Message numbers
//     are 1-based and fixed for the session; deleted messages keep their
//     numbers, are hidden from STAT, LIST and UIDL and refused by the other
//     commands. The maildrop is listed before the login's +OK, a message
//     is opened before RETR's or TOP's +OK, and every command gets exactly
//     one status line. Only QUIT in the TRANSACTION state commits
//     deletions (UPDATE); a dropped connection, a timeout or Shutdown
//     commits nothing. The autologout timer (Options.IdleTimeout) closes
//     the connection without a response.
//   - RFC 2449: CAPA in both states with TOP, UIDL, RESP-CODES,
//     AUTH-RESP-CODE, PIPELINING, USER, SASL, STLS, UTF8 USER, EXPIRE,
//     LOGIN-DELAY and IMPLEMENTATION as configured; USER and SASL are kept
//     after login (§5). Command lines up to Options.MaxLine (default 512,
//     at least 255) octets; status lines never exceed 512 octets and never
//     echo client input.
//   - RFC 2595 and RFC 8314: STLS on cleartext listeners (plaintext the
//     client pipelined after STLS is discarded, CVE-2011-0411) and implicit
//     TLS via ServeTLS, TLS 1.2 or later. Plaintext mechanisms (USER/PASS,
//     AUTH PLAIN, AUTH LOGIN) are refused on cleartext connections from
//     non-local addresses unless Options.AllowInsecureAuth is set.
//   - RFC 5034: AUTH with initial responses, "=" for an empty one, "*" to
//     cancel and server-final data; PLAIN (RFC 4616) and LOGIN built in,
//     other mechanisms (CRAM-MD5, SCRAM-SHA-256...) through SASLBackend.
//     A bare AUTH lists the mechanisms.
//   - RFC 3206: [AUTH] on every credentials failure, [SYS/TEMP] and
//     [SYS/PERM] for server trouble, [IN-USE] and [LOGIN-DELAY] as the
//     Backend reports them.
//   - RFC 6856: UTF8 in AUTHORIZATION. UTF-8 user names and passwords are
//     accepted with or without it and messages always go out 8-bit
//     unchanged.
//
// Deliberately not supported: LAST (RFC 1460, removed by RFC 1725), LANG
// (RFC 6856 §3; replies are English), XTND and other vendor extensions,
// the [UTF8] response code (nothing is ever downgraded), and SASL security
// layers.
//
// Defences: a first line that is an HTTP request, or a TLS ClientHello on
// a cleartext connection, gets one -ERR and the connection is closed; an
// over-long line gets one -ERR and the connection is closed, its tail is
// never read as commands; after Options.MaxErrors consecutive -ERR replies
// the connection is closed; connections are limited in total and per IP;
// a panicking session is logged and answered with
// "-ERR [SYS/TEMP] internal server error".
//
// Logging goes to Options.Logger (log/slog): connect, login and
// disconnect with counters at Info, commands at Debug. Authentication
// failures are the Backend's to log, with the reason. Options.Debug takes a
// protocol trace with credentials redacted.
package pop3d
