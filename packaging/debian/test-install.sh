#!/usr/bin/env bash
# test-install.sh: build the Debian package (and a rebuild of it with a
# higher version), lint it, and check it on the two kinds of host:
#
#   1. supervisord not running: the install succeeds, starts nothing and
#      says how to start the node; the upgrade says nothing; purge.
#   2. supervisord running: the install starts the node; use it; reinstall
#      (an edited conffile survives); upgrade to the rebuild (the node is
#      restarted on the new binary); stop; switch the host to systemd (the
#      program file deleted): a reinstall leaves supervisord alone; remove;
#      purge; and check what is left.
#
# In case 2, once the node runs, the documentation's examples that need the
# package run (those marked <!-- docs-test: package -->): deb_test.go
# writes them to $DISTSTORE_DOCS_BLOCKS, one directory each, in document
# order; this script runs each one's script with bash, as root, within
# $DISTSTORE_DOCS_BLOCK_TIMEOUT seconds, in a directory of its own that
# holds the .deb, and records bash's exit status; deb_test.go checks the
# results. Each file's examples start from the package as installed (the
# cfg restored, no key file, the node restarted), and so does the rest of
# this script.
#
# Every install, reinstall and upgrade must print nothing alarming: no
# error from supervisorctl or dpkg, no "diststore:" line from the
# maintainer scripts but the first install's hint of case 1. Run as root
# by deb_test.go (`make test-deb`, or CI).
#
# Safety: a diststored bound to a non-loopback address multicasts on the
# LAN. So the package is installed, and supervisord and the node run, only
# inside a private network namespace that has nothing but lo, with
# /etc/diststored.cfg binding the node to 127.0.2.1 on lo written before the
# install. Building and lintian run outside it: the build needs the Go
# module proxy. The namespace also has its own PIDs and /proc (unshare --pid
# --mount-proc); its mount namespace still has the host's file systems, so
# apt and dpkg change the real system and the checks see it.
#
# The script stops only what it started: its own supervisord, by the PID it
# recorded, and whatever is left in its PID namespace, which ends with it.
# It never stops a process by name. A supervisord already running on the
# machine would load the package's program file and start the node outside
# the namespace: then the script says so and stops before changing anything.
#
# Usage: test-install.sh                 (host side; enters the namespace)
#        test-install.sh --in-netns DEB DEB2  (inside it; internal)
set -euo pipefail

NODE=127.0.2.1
PORT=8181
CFG=/etc/diststored.cfg
KEY=/etc/diststore.key # made by the documentation's cluster key examples
SUPERVISOR_CONF=/etc/supervisor/conf.d/diststored.conf
SUPERVISORD_LOG=/var/log/supervisor/supervisord.log
NODE_LOG=/var/log/diststore/diststored.log

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
self=$here/$(basename "$0")

log() { printf '=== %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# poll SECONDS DESCRIPTION COMMAND...: run COMMAND until it succeeds or
# SECONDS pass.
poll() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || fail "$what: not within ${secs}s"
		sleep 0.2
	done
}

# supervisord_pids: every supervisord on the machine, in any namespace
# below ours. Only to report them; nothing here stops them.
supervisord_pids() {
	{
		pgrep -x supervisord || true
		pgrep -f '^[^ ]*python[^ ]* [^ ]*/supervisord( |$)' || true
	} | sort -u | tr '\n' ' '
}

# packaged_diststored_pids: processes running the installed binary. Only
# to report them.
packaged_diststored_pids() {
	local p exe
	for p in $(pgrep -x diststored || true); do
		exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
		case $exe in /usr/bin/diststored | "/usr/bin/diststored (deleted)") echo "$p" ;; esac
	done
}

# ---------------------------------------------------------------- host side
host() {
	[ "$(id -u)" = 0 ] || fail "must run as root"
	local c missing=()
	for c in apt-get dpkg dpkg-deb lintian supervisord supervisorctl curl unshare ip make git adduser timeout pgrep; do
		command -v "$c" >/dev/null || missing+=("$c")
	done
	[ ${#missing[@]} = 0 ] || fail "missing commands: ${missing[*]} (apt-get install lintian supervisor curl iproute2 util-linux adduser make git procps)"

	if dpkg-query -W -f '${db:Status-Status}' diststore 2>/dev/null | grep -qv '^not-installed$'; then
		fail "package diststore is installed (or has config files) on this machine; not touching it (dpkg --purge diststore first)"
	fi
	[ ! -e "$CFG" ] || fail "$CFG exists and belongs to no package; not overwriting it"
	[ ! -e "$SUPERVISOR_CONF" ] || fail "$SUPERVISOR_CONF exists; not overwriting it"
	[ ! -e "$KEY" ] || fail "$KEY exists; the documentation's examples would overwrite it; not touching it"
	[ -z "$(packaged_diststored_pids)" ] || fail "a /usr/bin/diststored is running: $(packaged_diststored_pids)"

	# A supervisord outside our namespace would load the package's program
	# file and start the node there. It is not ours to stop.
	local pids
	pids=$(supervisord_pids)
	[ -z "$pids" ] || fail "a supervisord is running on this machine (pid ${pids% }); it would start the package's node outside the test's network namespace; not touching it (stop it yourself, then rerun)"
	if timeout 10 supervisorctl pid 2>/dev/null | grep -qx '[0-9][0-9]*'; then
		fail "a supervisord answers on the default control socket (supervisorctl pid); it would start the package's node outside the test's network namespace; not touching it"
	fi

	# Maintainer scripts of anything installed must not start services on
	# this host.
	made_policy=no
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\n# diststore test-install.sh: no service starts\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		made_policy=yes
	fi
	out=$(mktemp -d "${TMPDIR:-/tmp}/diststore-debtest.XXXXXX")
	chmod 0755 "$out" # apt's sandbox user reads the .deb
	trap 'rm -rf "$out"; [ "$made_policy" = no ] || rm -f /usr/sbin/policy-rc.d' EXIT

	log "make deb"
	timeout 300 make -C "$root" --no-print-directory deb DEB_OUT="$out"
	local deb
	deb=$(ls "$out"/diststore_*.deb)
	[ "$(echo "$deb" | wc -l)" = 1 ] || fail "want one package in $out, got: $deb"
	log "built $deb"
	# The upgrade: the same tree rebuilt with a higher package version and
	# another version in the binaries, so the test can tell them apart.
	local v1 deb2
	v1=$(dpkg-deb -f "$deb" Version)
	mkdir -m 0755 "$out/upgrade"
	log "make deb (upgrade: $v1.1)"
	DEB_VERSION="$v1.1" timeout 300 make -C "$root" --no-print-directory deb \
		DEB_OUT="$out/upgrade" VERSION=upgrade-test
	deb2=$(ls "$out"/upgrade/diststore_*.deb)
	[ "$(echo "$deb2" | wc -l)" = 1 ] || fail "want one package in $out/upgrade, got: $deb2"
	dpkg --compare-versions "$(dpkg-deb -f "$deb2" Version)" gt "$v1" || fail "$deb2 does not upgrade $deb"
	log "built $deb2"
	dpkg-deb -I "$deb"
	dpkg-deb -c "$deb"

	log "lintian"
	# Fails on errors; warnings are printed.
	timeout 180 lintian --fail-on error --display-info --show-overrides "$deb" 2>&1 |
		grep -v '^running with root privileges is not recommended!$' || true
	timeout 180 lintian --fail-on error "$deb" >/dev/null 2>&1 || fail "lintian reports errors"

	log "entering a private network and PID namespace"
	local rc=0
	# bash is the namespace's init: when it exits, the kernel ends every
	# process left in the namespace.
	unshare --net --pid --fork --mount-proc -- bash "$self" --in-netns "$deb" "$deb2" || rc=$?

	# Whatever happened inside, nothing may be left behind.
	[ -z "$(supervisord_pids)" ] || fail "a supervisord is left running: $(supervisord_pids)"
	[ -z "$(packaged_diststored_pids)" ] || fail "a diststored is left running: $(packaged_diststored_pids)"
	[ "$rc" = 0 ] || fail "in-namespace test failed (exit $rc)"
	log "PASS"
}

# ------------------------------------------------------- inside the netns
supervisord_pid=
work=         # the apt-get outputs
key_ours=no   # yes once $KEY is known not to exist before the examples

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if dpkg-query -W -f '${db:Status-Status}' diststore 2>/dev/null | grep -qv '^not-installed$'; then
		log "cleanup: purging diststore"
		DEBIAN_FRONTEND=noninteractive timeout 120 dpkg --purge diststore </dev/null
	fi
	rm -f "$CFG" "$CFG".dpkg-* # written by this test, whether the package got it or not
	[ "$key_ours" = no ] || rm -f "$KEY"
	[ -z "$work" ] || rm -rf "$work"
	if [ -n "$supervisord_pid" ] && kill -0 "$supervisord_pid" 2>/dev/null; then
		# SIGTERM: supervisord stops its programs (stopwaitsecs=30) and exits.
		log "cleanup: stopping supervisord $supervisord_pid (ours)"
		kill -TERM "$supervisord_pid"
		for _ in $(seq 200); do
			kill -0 "$supervisord_pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$supervisord_pid" 2>/dev/null
	fi
	[ -z "$supervisord_pid" ] || wait "$supervisord_pid" 2>/dev/null
	# Anything else still running here was started by this test (this
	# namespace holds nothing else) and ends with it when this shell exits.
	# After a passing run nothing may be left.
	local d args left=
	for d in /proc/[0-9]*; do
		[ "${d#/proc/}" != 1 ] || continue # this shell
		args=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
		[ -z "$args" ] || left+=" ${d#/proc/}: $args;" # empty: a zombie
	done
	if [ -n "$left" ]; then
		log "cleanup: left in the namespace, ending with it:$left"
		[ "$rc" != 0 ] || rc=1
	fi
	exit "$rc"
}

# apt_quiet NAME ARGS...: run apt-get ARGS, its output (with that of the
# maintainer scripts) saved in $work/NAME.out and shown; fail if it failed
# or if the output has anything alarming: an error or warning from dpkg or
# supervisorctl, or a "diststore:" line from the maintainer scripts but
# the hint of a first install without supervisord.
apt_quiet() {
	local name=$1 rc=0 bad
	shift
	timeout 180 apt-get "$@" </dev/null >"$work/$name.raw" 2>&1 || rc=$?
	# apt runs dpkg on a pseudo-terminal: its lines end in CR LF.
	tr -d '\r' <"$work/$name.raw" >"$work/$name.out"
	sed 's/^/    | /' "$work/$name.out"
	[ "$rc" = 0 ] || fail "apt-get $*: exit $rc"
	bad=$(grep -E -i 'error|warning|fail|refused|no such|unix://|traceback|denied' "$work/$name.out" |
		grep -v -E '^diststore: ' || true)
	bad+=$(grep -E '^diststore: ' "$work/$name.out" | grep -v -F -x -f "$work/hint" || true)
	[ -z "$bad" ] || fail "apt-get $name printed: $bad"
}

# write_cfg: the node on lo only, written before the package is installed.
write_cfg() {
	log "writing $CFG before the install"
	cat >"$CFG" <<-CFG
		# written by test-install.sh: the node on lo only
		[diststored]
		bind = $NODE
		interface = lo
		data_dir = /var/lib/diststore
	CFG
}

# started_version: the version the node's last start logged.
started_version() {
	grep 'msg="diststored started"' "$NODE_LOG" | tail -1 | sed -n 's/.* version=\([^ ]*\).*/\1/p'
}

# restart_node WHY: restart diststored under supervisord and wait until it
# is ready.
restart_node() {
	timeout 60 supervisorctl restart diststored >/dev/null || fail "supervisorctl restart diststored ($1)"
	poll 60 "GET /readyz ($1)" curl -fsS --max-time 2 "http://$NODE:$PORT/readyz"
}

# docs_reset: the package as installed before the examples: the cfg as it
# was, no key file, the node restarted on them.
docs_reset() {
	cat "$work/cfg.before-docs" >"$CFG" # keeps the file's owner and mode
	rm -f "$KEY"
	restart_node "settings restored after the documentation's examples"
}

# run_doc_examples DEB: run the documentation's package examples (see the
# top), each in a new directory next to DEB holding a copy of it. Stops at
# the first example that did not finish or whose commands did not all
# return what the documentation says (deb_test.go then reports which).
run_doc_examples() {
	local deb=$1 dir=${DISTSTORE_DOCS_BLOCKS:-} secs=${DISTSTORE_DOCS_BLOCK_TIMEOUT:-90}
	local b n file name prev= cwd rc start=$SECONDS
	if [ -z "$dir" ]; then
		log "no documentation examples given (DISTSTORE_DOCS_BLOCKS): none run"
		return
	fi
	[ ! -e "$KEY" ] || fail "$KEY exists; the documentation's examples would overwrite it"
	key_ours=yes
	cp "$CFG" "$work/cfg.before-docs"
	for ((n = 0; ; n++)); do
		b=$dir/$n
		[ -d "$b" ] || break
		file=$(cat "$b/file")
		name=$(cat "$b/name")
		if [ -n "$prev" ] && [ "$file" != "$prev" ]; then
			docs_reset
		fi
		prev=$file
		# apt's sandbox user reads the .deb: the directory is 0755, as is
		# the .deb's (the host side made it so).
		cwd=$(dirname "$deb")/docs-example-$n
		mkdir -m 0755 "$cwd"
		cp "$deb" "$cwd/"
		log "documentation example $name"
		sed -n '/^{ /,$p' "$b/script" | grep -v '^__rc=\|^} >\|^: >\|^$' | sed 's/^{ /    $ /'
		rc=0
		(cd "$cwd" && timeout -k 5 "$secs" bash --noprofile --norc -o pipefail "$b/script") || rc=$?
		echo "$rc" >"$b/exit"
		[ "$rc" = 0 ] || fail "documentation example $name: bash exited $rc (124: not within ${secs}s)"
		[ -e "$b/results/complete" ] || fail "documentation example $name: a command did not return what the documentation says (the test names it)"
	done
	((n > 0)) || fail "no documentation example in $dir"
	docs_reset
	log "ran $n documentation examples and restored the settings in $((SECONDS - start))s"
}

in_netns() {
	local deb=$1 deb2=$2
	# Cleanup relies on it: this shell is the init of its own PID namespace.
	[ $$ = 1 ] || fail "not the init of a private PID namespace (pid $$)"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	work=$(mktemp -d "${TMPDIR:-/tmp}/diststore-debtest-out.XXXXXX")

	# Only lo exists here. Multicast stays on it.
	# (ip, not /sys/class/net: sysfs shows the namespace that mounted it.)
	local links
	links=$(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
	[ "$links" = "lo " ] || fail "not in a private network namespace: $links"
	ip link set lo up
	ip link set lo multicast on
	ip route add 224.0.0.0/4 dev lo

	export DEBIAN_FRONTEND=noninteractive
	local v2
	v2=$(dpkg-deb -f "$deb2" Version)

	# ---- 1. supervisord not running ----
	[ -z "$(supervisord_pids)" ] || fail "a supervisord runs in the namespace: $(supervisord_pids)"
	write_cfg
	# The hint a first install prints here: supervisor is installed but
	# supervisord is not running.
	cat >"$work/hint" <<-HINT
		diststore: the node is not started. Edit /etc/diststored.cfg (bind, interface) first, then:
		diststore:   start supervisord, which runs it (program file $SUPERVISOR_CONF)
		diststore: see /usr/share/doc/diststore/README.Debian
	HINT
	log "apt-get install $deb (supervisord not running)"
	apt_quiet install-nosup install -y --no-install-recommends -o Dpkg::Options::=--force-confold "$deb"
	grep -qxF "$(head -1 "$work/hint")" "$work/install-nosup.out" ||
		fail "the install without supervisord did not say how to start the node"
	[ -x /usr/bin/diststored ] || fail "/usr/bin/diststored not installed"
	[ -z "$(pgrep -x diststored || true)" ] || fail "a diststored runs, yet nothing should start it"
	: >"$work/hint" # from now on, no "diststore:" line at all
	log "apt-get install $deb2 (upgrade, supervisord not running)"
	apt_quiet upgrade-nosup install -y --no-install-recommends "$deb2"
	[ "$(dpkg-query -W -f '${Version}' diststore)" = "$v2" ] || fail "not upgraded to $v2"
	[ -z "$(pgrep -x diststored || true)" ] || fail "a diststored runs after the upgrade, yet nothing should start it"
	log "apt-get purge diststore (supervisord not running)"
	apt_quiet purge-nosup purge -y diststore
	[ ! -e /usr/bin/diststored ] || fail "/usr/bin/diststored left after purge"

	# ---- 2. supervisord running ----
	write_cfg
	log "starting supervisord inside the namespace"
	local log_offset=0
	[ ! -f "$SUPERVISORD_LOG" ] || log_offset=$(stat -c %s "$SUPERVISORD_LOG")
	supervisord -n -c /etc/supervisor/supervisord.conf >/dev/null 2>&1 &
	supervisord_pid=$!
	# The maintainer scripts' supervisorctl must reach this one.
	poll 30 "supervisord $supervisord_pid answering" sh -c "[ \"\$(supervisorctl pid)\" = $supervisord_pid ]"

	log "apt-get install $deb"
	# The namespace has no network: the dependencies must be installed
	# already. --force-confold keeps our $CFG when dpkg finds it there.
	apt_quiet install install -y --no-install-recommends -o Dpkg::Options::=--force-confold "$deb"

	log "checking the installed files"
	getent passwd diststore | grep -q ':/var/lib/diststore:/usr/sbin/nologin$' || fail "user diststore: $(getent passwd diststore)"
	getent group diststore >/dev/null || fail "no group diststore"
	[ "$(stat -c '%U:%G %a' /var/lib/diststore)" = "diststore:diststore 750" ] ||
		fail "/var/lib/diststore is $(stat -c '%U:%G %a' /var/lib/diststore)"
	local f left
	for f in /usr/bin/diststored "$CFG" "$SUPERVISOR_CONF" /lib/systemd/system/diststored.service \
		/usr/share/man/man8/diststored.8.gz /usr/share/doc/diststore/copyright \
		/usr/share/diststore/monitoring/diststore-dashboard.json /usr/share/diststore/monitoring/diststore-alerts.yml; do
		[ -e "$f" ] || fail "$f not installed"
	done
	grep -qx "bind = $NODE" "$CFG" || fail "$CFG was replaced by the package's"
	dpkg-query -W -f '${Conffiles}\n' diststore | grep -q " $CFG " || fail "$CFG is not a conffile"
	[ -x /usr/bin/diststore ] || fail "/usr/bin/diststore not installed"
	[ -e /usr/share/man/man1/diststore.1.gz ] || fail "diststore.1 not installed"
	# The package ships the node and the client, not the developer tools.
	local bins
	bins=$(dpkg -L diststore | grep '^/usr/bin/' | sort | tr '\n' ' ')
	[ "$bins" = "/usr/bin/diststore /usr/bin/diststored " ] || fail "the package ships $bins, want /usr/bin/diststore /usr/bin/diststored"
	# supervisor is recommended, not required: a systemd-only host
	# installs the package without it.
	dpkg-deb -f "$deb" Depends | grep -qw supervisor && fail "the package depends on supervisor"
	dpkg-deb -f "$deb" Recommends | grep -qw supervisor || fail "the package does not recommend supervisor"

	log "waiting for the node to be ready"
	poll 60 "GET /readyz" curl -fsS --max-time 2 "http://$NODE:$PORT/readyz"
	# RUNNING once up for startsecs.
	poll 30 "diststored RUNNING" sh -c 'supervisorctl status diststored | grep -q RUNNING'
	# It runs as diststore, in this namespace.
	local pid
	pid=$(supervisorctl pid diststored)
	[ "$(stat -c %U "/proc/$pid")" = diststore ] || fail "diststored runs as $(stat -c %U "/proc/$pid")"
	[ "$(readlink "/proc/$pid/ns/net")" = "$(readlink /proc/self/ns/net)" ] || fail "diststored outside the test namespace"

	log "storing a key and reading it back"
	local value
	value="packaged-$$-$RANDOM"
	curl -fsS --max-time 10 -X POST --data-binary "$value" "http://$NODE:$PORT/debtest" >/dev/null
	[ "$(curl -fsS --max-time 10 "http://$NODE:$PORT/get/debtest")" = "$value" ] || fail "GET /get/debtest"
	[ "$(timeout 10 /usr/bin/diststore --node "$NODE" get debtest)" = "$value" ] || fail "diststore --node $NODE get debtest"
	log "diststore --node $NODE get debtest: ok"

	run_doc_examples "$deb"

	log "editing $CFG, then reinstalling"
	echo "# edited by test-install.sh ($value)" >>"$CFG"
	# No conffile option this time: the packaged file did not change, so
	# dpkg must keep the edit without asking (a prompt would fail on EOF).
	apt_quiet reinstall install -y --reinstall --no-install-recommends "$deb"
	grep -qx "# edited by test-install.sh ($value)" "$CFG" || fail "the edit of $CFG did not survive the reinstall"
	poll 60 "GET /readyz after the reinstall" curl -fsS --max-time 2 "http://$NODE:$PORT/readyz"
	poll 30 "diststored RUNNING after the reinstall" sh -c 'supervisorctl status diststored | grep -q RUNNING'
	local pid2
	pid2=$(supervisorctl pid diststored)
	[ "$pid2" != "$pid" ] || fail "the reinstall did not restart diststored"

	log "apt-get install $deb2 (upgrade to $v2)"
	apt_quiet upgrade install -y --no-install-recommends "$deb2"
	[ "$(dpkg-query -W -f '${Version}' diststore)" = "$v2" ] || fail "not upgraded to $v2"
	poll 60 "GET /readyz after the upgrade" curl -fsS --max-time 2 "http://$NODE:$PORT/readyz"
	poll 30 "diststored RUNNING after the upgrade" sh -c 'supervisorctl status diststored | grep -q RUNNING'
	[ "$(supervisorctl pid diststored)" != "$pid2" ] || fail "the upgrade did not restart diststored"
	[ "$(started_version)" = upgrade-test ] || fail "after the upgrade the node started version '$(started_version)', want upgrade-test"
	[ "$(curl -fsS --max-time 10 "http://$NODE:$PORT/get/debtest")" = "$value" ] || fail "GET /get/debtest after the upgrade"
	log "upgraded: the node runs version upgrade-test and still serves debtest"

	log "stopping diststored"
	timeout 60 supervisorctl stop diststored
	local status
	status=$(supervisorctl status diststored || true) # exits 3 when not running
	case $status in *STOPPED*) ;; *) fail "not STOPPED: $status" ;; esac
	grep -q 'msg="diststored stopped"' "$NODE_LOG" || fail "$NODE_LOG has no 'diststored stopped'"
	tail -c +$((log_offset + 1)) "$SUPERVISORD_LOG" | grep -q 'stopped: diststored (exit status 0)' ||
		fail "supervisord did not log a clean exit"
	log "node log:"
	sed 's/^/    /' "$NODE_LOG"

	log "switching to systemd: deleting $SUPERVISOR_CONF, then reinstalling"
	# As README.Debian says. supervisord still runs, for other programs.
	rm "$SUPERVISOR_CONF"
	timeout 60 supervisorctl reread >/dev/null
	timeout 60 supervisorctl update >/dev/null
	apt_quiet reinstall-systemd install -y --reinstall --no-install-recommends "$deb2"
	[ ! -e "$SUPERVISOR_CONF" ] || fail "the reinstall put $SUPERVISOR_CONF back"
	status=$(supervisorctl status diststored 2>&1 || true)
	case $status in *"no such process"*) ;; *) fail "the reinstall gave supervisord diststored again: $status" ;; esac
	[ -z "$(pgrep -x diststored || true)" ] || fail "a diststored runs, yet the host was switched to systemd"
	log "switching back: restoring $SUPERVISOR_CONF"
	apt_quiet reinstall-back install -y --reinstall --no-install-recommends \
		-o Dpkg::Options::=--force-confmiss "$deb2"
	[ -e "$SUPERVISOR_CONF" ] || fail "--force-confmiss did not restore $SUPERVISOR_CONF"
	poll 30 "diststored RUNNING after switching back" sh -c 'supervisorctl status diststored | grep -q RUNNING'

	log "apt-get remove diststore (keeps settings, data and user)"
	apt_quiet remove remove -y diststore
	[ ! -e /usr/bin/diststored ] || fail "/usr/bin/diststored left after remove"
	for f in "$CFG" "$SUPERVISOR_CONF" /var/lib/diststore; do
		[ -e "$f" ] || fail "$f gone after a plain remove"
	done
	getent passwd diststore >/dev/null || fail "user diststore gone after a plain remove"
	status=$(supervisorctl status diststored 2>&1 || true)
	case $status in *"no such process"*) ;; *) fail "supervisord still has diststored after remove: $status" ;; esac

	log "apt-get purge diststore"
	apt_quiet purge purge -y diststore
	! getent passwd diststore >/dev/null || fail "user diststore left"
	! getent group diststore >/dev/null || fail "group diststore left"
	for f in /var/lib/diststore /var/log/diststore "$CFG" "$CFG".dpkg-dist "$SUPERVISOR_CONF" /usr/bin/diststored; do
		[ ! -e "$f" ] || fail "$f left after purge"
	done
	status=$(supervisorctl status diststored 2>&1 || true)
	case $status in *"no such process"*) ;; *) fail "supervisord still knows diststored: $status" ;; esac
	# Nor systemd: no unit state that deb-systemd-helper kept, no link.
	left=$(find /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
		/etc/systemd/system -name 'diststored.service*' 2>/dev/null || true)
	[ -z "$left" ] || fail "systemd state left after purge: $left"
	log "supervisord log (this run):"
	tail -c +$((log_offset + 1)) "$SUPERVISORD_LOG" | sed 's/^/    /'
	! tail -c +$((log_offset + 1)) "$SUPERVISORD_LOG" | grep -E 'spawnerr|FATAL|BACKOFF|exit status [1-9]' ||
		fail "supervisord log shows a failed start or exit"
	log "in-namespace checks passed"
}

case ${1:-} in
--in-netns) in_netns "$2" "$3" ;;
"") host ;;
*) fail "usage: $0" ;;
esac
