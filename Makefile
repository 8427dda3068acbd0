# popadm — POP3 + poppassd server and admin CLI.
# `make run` serves on loopback with a local embedded setup; `make test` is the one test command.

GO        ?= go
BIN       := bin/popadm
VERSION   ?= 0.1.0-$(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/popadm/popadm/internal/cli.Version=$(VERSION)
FUZZTIME  ?= 30s
BENCHTIME ?= 1x

.PHONY: all build build-pam run test check bench fuzz cover clean docs

all: build

build:
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/popadm

build-pam:
	CGO_ENABLED=1 $(GO) build -trimpath -tags pam -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/popadm

# Serves POP3 (STLS), POP3S and poppassd on unprivileged loopback ports with a
# database, Maildir root and self-signed certificate under ./run.
run: build
	scripts/run.sh

# Unit, protocol, integration (real curl/poplib/fetchmail against the built
# binary) and multi-process tests, with the race detector; then, as root
# with libpam-wrapper (and Postfix) installed, the system-account tests:
# PAM through pam_wrapper/pam_matrix, mbox spools, a real Postfix delivery;
# then the short form of `make test-hard` (about two minutes).
test: build
	POPADM_BIN=$(CURDIR)/$(BIN) $(GO) test -race -shuffle=on -count=1 -timeout 20m ./...
	scripts/test-system.sh
	POPADM_BIN=$(CURDIR)/$(BIN) HARD=short scripts/test-hard.sh

# Fault tests against the built binary (kill -9 during UPDATE and password
# changes, read-only and locked database, full disk), abuse (slowloris,
# floods, STLS injection, brute force, refusal timing) and load (10,000
# sessions, a sustained mixed load); root for some. HARD=short (default,
# about two minutes; also run by `make test`) or HARD=long (hundreds of
# iterations, a few minutes of load).
.PHONY: test-hard
test-hard: build
	POPADM_BIN=$(CURDIR)/$(BIN) HARD=$${HARD:-short} scripts/test-hard.sh

check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	$(GO) vet ./...
	scripts/importcheck.sh

bench: build
	scripts/bench.sh

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

cover:
	$(GO) test -coverprofile=cover.out ./... && $(GO) tool cover -html=cover.out -o cover.html

# Man pages (docs/man) and bash/zsh/fish completions (scripts/completions)
# from the command tree.
docs:
	$(GO) run scripts/gendocs.go

clean:
	rm -rf bin run cover.out cover.html

# popadm side by side with Dovecot POP3 and Debian poppassd on loopback
# (root; installs the packages when missing). See docs/bench-compare.md.
.PHONY: bench-compare
bench-compare: build
	scripts/bench-compare.sh
