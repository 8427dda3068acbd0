// Package authdb is the SQLite account store shared by the POP3 server,
// poppassd and the popadm CLI, which may run as several processes at once
// on one database file.
//
// # Interfaces
//
// Authenticator is what the POP3 daemon needs, PasswordChanger what
// poppassd needs, and Admin (a superset) what the CLI needs. *DB implements
// all three; a PAM backend implements only the first two.
//
// # The credential set
//
// Each account stores a set of credentials, one row per scheme, each the
// complete Dovecot-style "{SCHEME}value" string. Which mechanisms an
// account can use depends on which forms its set holds:
//
//	stored form         enables                                   plaintext-equivalent?
//	slow verifier       USER/PASS, AUTH PLAIN, AUTH LOGIN, poppassd  no
//	(ARGON2ID default,  (every plaintext mechanism)
//	 BLF-CRYPT, SHA512-CRYPT, PBKDF2, ...)
//	SCRAM-SHA-256       AUTH SCRAM-SHA-256                        no (a stolen StoredKey does not log in)
//	SCRAM-SHA-1         AUTH SCRAM-SHA-1                          no
//	CRAM-MD5            AUTH CRAM-MD5 (an HMAC-MD5 context)       YES: one MD5 per guess, and it logs in as is
//	PLAIN               APOP (MD5 of timestamp and cleartext)     YES: it is the password
//
// An account's mechanism set (Account.Mechs: plain always, plus any of
// scram-sha-256, scram-sha-1, cram-md5, apop) decides the set. Whenever a
// password is set in clear (AddUser, SetPassword, ChangePassword, Import)
// the store computes, before its write transaction opens, the slow verifier
// in the configured scheme plus the form each mechanism needs, and then
// replaces the whole set in one transaction together with cred_version,
// the change time, the expiry, the history and the audit row. The default
// mechanism set is plain and scram-sha-256, so by default nothing
// plaintext-equivalent is stored; cram-md5 and apop are opt-in per account
// and their secrets must be protected like passwords.
//
// A ready hash ("--hash", or an import of a Dovecot passdb) is stored as
// the only credential. The set fills itself at the next successful
// plaintext login: rehash-on-login recomputes the whole set from the
// password when the slow verifier is of another scheme or weaker
// parameters than configured (pwscheme.NeedsRehash), or a form the
// mechanisms need is missing. Removing a mechanism deletes its form.
//
// # Account state and refusals
//
// Authenticate refuses with *AuthError (matching ErrAuthFailed) in a fixed
// order: unknown user (after verifying against a dummy hash of the
// configured scheme, so the time taken does not reveal whether the account
// exists), locked (whatever the password, so a locked account is not a
// password oracle), wrong password, then, with PasswordOK set, domain
// disabled, disabled, the service flag (no-pop3, no-passwd) and, except
// for poppassd, expired and must-change. The Reason is for logs, the audit
// table and "popadm auth test"; daemons send one generic reply.
//
// Challenge/response mechanisms (APOP, CRAM-MD5, SCRAM) go through
// AuthenticateWith: the daemon checks the client's proof against the
// credentials the store hands it, and the store applies the same refusal
// order and account-state rules and records the login.
//
// # Verify cost
//
// Slow hash operations (verify and generate) run through a per-process
// gate of Options.MaxVerify slots, so a burst of Argon2id logins cannot
// exhaust memory. With Options.VerifyCacheTTL a successful plaintext
// verification is remembered in memory as an HMAC (with a random
// per-process key) of the account name, the stored verifier and the
// password. Because the entry is bound to the stored verifier, whose salt
// changes with every password set, a change made by any process, or a
// re-created account, invalidates it without messaging; the account row
// (locks, flags, expiry) is still read at every login. Wrong passwords are
// never cached.
//
// # Audit
//
// The store writes audit rows for changes only (add, del, mod, passwd,
// lock, unlock, rehash, import, domain-add/del/mod, policy) and for every
// poppassd attempt through ChangePassword (result ok or failed, with the
// reason and the remote address). Logins and failed logins are logged by
// the daemons, not audited here. Audit rows never hold secrets.
//
// # Lockout
//
// RecordFailure counts failures within Policy.LockoutWindow and locks the
// account at Policy.LockoutFails. The daemon decides which failures count
// (a repeat of the same wrong password, such as a phone holding an old
// password, should count once); the store keeps no trace of wrong
// passwords. Authenticate never counts failures itself.
//
// # Names
//
// Login names are normalised by Normalize: NFC, lower-case, "local@domain",
// the default domain appended when missing. A local part is 1-64 bytes of
// printable UTF-8 without space, control characters, '.' at either end or
// "..", and none of @ / \ : " < > ( ) [ ] , ; %. A domain is DNS labels of
// a-z, 0-9 and '-' (IDNs in their xn-- form).
//
// # SQLite and concurrency
//
// The database uses WAL, a 5 s busy timeout, BEGIN IMMEDIATE for every
// write transaction and synchronous=NORMAL, never a shared cache. Each DB
// has a read pool (plain statements, never transactions) and a write pool
// of one connection, so writers of one process queue in database/sql.
// Password hashing always happens before a write transaction begins. A
// write transaction that still meets SQLITE_BUSY is retried as a whole up
// to three times with jitter; after that the error wraps ErrTemporary, so
// "database is locked" never reaches a user. A database whose file or
// directory is not writable opens read-only (reads work, writes fail with
// ErrReadOnly).
//
// The schema is versioned with PRAGMA user_version and upgraded by the
// embedded migrations (migrations/NNNN_*.sql) in one transaction. It uses
// TEXT and INTEGER (epoch seconds) columns only, so the same tables can be
// created on PostgreSQL.
package authdb
