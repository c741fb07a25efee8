#!/usr/bin/env bash
# Build the excloud-buckets .deb:
#
#   packaging/build-deb.sh OUTDIR
#
# writes OUTDIR/excloud-buckets_<version>_amd64.deb holding /usr/bin/excd,
# /usr/bin/exc, the systemd units (excd.service runs as user excd, S3 only),
# the opt-in drop-ins (FUSE mounts; a data directory on another disk) in
# /usr/share/excloud-buckets/systemd, /etc/excd/excd.toml (a conffile), the
# docs and a copyright file generated from the linked Go modules
# (gen-copyright.sh). Needs go and dpkg-deb, nothing else. The version is
# $VERSION if set, else derived from git: the latest v* tag without the "v"
# (plus "+git<commits>.<sha>" past it), or 0.0.0~git<date>.<sha> with no
# tag.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
outdir=$1
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -z "${VERSION:-}" ]; then
  if tag=$(git describe --tags --match 'v[0-9]*' --abbrev=0 2>/dev/null); then
    n=$(git rev-list --count "$tag"..HEAD)
    VERSION=${tag#v}
    [ "$n" = 0 ] || VERSION="$VERSION+git$n.$commit"
  else
    VERSION="0.0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date +%Y%m%d).$commit"
  fi
fi
if ! [[ $VERSION =~ ^[0-9][A-Za-z0-9.+~-]*$ ]]; then
  echo "build-deb: version $VERSION is not a valid Debian version" >&2
  exit 1
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/pkg
mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/etc/excd" \
  "$pkg/usr/share/doc/excloud-buckets" "$pkg/usr/share/excloud-buckets/systemd"

# Static binaries: nothing to depend on but the kernel.
ldflags="-s -w -X main.version=$VERSION -X main.commit=$commit"
for cmd in excd exc; do
  CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "$ldflags" \
    -o "$pkg/usr/bin/$cmd" "./cmd/$cmd"
done

# Shell completion (exc: commands, bucket and org names) and man pages (one
# per command: exc.1, exc-buckets-create.1, …), written by the binaries just
# built (amd64, like this host) so they describe exactly what ships.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
man1=$pkg/usr/share/man/man1
mkdir -p "$man1" "$pkg/usr/share/bash-completion/completions" \
  "$pkg/usr/share/zsh/vendor-completions" "$pkg/usr/share/fish/vendor_completions.d"
"$pkg/usr/bin/exc" completion bash >"$pkg/usr/share/bash-completion/completions/exc"
"$pkg/usr/bin/exc" completion zsh >"$pkg/usr/share/zsh/vendor-completions/_exc"
"$pkg/usr/bin/exc" completion fish >"$pkg/usr/share/fish/vendor_completions.d/exc.fish"
"$pkg/usr/bin/exc" gen-man "$man1"
# excd's page (section 8: a daemon) comes from its own hidden gen-man.
"$pkg/usr/bin/excd" gen-man "$pkg/usr/share/man/man8"
gzip -9n "$pkg/usr/share/man/man8"/*.8
gzip -9n "$man1"/*.1

install -m 0644 packaging/systemd/excd.service packaging/systemd/excd.socket "$pkg/lib/systemd/system/"
# Drop-ins an administrator opts into (service.md): not in
# /lib/systemd/system/excd.service.d, where they would always apply.
install -m 0644 packaging/systemd/mount.conf packaging/systemd/data-disk.conf \
  "$pkg/usr/share/excloud-buckets/systemd/"
install -m 0644 packaging/excd.toml "$pkg/etc/excd/excd.toml"
doc=$pkg/usr/share/doc/excloud-buckets
install -m 0644 README.md "$doc/README.md"
# Every page of docs/ (admin.md, service.md, design.md, format.md, …):
# they link to each other.
install -m 0644 docs/*.md "$doc/"
packaging/gen-copyright.sh "$pkg/usr/bin/excd" "$pkg/usr/bin/exc" >"$doc/copyright"

echo /etc/excd/excd.toml >"$pkg/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: excloud-buckets
Version: $VERSION
Architecture: amd64
Maintainer: excloud <ops@excloud.dev>
Installed-Size: $size
Section: net
Priority: optional
Depends: passwd
Recommends: fuse3
Homepage: https://excloud.dev/buckets
Description: self-hosted S3-compatible object store
 excd serves an encrypted, deduplicating object store over the S3 protocol
 and as FUSE mounts, as a hardened systemd service (S3 only as an
 unprivileged user; FUSE mounts are an opt-in drop-in); exc administers it
 over a unix socket (orgs, buckets, keys, gc, scrub, catalog backup).
CONTROL

cat >"$pkg/DEBIAN/preinst" <<'PREINST'
#!/bin/sh
set -e
# An upgrade from a package whose excd.service ran as root with FUSE (it
# shipped no /usr/share/excloud-buckets/systemd): the new unit runs as user
# excd without FUSE. If mounts are configured, link the mount drop-in now,
# so they still work after the upgrade restarts excd.
if [ "$1" = upgrade ] && [ ! -e /usr/share/excloud-buckets/systemd/mount.conf ] \
  && [ ! -e /etc/systemd/system/excd.service.d/mount.conf ] \
  && { grep -Eqs '^[[:space:]]*mounts[[:space:]]*=[[:space:]]*\[[[:space:]]*("|$)' /etc/excd/excd.toml \
    || grep -Eqs '^[^#]*EXC_MOUNTS=' /etc/systemd/system/excd.service.d/*.conf; }; then
  mkdir -p /etc/systemd/system/excd.service.d
  ln -s /usr/share/excloud-buckets/systemd/mount.conf /etc/systemd/system/excd.service.d/mount.conf
  echo "excloud-buckets: FUSE mounts are configured: linked /etc/systemd/system/excd.service.d/mount.conf so excd keeps running as root with FUSE (service.md)."
fi
exit 0
PREINST

cat >"$pkg/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  # The account excd.service runs as. /var/lib/excd is made by systemd
  # (StateDirectory=), not here.
  if ! getent passwd excd >/dev/null; then
    # A group excd left behind (by hand, or an older user) is reused.
    group=--user-group
    getent group excd >/dev/null && group="--gid excd"
    useradd --system $group --home-dir /var/lib/excd --no-create-home \
      --shell /usr/sbin/nologin --comment "excloud buckets daemon" excd
  fi
  # The master key is made once, here, never shipped: every install gets its
  # own, and upgrades keep it. Back it up: without it nothing can be read.
  # It stays root's: systemd reads it for the unit (LoadCredential=).
  if [ ! -e /etc/excd/master.key ]; then
    (umask 077 && od -An -vtx1 -N32 /dev/urandom | tr -d ' \n' >/etc/excd/master.key.new \
      && echo >>/etc/excd/master.key.new && mv /etc/excd/master.key.new /etc/excd/master.key)
    echo "excloud-buckets: created /etc/excd/master.key; back it up (data cannot be read without it)."
  fi
fi
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
  # Enabled (not started: review /etc/excd/excd.toml, then systemctl start
  # excd) on the first install only, as debhelper does: deb-systemd-helper
  # records the links it made, and "was-enabled" is false once an
  # administrator removed them (systemctl disable), so an upgrade never
  # enables a unit again. Packages before this one enabled it with systemctl
  # and recorded nothing: on an upgrade from them the links as they stand
  # are the administrator's choice; record it, enable nothing.
  deb-systemd-helper unmask excd.service >/dev/null || true
  if [ -z "$2" ] || deb-systemd-helper debian-installed excd.service; then
    if deb-systemd-helper --quiet was-enabled excd.service; then
      deb-systemd-helper enable excd.service >/dev/null || true
    else
      deb-systemd-helper update-state excd.service >/dev/null || true
    fi
  else
    deb-systemd-helper update-state excd.service >/dev/null || true
  fi
  # The socket is an opt-in: tracked (so purge removes its links), never enabled.
  deb-systemd-helper update-state excd.socket >/dev/null || true
  if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
    if [ -n "$2" ]; then
      systemctl try-restart excd.service || true
    fi
  fi
fi
exit 0
POSTINST

cat >"$pkg/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl stop excd.socket excd.service >/dev/null 2>&1 || true
fi
exit 0
PRERM

cat >"$pkg/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null 2>&1 || true
fi
# As debhelper: removed (not purged), the units are masked and their links
# kept, like configuration, so a reinstall unmasks them in the state the
# administrator left; purged, every link deb-systemd-helper recorded goes.
if [ "$1" = remove ] && [ -x /usr/bin/deb-systemd-helper ]; then
  deb-systemd-helper mask excd.service excd.socket >/dev/null || true
fi
if [ "$1" = purge ] && [ -x /usr/bin/deb-systemd-helper ]; then
  deb-systemd-helper purge excd.service excd.socket >/dev/null || true
  deb-systemd-helper unmask excd.service excd.socket >/dev/null || true
fi
# The data (/var/lib/excd), the master key and the user excd stay even on
# purge: deleting an object store is not a package manager's decision, and
# a reused uid could reach its files.
exit 0
POSTRM
chmod 0755 "$pkg/DEBIAN/preinst" "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"

mkdir -p "$outdir"
deb="$outdir/excloud-buckets_${VERSION}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
