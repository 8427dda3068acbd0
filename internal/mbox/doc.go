// Package mbox serves a Debian mbox spool (/var/mail/USER) as a POP3
// maildrop (RFC 1939) while Postfix local(8), procmail, mutt and Dovecot
// keep reading and writing the same file. It is the mbox counterpart of
// package maildrop and has the same shape: Open takes a snapshot, Open(i)
// streams one message in its transmitted form, Commit runs the UPDATE
// state and Close ends the session.
//
// # Locking
//
// Every program that writes a Debian spool takes two locks (Debian Policy
// §11.6): a kernel fcntl write lock on the file and the dotlock
// <spool>.lock. This package takes them in the order Policy gives, fcntl
// first, both without blocking; when the dotlock is busy it drops the
// fcntl lock again, sleeps 0.1 to 1 s at random and starts over, and after
// Options.LockTimeout (15 s, as long as Postfix tries) it gives up with
// ErrInUse. The fcntl lock is an open-file-description lock
// (F_OFD_SETLK): it conflicts with the classic F_SETLK locks of Postfix,
// procmail and mutt, but unlike them belongs to the descriptor, so two
// sessions in one process exclude each other and closing another
// descriptor of the spool cannot drop it. The dotlock is created with
// O_EXCL and holds "pid:hostname\n" (Dovecot reads pid:host, liblockfile
// the pid); while held, its times are refreshed at least every minute. A
// dotlock naming this host and a process that no longer exists is broken
// at once; any other one only when it has not changed for
// Options.StaleLock (500 s, Postfix's stale_lock_time). Release runs in
// the reverse order: unlink the dotlock if it is still ours, then unlock.
//
// The spool locks are held only while Open scans the file and while
// Commit rewrites it, as popa3d and Qpopper's server mode do, so mail is
// delivered while a POP3 session runs. A separate session lock (an
// exclusive flock on a file in Options.JournalDir, which no MDA looks at)
// refuses a second POP3 session of the same spool with ErrInUse.
//
// The spool is opened with O_RDWR|O_NOFOLLOW|O_NONBLOCK and must be a
// regular file with one link, owned by Options.RequireUID; with the locks
// held, the path must still name the opened file (otherwise it is opened
// again). A missing spool is an empty maildrop and is never created; an
// emptied spool is truncated to zero, never removed.
//
// # Parsing
//
// A message starts with "From " at offset 0 or after a blank line; after
// a single LF only a From_ line with a valid asctime date counts (mutt's
// rule), and that is logged. A file is read as if it already ended in
// the blank line Commit leaves at its end, so an unfinished last line
// counts (and is digested) with its LF. A Content-Length field is
// honoured only if the body it describes is followed by at most two line
// ends and then a From_ line or EOF, and does not take the blank line
// that separates it from them (with no line end after it, the body must
// end in LF but not in a blank line); this reads mboxcl2 files written by
// Dovecot, mutt and procmail without splitting them at unescaped "From "
// lines, and decides the same way whatever separators Commit adds. The
// message is everything from the line after the From_ line to the blank
// line that separates it from the next From_ line (or EOF), excluded.
// ">From " lines are served as stored: Postfix writes mboxo,
// whose quoting cannot be undone. The first message is hidden (never
// listed, never deleted) when it is the folder-internal message of UW
// c-client and Dovecot (an X-IMAP or X-IMAPbase field and the subject
// "DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA"). Files starting
// with the MMDF delimiter ^A^A^A^A are read as MMDF. Sizes are RFC 1939
// octets: each LF not preceded by CR counts two, an existing CRLF is
// counted (and sent) as is, and a message not ending in LF gets CRLF.
// Messages are streamed, never held in memory whole, and lines need not
// fit in memory. Options.MaxMessages and Options.MaxBytes refuse
// oversized spools with ErrTooBig.
//
// # UIDL
//
// The unique-id is 32 hex digits: the first 128 bits of SHA-256 over the
// From_ line, every header field except Status, X-Status, X-UID, X-IMAP,
// X-IMAPbase, X-Keywords, Content-Length, Lines and X-UIDL (the fields
// mail readers add or rewrite in place), and the body. It survives flag
// updates by mutt or Dovecot, other messages being deleted, and this
// package's own rewrites, which never change the bytes of a kept message
// (a last message that lacked its final LF gains one, so the digest is
// taken as if it had it). Identical messages get "-2", "-3"... in file
// order. An X-UIDL field in the mail is never trusted (Postfix passes it
// through from the sender), and nothing is ever written into a message.
//
// # Changes by other programs
//
// Open records the inode, size, mtime, ctime and SHA-256 of the bytes it
// scanned. Before a message is opened, and again before the last block of
// it is handed out, the file is fstat'ed; if anything changed, the scanned
// prefix is hashed again under the fcntl read lock. Growth is an append
// and fine; anything else is ErrChanged (ErrGone when the file was
// removed or replaced), the stream fails before its end, and Commit
// refuses to run. Commit always hashes the prefix again, with both locks
// held, because mtime alone is too coarse.
//
// # UPDATE
//
// Commit rewrites the file in place. With F the offset of the first
// deleted message, the new content N of [F, end) is the kept messages
// after F followed by the bytes appended since the scan; where a deletion
// joins two messages, before the appended bytes and at the end, a
// separator is added if needed so that the file ends in a blank line
// (Postfix appends without repairing a missing newline). Deleted messages
// are always longer than the separators, so the file never grows and a
// full disk or quota cannot hit it. Only deleting messages at the end
// needs no N: a single ftruncate does it. Before anything is written,
// the result is scanned where the rewrite can make it read differently,
// and the update is refused (nothing changes) unless every kept message
// reads back in its place with the same octets and size: a wrong
// Content-Length field can fit only once the messages after it are gone
// or new mail follows, and the joined file is then indistinguishable
// from an mboxcl2 message with an unescaped From_ line.
//
// The rewrite is made crash-safe by a redo journal in Options.JournalDir
// (outside the spool directory): {magic, device and inode, F, L = len(N),
// the old size S, SHA-256 of [F+L, S) (the "garbage" the truncate will
// cut), N, SHA-256 of N, checksum}. It is written to a temporary file,
// fsynced and renamed into place, and the directory is fsynced: that
// rename is the commit point. Then N is written at F, the spool fsynced,
// truncated to F+L, fsynced again, and the journal removed, after which
// the locks are released. Recover, run by Open (and by RecoverAll at
// daemon start) with both locks held, finishes the job after a crash: an
// unfinished temporary journal means the spool was not touched and is
// removed; if the garbage hash still matches, the truncate has not
// happened and N is written again, after folding any mail delivered after
// the crash (which lies beyond S) into a new journal; if [F, F+L) holds N,
// only the journal is left to remove. A journal for a file no longer at
// the path, or a damaged one, is set aside; if the spool was changed in
// any other way the journal is kept and Open fails with ErrJournal until
// an administrator looks. Every step can be repeated, so a crash during
// recovery is recovered the same way.
//
// # Why not a temporary file and rename
//
// Writing the new spool to a temporary file and renaming it over the old
// one is atomic, but wrong for a shared spool: it needs write access to
// /var/mail (group mail or root) and a chown back to the user; it changes
// the inode, which makes Dovecot resynchronise; and a program that
// opened the old inode and is waiting for the fcntl lock (procmail without
// its dotlock opens first and locks second) then appends to an unlinked
// file, and that mail is lost. Shifting the messages down in place
// without a journal, as popa3d does, corrupts the spool when the process
// is killed in the middle (merged or duplicated messages). Copying the
// spool out for the session, as Qpopper does, shows an empty INBOX to
// every other mail reader meanwhile and duplicates mail after a crash.
// The journaled in-place rewrite keeps the inode, owner, group and mode,
// never grows the file, and loses or duplicates nothing at any kill
// point; the package tests kill sessions at every step and at random
// moments while another process delivers mail.
package mbox
