#!/usr/bin/env bash
# Install popadm on a Debian-like host: the system account, the state
# directories, the binary, the systemd unit, the man pages and completions,
# and an empty account database. Run as root from the source tree after
# `make build` (or `make build-pam`). Running it again is safe: the binary,
# man pages, completions and the unit are replaced; the account, the
# directories' contents, /etc/default/popadm, installed PAM and fail2ban
# files and, above all, an existing database are left as they are.
#
#   scripts/install.sh [--bin FILE] [--prefix DIR] [--user NAME] [--db FILE]
#                      [--pam] [--fail2ban] [--no-systemd] [--enable]
#
# DESTDIR=DIR stages every file under DIR (the account must exist already).
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/install.sh [options]

  --bin FILE     popadm binary to install (default: bin/popadm of this tree)
  --prefix DIR   installation prefix (default: /usr/local)
  --user NAME    system account (and group) that runs popadm (default: popadm)
  --db FILE      account database (default: /var/lib/popadm/auth.db)
  --pam          also install the PAM services popadm-pop3 and popadm-passwd
                 into /etc/pam.d (system accounts; needs a build with
                 `make build-pam` and popadm running as root)
  --fail2ban     also install the fail2ban filter and jail
  --no-systemd   do not install the systemd unit
  --enable       enable and start (or restart) popadm.service
  -h, --help     this text

Environment: DESTDIR stages all files under a directory.
USAGE
}

here=$(cd "$(dirname "$0")/.." && pwd)
bin="$here/bin/popadm"
prefix=/usr/local
user=popadm
db=/var/lib/popadm/auth.db
pam=0
fail2ban=0
systemd=1
enable=0
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) bin=${2:?--bin needs a file}; shift ;;
	--prefix) prefix=${2:?--prefix needs a directory}; shift ;;
	--user) user=${2:?--user needs a name}; shift ;;
	--db) db=${2:?--db needs a file}; shift ;;
	--pam) pam=1 ;;
	--fail2ban) fail2ban=1 ;;
	--no-systemd) systemd=0 ;;
	--enable) enable=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "install.sh: unknown option $1" >&2; usage >&2; exit 64 ;;
	esac
	shift
done

dest=${DESTDIR:-}
say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (the account, ownership and ports need it)"
[ -x "$bin" ] || die "no binary at $bin: run 'make build' (or 'make build-pam') first, or give --bin"
"$bin" version >/dev/null || die "$bin does not run"

# 1. The system account: no login shell, no home directory of its own.
if ! getent group "$user" >/dev/null; then
	if [ -n "$dest" ]; then die "group $user does not exist (DESTDIR installs do not create accounts)"; fi
	addgroup --system "$user" >/dev/null 2>&1 || groupadd --system "$user"
	say "created group $user"
fi
if ! getent passwd "$user" >/dev/null; then
	if [ -n "$dest" ]; then die "user $user does not exist (DESTDIR installs do not create accounts)"; fi
	if command -v adduser >/dev/null; then
		adduser --system --ingroup "$user" --home /var/lib/popadm --no-create-home \
			--shell /usr/sbin/nologin --gecos "popadm mail server" "$user" >/dev/null
	else
		useradd --system --gid "$user" --home-dir /var/lib/popadm --no-create-home \
			--shell /usr/sbin/nologin --comment "popadm mail server" "$user"
	fi
	say "created user $user"
fi
group=$(id -gn "$user")

# 2. State directories. Modes and owners are (re)applied to the
# directories only, never to what they contain.
statedir="$dest$(dirname "$db")"
install -d -m 0750 -o "$user" -g "$group" "$statedir"
install -d -m 0700 -o "$user" -g "$group" "$dest/var/lib/popadm/journal"
install -d -m 0750 -o "$user" -g "$group" "$dest/var/vmail"

# 3. Program, man pages, shell completions.
install -d -m 0755 "$dest$prefix/bin"
install -m 0755 "$bin" "$dest$prefix/bin/popadm"
say "installed $prefix/bin/popadm ($("$bin" version 2>/dev/null | head -n 1))"
if compgen -G "$here/docs/man/*.1" >/dev/null; then
	install -d -m 0755 "$dest$prefix/share/man/man1"
	install -m 0644 "$here"/docs/man/*.1 "$dest$prefix/share/man/man1/"
fi
comp="$here/scripts/completions"
if [ -f "$comp/popadm.bash" ]; then
	install -D -m 0644 "$comp/popadm.bash" "$dest$prefix/share/bash-completion/completions/popadm"
	install -D -m 0644 "$comp/popadm.zsh" "$dest$prefix/share/zsh/site-functions/_popadm"
	install -D -m 0644 "$comp/popadm.fish" "$dest$prefix/share/fish/vendor_completions.d/popadm.fish"
fi

# 4. The account database: created empty as the service account, mode
# 0640; an existing file is never touched.
dbfile="$dest$db"
if [ -e "$dbfile" ]; then
	say "keeping the existing database $db (check it with: popadm --db $db db check)"
	owner=$(stat -c %U "$dbfile")
	[ "$owner" = "$user" ] || say "warning: $db is owned by $owner, not $user; the servers cannot write it"
else
	(umask 027 && runuser -u "$user" -- "$dest$prefix/bin/popadm" --db "$dbfile" --actor install.sh -q db init)
	chmod 0640 "$dbfile"
	for f in "$dbfile-wal" "$dbfile-shm"; do
		if [ -e "$f" ]; then chmod 0640 "$f"; fi
	done
	say "created the database $db (owner $user, mode 0640)"
fi

# 5. systemd unit and its options file.
if [ "$systemd" -eq 1 ]; then
	unit="$dest/etc/systemd/system/popadm.service"
	install -d -m 0755 "$(dirname "$unit")"
	rw=/var/lib/popadm
	case "$(dirname "$db")" in
	/var/lib/popadm | /var/lib/popadm/*) ;;
	*) rw="$(dirname "$db") $rw" ;;
	esac
	sed -e "s#/usr/local/bin/popadm#$prefix/bin/popadm#g" \
		-e "s#^User=popadm\$#User=$user#" -e "s#^Group=popadm\$#Group=$group#" \
		-e "s#^ReadWritePaths=/var/lib/popadm /var/vmail\$#ReadWritePaths=$rw /var/vmail#" \
		"$here/scripts/systemd/popadm.service" >"$unit.tmp"
	chmod 0644 "$unit.tmp"
	mv -f "$unit.tmp" "$unit"
	say "installed /etc/systemd/system/popadm.service (local changes belong in 'systemctl edit popadm')"
	defaults="$dest/etc/default/popadm"
	if [ ! -e "$defaults" ]; then
		install -d -m 0755 "$(dirname "$defaults")"
		cat >"$defaults" <<EOF
# Options for \`popadm serve\` (see popadm-serve(1) and docs/operations.md),
# read by popadm.service. Reload after a change: systemctl restart popadm
#POPADM_OPTS="--tls-cert /etc/popadm/tls/fullchain.pem --tls-key /etc/popadm/tls/privkey.pem"
POPADM_OPTS="--db $db"
EOF
		chmod 0644 "$defaults"
		say "wrote /etc/default/popadm"
	fi
	if [ -z "$dest" ] && [ -d /run/systemd/system ]; then
		systemctl daemon-reload
		if [ "$enable" -eq 1 ]; then
			systemctl enable popadm.service >/dev/null
			systemctl restart popadm.service
			say "popadm.service enabled and (re)started"
		fi
	elif [ "$enable" -eq 1 ]; then
		say "warning: systemd is not running here; --enable ignored"
	fi
fi

# 6. PAM services, only when asked; existing files are local policy.
if [ "$pam" -eq 1 ]; then
	install -d -m 0755 "$dest/etc/pam.d"
	for svc in popadm-pop3 popadm-passwd; do
		if [ -e "$dest/etc/pam.d/$svc" ]; then
			say "keeping /etc/pam.d/$svc"
		else
			install -m 0644 "$here/scripts/pam.d/$svc" "$dest/etc/pam.d/$svc"
			say "installed /etc/pam.d/$svc"
		fi
	done
	say "system accounts need popadm built with 'make build-pam' and run as root: see the comments in popadm.service"
fi

# 7. fail2ban filter and jail, only when asked.
if [ "$fail2ban" -eq 1 ]; then
	for f in filter.d/popadm.conf jail.d/popadm.conf; do
		if [ -e "$dest/etc/fail2ban/$f" ]; then
			say "keeping /etc/fail2ban/$f"
		else
			install -D -m 0644 "$here/scripts/fail2ban/$f" "$dest/etc/fail2ban/$f"
			say "installed /etc/fail2ban/$f"
		fi
	done
	say "reload fail2ban to start the jail: fail2ban-client reload"
fi

say "done. Next: popadm domain add example.com; popadm user add alice@example.com"
