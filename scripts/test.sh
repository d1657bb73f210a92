#!/usr/bin/env bash
# make test: every test of the project, in order, each step run even if
# one before it failed; then one line counting the tests of all steps,
#
#   N passed, N failed, N skipped
#
# It fails if any step or test failed, or any test was skipped: a test
# that cannot run here fails, naming what is missing.
#
#   deps         scripts/test-deps.sh: the Debian packages the tests need
#                (installed when run as root)
#   vet          make vet: go vet, gofmt, no script kills by name
#   unit         every package's unit tests under the race detector
#   integration  real diststored processes in private network namespaces
#   package      the Debian package built, linted, installed, run and
#                purged (needs root)
#
# Environment: GO (go).
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
results=bin/test-results
rm -rf "$results"
mkdir -p "$results"

scripts/test-deps.sh || exit 1
"$GO" build -o bin/testsum ./internal/testsum || exit 1

failed=()
# gotest NAME ARGS...: go test -json ARGS, shown as go test shows it, kept
# in $results/NAME.json for the count.
gotest() {
	local name=$1
	shift
	echo "== $name: go test $*"
	"$GO" test -json "$@" 2>&1 | tee "$results/$name.json" | bin/testsum || failed+=("$name")
}

echo "== vet"
make --no-print-directory vet || failed+=(vet)
mapfile -t unit < <("$GO" list ./... | grep -v -e /integration -e /packaging/debian)
gotest unit -race -count=1 "${unit[@]}"
gotest integration -count=1 -timeout 20m ./integration/
gotest package -tags debpackage -count=1 -timeout 10m ./packaging/debian/

if [ ${#failed[@]} -gt 0 ]; then
	echo "make test: failed steps: ${failed[*]}"
fi
# Last, the count of every step's tests.
bin/testsum -summary "$results"/*.json || exit 1
[ ${#failed[@]} -eq 0 ]
