#!/usr/bin/env bash
# Enforces the import direction of the protocol packages: pop3d and poppassd
# speak their protocols only; they never reach the account store, SQL, PAM or
# the mail store. authdb never imports a daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
fail=0
check() { # package, forbidden regexp
	local pkg=$1 bad=$2 hits
	hits=$(go list -deps "./$pkg" | grep -E "$bad" || true)
	if [ -n "$hits" ]; then
		echo "importcheck: $pkg must not depend on:" $hits >&2
		fail=1
	fi
}
check pop3d    "^($mod/(authdb|poppassd|internal/(maildrop|backend|cli|pwscheme|throttle))|github.com/mattn/go-sqlite3|github.com/msteinert/pam)"
check poppassd "^($mod/(authdb|pop3d|internal/(maildrop|backend|cli|pwscheme|throttle))|github.com/mattn/go-sqlite3|github.com/msteinert/pam)"
check authdb   "^($mod/(pop3d|poppassd|internal/(backend|cli|maildrop)))"
check internal/lineserver "^($mod/(authdb|pop3d|poppassd)|github.com/mattn/go-sqlite3)"
exit $fail
