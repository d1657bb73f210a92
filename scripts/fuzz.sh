#!/usr/bin/env bash
# diststore's fuzzing, run by `make fuzz`: every fuzz target of the module,
# each for FUZZTIME. `go test -fuzz` takes one target per run, so the
# targets are found with `go test -list '^Fuzz'` over every package (a new one is never
# left out) and run one after another. Each starts from its seeds: the
# f.Add calls and <package>/testdata/fuzz/<FuzzName>/, where a failing input
# is written, to be committed as a regression test.
#
# It exits non-zero if the listing fails, finds no target, or any target
# fails; a failing target does not stop the others.
#
# Environment (all optional):
#   GO        go command (go)
#   FUZZTIME  -fuzztime of each target (30s)
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}

# integration/ holds no fuzz target, and its TestMain builds the daemon and
# enters a namespace even to list.
pkgs=$("$GO" list ./... | grep -v /integration)
if ! listing=$("$GO" test -list '^Fuzz' $pkgs 2>&1); then
	printf '%s\n' "$listing" >&2
	echo "fuzz: listing the fuzz targets failed" >&2
	exit 1
fi

# go test prints each package's names, then its "ok <package> <time>" line.
targets=() # "<package> <FuzzName>"
names=()
while IFS= read -r line; do
	if [[ $line =~ ^Fuzz[A-Za-z0-9_]*$ ]]; then
		names+=("$line")
	elif [[ $line =~ ^ok[[:space:]]+([^[:space:]]+) ]]; then
		for n in ${names[@]+"${names[@]}"}; do
			targets+=("${BASH_REMATCH[1]} $n")
		done
		names=()
	fi
done <<<"$listing"
if ((${#names[@]} > 0)) || ((${#targets[@]} == 0)); then
	printf '%s\n' "$listing" >&2
	echo "fuzz: found no fuzz target, or names without their package, in the listing above" >&2
	exit 1
fi

failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "fuzz: $name in $pkg for $FUZZTIME"
	if ! "$GO" test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "$pkg"; then
		failed+=("$name ($pkg)")
	fi
done

echo "fuzz: ${#targets[@]} targets, ${#failed[@]} failed"
if ((${#failed[@]} > 0)); then
	printf 'fuzz: FAILED %s\n' "${failed[@]}" >&2
	exit 1
fi
