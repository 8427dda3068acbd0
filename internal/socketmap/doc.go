// Package socketmap serves Postfix's socketmap lookup protocol
// (socketmap_table(5)) over the account database, so that Postfix can
// validate recipients against the accounts popadm serves.
//
// A request is one netstring "<name> <key>"; the reply is one netstring
// "OK <data>", "NOTFOUND ", "TEMP <reason>" or "PERM <reason>", at most
// MaxSize bytes. Postfix keeps its connections open and several of its
// processes connect at once, so every connection is served by its own
// goroutine until the client closes it or it stays idle too long.
//
// Two maps are served:
//
//   - domain: OK when the domain exists and is enabled
//     (virtual_mailbox_domains).
//   - mailbox: for an enabled account local@domain in an enabled domain,
//     OK with the account's mail location relative to the base directory,
//     e.g. "example.com/alice/" (virtual_mailbox_maps). A trailing slash
//     tells Postfix's virtual(8) to deliver to a Maildir, none to an mbox
//     file. virtual_mailbox_base must equal the base, which defaults to
//     the fixed leading directory of the mail location template
//     (/var/vmail for maildir:/var/vmail/%d/%n).
//
// Unknown or disabled names answer NOTFOUND; a malformed request or an
// unknown map answers PERM; a database failure answers TEMP. The protocol
// is unauthenticated: it tells whether an address exists and where its
// mail lives, nothing secret, and never carries credentials.
package socketmap
