// Package pamauth is the optional PAM backend of popadm: POP3 logins and
// poppassd password changes checked against system accounts through
// Linux-PAM instead of the SQLite account store.
//
// # Building
//
// The backend needs cgo and the PAM headers (Debian: libpam0g-dev; at run
// time libpam0g) and is compiled only with the build tag pam:
//
//	go build -tags pam ./cmd/popadm      (or: make build-pam)
//
// Without the tag (including CGO_ENABLED=0 builds) the package still
// compiles, but New returns ErrUnavailable.
//
// # What it does
//
// Authenticate runs pam_authenticate and pam_acct_mgmt on the service
// "popadm-pop3" (Options.AuthService), or "popadm-passwd" for poppassd.
// ChangePassword runs, in one transaction on "popadm-passwd"
// (Options.PasswdService): pam_authenticate with the old password,
// pam_acct_mgmt, then pam_chauthtok. The conversation answers the prompts
// with the old or the new password by prompt text, then by position; error
// and info messages are answered with an empty string and logged, and the
// last error message of a failed pam_chauthtok (a quality check such as
// "BAD PASSWORD: The password is shorter than 8 characters") becomes an
// *authdb.PolicyError, which poppassd shows as its one "500" line.
//
// PAM cannot tell an unknown user from a wrong password; both are
// authdb.ReasonBadPassword. PAM cannot hand out credentials either, so only
// plaintext mechanisms work (USER/PASS, AUTH PLAIN, AUTH LOGIN): Lookup and
// AuthenticateWith refuse with ReasonMechUnavailable, for every name alike.
// Failed logins are not counted here (RecordFailure does nothing); put
// pam_faillock in the auth stack for a lockout.
//
// # Privileges
//
// Checking a system password needs read access to /etc/shadow: as root
// directly, otherwise pam_unix runs its setgid helper unix_chkpwd, which
// only checks the password of the calling user; a non-root daemon
// therefore cannot check other users' passwords with pam_unix. Changing a
// system password needs root (pam_unix rewrites /etc/shadow).
//
// As root, pam_unix's pam_chauthtok does not ask for or check the old
// password. ChangePassword therefore always calls pam_authenticate with the
// old password first, in the same transaction, as poppassd-ceti does; a
// password change is never attempted without it.
//
// Users below Options.MinUID (default 1000, system accounts), users on
// Options.DenyUsers (default root) and users without a passwd entry are
// refused after pam_authenticate has run, so the check costs the same as
// for anybody, and with exactly the error a wrong password gets
// (ReasonBadPassword, PasswordOK false, the same text). A correct root
// password therefore cannot be told apart from a wrong one, neither by the
// reply nor by the delay the daemon applies. The real cause is logged.
//
// # Recommended deployment
//
// Run poppassd with the PAM backend as root, listening on loopback only
// (127.0.0.1:106) for a webmail on the same host: the protocol is clear
// text and the process can change system passwords. Run POP3 as a separate
// process; with PAM it also needs root (or membership of group shadow with
// pam_unix) to check other users' passwords, so prefer the SQLite store
// for POP3 when you can.
//
// Service files (Debian style, in scripts/pam.d):
//
//	/etc/pam.d/popadm-pop3:    @include common-auth, @include common-account
//	/etc/pam.d/popadm-passwd:  @include common-auth, @include common-account,
//	                           @include common-password
//
// pam_unix adds a failure delay of about 2 s to every failed
// pam_authenticate; the daemons add their own delay on top. A stack of its
// own with "pam_unix.so nodelay" instead of common-auth leaves the delay
// to the daemon.
//
// # Concurrency
//
// Linux-PAM handles are independent, but each transaction must stay on one
// thread from pam_start to pam_end: every transaction runs on a goroutine
// of its own, locked to its OS thread, which ends with it. At most
// Options.MaxConcurrent transactions run at once. pam_chauthtok is
// serialised across the whole process, because pam_unix's lock on
// /etc/shadow (lckpwdf) belongs to the process and would not keep two
// threads apart.
//
// Go programs never call setlocale, so modules run in the C locale and
// speak English, whatever LANG says; the prompt matching relies on it.
//
// # Testing
//
// The tests (build tag pam) run real PAM stacks with pam_wrapper and its
// pam_matrix module (Debian: libpam-wrapper), never touching system
// accounts; see testdata/run-tests.sh. Each test writes its own pam_matrix
// password file, one "user:password:service" line per user, where the third
// field is the one PAM service whose pam_acct_mgmt the user passes.
// pam_matrix uses the first line naming a user, so a user can be allowed
// exactly one service; tests that need both services use two users.
package pamauth
