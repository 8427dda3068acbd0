// Package maildrop serves a Maildir as a POP3 maildrop (RFC 1939): an
// exclusive session lock, a snapshot of the messages taken at login,
// streaming of each message in its transmitted (CRLF) form, and removal of
// the deleted messages in the UPDATE state.
//
// # Layout
//
// A maildrop is a Maildir directory:
//
//	dir/new/               delivered, not yet seen by a mail reader
//	dir/cur/               seen; names carry ":2,<flags>"
//	dir/tmp/               deliveries in progress; never served
//	dir/popadm-pop3.lock   session lock, present while a session runs
//	dir/popadm-sizes       cache of transmitted sizes (may be deleted)
//	dir/popadm-sizes.tmp.* cache being written; removed after an hour
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
// The lock is a file, dir/popadm-pop3.lock, created with O_CREAT|O_EXCL
// (atomic on local file systems and on NFSv3 and later) and containing
// "pid:hostname\n". While the session runs its holder keeps the file open
// with an OFD write lock (fcntl F_OFD_SETLK) on it, and a goroutine
// refreshes its mtime every LockRefresh through the descriptor.
//
// The two locks play different parts. The O_EXCL file is the lock itself:
// it works across processes and across hosts sharing the directory. The
// OFD lock is a liveness signal: the kernel drops it when the holder
// closes the descriptor or dies, and, unlike a classic POSIX lock, it
// belongs to the open file description, so two sessions in one process
// conflict too. A session that finds the file present first tries to take
// the OFD lock without waiting: if it is held, the maildrop is in use and
// Open returns ErrInUse at once. Only if the OFD lock could be taken (the
// holder is gone, or runs on another host whose locks are not visible
// here) does it apply the stale rules: the file is stale when its mtime is
// older than StaleLock, or when it names this host and a PID that no
// longer exists. A stale file is removed, after checking that the name
// still refers to the same file, and creation is retried once. Holding the
// OFD lock while judging means two sessions cannot both break the same
// stale file. A lock with a fresh mtime that names another host, a live
// process, or nothing yet (its content is still being written) is left
// alone until StaleLock has passed. Open never waits for a lock.
//
// Close removes the lock file only if the name still refers to the file
// this session created (the descriptor is held open, so the inode number
// cannot be reused), then closes it, releasing the OFD lock. A session
// killed outright leaves the file behind; the next Open on the same host
// breaks it at once (the OFD lock is gone and so is the PID), and other
// hosts break it after StaleLock.
//
// # UPDATE
//
// Commit unlinks the deleted messages one by one and fsyncs new/ and cur/.
// Each unlink is atomic and message files are never rewritten, so a crash
// at any instant leaves every message either present or removed. A
// message that is already gone counts as removed; one renamed by another
// client is found again by its base name.
package maildrop
