#!/usr/bin/env bash
# Enforces the import direction of the protocol packages: pop3d and poppassd
# speak their protocols only; they never reach the account store, SQL, PAM or
# the mail store. authdb never imports a daemon. internal/testkit is test
# support: only _test.go files import it, and it imports no package of the
# module, so that every package's tests can use it.
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
own=$(go list -f '{{join .Imports "\n"}}' ./internal/testkit | grep -E "^$mod/" || true)
if [ -n "$own" ]; then
	echo "importcheck: internal/testkit must not import:" $own >&2
	fail=1
fi
# go list without -test lists only the imports of non-test files.
users=$(go list -e -f '{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}' ./... |
	grep -E " $mod/internal/testkit( |\$)" | cut -d: -f1 || true)
if [ -n "$users" ]; then
	echo "importcheck: only _test.go files may import internal/testkit; imported by:" $users >&2
	fail=1
fi
exit $fail
