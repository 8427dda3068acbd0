#!/usr/bin/env bash
# `make run`: serves POP3 (STLS) on 127.0.0.1:1110, POP3S on 127.0.0.1:1995 and
# poppassd on 127.0.0.1:1106 with everything under ./run: the account
# database, the Maildir root and a self-signed certificate. Nothing outside
# the checkout is touched and no root is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/popadm}
RUN=${RUN_DIR:-run}
export POPADM_DB=$PWD/$RUN/auth.db
mkdir -p "$RUN/mail" "$RUN/tls"
if [ ! -f "$POPADM_DB" ]; then
	"$BIN" db init
	"$BIN" domain add example.com
	echo "created $POPADM_DB with domain example.com"
fi
"$BIN" tls self-signed --cert "$RUN/tls/cert.pem" --key "$RUN/tls/key.pem" >/dev/null
cat <<TXT

popadm is serving on loopback (Ctrl-C stops it):
  POP3 + STLS  127.0.0.1:1110     POP3S  127.0.0.1:1995     poppassd  127.0.0.1:1106
  metrics      http://127.0.0.1:1910/metrics               control   $RUN/control.sock

In another terminal (same directory):
  export POPADM_DB=$POPADM_DB
  bin/popadm user add alice@example.com          # asks for a password twice
  printf 'Subject: hi\n\nhello\n' > $RUN/mail/example.com/alice/new/1.msg   # after the first login, or mkdir -p new cur tmp first
  curl pop3://127.0.0.1:1110/ --user alice@example.com                       # LIST (asks for the password)
  curl pop3://127.0.0.1:1110/1 --user alice@example.com                      # RETR 1
  curl --cacert $RUN/tls/cert.pem pop3s://127.0.0.1:1995/ --user alice@example.com
  printf 'user alice@example.com\npass OLD\nnewpass NEW\nquit\n' | nc 127.0.0.1 1106   # change the password (nc: netcat-openbsd)
  bin/popadm who --control-socket $RUN/control.sock                          # live sessions
  curl -s http://127.0.0.1:1910/metrics | grep ^popadm_                      # metrics

TXT
exec "$BIN" serve \
	--pop3-listen 127.0.0.1:1110 --pop3s-listen 127.0.0.1:1995 --poppassd-listen 127.0.0.1:1106 \
	--tls-cert "$RUN/tls/cert.pem" --tls-key "$RUN/tls/key.pem" \
	--mail-location "maildir:$PWD/$RUN/mail/%d/%n" --hostname localhost \
	--metrics-listen 127.0.0.1:1910 --control-socket "$PWD/$RUN/control.sock" \
	--journal-dir "$PWD/$RUN/journal" "$@"
