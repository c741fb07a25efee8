#!/usr/bin/env bash
# Build the excloud-buckets .deb:
#
#   packaging/build-deb.sh OUTDIR
#
# writes OUTDIR/excloud-buckets_<version>_amd64.deb holding /usr/bin/excd,
# /usr/bin/exc, the systemd units, /etc/excd/excd.toml (a conffile) and the
# docs. Needs go and dpkg-deb, nothing else. The version is $VERSION if set,
# else derived from git: the latest v* tag without the "v" (plus
# "+git<commits>.<sha>" past it), or 0.0.0~git<date>.<sha> with no tag.
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
  "$pkg/usr/share/doc/excloud-buckets"

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
install -m 0644 packaging/excd.toml "$pkg/etc/excd/excd.toml"
doc=$pkg/usr/share/doc/excloud-buckets
install -m 0644 README.md "$doc/README.md"
install -m 0644 docs/design.md "$doc/design.md"
[ -f docs/format.md ] && install -m 0644 docs/format.md "$doc/format.md"
install -m 0644 docs/service.md "$doc/service.md"
cat >"$doc/copyright" <<'COPY'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: excloud-buckets
Files: *
Copyright: excloud
License: proprietary
COPY

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
Recommends: fuse3
Homepage: https://excloud.dev/buckets
Description: self-hosted S3-compatible object store
 excd serves an encrypted, deduplicating object store over the S3 protocol
 and as FUSE mounts, as a hardened systemd service; exc administers it over
 a unix socket (orgs, buckets, keys, gc, scrub, catalog backup).
CONTROL

cat >"$pkg/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  # The master key is made once, here, never shipped: every install gets its
  # own, and upgrades keep it. Back it up: without it nothing can be read.
  if [ ! -e /etc/excd/master.key ]; then
    (umask 077 && od -An -vtx1 -N32 /dev/urandom | tr -d ' \n' >/etc/excd/master.key.new \
      && echo >>/etc/excd/master.key.new && mv /etc/excd/master.key.new /etc/excd/master.key)
    echo "excloud-buckets: created /etc/excd/master.key; back it up (data cannot be read without it)."
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    # Enabled, not started: review /etc/excd/excd.toml, then systemctl start excd.
    systemctl enable excd.service >/dev/null 2>&1 || true
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
  systemctl disable excd.service excd.socket >/dev/null 2>&1 || true
fi
exit 0
PRERM

cat >"$pkg/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
# The data (/var/lib/excd) and the master key stay even on purge: deleting
# an object store is not a package manager's decision.
exit 0
POSTRM
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"

mkdir -p "$outdir"
deb="$outdir/excloud-buckets_${VERSION}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
