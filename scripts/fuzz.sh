#!/usr/bin/env bash
# Runs every Fuzz* target in the module for $FUZZTIME each (default 30s).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-30s}
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for t in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/func //' | sort -u); do
		echo "== $pkg $t ($FUZZTIME)"
		go test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" "$pkg"
	done
done
