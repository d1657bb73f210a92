#!/bin/sh
# build-deb.sh: build the Debian package diststore_<version>_<arch>.deb from
# this checkout with Go and dpkg-deb (no debhelper, no source package).
#
# Run by `make deb`. Environment:
#   GO          the go command (default: go)
#   VERSION     version compiled into the binaries (default: git describe)
#   DEB_VERSION the package version (default: derived from git, see below)
#   DEB_OUT     directory the .deb is written to (default: the repo root)
#   DEB_MAINTAINER  "Name <address>" (default: the last commit's author)
#
# It prints the path of the package it wrote on its last line.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

GO=${GO:-go}
umask 022
export LC_ALL=C TZ=UTC

die() { echo "build-deb: $*" >&2; exit 1; }

for c in "$GO" git dpkg-deb gzip; do
	command -v "$c" >/dev/null 2>&1 || die "$c not found"
done

# deb_version maps `git describe` to a Debian version that sorts right:
#   tag v1.2.3, at the tag           -> 1.2.3
#   tag v1.2.3 and 4 commits later   -> 1.2.3+git20261122.4.abc1234
#   no tag yet                       -> 0.1.0~git20261122.abc1234 (sorts
#                                       below 0.1.0, the first tag to come)
# A tag such as v1.0.0-rc1 becomes 1.0.0~rc1. The date is the commit's, so
# rebuilding the same commit gives the same version; uncommitted changes to
# tracked files add ".dirty".
deb_version() {
	date=$(git log -1 --format=%cd --date=format:%Y%m%d)
	sha=$(git rev-parse --short=7 HEAD)
	if desc=$(git describe --tags --long --match 'v[0-9]*' 2>/dev/null); then
		n=${desc%-g*}
		n=${n##*-}
		tag=${desc%-*-g*}
		v=$(printf '%s' "${tag#v}" | tr -- - '~')
		[ "$n" = 0 ] || v="$v+git$date.$n.$sha"
	else
		v="0.1.0~git$date.$sha"
	fi
	git diff --quiet HEAD -- 2>/dev/null || v="$v.dirty"
	printf '%s\n' "$v" | tr -cd 'A-Za-z0-9.+~\n'
}

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
DEB_VERSION=${DEB_VERSION:-$(deb_version)}
DEB_OUT=${DEB_OUT:-$root}
DEB_MAINTAINER=${DEB_MAINTAINER:-$(git log -1 --format='%an <%ae>')}
case $DEB_VERSION in
[0-9]*) ;;
*) die "DEB_VERSION $DEB_VERSION must start with a digit" ;;
esac

# The package's architecture is Go's target, in Debian's words.
goarch=$("$GO" env GOARCH)
case $goarch in
amd64 | arm64 | riscv64 | s390x | ppc64le | mips64le) arch=$goarch ;;
386) arch=i386 ;;
arm) arch=armhf; export GOARM=${GOARM:-7} ;;
*) die "no Debian architecture known for GOARCH=$goarch" ;;
esac

# Timestamps in the package are the commit's, so a rebuild is identical.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export SOURCE_DATE_EPOCH

work=$(mktemp -d "${TMPDIR:-/tmp}/diststore-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
pkg=$work/pkg

gobuild() { # gobuild OUTPUT PACKAGE
	CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$1" "$2"
}

echo "build-deb: diststore $DEB_VERSION ($arch), binaries version $VERSION" >&2
mkdir -p "$pkg/usr/bin"
gobuild "$pkg/usr/bin/diststored" ./cmd/diststored

# The node and the client CLI, and nothing else: the developer tools
# (cmd/diststore-bench, cmd/diststore-baseline) are not packaged.
gobuild "$pkg/usr/bin/diststore" ./cmd/diststore
shipped=$(cd "$pkg/usr/bin" && ls | tr '\n' ' ')
[ "$shipped" = "diststore diststored " ] || die "usr/bin holds $shipped, want diststore diststored"

inst() { # inst MODE SOURCE DEST
	mkdir -p "$(dirname "$pkg/$3")"
	cp "$2" "$pkg/$3"
	chmod "$1" "$pkg/$3"
}
man() { # man SOURCE SECTION
	mkdir -p "$pkg/usr/share/man/man$2"
	gzip -9nc "$1" >"$pkg/usr/share/man/man$2/$(basename "$1").gz"
	chmod 0644 "$pkg/usr/share/man/man$2/$(basename "$1").gz"
}

doc=usr/share/doc/diststore
inst 0644 "$here/diststored.cfg" etc/diststored.cfg
inst 0644 "$here/supervisor-diststored.conf" etc/supervisor/conf.d/diststored.conf
inst 0644 "$here/diststored.service" lib/systemd/system/diststored.service
inst 0644 "$here/copyright" "$doc/copyright"
inst 0644 "$here/README.md" "$doc/README.Debian"
inst 0644 "$here/lintian-overrides" usr/share/lintian/overrides/diststore
# The Grafana dashboard and Prometheus alert rules, for the operator to
# drop in (monitoring/, checked by its tests).
for f in diststore-dashboard.json diststore-alerts.yml diststore-alerts.test.yml; do
	inst 0644 "$root/monitoring/$f" "usr/share/diststore/monitoring/$f"
done
man "$here/diststored.8" 8
man "$here/diststore.1" 1

# changelog.gz (a native package: upstream ships its own packaging): one
# entry for this build, dated by the commit.
{
	printf 'diststore (%s) unstable; urgency=medium\n\n' "$DEB_VERSION"
	printf '  * Build of %s (commit %s).\n\n' "$VERSION" "$(git rev-parse HEAD)"
	printf ' -- %s  %s\n' "$DEB_MAINTAINER" "$(date -u -d "@$SOURCE_DATE_EPOCH" -R)"
} | gzip -9n >"$pkg/$doc/changelog.gz"
chmod 0644 "$pkg/$doc/changelog.gz"

mkdir -p "$pkg/DEBIAN"
for s in postinst prerm postrm; do
	inst 0755 "$here/$s" "DEBIAN/$s"
done
inst 0644 "$here/conffiles" DEBIAN/conffiles
size=$(du -sk --apparent-size --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$DEB_VERSION/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	-e "s|@MAINTAINER@|$DEB_MAINTAINER|" "$here/control" >"$pkg/DEBIAN/control"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
	xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/md5sums"
find "$pkg" -type d -exec chmod 0755 {} +
find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$DEB_OUT"
deb=$(cd "$DEB_OUT" && pwd)/diststore_${DEB_VERSION}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >&2
echo "$deb"
