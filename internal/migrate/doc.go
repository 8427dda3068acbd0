// Package migrate reads the POP3 state that Dovecot (dovecot-uidlist) and
// Courier (courierpop3dsizelist) keep in a Maildir and computes, for each
// message present, the UIDL and the position the old server served, so
// that POP3 clients see no change after the cutover. The parsers and the
// computations are pure: the caller lists the Maildir and writes the
// result.
package migrate
