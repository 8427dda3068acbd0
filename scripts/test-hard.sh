#!/bin/sh
# Runs internal/hard against the built binary. Faults: popadm serve killed
# with SIGKILL in the middle of a Maildir or mbox UPDATE and of poppassd
# changes, a read-only database, a database locked by a long write
# transaction, a full disk. Abuse: slowloris, connection and pipelined
# floods, oversized lines, STLS injection, cross-protocol requests, TLS
# versions and ciphers (openssl s_client), brute force and lockout, refusal
# timing (KS test). Load: thousands of logged-in sessions, a sustained mixed
# load. The tests that change file attributes or mount a tmpfs need root
# and skip without it. See docs/hardening.md.
#
# HARD=short (default, run by `make test`) takes about two minutes;
# HARD=long runs hundreds of iterations, 10,000 sessions and three
# minutes of mixed load. POPADM_BIN names the binary (default bin/popadm,
# built by `make build`).
set -eu
cd "$(dirname "$0")/.."

HARD=${HARD:-short}
case $HARD in
short | long) ;;
*)
	echo "test-hard: HARD must be short or long, not $HARD" >&2
	exit 2
	;;
esac
POPADM_BIN=${POPADM_BIN:-$(pwd)/bin/popadm}
if [ ! -x "$POPADM_BIN" ]; then
	echo "test-hard: $POPADM_BIN not found; run make build first" >&2
	exit 2
fi
[ "$(id -u)" = 0 ] || echo "test-hard: not root: the read-only database and disk-full tests will skip" >&2

POPADM_HARD=1 POPADM_BIN=$POPADM_BIN HARD=$HARD exec ${GO:-go} test -count=1 -timeout 30m -v ./internal/hard/
