#!/usr/bin/env bash
# `make bench-compare`: bin/popadm side by side with Dovecot's POP3 server
# and Debian's poppassd, all on 127.0.0.1, on the same accounts, hashes and
# Maildirs. See docs/bench-compare.md.
#
# Needs root (apt-get, Dovecot's privilege separation, mount namespaces,
# drop_caches). Installs dovecot-pop3d, poppassd and socat when missing,
# with a policy-rc.d that stops any system service from starting. Debian's
# poppassd changes passwords through the real pam_unix stack in a copy of
# /etc bind-mounted over /etc inside a private mount and PID namespace; the
# script checks that the system's /etc/shadow and /etc/passwd are unchanged.
# Everything else lives in a temporary directory removed at exit; every
# server started here (two popadm, two Dovecot instances, socat) is
# stopped at exit.
#
# Environment:
#   QUICK=1         short run (UIDL on 10,000 messages, 1s runs), < 5 minutes
#   REPEAT=N        A/B rounds per figure, median reported (default 3)
#   DURATION=D      time of each throughput run (default 3s; QUICK 1s)
#   IDLE_N=N        idle sessions held open (default 1000; QUICK 200)
#   UIDL_N=N        messages in the UIDL maildrop (default 100000; QUICK 10000)
#   DOVECOT_PORT, DOVECOT_CACHE_PORT, POPPASSD_PORT
#                   fixed loopback ports (default 31110, 31111, 31106)
#   KEEP=1          keep the temporary directory
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/popadm}
LOAD=bin/popadm-load

if [ -n "${QUICK:-}" ]; then
	REPEAT=${REPEAT:-3}
	DURATION=${DURATION:-1s}
	IDLE_N=${IDLE_N:-200}
	UIDL_N=${UIDL_N:-10000}
else
	REPEAT=${REPEAT:-3}
	DURATION=${DURATION:-3s}
	IDLE_N=${IDLE_N:-1000}
	UIDL_N=${UIDL_N:-100000}
fi
UIDL_SESSIONS=${UIDL_SESSIONS:-3}
LOGIN_USERS=${LOGIN_USERS:-64}
PASSWD_USERS=${PASSWD_USERS:-16}
DOVECOT_PORT=${DOVECOT_PORT:-31110}
DOVECOT_CACHE_PORT=${DOVECOT_CACHE_PORT:-31111}
POPPASSD_PORT=${POPPASSD_PORT:-31106}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
# Numeric owner of the Maildirs for Dovecot's mail processes (no passwd entry needed).
MAIL_UID=${MAIL_UID:-64990}

log() { printf '[bench-compare %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, Dovecot)"
[ -x "$BIN" ] || die "$BIN is missing: run make build"
for c in timeout jq ss unshare mount sha256sum; do command -v "$c" >/dev/null || die "$c is required"; done

# ------------------------------------------------------------ install
need=()
command -v dovecot >/dev/null || need+=(dovecot-pop3d)
[ -x /usr/lib/dovecot/pop3 ] || need+=(dovecot-pop3d)
[ -x /usr/sbin/poppassd ] || need+=(poppassd)
command -v socat >/dev/null || need+=(socat)
if [ "${#need[@]}" -gt 0 ]; then
	made_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	log "installing ${need[*]}"
	rc=0
	DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q "${need[@]}" >/tmp/bench-compare-apt.log 2>&1 || rc=$?
	if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
	[ "$rc" = 0 ] || { tail -n 20 /tmp/bench-compare-apt.log >&2; die "apt-get install failed"; }
	# The poppassd package adds an all-interfaces inetd entry: keep it disabled.
	if command -v update-inetd >/dev/null; then update-inetd --disable poppassd 2>/dev/null || true; fi
fi

port_free() { ! ss -Htln "sport = :$1" | grep -q .; }
port_free "$DOVECOT_PORT" || die "port $DOVECOT_PORT is in use (set DOVECOT_PORT)"
port_free "$DOVECOT_CACHE_PORT" || die "port $DOVECOT_CACHE_PORT is in use (set DOVECOT_CACHE_PORT)"
port_free "$POPPASSD_PORT" || die "port $POPPASSD_PORT is in use (set POPPASSD_PORT)"

ulimit -n 65536 2>/dev/null || true

# ------------------------------------------------------------ cleanup
T=$(mktemp -d "${TMPDIR:-/tmp}/popadm-bench-compare.XXXXXX")
chmod 755 "$T"
# Every popadm and Dovecot started, for the clean-up.
POPADM_PIDS=()
DOVECOT_DIRS=()
UNSHARE_PID=
SOCAT_PID=
SOCAT_PIDNS=
# stop_poppassd ends the namespace of Debian's poppassd. socat is the
# first process (PID 1) of its PID namespace: when it exits, the kernel
# kills every other process in the namespace (the forked socat children
# and their poppassd), and the mount namespace with the bind mount goes
# with them. unshare --kill-child SIGKILLs socat if unshare itself dies.
stop_poppassd() {
	local p
	if [ -n "$SOCAT_PID" ]; then
		kill -TERM "$SOCAT_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$SOCAT_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SOCAT_PID" 2>/dev/null || true
	fi
	if [ -n "$UNSHARE_PID" ]; then
		for _ in $(seq 50); do kill -0 "$UNSHARE_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$UNSHARE_PID" 2>/dev/null || true
		wait "$UNSHARE_PID" 2>/dev/null || true
	fi
	# Nothing may be left in the namespace; kill stragglers by PID.
	if [ -n "$SOCAT_PIDNS" ]; then
		for p in /proc/[0-9]*; do
			if [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$SOCAT_PIDNS" ]; then
				log "killing ${p#/proc/} left in poppassd's namespace"
				kill -KILL "${p#/proc/}" 2>/dev/null || true
			fi
		done
	fi
	SOCAT_PID=''
	UNSHARE_PID=''
	SOCAT_PIDNS=''
}
# stop_dovecot DIR stops the instance whose config and base_dir are in
# DIR: doveadm stop, then SIGKILL of its master if it is still there.
stop_dovecot() {
	local d=$1 mp
	[ -e "$d/run/master.pid" ] || return 0
	mp=$(cat "$d/run/master.pid" 2>/dev/null || true)
	timeout 20 doveadm -c "$d/dovecot.conf" stop 2>/dev/null || true
	if [ -n "$mp" ]; then
		for _ in $(seq 50); do kill -0 "$mp" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$mp" 2>/dev/null || true
	fi
}
cleanup() {
	local rc=$? p d
	for p in "${POPADM_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${POPADM_PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	stop_poppassd
	for d in "${DOVECOT_DIRS[@]}"; do
		stop_dovecot "$d"
	done
	if [ -n "${KEEP:-}" ]; then log "kept $T"; else rm -rf "$T"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# System files that Debian's poppassd must never change: it works on a
# copy of /etc. Checked after the probe change and at the end.
real_etc=()
for f in /etc/shadow /etc/passwd /etc/group /etc/gshadow /etc/pam.d/poppassd; do
	if [ -e "$f" ]; then real_etc+=("$f"); fi
done
sha256sum "${real_etc[@]}" >"$T/real-etc.sha256"
real_etc_list=$(printf '%s, ' "${real_etc[@]}")
real_etc_list=${real_etc_list%, }
check_real_etc() {
	local bad
	bad=$(sha256sum -c "$T/real-etc.sha256" 2>&1 | grep -v ': OK$' || true)
	[ -z "$bad" ] || die "system files changed during the run: $bad"
}

STARTED=$(date +%s)
log "building $LOAD"
go build -o "$LOAD" ./cmd/popadm-load

POPADM_LOAD_PASSWORD="bench-$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')"
export POPADM_LOAD_PASSWORD
DB=$T/auth.db
MAIL=$T/mail
DOM=$MAIL/example.com
RESULTS=$T/results.jsonl
: >"$RESULTS"

# measure LABEL SUBCOMMAND ARGS... runs the load tool, keeps its JSON line.
measure() {
	local label=$1 sub=$2
	shift 2
	timeout "$RUN_TIMEOUT" "$LOAD" "$sub" -label "$label" "$@" >>"$RESULTS" || log "$label: run failed"
}

# ------------------------------------------------------------ accounts
log "setting up in $T (QUICK=${QUICK:-} REPEAT=$REPEAT DURATION=$DURATION UIDL_N=$UIDL_N IDLE_N=$IDLE_N)"
"$BIN" --db "$DB" db init >/dev/null
"$BIN" --db "$DB" domain add example.com >/dev/null
"$BIN" tls self-signed --cert "$T/cert.pem" --key "$T/key.pem" >/dev/null 2>&1 ||
	die "cannot make a TLS certificate"
"$BIN" --db "$DB" policy set --lockout off >/dev/null
mechs=$("$BIN" --db "$DB" policy show | sed -n 's/^default mechs: *//p')
"$BIN" --db "$DB" policy set --default-mechs plain >/dev/null
CSV=$T/users.csv
"$LOAD" usercsv -users 'lsha%d@example.com' -n-users "$LOGIN_USERS" -scheme SHA512-CRYPT -o "$CSV"
"$LOAD" usercsv -header=false -users 'idle%d@example.com' -n-users "$IDLE_N" -scheme SHA512-CRYPT -o "$CSV"
"$LOAD" usercsv -header=false -users 'psha%d@example.com' -n-users "$PASSWD_USERS" -scheme SHA512-CRYPT -o "$CSV"
for u in rbig uidl; do
	"$LOAD" usercsv -header=false -users "$u@example.com" -scheme SHA512-CRYPT -o "$CSV"
done
"$BIN" --db "$DB" import csv "$CSV" --create-domains >"$T/import.log" 2>&1 ||
	{ tail -n 20 "$T/import.log" >&2; die "import failed"; }
"$BIN" --db "$DB" policy set --default-mechs "${mechs:-plain,scram-sha-256}" >/dev/null

"$LOAD" maildir -dir "$DOM/rbig" -n 1 -size 20971520
# The UIDL maildrop is a template that no server ever opens: each UIDL run
# gets a fresh copy (no Dovecot index or uidlist, no popadm size cache).
UIDL_TEMPLATE=$T/uidl-template
"$LOAD" maildir -dir "$UIDL_TEMPLATE" -n "$UIDL_N" -size 1024 -fast
"$LOAD" maildir -dir "$DOM/lsha%d" -count "$LOGIN_USERS" -n 0
"$LOAD" maildir -dir "$DOM/idle%d" -count "$IDLE_N" -n 0
chown -R "$MAIL_UID:$MAIL_UID" "$MAIL" "$UIDL_TEMPLATE"

# ------------------------------------------------------------ popadm
# Two popadm servers on the same database and Maildirs, identical but for
# the verify cache: off (--verify-cache-ttl 0s) for every figure but one,
# and at its default TTL for the cache-on logins. Neither binds the default
# metrics port or control socket, so both can run at once.
# start_popadm NAME ARGS... starts one, sets STARTED_PID and STARTED_READY.
start_popadm() {
	local name=$1
	shift
	STARTED_READY=$T/popadm-$name.ready
	"$BIN" --db "$DB" serve \
		--pop3-listen 127.0.0.1:0 --pop3s-listen 127.0.0.1:0 --poppassd-listen 127.0.0.1:0 \
		--metrics-listen none --control-socket none \
		--tls-cert "$T/cert.pem" --tls-key "$T/key.pem" \
		--mail-location "maildir:$MAIL/%d/%n" --hostname localhost \
		--max-conns 30000 --max-conns-per-ip 30000 --ip-fail-limit -1 \
		--failure-delay 50ms --scheme SHA512-CRYPT "$@" \
		--log-level warn --ready-file "$STARTED_READY" >"$T/popadm-$name.log" 2>&1 &
	STARTED_PID=$!
	POPADM_PIDS+=("$STARTED_PID")
}
start_popadm nocache --verify-cache-ttl 0s
POPADM_PID=$STARTED_PID
PA_POP3=$("$LOAD" ready -file "$STARTED_READY" -key pop3 -pid "$POPADM_PID" -timeout 60s) || die "popadm did not start"
PA_PASSWD=$("$LOAD" ready -file "$STARTED_READY" -key poppassd -pid "$POPADM_PID" -timeout 5s) || die "popadm did not start"
log "popadm: pid $POPADM_PID, pop3 $PA_POP3, poppassd $PA_PASSWD (verify cache off)"
# The cache-on server runs with serve's default --verify-cache-ttl.
PA_CACHE_TTL=$("$BIN" serve --help 2>&1 | sed -n 's/.*--verify-cache-ttl .*(default \([^)]*\)).*/\1/p')
start_popadm cache
POPADM_CACHE_PID=$STARTED_PID
PA_CACHE_POP3=$("$LOAD" ready -file "$STARTED_READY" -key pop3 -pid "$POPADM_CACHE_PID" -timeout 60s) ||
	die "popadm (verify cache on) did not start"
PA_CACHE_PASSWD=$("$LOAD" ready -file "$STARTED_READY" -key poppassd -pid "$POPADM_CACHE_PID" -timeout 5s) ||
	die "popadm (verify cache on) did not start"
log "popadm: pid $POPADM_CACHE_PID, pop3 $PA_CACHE_POP3, poppassd $PA_CACHE_PASSWD (verify cache on, default TTL ${PA_CACHE_TTL:-unknown})"

# ------------------------------------------------------------ Dovecot
# Two Dovecot instances, each with its own base_dir, state_dir, log and
# port: the main one on the SHA512-CRYPT passwd-file popadm exported, and
# one for the "no hashing per login" row on a {PLAIN} passwd-file of the
# lsha accounts. Dovecot 2.3 does not cache passwd-file lookups in its
# auth cache (and would re-verify a cached hash anyway), so a cleartext
# passdb is the way to take the hash out of its login path.
PASSWD_FILE=$T/dovecot.passwd
"$BIN" --db "$DB" export dovecot-passwd --file "$PASSWD_FILE" >/dev/null
PLAIN_PASSWD_FILE=$T/dovecot-plain.passwd
for i in $(seq "$LOGIN_USERS"); do
	printf 'lsha%d@example.com:{PLAIN}%s::::::\n' "$i" "$POPADM_LOAD_PASSWORD"
done >"$PLAIN_PASSWD_FILE"
# Dovecot's auth process reads the passdb as its internal user.
chown "root:$(id -gn dovecot)" "$PASSWD_FILE" "$PLAIN_PASSWD_FILE"
chmod 640 "$PASSWD_FILE" "$PLAIN_PASSWD_FILE"
# start_dovecot DIR PORT PASSWD_FILE writes DIR/dovecot.conf and starts
# the instance (auth cache off); sets STARTED_PID to its master's PID.
start_dovecot() {
	local d=$1 port=$2 passwd=$3
	mkdir -p "$d/run" "$d/state"
	cat >"$d/dovecot.conf" <<EOF
protocols = pop3
listen = 127.0.0.1
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
info_log_path = $d/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_cache_size = 0
first_valid_uid = $MAIL_UID
last_valid_uid = $MAIL_UID
mail_location = maildir:$MAIL/%d/%n
mail_max_userip_connections = 0
default_process_limit = $((IDLE_N + 200))
default_client_limit = $((IDLE_N * 2 + 1000))
passdb {
  driver = passwd-file
  args = $passwd
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_UID home=$MAIL/%d/%n
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $port
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  client_limit = $((IDLE_N * 3 + 1000))
}
EOF
	# Registered before the start: the clean-up stops whatever got started.
	DOVECOT_DIRS+=("$d")
	dovecot -c "$d/dovecot.conf" || { cat "$d/dovecot.log" >&2 || true; die "dovecot ($d) did not start"; }
	for _ in $(seq 100); do port_free "$port" || break; sleep 0.1; done
	port_free "$port" && { cat "$d/dovecot.log" >&2 || true; die "dovecot ($d) does not listen on $port"; }
	STARTED_PID=$(cat "$d/run/master.pid")
}
D=$T/dovecot
start_dovecot "$D" "$DOVECOT_PORT" "$PASSWD_FILE"
DC_PID=$STARTED_PID
DC_POP3=127.0.0.1:$DOVECOT_PORT
log "dovecot $(dovecot --version | cut -d' ' -f1): master pid $DC_PID, pop3 $DC_POP3 (SHA512-CRYPT, auth cache off)"
DK=$T/dovecot-plain
start_dovecot "$DK" "$DOVECOT_CACHE_PORT" "$PLAIN_PASSWD_FILE"
DC_CACHE_PID=$STARTED_PID
DC_CACHE_POP3=127.0.0.1:$DOVECOT_CACHE_PORT
log "dovecot: master pid $DC_CACHE_PID, pop3 $DC_CACHE_POP3 ({PLAIN} passdb, no hashing per login)"

# ------------------------------------------------------------ Debian poppassd
# inetd is emulated by socat, which runs as root in a private mount and PID
# namespace where a copy of /etc is bind-mounted over /etc. The copy gets
# the psha1..N system accounts (uid >= 100, as poppassd requires) with the
# same SHA512-CRYPT hash as popadm's, and a poppassd PAM service on the
# real pam_unix: poppassd verifies and changes passwords exactly as on a
# system, but pam_unix rewrites the copy's shadow file (nshadow + rename
# inside the bind mount), never the system's.
P=$T/poppassd
E=$T/etc
mkdir -p "$P"
grep -q '^psha[0-9]*:' /etc/passwd && die "/etc/passwd already has a psha account"
cp -a /etc "$E"
# SHA512-CRYPT hash shared by popadm's psha accounts, without "{SHA512-CRYPT}".
PSHA_HASH=
while IFS=, read -r u h; do
	if [ "$u" = psha1@example.com ]; then PSHA_HASH=${h#'{SHA512-CRYPT}'}; break; fi
done <"$CSV"
case $PSHA_HASH in "\$6\$"*) ;; *) die "no SHA512-CRYPT hash for psha1 in $CSV" ;; esac
for f in passwd shadow; do
	if [ -s "$E/$f" ] && [ -n "$(tail -c 1 "$E/$f")" ]; then echo >>"$E/$f"; fi
done
day=$(($(date +%s) / 86400))
for i in $(seq "$PASSWD_USERS"); do
	printf 'psha%d:x:%d:%d::/nonexistent:/usr/sbin/nologin\n' "$i" $((20000 + i)) $((20000 + i)) >>"$E/passwd"
	printf 'psha%d:%s:%d:0:99999:7:::\n' "$i" "$PSHA_HASH" "$day" >>"$E/shadow"
done
# pam_unix's sha512 without rounds= uses 5000 rounds (the SHA512-CRYPT
# default), unless login.defs sets SHA_CRYPT_MAX_ROUNDS; the probe below
# checks the rounds of the hash it writes.
cat >"$E/pam.d/poppassd" <<'EOF'
auth     required pam_unix.so
account  required pam_unix.so
password required pam_unix.so sha512
EOF
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
unshare --mount --propagation private --pid --fork --kill-child -- \
	sh -c 'mount --bind "$1" /etc && exec socat "TCP-LISTEN:$2,bind=127.0.0.1,fork,reuseaddr" EXEC:/usr/sbin/poppassd' \
	sh "$E" "$POPPASSD_PORT" >"$P/socat.log" 2>&1 &
UNSHARE_PID=$!
for _ in $(seq 100); do
	port_free "$POPPASSD_PORT" || break
	kill -0 "$UNSHARE_PID" 2>/dev/null || break
	sleep 0.1
done
port_free "$POPPASSD_PORT" && { cat "$P/socat.log" >&2; die "Debian poppassd (socat) does not listen"; }
SOCAT_PID=$(ps -o pid= --ppid "$UNSHARE_PID" | tr -d ' ' | head -n 1)
if [ -z "$SOCAT_PID" ] || [ "$(ps -o comm= -p "$SOCAT_PID")" != socat ]; then
	die "cannot find socat under unshare $UNSHARE_PID"
fi
SOCAT_PIDNS=$(readlink "/proc/$SOCAT_PID/ns/pid")
[ "$SOCAT_PIDNS" != "$(readlink /proc/self/ns/pid)" ] || die "socat is not in its own PID namespace"
[ "$(readlink "/proc/$SOCAT_PID/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] || die "socat is not in its own mount namespace"
DP_PASSWD=127.0.0.1:$POPPASSD_PORT
log "Debian poppassd via socat in a private mount + PID namespace: pid $SOCAT_PID, $DP_PASSWD"

# poppassd_change USER OLD NEW runs one poppassd conversation over bash's
# /dev/tcp and prints the replies; it fails unless every reply is 200.
# Run it in a command substitution (a closed socket may SIGPIPE the shell).
poppassd_change() {
	local fd reply out cmd rc=0
	exec {fd}<>"/dev/tcp/127.0.0.1/$POPPASSD_PORT" || { echo "cannot connect"; return 1; }
	IFS= read -r -t 10 -u "$fd" reply || reply="(no reply)"
	out=${reply%$'\r'}
	for cmd in "user $1" "pass $2" "newpass $3" quit; do
		case $reply in 200*) ;; *) rc=1; break ;; esac
		printf '%s\r\n' "$cmd" >&"$fd"
		IFS= read -r -t 10 -u "$fd" reply || reply="(no reply)"
		out="$out | ${reply%$'\r'}"
	done
	case $reply in 200*) ;; *) rc=1 ;; esac
	exec {fd}>&-
	printf '%s\n' "$out"
	return "$rc"
}
# shadow_hash FILE USER prints USER's password field in FILE.
shadow_hash() {
	local n h rest
	while IFS=: read -r n h rest; do
		if [ "$n" = "$2" ]; then printf '%s\n' "$h"; return 0; fi
	done <"$1"
	return 1
}
# sha512_rounds HASH prints the rounds of a $6$ hash (5000 when it has no
# rounds= field), or "not SHA512-CRYPT".
sha512_rounds() {
	local r
	case $1 in
	"\$6\$rounds="*) r=${1#"\$6\$rounds="} && echo "${r%%\$*}" ;;
	"\$6\$"*) echo 5000 ;;
	*) echo "not SHA512-CRYPT" ;;
	esac
}

# Probe: change psha1 and back. Each change must answer 200 and rewrite
# psha1's hash in the copy with 5000 SHA512-CRYPT rounds, and the
# system's files must stay byte-identical.
probe=$(poppassd_change psha1 "$POPADM_LOAD_PASSWORD" "$POPADM_LOAD_PASSWORD#probe") ||
	die "Debian poppassd probe change failed: $probe"
h1=$(shadow_hash "$E/shadow" psha1) || die "psha1 vanished from $E/shadow"
[ "$h1" != "$PSHA_HASH" ] || die "Debian poppassd answered 200 but psha1's hash in $E/shadow did not change"
DP_ROUNDS=$(sha512_rounds "$h1")
[ "$DP_ROUNDS" = 5000 ] || die "pam_unix wrote a hash with $DP_ROUNDS rounds, not SHA512-CRYPT with 5000"
probe2=$(poppassd_change psha1 "$POPADM_LOAD_PASSWORD#probe" "$POPADM_LOAD_PASSWORD") ||
	die "Debian poppassd probe change back failed: $probe2"
check_real_etc
log "Debian poppassd probe: $probe"
log "Debian poppassd probe back: $probe2"
log "Debian poppassd probe: psha1's hash in the copied shadow changed (\$6\$, $DP_ROUNDS rounds)"
log "system $real_etc_list: unchanged (sha256)"

# ------------------------------------------------------------ idle memory
# rss_sum prints the summed RSS (KiB) and count of Dovecot's pop3 and
# pop3-login processes (children of the master).
rss_sum() {
	ps -o rss=,comm= --ppid "$DC_PID" | awk '$2 ~ /^pop3(-login)?$/ {s += $1; n++} END {printf "%d %d\n", s, n}'
}
dovecot_idle() {
	local label=$1 before after n_before n_after pid kib ok
	read -r before n_before < <(rss_sum)
	"$LOAD" idle -label "$label-tool" -addr "$DC_POP3" -users 'idle%d@example.com' -n "$IDLE_N" \
		-pid "$DC_PID" -c 8 -duration 60s -settle 8s >"$T/idle.json" 2>"$T/idle.err" &
	pid=$!
	# Wait for all sessions to be logged in, then read ps during the settle.
	after=0 n_after=0
	for _ in $(seq 300); do
		sleep 0.2
		read -r after n_after < <(rss_sum)
		[ "$n_after" -ge $((n_before + IDLE_N)) ] && break
		kill -0 "$pid" 2>/dev/null || break
	done
	sleep 1
	read -r after n_after < <(rss_sum)
	wait "$pid" || log "$label: idle tool failed: $(tail -n 1 "$T/idle.err")"
	ok=true
	[ $((n_after - n_before)) -ge "$IDLE_N" ] || { ok=false; log "$label: only $((n_after - n_before)) of $IDLE_N sessions"; }
	kib=$(awk -v a="$after" -v b="$before" -v n="$IDLE_N" 'BEGIN {printf "%.1f", (a - b) / n}')
	if [ "$ok" = false ]; then kib=null; fi
	printf '{"label":"%s","ok":%s,"kib_per_session":%s,"processes":%d}\n' "$label" "$ok" "$kib" $((n_after - n_before)) >>"$RESULTS"
	log "$label: $((n_after - n_before)) processes, $kib KiB/session (sum RSS)"
}

# ------------------------------------------------------------ UIDL cold
# fresh_uidl gives the uidl account a fresh copy of the template (no
# Dovecot index or uidlist, no popadm size cache or lock file), writes it
# to disk and drops the page, dentry and inode caches, so that the first
# session of the next UIDL run is cold.
DROPPED=0
NOT_DROPPED=0
fresh_uidl() {
	rm -rf "$DOM/uidl"
	cp -a "$UIDL_TEMPLATE" "$DOM/uidl"
	timeout 300 sync || log "sync did not finish in 300s"
	if { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
		DROPPED=$((DROPPED + 1))
	else
		NOT_DROPPED=$((NOT_DROPPED + 1))
		log "cannot write /proc/sys/vm/drop_caches: the page cache stays warm for this cold UIDL run"
	fi
}

# ------------------------------------------------------------ cache warm-up
# warm LABEL ADDR logs every lsha account in twice, untimed, so that the
# cache-on servers hold all of them before a timed run (and none has
# expired: it runs right before each one).
warm() {
	timeout "$RUN_TIMEOUT" "$LOAD" logins -label "$1" -addr "$2" -users 'lsha%d@example.com' \
		-n-users "$LOGIN_USERS" -c 8 -max $((LOGIN_USERS * 2)) -duration 60s >/dev/null 2>>"$T/warm-up.log" ||
		log "$1: warm-up had errors: $(tail -n 1 "$T/warm-up.log")"
}

# ------------------------------------------------------------ A B A B
for rep in $(seq "$REPEAT"); do
	log "round $rep/$REPEAT"
	for side in popadm dovecot; do
		if [ "$side" = popadm ]; then
			addr=$PA_POP3 cache_addr=$PA_CACHE_POP3
		else
			addr=$DC_POP3 cache_addr=$DC_CACHE_POP3
		fi
		measure "$side/logins" logins -addr "$addr" -users 'lsha%d@example.com' -n-users "$LOGIN_USERS" -c 8 -duration "$DURATION"
		warm "$side/logins-cache warm-up" "$cache_addr"
		measure "$side/logins-cache" logins -addr "$cache_addr" -users 'lsha%d@example.com' -n-users "$LOGIN_USERS" -c 8 -duration "$DURATION"
		measure "$side/retr" retr -addr "$addr" -user rbig@example.com -c 1 -duration "$DURATION"
		fresh_uidl
		measure "$side/uidl" uidl -addr "$addr" -user uidl@example.com -repeat "$UIDL_SESSIONS" -timeout 120s
		rm -rf "$DOM/uidl"
		if [ "$side" = popadm ]; then
			# On the second popadm, whose heap holds only logins: the first
			# one has just scanned the large UIDL maildrop, and the Go
			# runtime returning that memory during the idle run would
			# read as a negative growth.
			measure "$side/idle" idle -addr "$PA_CACHE_POP3" -users 'idle%d@example.com' -n "$IDLE_N" -pid "$POPADM_CACHE_PID" -c 8
			# Both sides hash with SHA512-CRYPT at 5000 rounds. Debian's
			# poppassd verifies the old password (pam_authenticate) and
			# hashes the new one (pam_chauthtok, as root without asking
			# for the old one): two hashes per change. popadm's default
			# server remembers a password it verified or set in its
			# verify cache, so in this loop (each account changed again
			# from the password it was just given) it computes only the
			# new hash. The cache-off server verifies at "pass" and again
			# at "newpass" and hashes: three per change; measured too.
			measure "$side/passwd" passwd -addr "$PA_CACHE_PASSWD" -users 'psha%d@example.com' -n-users "$PASSWD_USERS" -c 8 -duration "$DURATION"
			measure "$side/passwd-nocache" passwd -addr "$PA_PASSWD" -users 'psha%d@example.com' -n-users "$PASSWD_USERS" -c 8 -duration "$DURATION"
		else
			dovecot_idle "$side/idle"
			measure "debian/passwd" passwd -addr "$DP_PASSWD" -users 'psha%d' -n-users "$PASSWD_USERS" -c 8 -duration "$DURATION"
		fi
	done
done

# ------------------------------------------------------------ checks
check_real_etc
# Equal hashing cost: what each side stored at its last change of psha1.
pa_schemes=$("$BIN" --db "$DB" -o json user show psha1@example.com | jq -r '.schemes | join(",")')
"$BIN" --db "$DB" export dovecot-passwd --file "$T/after.passwd" >/dev/null
pa_hash=$(shadow_hash "$T/after.passwd" psha1@example.com) || pa_hash=
pa_hash=${pa_hash#'{SHA512-CRYPT}'}
pa_rounds=$(sha512_rounds "$pa_hash")
pa_new=no
if [ "$pa_hash" != "$PSHA_HASH" ]; then pa_new=yes; fi
dp_hash=$(shadow_hash "$E/shadow" psha1) || dp_hash=
dp_rounds=$(sha512_rounds "$dp_hash")
dp_new=no
if [ "$dp_hash" != "$PSHA_HASH" ]; then dp_new=yes; fi
log "psha1 after the runs: popadm stores $pa_schemes ($pa_rounds rounds, rewritten: $pa_new); Debian $dp_rounds rounds (rewritten: $dp_new)"

# ------------------------------------------------------------ report
# medx LABEL EXPR prints the median of the jq expression EXPR over the
# runs of LABEL (runs where it is not a number are skipped).
medx() {
	jq -rs --arg l "$1" "[.[] | select(.label == \$l) | ($2) | numbers] | sort |
		if length == 0 then \"n/a\" else .[(length - 1) / 2 | floor] end" "$RESULTS"
}
# med LABEL FIELD prints the median of FIELD over the runs of LABEL.
med() { medx "$1" ".$2"; }
# COLD is the first UIDL session's PASS + UIDL time.
COLD='if (.login_cold_ms | type) == "number" and (.uidl_cold_ms | type) == "number" then .login_cold_ms + .uidl_cold_ms else null end'
# ratio A B prints A/B; n/a when either is missing or not positive (a
# growth of memory at or below zero is noise, not a measurement).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || a + 0 <= 0 || b + 0 <= 0) print "n/a"; else printf "%.3g", a / b }'; }
met() { # ratio op bound; op "-" means no target
	awk -v r="$1" -v op="$2" -v b="$3" 'BEGIN { if (op == "-") print "—"; else if (r == "n/a") print "n/a"; else if ((op == ">=" && r + 0 >= b) || (op == "<=" && r + 0 <= b)) print "yes"; else print "**no**" }'
}
# num X prints X with 3 significant digits (at least one decimal below 100).
num() { awk -v x="$1" 'BEGIN { if (x == "n/a") print x; else if (x >= 100 || x <= -100) printf "%.0f", x; else if (x >= 10 || x <= -10) printf "%.1f", x; else printf "%.2f", x }'; }
line() { # figure popadm other unit op bound target-text
	local r
	r=$(ratio "$2" "$3")
	set -- "$1" "$(num "$2")" "$(num "$3")" "$4" "$5" "$6" "$7"
	printf '| %s | %s %s | %s %s | %s | %s | %s |\n' "$1" "$2" "$4" "$3" "$4" "$r" "$7" "$(met "$r" "$5" "$6")"
}
pl=$(med popadm/logins logins_per_s)
dl=$(med dovecot/logins logins_per_s)
plk=$(med popadm/logins-cache logins_per_s)
dlk=$(med dovecot/logins-cache logins_per_s)
ple=$(med popadm/logins-cache errors)
dle=$(med dovecot/logins-cache errors)
pr=$(med popadm/retr mb_per_s)
dr=$(med dovecot/retr mb_per_s)
pu=$(med popadm/uidl uidl_warm_ms)
du=$(med dovecot/uidl uidl_warm_ms)
puc=$(med popadm/uidl uidl_cold_ms)
duc=$(med dovecot/uidl uidl_cold_ms)
plc=$(med popadm/uidl login_cold_ms)
dlc=$(med dovecot/uidl login_cold_ms)
pc=$(medx popadm/uidl "$COLD")
dc=$(medx dovecot/uidl "$COLD")
pi=$(med popadm/idle kib_per_session)
di=$(med dovecot/idle kib_per_session)
pp=$(med popadm/passwd changes_per_s)
ppn=$(med popadm/passwd-nocache changes_per_s)
dp=$(med debian/passwd changes_per_s)
pe=$(med popadm/passwd errors)
de=$(med debian/passwd errors)
if [ "$NOT_DROPPED" -eq 0 ]; then
	cold="fresh copy, page cache dropped"
else
	cold="fresh copy, page cache NOT dropped in $NOT_DROPPED of $((DROPPED + NOT_DROPPED)) runs"
fi
echo "# popadm vs Dovecot / Debian poppassd"
echo
echo "- Date: $(date -u +%Y-%m-%dT%H:%MZ); commit $(git describe --tags --always --dirty 2>/dev/null || echo unknown)"
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores; $(uname -sr)"
echo "- $(dovecot --version | sed 's/^/Dovecot /'); poppassd $(dpkg-query -W -f '${Version}' poppassd 2>/dev/null); $(dpkg-query -W -f 'libpam-modules ${Version}' libpam-modules 2>/dev/null)"
echo "- QUICK=${QUICK:-0}; $REPEAT A/B rounds (median shown); throughput runs $DURATION; UIDL on $UIDL_N messages; $IDLE_N idle sessions"
echo
echo "| Figure | popadm | Dovecot / Debian poppassd | Ratio popadm/other | Target | Met? |"
echo "|---|---|---|---|---|---|"
line "Logins/s, c=8, SHA512-CRYPT, auth cache off" "$pl" "$dl" /s ">=" 10 "≥ 10"
line "Logins/s, c=8, no hash computed per login (popadm: verify cache on; Dovecot: {PLAIN} passdb)" "$plk" "$dlk" /s - - "—"
line "RETR 1 × 20 MiB, c=1 (MB = 10^6 B)" "$pr" "$dr" MB/s ">=" 1.5 "≥ 1.5"
line "UIDL warm on $UIDL_N messages" "$pu" "$du" ms "<=" 0.5 "≤ 0.5"
line "UIDL cold on $UIDL_N messages: PASS + UIDL of the first session ($cold)" "$pc" "$dc" ms - - "—"
line "Memory per idle session ($IDLE_N sessions)" "$pi" "$di" KiB "<=" 0.1 "≤ 0.1"
line "poppassd changes/s, c=8, SHA512-CRYPT 5000 rounds, popadm's default server (verify cache on)" "$pp" "$dp" /s ">=" 2 "≥ 2"
line "poppassd changes/s, c=8, popadm with its verify cache off (three SHA512-CRYPT per change against Debian's two)" "$ppn" "$dp" /s - - "—"
echo
echo "Errors (median per run): popadm poppassd $pe, Debian poppassd $de."
echo "Logins, cache off: popadm's verify cache is off (--verify-cache-ttl 0s); Dovecot's auth_cache_size = 0."
echo "Logins, no hash per login: a second popadm with the default --verify-cache-ttl (${PA_CACHE_TTL:-unknown}) and a"
echo "second Dovecot on a {PLAIN} passwd-file of the same accounts (Dovecot 2.3 does not cache passwd-file"
echo "lookups); each timed run follows an untimed one in which every account logs in twice. This row shows"
echo "the per-connection cost without hashing. Errors (median per run): popadm $ple, Dovecot $dle."
echo "UIDL cold: the first session of each run on a fresh copy of the maildrop (no Dovecot index, no"
echo "popadm size cache) after sync and drop_caches, PASS + UIDL, since the servers scan the maildrop in"
echo "different steps: PASS / UIDL medians popadm $(num "$plc") / $(num "$puc") ms, Dovecot $(num "$dlc") / $(num "$duc") ms."
echo "UIDL warm: the median UIDL time of the sessions after the first."
echo "Dovecot idle memory is the summed RSS of its pop3 and pop3-login processes per session (ps);"
echo "popadm's is the growth of its one process's VmRSS per session."
echo "poppassd: Debian's poppassd runs the real pam_unix stack (sha512) on a copy of /etc in a private"
echo "mount namespace. psha1 after the runs: popadm stores $pa_schemes ($pa_rounds rounds, rewritten by"
echo "the server: $pa_new), Debian's copied shadow \$6\$ with $dp_rounds rounds (rewritten: $dp_new)."
echo "System $real_etc_list: byte-identical before and after (sha256)."
log "done in $(($(date +%s) - STARTED))s"
