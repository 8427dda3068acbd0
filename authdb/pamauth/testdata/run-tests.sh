#!/bin/sh
# Runs the PAM backend's tests against real PAM stacks: pam_wrapper
# (preloaded into the test binary only, through -exec) makes Linux-PAM read
# the service files in authdb/pamauth/testdata/pam.d, which use the
# pam_matrix test module. Needs cgo and the Debian packages libpam0g-dev and
# libpam-wrapper. Run from the repository root; extra arguments go to
# go test (e.g. -race, -run TestChange, -v).
set -eu
cd "$(dirname "$0")/../../.."
exec go test -tags pam -count=1 \
	-exec "env LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=$PWD/authdb/pamauth/testdata/pam.d" \
	"$@" ./authdb/pamauth/
