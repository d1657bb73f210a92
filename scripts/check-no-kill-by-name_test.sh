#!/usr/bin/env bash
# check-no-kill-by-name_test.sh: feed check-no-kill-by-name.sh scripts that
# stop processes by name and scripts that do not, and check its exit codes
# and the FILE:LINE it names; then check which files of a git repository it
# reads. Run by `make scripts-check`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
check=$here/check-no-kill-by-name.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-no-kill-by-name.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The words, spelled so that this file passes the check itself.
pk=pk'ill' ka=kil'lall' pg=pg'rep' pd=pid'of' k=k'ill' sd=shut'down' fu=fu'ser'

failures=0
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	failures=$((failures + 1))
}

# bad NAME LINE: the check must reject file NAME (in $tmp), naming LINE.
bad() {
	local out rc=0
	out=$(bash "$check" "$tmp/$1" 2>&1) || rc=$?
	[ "$rc" = 1 ] || fail "$1: exit $rc, want 1: $out"
	grep -q "^$tmp/$1:$2: " <<<"$out" || fail "$1: want a report for line $2, got: $out"
}

# good NAME: the check must accept file NAME.
good() {
	local out rc=0
	out=$(bash "$check" "$tmp/$1" 2>&1) || rc=$?
	[ "$rc" = 0 ] || fail "$1: exit $rc, want 0: $out"
}

sample() { cat >"$tmp/$1"; }

sample by-pk.sh <<EOF
#!/bin/sh
# comment
$pk -x supervisord || true
EOF
bad by-pk.sh 3

sample by-ka.sh <<EOF
#!/bin/bash
echo start; /usr/bin/$ka supervisord
EOF
bad by-ka.sh 2

sample pg-xargs.sh <<EOF
#!/bin/sh
$pg -x supervisord | xargs -r $k
EOF
bad pg-xargs.sh 2

sample pg-subst.sh <<EOF
#!/bin/sh
true
$k -TERM \$($pg -f diststored)
EOF
bad pg-subst.sh 3

sample pd-subst.sh <<EOF
#!/bin/sh
$k \`$pd supervisord\`
EOF
bad pd-subst.sh 2

sample pipe-continued.sh <<EOF
#!/bin/sh
$pg -x supervisord |
	xargs $k
EOF
bad pipe-continued.sh 2

sample backslash-continued.sh <<EOF
#!/bin/sh
$k -KILL \\
	\$($pd diststored)
EOF
bad backslash-continued.sh 2

sample variable.sh <<EOF
#!/bin/bash
pids=\$($pg -x supervisord || true)
echo "stopping \$pids"
[ -z "\$pids" ] || $k \$pids
EOF
bad variable.sh 4

sample loop.sh <<EOF
#!/bin/bash
for p in \$($pd diststored); do
	$k -KILL "\${p}"
done
EOF
bad loop.sh 3

sample function.sh <<EOF
#!/bin/bash
supervisord_pids() {
	$pg -x supervisord || true
}
pids=\$(supervisord_pids)
$k \$pids
EOF
bad function.sh 6

sample read.sh <<EOF
#!/bin/bash
$pg -x diststored | while read -r p; do
	$k "\$p"
done
EOF
bad read.sh 3

sample fuser.sh <<EOF
#!/bin/sh
$fu -k 8181/tcp
EOF
bad fuser.sh 2

sample supervisorctl.sh <<EOF
#!/bin/sh
supervisorctl $sd >/dev/null 2>&1 || true
EOF
bad supervisorctl.sh 2

# Clean: comments, looking without stopping, stopping by recorded PID, and
# a supervisord of one's own stopped through its own configuration.
sample good.sh <<EOF
#!/bin/bash
# $pk -x supervisord   (a comment)
echo hello # then $ka, in a comment
pid=\$(supervisord -n -c "\$conf" & echo \$!)
$pg -x supervisord >/dev/null && echo "a supervisord is running; not touching it" >&2
[ -z "\$($pd diststored)" ] || exit 1
node &
pids+=(\$!)
$k -TERM "\${pids[@]}"
$k -0 "\$pid" 2>/dev/null
supervisorctl -c "\$conf" $sd
printf '#!/bin/sh\nexit 101\n' >"\$f"
n=\${#pids[@]}
EOF
good good.sh

# Several files: one bad one makes it fail, and every bad one is named.
out=$(bash "$check" "$tmp/good.sh" "$tmp/by-pk.sh" "$tmp/loop.sh" 2>&1) && fail "good+bad files: exit 0"
grep -q "/by-pk.sh:3: " <<<"$out" && grep -q "/loop.sh:3: " <<<"$out" || fail "good+bad files: $out"

rc=0
bash "$check" "$tmp/missing.sh" >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "missing file: exit $rc, want 2"

# No arguments: the shell scripts tracked by git, and only those.
repo=$tmp/repo
mkdir -p "$repo/.ci" "$repo/packaging/debian" "$repo/bin"
printf '#!/usr/bin/env bash\n%s -x a\n' "$pk" >"$repo/tool"                      # shebang, no .sh
printf '#!/bin/sh\n%s -x a\n' "$pk" >"$repo/packaging/debian/postinst"           # maintainer script
printf 'set -e\n%s -x a\n' "$pk" >"$repo/.ci/run"                                 # under .ci/
printf '# lib\n%s -x a\n' "$pk" >"$repo/lib.sh"                                        # *.sh
printf '#!/usr/bin/python3\nimport os  # %s\nos.system("%s -x a")\n' "$pk" "$pk" >"$repo/bin/py" # not shell
printf 'Never run %s.\n' "$pk" >"$repo/README.md"                                # not shell
printf '#!/bin/sh\n%s -x a\n' "$pk" >"$repo/untracked.sh"                         # not tracked
(
	unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
	cd "$repo"
	git init -q .
	git add tool packaging/debian/postinst .ci/run lib.sh bin/py README.md
	rc=0
	out=$(bash "$check" 2>&1) || rc=$?
	[ "$rc" = 1 ] || fail "git mode: exit $rc, want 1: $out"
	for f in tool packaging/debian/postinst .ci/run lib.sh; do
		grep -q "^$f:2: " <<<"$out" || fail "git mode: $f not reported: $out"
	done
	for f in bin/py README.md untracked.sh; do
		! grep -q "^$f:" <<<"$out" || fail "git mode: $f is not a tracked shell script: $out"
	done
	exit "$failures"
) || failures=$?

if [ "$failures" -gt 0 ]; then
	echo "check-no-kill-by-name_test: $failures failure(s)" >&2
	exit 1
fi
echo "check-no-kill-by-name_test: ok"
