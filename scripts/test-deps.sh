#!/usr/bin/env bash
# What `make test` needs besides Go, on a Debian machine: it checks the
# Debian packages and, run as root, installs the missing ones; otherwise it
# fails with one line naming them. It never lets a test pass by skipping
# for want of a tool.
#
#   util-linux, iproute2   unshare, nsenter and ip: the tests' private
#                          network namespaces, bridges and veth pairs
#   iptables               packet loss in the fault tests
#   curl                   the split test's reachability probes, the
#                          package test, the demo
#   supervisor, adduser,   the Debian package test (build, lint, install,
#   lintian, dpkg-dev      run under supervisord, purge)
#   chromium               the page test in a headless browser
#   prometheus             promtool: the alert rules' check and unit tests
#                          (monitoring/)
#   make, git, procps      the build and the scripts
set -euo pipefail

pkgs=(util-linux iproute2 iptables curl make git procps supervisor adduser lintian dpkg-dev chromium prometheus)

if ! command -v dpkg-query >/dev/null; then
	echo "make test: not a Debian system (no dpkg-query); it needs the Debian packages ${pkgs[*]}" >&2
	exit 1
fi
need=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
[ ${#need[@]} -gt 0 ] || exit 0

if [ "$(id -u)" != 0 ]; then
	echo "make test: missing Debian packages: ${need[*]} (run make test as root to install them, or: apt-get install ${need[*]})" >&2
	exit 1
fi

# Maintainer scripts must never start services on this host: a diststored
# started by a package would bind the host's private address and multicast
# on the LAN, and a supervisord started by the supervisor package would be
# left running. policy-rc.d, written before anything is installed, makes
# invoke-rc.d and deb-systemd-invoke refuse every start, so nothing needs
# stopping afterwards.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
fi
rc=0
/usr/sbin/policy-rc.d supervisor start >/dev/null 2>&1 || rc=$?
if [ "$rc" != 101 ]; then
	echo "make test: /usr/sbin/policy-rc.d would let packages start services (exit $rc, want 101); not installing ${need[*]}" >&2
	exit 1
fi
echo "make test: installing ${need[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
