#!/usr/bin/env bash
# `make bench`: end-to-end benchmarks of the built bin/popadm on loopback,
# plus the Go package benchmarks. Everything (database, Maildirs,
# certificate, logs) lives in a temporary directory removed at exit; every
# server started here is stopped at exit. See docs/benchmarks.md.
#
# Environment:
#   QUICK=1        short smoke run (small counts, one repeat)
#   REPEAT=N       runs of each measured figure; the median is reported (default 3)
#   DURATION=D     time of each throughput measurement (default 3s)
#   BENCHTIME, COUNT, GOBENCH_PKGS   for the Go benchmarks (default 100ms, 5,
#                  ./internal/pwscheme ./authdb ./internal/maildrop)
#   BENCH_OUT=1    also write the report to bench-results.md in the repo root
#   BENCH_STRICT=1 exit with status 1 when a target is missed
#   KEEP=1         keep the temporary directory (its path is printed)
#   PHASES="..."   what to run, from: floors logins retr passwd idle go
#                  (default all; retr includes UIDL)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-bin/popadm}
LOAD=bin/popadm-load

if [ -n "${QUICK:-}" ]; then
	REPEAT=${REPEAT:-1}
	DURATION=${DURATION:-1s}
	FLOOR_DURATION=${FLOOR_DURATION:-1s}
	LOGIN_USERS=${LOGIN_USERS:-64}
	PASSWD_USERS=${PASSWD_USERS:-16}
	IDLE_N=${IDLE_N:-200}
	UIDL_N=${UIDL_N:-2000}
	UIDL_SESSIONS=${UIDL_SESSIONS:-3}
	BENCHTIME=${BENCHTIME:-1x}
	COUNT=${COUNT:-1}
else
	REPEAT=${REPEAT:-3}
	DURATION=${DURATION:-3s}
	FLOOR_DURATION=${FLOOR_DURATION:-2s}
	LOGIN_USERS=${LOGIN_USERS:-64}
	PASSWD_USERS=${PASSWD_USERS:-32}
	IDLE_N=${IDLE_N:-10000}
	UIDL_N=${UIDL_N:-100000}
	UIDL_SESSIONS=${UIDL_SESSIONS:-5}
	BENCHTIME=${BENCHTIME:-100ms}
	COUNT=${COUNT:-5}
fi
LOGIN_CS=${LOGIN_CS:-"1 8 64"}
PASSWD_CS=${PASSWD_CS:-"1 8"}
# The verify floors (login baselines) run at most as many goroutines as
# the server runs slow verifications at once (--max-verify, default 2 per
# CPU); the hashing floors (poppassd baselines) run at the same c as the
# load, up to FLOOR_MAX_C (64 Argon2 computations at once need 4 GiB).
VERIFY_FLOOR_MAX_C=${VERIFY_FLOOR_MAX_C:-$((2 * $(nproc)))}
FLOOR_MAX_C=${FLOOR_MAX_C:-16}
GOBENCH_PKGS=${GOBENCH_PKGS:-"./internal/pwscheme ./authdb ./internal/maildrop"}
PHASES=${PHASES:-"floors logins retr passwd idle go"}
# Hard cap of one load-tool run (seconds), far above its own -duration.
RUN_TIMEOUT=${RUN_TIMEOUT:-900}

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ -x "$BIN" ] || die "$BIN is missing: run make build (or make bench)"
command -v timeout >/dev/null || die "timeout (coreutils) is required"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# The server holds about two descriptors per logged-in session (the socket
# and the maildrop lock); keep the idle test within the limit.
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ $((2 * IDLE_N + 1024)) -gt "$nofile" ]; then
	log "warning: the open-file limit ($nofile) is too low for $IDLE_N idle sessions; using $(((nofile - 1024) / 2))"
	IDLE_N=$(((nofile - 1024) / 2))
	if [ "$IDLE_N" -lt 10 ]; then IDLE_N=10; fi
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/popadm-bench.XXXXXX")
SERVER_PID=
SERVER_LOG=
cleanup() {
	local rc=$?
	if [ -n "$SERVER_PID" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	if [ -n "${KEEP:-}" ]; then
		log "kept $T"
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

STARTED=$(date +%s)
log "building $LOAD"
go build -o "$LOAD" ./cmd/popadm-load

# The password of every test account; passed through the environment only.
POPADM_LOAD_PASSWORD="bench-$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')"
export POPADM_LOAD_PASSWORD

DB=$T/auth.db
MAIL=$T/mail
DOM=$MAIL/example.com
RESULTS=$T/results.jsonl
SPEC=$T/spec.tsv
FAILED=0
: >"$RESULTS"
: >"$SPEC"

# row FIGURE LABEL FIELD UNIT EXTRAS BASE-LABEL BASE-FIELD BASE-NAME TARGETS
# adds a row to the report table ("-" for an empty column).
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$SPEC"; }

# measure LABEL SUBCOMMAND ARGS... runs the load tool and keeps its JSON
# line. A failed run is recorded (ok=false) and the benchmark goes on.
measure() {
	local label=$1 sub=$2
	shift 2
	if ! timeout "$RUN_TIMEOUT" "$LOAD" "$sub" -label "$label" "$@" >>"$RESULTS"; then
		log "$label: run failed"
		if [ -n "$SERVER_PID" ]; then tail -n 5 "$SERVER_LOG" >&2 || true; fi
		FAILED=$((FAILED + 1))
	fi
}

# start_server NAME SCHEME VERIFY-CACHE-TTL starts bin/popadm serve on
# loopback ports and sets SERVER_PID, POP3_ADDR and POPPASSD_ADDR.
start_server() {
	local name=$1 scheme=$2 ttl=$3
	local ready=$T/$name.ready logf=$T/$name.log
	rm -f "$ready"
	"$BIN" --db "$DB" serve \
		--pop3-listen 127.0.0.1:0 --pop3s-listen 127.0.0.1:0 --poppassd-listen 127.0.0.1:0 \
		--tls-cert "$T/cert.pem" --tls-key "$T/key.pem" \
		--mail-location "maildir:$MAIL/%d/%n" --hostname localhost \
		--max-conns 30000 --max-conns-per-ip 30000 --ip-fail-limit -1 \
		--failure-delay 50ms --scheme "$scheme" --verify-cache-ttl "$ttl" \
		--log-level warn --ready-file "$ready" >"$logf" 2>&1 &
	SERVER_PID=$!
	SERVER_LOG=$logf
	if ! POP3_ADDR=$("$LOAD" ready -file "$ready" -key pop3 -pid "$SERVER_PID" -timeout 60s) ||
		! POPPASSD_ADDR=$("$LOAD" ready -file "$ready" -key poppassd -pid "$SERVER_PID" -timeout 5s); then
		tail -n 20 "$logf" >&2 || true
		die "server $name did not start"
	fi
	log "server $name (scheme $scheme, verify cache $ttl): pid $SERVER_PID, pop3 $POP3_ADDR, poppassd $POPPASSD_ADDR"
}

# stop_server stops the running server (SIGTERM, then SIGKILL after 15 s).
stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	local i
	for i in $(seq 150); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
}

# warm PATTERN N LOGINS logs accounts 1..LOGINS of PATTERN in once each
# (untimed): with LOGINS = N it fills the verify cache.
warm() {
	log "warm-up: $3 logins of $1"
	timeout "$RUN_TIMEOUT" "$LOAD" logins -addr "$POP3_ADDR" -users "$1" -n-users "$2" -c 8 \
		-max "$3" -duration 10m -label "warm-up $1" >/dev/null || log "warm-up of $1 had errors"
}

# check_schemes PATTERN SCHEME warns when the first account of PATTERN no
# longer holds exactly a SCHEME credential (a rehash changed what the
# login figures measure).
check_schemes() {
	local user=${1/\%d/1} got
	got=$("$BIN" --db "$DB" user show "$user" --json 2>/dev/null | tr -d ' \n' |
		sed -n 's/.*"schemes":\[\([^]]*\)\].*/\1/p')
	if [ "$got" != "\"$2\"" ]; then
		log "warning: $user holds credentials [$got] after the logins, not only $2"
	fi
}

# want PHASE reports whether PHASE is in $PHASES.
want() { case " $PHASES " in *" $1 "*) return 0 ;; esac; return 1; }

capped() { if [ "$1" -gt "$2" ]; then echo "$2"; else echo "$1"; fi; }

# ---------------------------------------------------------------- set-up
log "setting up in $T (QUICK=${QUICK:-} REPEAT=$REPEAT DURATION=$DURATION)"
"$BIN" --db "$DB" db init >/dev/null
"$BIN" --db "$DB" domain add example.com >/dev/null
if ! "$BIN" tls self-signed --cert "$T/cert.pem" --key "$T/key.pem" >/dev/null 2>&1; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=localhost -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1 ||
		die "cannot make a TLS certificate"
fi

# No lockout: a benchmark must not lock its own accounts after a hiccup.
"$BIN" --db "$DB" policy set --lockout off >/dev/null

# import_csv FILE imports the accounts of FILE.
import_csv() {
	log "importing $(($(wc -l <"$1") - 1)) accounts"
	"$BIN" --db "$DB" import csv "$1" --create-domains >"$T/import.log" 2>&1 ||
		{ tail -n 20 "$T/import.log" >&2; die "import failed"; }
}
# The poppassd accounts get the default mechanisms, so that a change
# writes the full credential set the hashing floor computes.
CSV=$T/passwd-users.csv
"$LOAD" usercsv -users 'psha%d@example.com' -n-users "$PASSWD_USERS" -scheme SHA512-CRYPT -o "$CSV"
"$LOAD" usercsv -header=false -users 'parg%d@example.com' -n-users "$PASSWD_USERS" -scheme ARGON2ID -o "$CSV"
import_csv "$CSV"
# The other accounts get "plain" only: an imported hash then already is a
# complete credential set, so no login rehashes it (which would add a
# SCRAM-SHA-256 verifier at the first login and cost a write).
mechs=$("$BIN" --db "$DB" policy show | sed -n 's/^default mechs: *//p')
"$BIN" --db "$DB" policy set --default-mechs plain >/dev/null
CSV=$T/users.csv
"$LOAD" usercsv -users 'lsha%d@example.com' -n-users "$LOGIN_USERS" -scheme SHA512-CRYPT -o "$CSV"
"$LOAD" usercsv -header=false -users 'larg%d@example.com' -n-users "$LOGIN_USERS" -scheme ARGON2ID -o "$CSV"
"$LOAD" usercsv -header=false -users 'idle%d@example.com' -n-users "$IDLE_N" -scheme SHA512-CRYPT -o "$CSV"
for u in rsmall rbig uidl; do
	"$LOAD" usercsv -header=false -users "$u@example.com" -scheme SHA512-CRYPT -o "$CSV"
done
import_csv "$CSV"
"$BIN" --db "$DB" policy set --default-mechs "${mechs:-plain,scram-sha-256}" >/dev/null

"$LOAD" maildir -dir "$DOM/rsmall" -n 100 -size 51200
"$LOAD" maildir -dir "$DOM/rbig" -n 1 -size 20971520
if want retr; then "$LOAD" maildir -dir "$DOM/uidl" -n "$UIDL_N" -size 1024 -fast; fi
for p in lsha larg; do
	"$LOAD" maildir -dir "$DOM/$p%d" -count "$LOGIN_USERS" -n 0
done
if want idle; then "$LOAD" maildir -dir "$DOM/idle%d" -count "$IDLE_N" -n 0; fi

# ------------------------------------------------------- hashing floors
if want floors; then
	log "hashing floors"
	for rep in $(seq "$REPEAT"); do
		for s in SHA512-CRYPT ARGON2ID; do
			for c in $LOGIN_CS; do
				measure "verify/$s/c$c" hashfloor -op verify -scheme "$s" -c "$(capped "$c" "$VERIFY_FLOOR_MAX_C")" \
					-duration "$FLOOR_DURATION"
			done
			for c in $PASSWD_CS; do
				measure "hashfloor/$s/c$c" hashfloor -op set -scheme "$s" -c "$(capped "$c" "$FLOOR_MAX_C")" \
					-duration "$DURATION"
			done
		done
	done
fi

# ------------------------------------------ logins, RETR, UIDL, poppassd
login_rows() { # scheme cache
	local s=$1 cache=$2 c target
	for c in $LOGIN_CS; do
		target=-
		if [ "$s" = SHA512-CRYPT ] && [ "$c" = 8 ]; then
			if [ "$cache" = off ]; then target='>=800'; else target='>=3000'; fi
		fi
		row "Logins/s $s, verify cache $cache, c=$c" "logins/$s/$cache/c$c" logins_per_s /s \
			p50_ms,p99_ms,errors "verify/$s/c$c" ops_per_s "verify floor" "$target"
	done
}
run_logins() { # scheme pattern cache
	local s=$1 pat=$2 cache=$3 rep c
	if [ "$cache" = on ]; then
		warm "$pat" "$LOGIN_USERS" "$LOGIN_USERS"
	else
		warm "$pat" "$LOGIN_USERS" 8
	fi
	for rep in $(seq "$REPEAT"); do
		for c in $LOGIN_CS; do
			measure "logins/$s/$cache/c$c" logins -addr "$POP3_ADDR" -users "$pat" \
				-n-users "$LOGIN_USERS" -c "$c" -duration "$DURATION"
		done
	done
	login_rows "$s" "$cache"
	check_schemes "$pat" "$s"
}
run_retr_uidl() {
	local small_file big_file rep
	log "RETR and UIDL"
	small_file=$(find "$DOM/rsmall/new" -type f -print -quit)
	big_file=$(find "$DOM/rbig/new" -type f -print -quit)
	for rep in $(seq "$REPEAT"); do
		measure retr/50k retr -addr "$POP3_ADDR" -user rsmall@example.com -c 1 -duration "$DURATION"
		measure raw/50k rawtcp -file "$small_file" -c 1 -duration "$DURATION"
		measure retr/20m retr -addr "$POP3_ADDR" -user rbig@example.com -c 1 -duration "$DURATION"
		measure raw/20m rawtcp -file "$big_file" -c 1 -duration "$DURATION"
		# Cold means no size cache on disk (the files are in the page cache).
		rm -f "$DOM/uidl"/popadm-sizes*
		measure uidl uidl -addr "$POP3_ADDR" -user uidl@example.com -repeat "$UIDL_SESSIONS" -timeout 300s
	done
	row "RETR 100 × 50 KiB, c=1 (MB = 10^6 B)" retr/50k mb_per_s MB/s retr_p50_ms raw/50k mb_per_s "raw loopback" -
	row "RETR 1 × 20 MiB, c=1 (MB = 10^6 B)" retr/20m mb_per_s MB/s retr_p50_ms raw/20m mb_per_s "raw loopback" '>=450'
	row "UIDL on $UIDL_N messages, cold (no size cache)" uidl uidl_cold_ms ms - - - - -
	row "UIDL on $UIDL_N messages, warm" uidl uidl_warm_ms ms - - - - '<=150'
	row "Login (PASS) on $UIDL_N messages, cold" uidl login_cold_ms ms - - - - -
	row "Login (PASS) on $UIDL_N messages, warm" uidl login_warm_ms ms - - - - -
}
run_passwd() { # scheme pattern
	local s=$1 pat=$2 rep c target
	log "poppassd $s"
	for rep in $(seq "$REPEAT"); do
		for c in $PASSWD_CS; do
			measure "passwd/$s/c$c" passwd -addr "$POPPASSD_ADDR" -users "$pat" -n-users "$PASSWD_USERS" \
				-c "$c" -duration "$DURATION"
		done
	done
	for c in $PASSWD_CS; do
		target=-
		if [ "$s" = SHA512-CRYPT ] && [ "$c" = 8 ]; then target='>=400;>=80%'; fi
		row "poppassd changes/s $s, c=$c" "passwd/$s/c$c" changes_per_s /s p50_ms,p99_ms,errors \
			"hashfloor/$s/c$c" ops_per_s "hashing floor" "$target"
	done
}
for s in SHA512-CRYPT ARGON2ID; do
	case $s in
	SHA512-CRYPT) pat='lsha%d@example.com' ppat='psha%d@example.com' ;;
	*) pat='larg%d@example.com' ppat='parg%d@example.com' ;;
	esac
	if want logins; then
		start_server "logins-$s-off" "$s" 0s
		run_logins "$s" "$pat" off
		stop_server
	fi
	# The default configuration (verify cache on) serves the rest.
	if want logins || want passwd || { want retr && [ "$s" = SHA512-CRYPT ]; }; then
		start_server "$s-on" "$s" 10m
		if want logins; then run_logins "$s" "$pat" on; fi
		if want retr && [ "$s" = SHA512-CRYPT ]; then run_retr_uidl; fi
		if want passwd; then run_passwd "$s" "$ppat"; fi
		stop_server
	fi
done

# ---------------------------------------------------------- idle sessions
if want idle; then
	log "idle sessions: $IDLE_N"
	for rep in $(seq "$REPEAT"); do
		# A fresh server for each run: the "before" reading must not
		# include memory kept from an earlier run.
		start_server "idle-$rep" SHA512-CRYPT 10m
		measure idle idle -addr "$POP3_ADDR" -users 'idle%d@example.com' -n "$IDLE_N" -pid "$SERVER_PID" -c 32
		stop_server
	done
	row "Server memory per idle session at $IDLE_N" idle kib_per_session KiB opened,quit_ok - - - '<=50'
fi

# ----------------------------------------------------- Go benchmarks
GOBENCH=$T/gobench.txt
: >"$GOBENCH"
if want go; then
	log "go test -bench (benchtime $BENCHTIME, count $COUNT): $GOBENCH_PKGS"
	# shellcheck disable=SC2086 # GOBENCH_PKGS is a list
	if ! go test -run '^$' -bench . -benchmem -benchtime "$BENCHTIME" -count "$COUNT" -timeout 20m \
		$GOBENCH_PKGS >"$GOBENCH" 2>&1; then
		log "go test -bench failed (see the end of its output below)"
		tail -n 20 "$GOBENCH" >&2 || true
		FAILED=$((FAILED + 1))
	fi
fi

# ---------------------------------------------------------------- report
REPORT=$T/report.md
STRICT=()
if [ -n "${BENCH_STRICT:-}" ]; then STRICT=(-strict); fi
report_rc=0
{
	echo "# popadm benchmark results"
	echo
	echo "- Date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- Commit: $(git describe --tags --always --dirty 2>/dev/null || echo unknown)"
	echo "- $(go version)"
	echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo unknown), $(nproc) cores; $(uname -sr)"
	echo "- Runs per figure: $REPEAT (median shown); throughput runs last $DURATION; QUICK=${QUICK:-0}; phases: $PHASES"
	echo "- MB = 10^6 bytes, KiB = 1024 bytes; latencies are whole sessions (connect to the server's close)"
	echo
	echo "## Server figures"
	echo
	"$LOAD" report -results "$RESULTS" -spec "$SPEC" "${STRICT[@]}" || report_rc=$?
	echo
	if want go; then
		echo "## Go package benchmarks (median of $COUNT, -benchtime $BENCHTIME)"
		echo
		"$LOAD" benchstat <"$GOBENCH"
	fi
} >"$REPORT"
cat "$REPORT"
if [ -n "${BENCH_OUT:-}" ]; then
	cp "$REPORT" "$ROOT/bench-results.md"
	log "wrote $ROOT/bench-results.md"
fi
log "done in $(($(date +%s) - STARTED))s; $FAILED failed run(s)"
if [ "$report_rc" -ne 0 ]; then
	exit "$report_rc"
fi
