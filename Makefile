# diststore: the single entry point for building, testing and running.

SHELL    := /bin/bash
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin
UNIT     := $(shell $(GO) list ./... | grep -v -e /integration -e /packaging/debian)

.PHONY: all build test unit integration race vet fuzz bench faults demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

## test: everything (scripts/test.sh): the Debian packages the tests need
## (installed when run as root), vet, unit tests with the race detector,
## the integration tests (real diststored processes in private network
## namespaces, entered by the test binary itself), the Debian package test;
## then one line: N passed, N failed, N skipped. A skipped test fails it.
test:
	GO='$(GO)' ./scripts/test.sh

vet: scripts-check
	$(GO) vet ./...
	$(GO) vet -tags debpackage ./packaging/debian/
	$(GO) vet -tags figures ./integration/
	cd cmd/diststore-bench/etcd && $(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

## scripts-check: no shell script of the project stops a process by name
## (pkill, killall, pgrep or pidof feeding kill); scripts stop only what
## they started, by its PID. The check, then its own test.
.PHONY: scripts-check
scripts-check:
	bash scripts/check-no-kill-by-name.sh
	bash scripts/check-no-kill-by-name_test.sh

unit:
	$(GO) test -race -count=1 $(UNIT)

integration:
	$(GO) test -count=1 -timeout 20m ./integration/

## faults: the fault-injection suite with the figures docs/durability.md quotes
## (built with -tags figures, which adds the 100k-key failover), verbose;
## the FIGURE and CHECK lines (what each test measured, and how many
## acknowledged writes its checker verified) go to bin/faults-figures.txt.
faults:
	mkdir -p bin; set -o pipefail; $(GO) test -count=1 -v -tags figures -timeout 30m -run 'TestFault' ./integration/ 2>&1 | \
		tee bin/faults.log | grep --line-buffered -e FIGURE -e 'CHECK ' -e '^--- ' -e '^ok' -e '^FAIL' | tee bin/faults-figures.txt

race: unit

## fuzz: every fuzz target of the module (found by go test -list), each for
## FUZZTIME (30s; make fuzz FUZZTIME=5s), one after another; fails if any
## fails (scripts/fuzz.sh).
fuzz:
	GO='$(GO)' FUZZTIME='$(FUZZTIME)' ./scripts/fuzz.sh

## bench: the Go micro-benchmarks, then real clusters on 127.0.2.N loaded by
## `diststore-bench`, each figure beside a baseline, in a private network
## namespace (scripts/bench.sh): durable writes beside a 3-member etcd
## cluster on 127.0.3.1-3 (Debian's etcd-server, installed when missing if
## run as root; its service is never started); a table, and
## bench-results.json.
bench:
	GO='$(GO)' ./scripts/bench.sh

## demo: three nodes on 127.0.2.1-3, multicast on lo, nothing leaves the
## machine. Ctrl-C stops them. make demo JOIN=1: without multicast, --join.
demo: build
	JOIN='$(JOIN)' ./scripts/demo.sh

clean:
	rm -rf $(BIN)

## deb: the Debian package diststore_<version>_<arch>.deb, written to DEB_OUT
## (default: the repository root); see packaging/debian/README.md.
DEB_OUT ?= .
.PHONY: deb test-deb
deb:
	GO='$(GO)' VERSION='$(VERSION)' DEB_OUT='$(DEB_OUT)' sh packaging/debian/build-deb.sh

## test-deb: build, lint, install, use and purge the package, as root, inside
## a private network namespace (packaging/debian/test-install.sh).
test-deb:
	$(GO) test -tags debpackage -count=1 -v -timeout 10m ./packaging/debian/
