#!/bin/sh
# Runs the tests that need root and system packages, after `go test ./...`:
# the system-account end-to-end tests (PAM logins and poppassd changes
# through pam_wrapper, /var/mail-style mbox spools, a throwaway Postfix
# delivering into one) and the PAM backend's own tests against real PAM
# stacks. Without root or without the packages it says what it skipped and
# why, and exits 0; with CI set, a missing prerequisite is a failure.
#
# Debian packages: libpam0g-dev libpam-wrapper, and postfix for the
# delivery test (preseed "postfix postfix/main_mailer_type select
# No configuration" so that installing it configures nothing).
set -eu
cd "$(dirname "$0")/.."

skip() {
	echo "test-system: skipped the system tests: $*" >&2
	if [ -n "${CI:-}" ]; then
		echo "test-system: CI is set, so this is a failure" >&2
		exit 1
	fi
	exit 0
}

[ "$(id -u)" = 0 ] || skip "not running as root (the tests create system users, chown spools and run Postfix)"
found=
for lib in /usr/lib/*/libpam_wrapper.so /usr/lib/libpam_wrapper.so /usr/lib64/libpam_wrapper.so /usr/local/lib/libpam_wrapper.so; do
	[ -e "$lib" ] && found=$lib && break
done
[ -n "$found" ] || skip "libpam_wrapper.so not found (Debian: apt-get install libpam-wrapper)"
[ -e /usr/include/security/pam_appl.h ] || skip "PAM headers not found (Debian: apt-get install libpam0g-dev)"
if ! command -v postfix >/dev/null 2>&1; then
	echo "test-system: postfix is not installed: TestPostfixDeliversToSpool will skip (fail with CI set)" >&2
fi

echo "test-system: system-account end-to-end tests"
POPADM_SYSTEM_TESTS=1 go test -count=1 -timeout 10m -v -run 'TestPAMSystemAccount|TestPostfixDeliversToSpool' ./internal/e2e/
echo "test-system: PAM backend tests"
authdb/pamauth/testdata/run-tests.sh -race
