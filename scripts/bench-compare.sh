#!/usr/bin/env bash
# `make bench-compare`: bin/popadm side by side with Dovecot's POP3 server
# and Debian's poppassd, all on 127.0.0.1, on the same accounts, hashes and
# Maildirs. See docs/bench-compare.md.
#
# Needs root (apt-get, Dovecot's privilege separation). Installs
# dovecot-pop3d, poppassd, socat, libpam-wrapper and libnss-wrapper when
# missing, with a policy-rc.d that stops any system service from starting.
# Everything else lives in a temporary directory removed at exit; every
# server started here is stopped at exit.
#
# Environment:
#   QUICK=1         short run (UIDL on 10,000 messages, 1s runs), < 5 minutes
#   REPEAT=N        A/B rounds per figure, median reported (default 3)
#   DURATION=D      time of each throughput run (default 3s; QUICK 1s)
#   IDLE_N=N        idle sessions held open (default 1000; QUICK 200)
#   UIDL_N=N        messages in the UIDL maildrop (default 100000; QUICK 10000)
#   DOVECOT_PORT, POPPASSD_PORT   fixed loopback ports (default 31110, 31106)
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
POPPASSD_PORT=${POPPASSD_PORT:-31106}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
# Numeric owner of the Maildirs for Dovecot's mail processes (no passwd entry needed).
MAIL_UID=${MAIL_UID:-64990}

log() { printf '[bench-compare %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, Dovecot)"
[ -x "$BIN" ] || die "$BIN is missing: run make build"
for c in timeout jq ss; do command -v "$c" >/dev/null || die "$c is required"; done

# ------------------------------------------------------------ install
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
PAM_WRAPPER_LIB=/usr/lib/$MULTIARCH/libpam_wrapper.so
NSS_WRAPPER_LIB=/usr/lib/$MULTIARCH/libnss_wrapper.so
PAM_MATRIX=/usr/lib/$MULTIARCH/pam_wrapper/pam_matrix.so
need=()
command -v dovecot >/dev/null || need+=(dovecot-pop3d)
[ -x /usr/lib/dovecot/pop3 ] || need+=(dovecot-pop3d)
[ -x /usr/sbin/poppassd ] || need+=(poppassd)
command -v socat >/dev/null || need+=(socat)
[ -e "$PAM_WRAPPER_LIB" ] || need+=(libpam-wrapper)
[ -e "$NSS_WRAPPER_LIB" ] || need+=(libnss-wrapper)
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
port_free "$POPPASSD_PORT" || die "port $POPPASSD_PORT is in use (set POPPASSD_PORT)"

ulimit -n 65536 2>/dev/null || true

# ------------------------------------------------------------ cleanup
T=$(mktemp -d "${TMPDIR:-/tmp}/popadm-bench-compare.XXXXXX")
chmod 755 "$T"
POPADM_PID=
DOVECOT_CONF=
SOCAT_PID=
cleanup() {
	local rc=$?
	if [ -n "$POPADM_PID" ]; then
		kill -TERM "$POPADM_PID" 2>/dev/null || true
		wait "$POPADM_PID" 2>/dev/null || true
	fi
	if [ -n "$SOCAT_PID" ]; then
		kill -TERM "$SOCAT_PID" 2>/dev/null || true
		wait "$SOCAT_PID" 2>/dev/null || true
	fi
	if [ -n "$DOVECOT_CONF" ] && [ -e "$T/dovecot/run/master.pid" ]; then
		local mp
		mp=$(cat "$T/dovecot/run/master.pid" 2>/dev/null || true)
		timeout 20 doveadm -c "$DOVECOT_CONF" stop 2>/dev/null || true
		if [ -n "$mp" ]; then
			for _ in $(seq 50); do kill -0 "$mp" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$mp" 2>/dev/null || true
		fi
	fi
	if [ -n "${KEEP:-}" ]; then log "kept $T"; else rm -rf "$T"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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
"$LOAD" maildir -dir "$DOM/uidl" -n "$UIDL_N" -size 1024 -fast
"$LOAD" maildir -dir "$DOM/lsha%d" -count "$LOGIN_USERS" -n 0
"$LOAD" maildir -dir "$DOM/idle%d" -count "$IDLE_N" -n 0
chown -R "$MAIL_UID:$MAIL_UID" "$MAIL"

# ------------------------------------------------------------ popadm
ready=$T/popadm.ready
"$BIN" --db "$DB" serve \
	--pop3-listen 127.0.0.1:0 --pop3s-listen 127.0.0.1:0 --poppassd-listen 127.0.0.1:0 \
	--tls-cert "$T/cert.pem" --tls-key "$T/key.pem" \
	--mail-location "maildir:$MAIL/%d/%n" --hostname localhost \
	--max-conns 30000 --max-conns-per-ip 30000 --ip-fail-limit -1 \
	--failure-delay 50ms --scheme SHA512-CRYPT --verify-cache-ttl 0s \
	--log-level warn --ready-file "$ready" >"$T/popadm.log" 2>&1 &
POPADM_PID=$!
PA_POP3=$("$LOAD" ready -file "$ready" -key pop3 -pid "$POPADM_PID" -timeout 60s) || die "popadm did not start"
PA_PASSWD=$("$LOAD" ready -file "$ready" -key poppassd -pid "$POPADM_PID" -timeout 5s) || die "popadm did not start"
log "popadm: pid $POPADM_PID, pop3 $PA_POP3, poppassd $PA_PASSWD (verify cache off)"

# ------------------------------------------------------------ Dovecot
D=$T/dovecot
mkdir -p "$D/run" "$D/state"
"$BIN" --db "$DB" export dovecot-passwd --file "$D/passwd" >/dev/null
# Dovecot's auth process reads the passdb as its internal user.
chown "root:$(id -gn dovecot)" "$D/passwd"
chmod 640 "$D/passwd"
DOVECOT_CONF=$D/dovecot.conf
cat >"$DOVECOT_CONF" <<EOF
protocols = pop3
listen = 127.0.0.1
base_dir = $D/run
state_dir = $D/state
log_path = $D/dovecot.log
info_log_path = $D/dovecot.log
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
  args = $D/passwd
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_UID home=$MAIL/%d/%n
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $DOVECOT_PORT
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  client_limit = $((IDLE_N * 3 + 1000))
}
EOF
dovecot -c "$DOVECOT_CONF" || { cat "$D/dovecot.log" >&2 || true; die "dovecot did not start"; }
for _ in $(seq 100); do port_free "$DOVECOT_PORT" || break; sleep 0.1; done
port_free "$DOVECOT_PORT" && { cat "$D/dovecot.log" >&2 || true; die "dovecot does not listen"; }
DC_PID=$(cat "$D/run/master.pid")
DC_POP3=127.0.0.1:$DOVECOT_PORT
log "dovecot $(dovecot --version | cut -d' ' -f1): master pid $DC_PID, pop3 $DC_POP3"

# ------------------------------------------------------------ Debian poppassd
# inetd emulated by socat; PAM through pam_wrapper + pam_matrix, accounts
# for getpwnam through nss_wrapper (no system account is touched).
P=$T/poppassd
mkdir -p "$P/pam.d"
cat >"$P/pam.d/poppassd" <<EOF
auth     required $PAM_MATRIX
account  required $PAM_MATRIX
password required $PAM_MATRIX
EOF
: >"$P/matrix"
: >"$P/passwd"
for i in $(seq "$PASSWD_USERS"); do
	printf 'psha%d@example.com:%s:poppassd\n' "$i" "$POPADM_LOAD_PASSWORD" >>"$P/matrix"
	printf 'psha%d@example.com:x:%d:%d::/nonexistent:/bin/false\n' "$i" $((20000 + i)) $((20000 + i)) >>"$P/passwd"
done
chmod 600 "$P/matrix"
printf 'mail:x:%d:\n' "$MAIL_UID" >"$P/group"
LD_PRELOAD="$PAM_WRAPPER_LIB:$NSS_WRAPPER_LIB" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$P/pam.d" \
	PAM_MATRIX_PASSWD="$P/matrix" NSS_WRAPPER_PASSWD="$P/passwd" NSS_WRAPPER_GROUP="$P/group" \
	socat "TCP-LISTEN:$POPPASSD_PORT,bind=127.0.0.1,fork,reuseaddr" EXEC:/usr/sbin/poppassd \
	>"$P/socat.log" 2>&1 &
SOCAT_PID=$!
for _ in $(seq 50); do port_free "$POPPASSD_PORT" || break; sleep 0.1; done
DP_PASSWD=127.0.0.1:$POPPASSD_PORT
log "Debian poppassd via socat: pid $SOCAT_PID, $DP_PASSWD"

# One probe conversation: does a change through pam_matrix succeed?
probe=$(timeout 10 python3 - "$POPPASSD_PORT" <<'EOF' 2>&1 || true
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
f = s.makefile("rwb")
pw = os.environ["POPADM_LOAD_PASSWORD"]
out = [f.readline().decode().strip()]
for line in ("user psha1@example.com", "pass " + pw, "newpass " + pw + "#probe", "quit"):
    f.write((line + "\r\n").encode()); f.flush()
    r = f.readline().decode().strip()
    out.append(r)
    if not r.startswith("200"):
        break
print(" | ".join(out))
EOF
)
log "Debian poppassd probe: $probe"
DP_CHANGE_OK=
case "$probe" in *"Password changed"*) DP_CHANGE_OK=1 ;; esac

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

# ------------------------------------------------------------ A B A B
for rep in $(seq "$REPEAT"); do
	log "round $rep/$REPEAT"
	for side in popadm dovecot; do
		if [ "$side" = popadm ]; then addr=$PA_POP3; else addr=$DC_POP3; fi
		measure "$side/logins" logins -addr "$addr" -users 'lsha%d@example.com' -n-users "$LOGIN_USERS" -c 8 -duration "$DURATION"
		measure "$side/retr" retr -addr "$addr" -user rbig@example.com -c 1 -duration "$DURATION"
		measure "$side/uidl" uidl -addr "$addr" -user uidl@example.com -repeat "$UIDL_SESSIONS" -timeout 120s
		if [ "$side" = popadm ]; then
			measure "$side/idle" idle -addr "$addr" -users 'idle%d@example.com' -n "$IDLE_N" -pid "$POPADM_PID" -c 8
			measure "$side/passwd" passwd -addr "$PA_PASSWD" -users 'psha%d@example.com' -n-users "$PASSWD_USERS" -c 8 -duration "$DURATION"
		else
			dovecot_idle "$side/idle"
			measure "debian/passwd" passwd -addr "$DP_PASSWD" -users 'psha%d@example.com' -n-users "$PASSWD_USERS" -c 8 -duration "$DURATION"
		fi
	done
done

# ------------------------------------------------------------ report
# med LABEL FIELD prints the median of FIELD over the runs of LABEL.
med() {
	jq -s --arg l "$1" --arg f "$2" '[.[] | select(.label == $l) | .[$f] | numbers] | sort |
		if length == 0 then "n/a" else .[(length - 1) / 2 | floor] end' "$RESULTS"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.3g", a / b }'; }
met() { # ratio op bound
	awk -v r="$1" -v op="$2" -v b="$3" 'BEGIN { if (r == "n/a") print "n/a"; else if ((op == ">=" && r + 0 >= b) || (op == "<=" && r + 0 <= b)) print "yes"; else print "**no**" }'
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
pr=$(med popadm/retr mb_per_s)
dr=$(med dovecot/retr mb_per_s)
pu=$(med popadm/uidl uidl_warm_ms)
du=$(med dovecot/uidl uidl_warm_ms)
pi=$(med popadm/idle kib_per_session)
di=$(med dovecot/idle kib_per_session)
pp=$(med popadm/passwd changes_per_s)
dp=$(med debian/passwd changes_per_s)
pe=$(med popadm/passwd errors)
de=$(med debian/passwd errors)
jq -c 'select(.label == "debian/passwd") | {label: "debian/passwd-fail", failures_per_s: (if .elapsed_s > 0 then .errors / .elapsed_s else 0 end)}' \
	"$RESULTS" >"$T/fail.jsonl" 2>/dev/null || true
cat "$T/fail.jsonl" >>"$RESULTS"
df=$(med debian/passwd-fail failures_per_s)
df=$(awk -v x="$df" 'BEGIN { if (x == "n/a") print x; else printf "%.1f", x }')
echo "# popadm vs Dovecot / Debian poppassd"
echo
echo "- Date: $(date -u +%Y-%m-%dT%H:%MZ); commit $(git describe --tags --always --dirty 2>/dev/null || echo unknown)"
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores; $(uname -sr)"
echo "- $(dovecot --version | sed 's/^/Dovecot /'); poppassd $(dpkg-query -W -f '${Version}' poppassd 2>/dev/null)"
echo "- QUICK=${QUICK:-0}; $REPEAT A/B rounds (median shown); throughput runs $DURATION; UIDL on $UIDL_N messages; $IDLE_N idle sessions"
echo
echo "| Figure | popadm | Dovecot / Debian poppassd | Ratio popadm/other | Target | Met? |"
echo "|---|---|---|---|---|---|"
line "Logins/s, c=8, SHA512-CRYPT, auth cache off" "$pl" "$dl" /s ">=" 10 "≥ 10"
line "RETR 1 × 20 MiB, c=1 (MB = 10^6 B)" "$pr" "$dr" MB/s ">=" 1.5 "≥ 1.5"
line "UIDL warm on $UIDL_N messages" "$pu" "$du" ms "<=" 0.5 "≤ 0.5"
line "Memory per idle session ($IDLE_N sessions)" "$pi" "$di" KiB "<=" 0.1 "≤ 0.1"
if [ -n "$DP_CHANGE_OK" ]; then
	line "poppassd changes/s, c=8, SHA512-CRYPT" "$pp" "$dp" /s ">=" 2 "≥ 2"
else
	printf '| poppassd changes/s, c=8, SHA512-CRYPT | %s /s | not measurable: 0 /s (failure path: %s failed conversations/s) | n/a | ≥ 2 at equal hashing cost | n/a |\n' "$(num "$pp")" "$df"
fi
echo
echo "Errors (median per run): popadm poppassd $pe, Debian poppassd $de."
echo "Logins: popadm's verify cache is off (--verify-cache-ttl 0s); Dovecot's auth_cache_size = 0."
echo "Dovecot idle memory is the summed RSS of its pop3 and pop3-login processes per session (ps);"
echo "popadm's is the growth of its one process's VmRSS per session."
if [ -z "$DP_CHANGE_OK" ]; then
	echo
	echo "Debian poppassd through pam_matrix: the probe change answered \"$probe\"."
	echo "poppassd answers every pam_chauthtok prompt with the new password, and pam_matrix's"
	echo "password module asks for the old one first, so no change succeeds: its change rate"
	echo "cannot be measured with this PAM stack (and pam_matrix compares plain text, so it has no"
	echo "hashing cost to equal). The figure above counts failed conversations only."
fi
log "done in $(($(date +%s) - STARTED))s"
