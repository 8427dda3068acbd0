// Package maildrop serves a Maildir as a POP3 maildrop (RFC 1939): an
// exclusive session lock, a snapshot of the messages taken at login,
// streaming of each message in its transmitted (CRLF) form, and removal of
// the deleted messages in the UPDATE state.
//
// # Layout
//
// A maildrop is a Maildir directory:
//
//	dir/new/                   delivered, not yet seen by a mail reader
//	dir/cur/                   seen; names carry ":2,<flags>"
//	dir/tmp/                   deliveries in progress; never served
//	dir/popadm-pop3.lock       session lock; created once, never removed
//	dir/popadm-pop3.lock.tmp.* lock file being created; removed at once
//	dir/popadm-sizes           cache of transmitted sizes (may be deleted)
//	dir/popadm-sizes.tmp.*     cache being written; removed after an hour
//
// Open lists new/ and cur/ (skipping names that start with '.' and
// anything that is not a file, such as directories and FIFOs) and keys
// every message by its base name, the file name before the first ':'. The
// base name never changes over a message's life, while the directory and
// the flags after ":2," do. If one base name appears more than once (a
// crash between link and unlink while moving new/ to cur/), the copy in
// cur/ is served, the others are logged and removed with it by Commit.
// Messages are ordered oldest first by the seconds that start the name,
// then the microseconds of an "M<usec>" field (Dovecot, Courier, Postfix,
// Deliver), then the base name; names without a leading timestamp come
// last. Mail delivered after Open is not in the snapshot and is never
// touched by Commit.
//
// # Sizes
//
// The POP3 size is the octet count of the message as transmitted: each LF
// not preceded by CR counts two octets, and a message not ending in LF gets
// CRLF appended (and counted). Sizes come, in this order, from the size
// cache, from a ",W=<n>" field in the base name (written correctly by
// Dovecot), or from reading the file; ",S=" is only ever used as the
// physical size. The cache maps base name to (transmitted size, physical
// size), is written atomically (temporary file in the maildir root, fsync,
// rename, fsync of the root) only when it changed, drops vanished
// messages, and carries a record count and CRC-32C so that a damaged cache
// is detected and rebuilt by reading every message. Because a base name
// always names the same content, a cache hit is trusted without stat(2):
// a second Open of a large maildrop costs two directory listings and one
// file read. The cache is kept in snapshot order and merged with the
// sorted listing in one pass; a record matches a file when the lengths
// and 64-bit hashes of their base names agree (a false match, at odds of
// 2^-64, would give one message a wrong size until it is read).
// Maildrop.Open checks the physical size of the file it opens and, on a
// mismatch, recounts and corrects the snapshot and the cache; a stream
// read to EOF checks its own octet count the same way.
//
// # UIDL
//
// The unique-id is derived from the base name alone, so it survives flag
// renames, new/ to cur/ moves, restarts and the loss of the size cache,
// and two identical messages still get different ids. It is the base name
// itself when that is 1 to 70 octets of 0x21-0x7E and does not look like a
// digest id; otherwise it is "H" followed by the first 32 lower-case hex
// digits of SHA-256(base name), 33 octets. Since every literal id lacks
// the digest shape and every digest id has it, a literal id can never
// equal a digest id; two digest ids collide only for equal base names
// (unique within a Maildir) or a 128-bit SHA-256 collision. No Maildir
// writer produces a base name of the digest shape (they begin with the
// decimal delivery time), so in practice only base names longer than 70
// octets, such as Courier's with a long host name, are hashed.
//
// # Session lock
//
// The lock is the file dir/popadm-pop3.lock. It is created once, by the
// first Open of the maildir, as a temporary file holding the free record
// that is renamed to the lock name without replacing anything (linked to it
// where the file system cannot do that, as on NFS), so it never exists
// without a record; root gives it to the maildir's owner. It is never
// removed or truncated afterwards: a login creates and unlinks nothing.
// Open opens it O_RDWR|O_NOFOLLOW and writes to it only if it is a regular
// file that has one link or belongs to the maildir's owner, so a planted
// symbolic or hard link never makes a privileged server write into another
// file, while a backup made with hard links does not stop logins. The first
// 256 octets are the owner record, "pid:hostname" or "free", padded with
// spaces and ended by a newline; it is always rewritten whole, in place
// (pwrite), so it never changes the file's size. A lock file of an earlier
// version, which held an unpadded "pid:hostname\n", is read the same way.
//
// Open takes an OFD write lock (fcntl F_OFD_SETLK, never waiting) on the
// whole file. If another open file description holds it, the maildrop is
// in use and Open returns ErrInUse at once. OFD locks belong to the open
// file description, so two sessions in one process exclude each other as
// well as two processes do; the kernel drops the lock when its holder
// closes the file or dies; and over NFS the client passes it to the
// server's lock manager (NLM, or NFSv4 locking), so it excludes sessions
// on other hosts too. With the OFD lock taken, Open reads the record:
//
//   - "free": the lock is Open's.
//   - this host's name (whatever the PID): the session that wrote it is
//     gone, since every session holds the OFD lock for as long as its
//     record is there, so the lock is taken over at once.
//   - another host's name: that host's locks may not reach this one (NFS
//     without a lock manager, or mounted with local locks only), so the
//     record decides: it is in use unless its mtime is older than
//     StaleLock.
//   - empty or unreadable: in use unless older than StaleLock.
//
// A lock taken over is logged. Open then writes its own record and sets
// the file's mtime (futimens), which on NFS also flushes the record to
// the server. While the session runs, a timer sets the mtime every
// LockRefresh, so hosts that judge by mtime see a live owner, and checks
// that the file under the lock name and the record in it are still ours;
// if another session took over, it logs an error. Close writes the free
// record, unless the record is no longer ours, and then closes the file,
// which drops the OFD lock. A session killed outright leaves its record
// behind: the next Open on the same host takes over at once (the kernel
// dropped the OFD lock), one on another host once the record's mtime is
// older than StaleLock. The record is not fsynced: after a crash of the
// whole host it still names that host, or is free, and the host's own
// next Open takes it over at once.
//
// Where OFD locks are unavailable (other systems, or fcntl failing with
// an error such as ENOLCK), the record alone decides, as for another
// host, except that a record of this host whose PID no longer exists is
// taken over at once. Without a working lock manager the record is the
// only exclusion between hosts, and two hosts that read it in the same
// instant may both take the lock; every other case is exclusive. Open
// never waits for a lock.
//
// # UPDATE
//
// Commit unlinks the deleted messages one by one and fsyncs the
// directories it removed files from; with nothing deleted it does no I/O
// at all. Each unlink is atomic and message files are never rewritten, so a crash
// at any instant leaves every message either present or removed. A
// message that is already gone counts as removed; one renamed by another
// client is found again by its base name.
package maildrop
