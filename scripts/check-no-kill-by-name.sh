#!/usr/bin/env bash
# check-no-kill-by-name.sh: fail when a shell script of the project stops
# processes by name. On an operator's machine a process found by name may be
# theirs; scripts and tests stop only what they started, by the PID they
# recorded (issue 16).
#
# Usage: check-no-kill-by-name.sh [FILE...]
#   With no FILE: every shell script tracked by git: *.sh and *.bash, every
#   file under .ci/, Debian maintainer scripts (preinst, postinst, prerm,
#   postrm) and any file whose first line is a sh or bash shebang.
#
# It reports FILE:LINE and exits 1 on, outside comments:
#   - pkill, killall (and killall5);
#   - kill on the same line as pgrep or pidof (kill $(pgrep x),
#     pgrep x | xargs kill, also across a line ending in | or \);
#   - kill of a variable filled from pgrep, pidof, or a function that calls
#     them (pids=$(pgrep x) ... kill $pids; for p in $(pidof x); ...);
#   - fuser -k (kills whatever uses a file or port);
#   - supervisorctl shutdown without -c/-s: it stops whichever supervisord
#     owns the default socket. Start your own with its own configuration and
#     stop it by its PID.
# pgrep and pidof alone, to look, are fine. It reads lines, not a parsed
# script: text in strings and here-documents counts as code. Exit 2: usage
# or an unreadable file.
set -euo pipefail

# is_shell_script PATH: whether PATH (tracked by git) is a shell script.
is_shell_script() {
	case $1 in
	*.sh | *.bash | .ci/* | */.ci/*) return 0 ;;
	*/preinst | */postinst | */prerm | */postrm | preinst | postinst | prerm | postrm) return 0 ;;
	esac
	local first=
	IFS= read -r first <"$1" 2>/dev/null || true
	[[ $first =~ ^#![[:space:]]*[^[:space:]]*(/|env[[:space:]]+)(ba|da)?sh([[:space:]]|$) ]]
}

files=()
if [ $# -gt 0 ]; then
	for f in "$@"; do
		[ -f "$f" ] && [ -r "$f" ] || {
			echo "check-no-kill-by-name: $f: not a readable file" >&2
			exit 2
		}
	done
	files=("$@")
else
	cd "$(git rev-parse --show-toplevel)"
	while IFS= read -r -d '' f; do
		# Tracked but deleted in the work tree: nothing to check.
		[ -f "$f" ] || continue
		if is_shell_script "$f"; then files+=("$f"); fi
	done < <(git ls-files -z)
	[ ${#files[@]} -gt 0 ] || {
		echo "check-no-kill-by-name: no shell scripts tracked by git" >&2
		exit 2
	}
fi

# The words are written with a bracket ([i]) so that this file passes its
# own check.
awk '
function word(s, w) {
	return s ~ ("(^|[^A-Za-z0-9_-])" w "([^A-Za-z0-9_-]|$)")
}
# pid_source: whether s runs pgrep, pidof or a function that does.
function pid_source(s,    f) {
	if (word(s, "pg[r]ep") || word(s, "pid[o]f")) return 1
	for (f in srcfn) if (word(s, f)) return 1
	return 0
}
function report(why) {
	printf "%s:%d: %s: %s\n", FILENAME, start, why, code
	found++
}
# taint: remember the variables that s fills with the output of a pid source.
function taint(s,    rest, v, n, i, t) {
	rest = s
	while (match(rest, /[A-Za-z_][A-Za-z0-9_]*\+?=/)) {
		v = substr(rest, RSTART, RLENGTH)
		sub(/\+?=$/, "", v)
		tainted[v] = start
		rest = substr(rest, RSTART + RLENGTH)
	}
	if (match(s, /(^|[^A-Za-z0-9_])for[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]+in([ \t]|$)/)) {
		v = substr(s, RSTART, RLENGTH)
		sub(/^.*for[ \t]+/, "", v)
		sub(/[ \t]+in.*$/, "", v)
		tainted[v] = start
	}
	# read, mapfile, readarray: the names among their arguments.
	if (match(s, /(^|[^A-Za-z0-9_-])(read|mapfile|readarray)[ \t][^;|<&)]*/)) {
		n = split(substr(s, RSTART, RLENGTH), t, /[ \t]+/)
		for (i = 2; i <= n; i++)
			if (t[i] ~ /^[A-Za-z_][A-Za-z0-9_]*$/) tainted[t[i]] = start
	}
}
function check(s,    v) {
	if (s ~ /^[ \t]*$/) return
	if (word(s, "pk[i]ll")) { report("pk" "ill stops processes by name"); return }
	if (word(s, "kil[l]all5?")) { report("kil" "lall stops processes by name"); return }
	if (word(s, "k[i]ll")) {
		if (word(s, "pg[r]ep") || word(s, "pid[o]f")) { report("k" "ill of PIDs found by name (pg" "rep/pid" "of)"); return }
		for (v in srcfn) if (word(s, v)) { report("k" "ill of PIDs found by name (" v ")"); return }
		for (v in tainted)
			if (s ~ ("\\$\\{?" v "([^A-Za-z0-9_]|$)")) {
				report("k" "ill of $" v ", PIDs found by name (line " tainted[v] ")")
				return
			}
	}
	if (word(s, "fu[s]er") && s ~ /[ \t](-[A-Za-z]*k|--kill)([ \t]|$)/) { report("fu" "ser -k stops every process using a file or port"); return }
	if (word(s, "supervisorctl") && word(s, "shut[d]own") && s !~ /[ \t](-c|--configuration|-s|--serverurl)([ \t=]|$)/) {
		report("supervisorctl shut" "down stops whichever supervisord owns the default socket; start your own (-c) and stop it by its PID")
		return
	}
}
function flush() {
	if (buf != "") {
		code = buf
		check(buf)
		if (pid_source(buf)) taint(buf)
		if (infn != "" && pid_source(buf)) srcfn[infn] = 1
		if (buf ~ /^}/ || oneline) { infn = ""; oneline = 0 }
	}
	buf = ""
}
FNR == 1 {
	flush()
	split("", tainted); split("", srcfn); infn = ""; oneline = 0
}
{
	line = $0
	if (line ~ /^[ \t]*#/) line = ""
	else sub(/[ \t]#.*$/, "", line)
	sub(/[ \t\r]+$/, "", line)
	# A command goes on after a trailing \ or |, and after a | past blank
	# lines and comments.
	if (buf ~ /\| $/ && line == "") next
	if (buf == "") start = FNR
	if (line ~ /\\$/) { buf = buf substr(line, 1, length(line) - 1) " "; next }
	if (line ~ /\|$/) { buf = buf line " "; next }
	buf = buf line
	if (buf ~ /^[ \t]*(function[ \t]+)?[A-Za-z_][A-Za-z0-9_]*[ \t]*\(\)/) {
		infn = buf
		sub(/^[ \t]*(function[ \t]+)?/, "", infn)
		sub(/[ \t]*\(\).*$/, "", infn)
		oneline = (buf ~ /}[ \t;]*$/)
	} else if (buf ~ /^[ \t]*function[ \t]+[A-Za-z_]/) {
		infn = buf
		sub(/^[ \t]*function[ \t]+/, "", infn)
		sub(/[^A-Za-z0-9_].*$/, "", infn)
		oneline = (buf ~ /}[ \t;]*$/)
	}
	flush()
}
END {
	flush()
	if (found) {
		printf "%d place(s) stop processes by name; stop only what the script started, by its recorded PID\n", found
		exit 1
	}
}
' "${files[@]}" || exit
echo "check-no-kill-by-name: ${#files[@]} shell script(s), none stops a process by name"
