#!/usr/bin/env bash
# The .deb part of CI (.ci/run calls it; it runs alone too, as root, on a
# Debian machine: bash .ci/deb.sh). Builds the package and checks its
# contents and copyright file; installs it from scratch (purging an earlier
# install) and checks that the unit is enabled on the first install only,
# never again once an administrator disabled it; runs the installed excd as
# the unit does (user excd, its state, runtime and credentials directories)
# and reaches it with exc as root; verifies the units and the opt-in
# drop-ins with systemd-analyze, and bounds their exposure scores.
# Leaves the package installed.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "deb: $*" >&2; exit 1; }

if ! command -v dpkg-deb >/dev/null || ! command -v systemd-analyze >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq dpkg systemd >/dev/null
fi
work=$(mktemp -d)
# User excd must reach the service directories made in it.
chmod 0755 "$work"
excd_pid=""
cleanup() {
  if [ -n "$excd_pid" ]; then kill "$excd_pid" 2>/dev/null || true; wait "$excd_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== .deb: build, contents"
if [ -n "${EXC_CI_DEB:-}" ]; then
  deb=$EXC_CI_DEB # a package built before, to rerun the checks quickly
else
  deb=$(packaging/build-deb.sh "$work/out")
  case "$deb" in
    "$work"/out/excloud-buckets_*_amd64.deb) ;;
    *) fail "build-deb.sh wrote $deb" ;;
  esac
fi
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/excd ./usr/bin/exc ./lib/systemd/system/excd.service \
  ./lib/systemd/system/excd.socket ./etc/excd/excd.toml \
  ./usr/share/excloud-buckets/systemd/mount.conf \
  ./usr/share/excloud-buckets/systemd/data-disk.conf \
  ./usr/share/doc/excloud-buckets/copyright \
  ./usr/share/doc/excloud-buckets/service.md ./usr/share/doc/excloud-buckets/admin.md \
  ./usr/share/doc/excloud-buckets/README.md \
  ./usr/share/bash-completion/completions/exc ./usr/share/zsh/vendor-completions/_exc \
  ./usr/share/fish/vendor_completions.d/exc.fish ./usr/share/man/man1/exc.1.gz \
  ./usr/share/man/man1/exc-keys-configure.1.gz ./usr/share/man/man1/exc-buckets-create.1.gz \
  ./usr/share/man/man8/excd.8.gz; do
  if ! grep -q " $f\$" <<<"$contents"; then
    echo "$contents"; fail "$deb lacks $f"
  fi
done
if [ "$(dpkg-deb -I "$deb" conffiles)" != /etc/excd/excd.toml ]; then
  fail "/etc/excd/excd.toml is not the (only) conffile"
fi

echo "== .deb: copyright names every linked module and its licence"
mkdir "$work/x"
dpkg-deb -x "$deb" "$work/x"
copyright=$work/x/usr/share/doc/excloud-buckets/copyright
[ "$(head -1 "$copyright")" = 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' ] \
  || fail "copyright is not in the machine-readable format"
grep -qx 'License: excloud-proprietary' "$copyright" || fail "copyright lacks excloud's own terms"
if grep -qx 'License: proprietary' "$copyright"; then fail "copyright still has the old one-line licence"; fi
mods=$(go version -m "$work/x/usr/bin/excd" "$work/x/usr/bin/exc" | awk '$1 == "dep" {print $2}' | sort -u)
[ -n "$mods" ] || fail "go version -m lists no modules"
for m in go $mods; do
  grep -qxF "Files: $m/*" "$copyright" || fail "copyright has no paragraph for $m"
done
# Every Files paragraph has a Copyright and a non-empty License.
awk '
  /^$/ { if (files && !(cr && lic)) bad = bad " " files; files = cr = lic = "" ; next }
  /^Files: /     { files = $2 }
  /^Copyright: ./ { cr = 1 }
  /^License: ./  { lic = 1 }
  END { if (files && !(cr && lic)) bad = bad " " files; if (bad) { print "incomplete paragraphs:" bad; exit 1 } }
' "$copyright" || fail "copyright has paragraphs without Copyright or License"

echo "== .deb: excd.toml's comments and the unit agree"
# A variable the config's comments say the unit sets must be set by it.
for v in $(grep -i 'unit' "$work/x/etc/excd/excd.toml" | grep -o 'EXC_[A-Z_]*' | sort -u); do
  grep -q "^Environment=.*\b$v=" "$work/x/lib/systemd/system/excd.service" \
    || fail "excd.toml says the unit sets $v; excd.service does not"
done
grep -qx 'WorkingDirectory=/var/lib/excd' "$work/x/lib/systemd/system/excd.service" \
  || fail "excd.toml says the unit's working directory is /var/lib/excd"

echo "== .deb: install from scratch, enabled on first install only"
# A purge first, so this is a first install as on a new machine (the data
# and the master key survive a purge; the unit's links do not).
if dpkg -s excloud-buckets >/dev/null 2>&1; then dpkg --purge excloud-buckets >/dev/null; fi
dpkg -i "$deb" >/dev/null
/usr/bin/excd --version | grep -E '^excd [0-9].* \(commit [0-9a-f]+\)$'
/usr/bin/exc --version | grep -E '^exc [0-9].* \(commit [0-9a-f]+\)$'
/usr/bin/excd --config /etc/excd/excd.toml --print-config >/dev/null
getent passwd excd >/dev/null || fail "the install made no user excd"
[ "$(stat -c '%U %a' /etc/excd/master.key)" = "root 600" ] || fail "master.key is not root's 0600"
# systemctl answers from the unit links whether or not systemd runs (this
# container has none as PID 1; a CI VM has).
state() { systemctl is-enabled excd.service 2>/dev/null || true; }
[ "$(state)" = enabled ] || fail "the first install left excd.service $(state), want enabled"
systemctl disable excd.service >/dev/null 2>&1
[ "$(state)" = disabled ] || fail "systemctl disable left excd.service $(state)"
dpkg -i "$deb" >/dev/null
[ "$(state)" = disabled ] || fail "reinstalling re-enabled excd.service the administrator disabled"
# An upgrade: the same package under a higher version.
version=$(dpkg-deb -f "$deb" Version)
dpkg-deb -R "$deb" "$work/up"
sed -i "s/^Version: .*/Version: $version+ci1/" "$work/up/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz -b "$work/up" "$work/up.deb" >/dev/null
dpkg -i "$work/up.deb" >/dev/null
[ "$(dpkg-query -W -f '${Version}' excloud-buckets)" = "$version+ci1" ] || fail "the upgrade did not install"
[ "$(state)" = disabled ] || fail "upgrading re-enabled excd.service the administrator disabled"
# And an enabled unit stays enabled.
systemctl enable excd.service >/dev/null 2>&1
dpkg -i "$deb" >/dev/null 2>&1 # back to the built version (a downgrade)
[ "$(state)" = enabled ] || fail "reinstalling disabled excd.service"

echo "== .deb: an upgrade from the root unit keeps configured mounts"
dropin=/etc/systemd/system/excd.service.d/mount.conf
[ ! -e "$dropin" ] || fail "upgrades with no mounts configured linked the mount drop-in"
# A package of before the split (its unit ran as root with FUSE): this one
# without /usr/share/excloud-buckets, under a lower version.
dpkg --purge excloud-buckets >/dev/null 2>&1
dpkg-deb -R "$deb" "$work/old"
rm -r "$work/old/usr/share/excloud-buckets"
sed -i "s/^Version: .*/Version: 0~ci.old/" "$work/old/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz -b "$work/old" "$work/old.deb" >/dev/null
dpkg -i "$work/old.deb" >/dev/null 2>&1
sed -i 's|^# mounts = \[\]$|mounts = ["/srv/excd/ci"]|' /etc/excd/excd.toml
grep -qx 'mounts = \["/srv/excd/ci"\]' /etc/excd/excd.toml || fail "could not configure a mount in excd.toml"
dpkg -i "$deb" >/dev/null
[ "$(readlink "$dropin")" = /usr/share/excloud-buckets/systemd/mount.conf ] \
  || fail "upgrading from the root unit with mounts configured did not link the mount drop-in"
rm "$dropin"
rmdir --ignore-fail-on-non-empty /etc/systemd/system/excd.service.d
sed -i 's|^mounts = \["/srv/excd/ci"\]$|# mounts = []|' /etc/excd/excd.toml
cmp -s /etc/excd/excd.toml "$work/x/etc/excd/excd.toml" || fail "excd.toml not restored"

echo "== .deb: the installed excd as user excd, reached by exc as root"
# What the unit sets up: /var/lib/excd (StateDirectory=, the working
# directory) and /run/excd (RuntimeDirectory=), 0700 and excd's; the master
# key as a credential. excd must pass its data-directory checks there, put
# its data where excd.toml says (excd-data in the working directory), and
# root's exc must trust its admin socket.
svc=$work/svc
install -d -m 0755 "$svc"
install -d -o excd -g excd -m 0700 "$svc/state" "$svc/run"
install -d -o excd -g excd -m 0700 "$svc/cred"
install -o excd -g excd -m 0400 /etc/excd/master.key "$svc/cred/master.key"
chmod 0500 "$svc/cred"
(cd "$svc/state" && exec setpriv --reuid=excd --regid=excd --init-groups \
  env CREDENTIALS_DIRECTORY="$svc/cred" RUNTIME_DIRECTORY="$svc/run" \
  /usr/bin/excd --config /etc/excd/excd.toml --listen 127.0.0.1:0) 2>"$svc/excd.log" &
excd_pid=$!
up=""
for _ in $(seq 1 600); do # a bound for a hang: 60 s on a loaded machine
  if /usr/bin/exc --socket "$svc/run/admin.sock" status >/dev/null 2>&1; then up=1; break; fi
  kill -0 "$excd_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$up" ]; then
  cat "$svc/excd.log"
  /usr/bin/exc --socket "$svc/run/admin.sock" status || true
  fail "exc as root could not reach excd running as user excd"
fi
orgs=$(/usr/bin/exc --socket "$svc/run/admin.sock" orgs list)
grep -qw default <<<"$orgs" || fail "exc orgs list shows no default org: $orgs"
[ "$(stat -c '%U %a' "$svc/state/excd-data")" = "excd 700" ] || fail "the data directory is not $svc/state/excd-data, excd's, 0700"
[ "$(stat -c '%U' "$svc/run/admin.sock")" = excd ] || fail "the admin socket is not excd's"
# The packaged excd.toml serves the console to this machine. The page is
# read whole before grep sees it: under pipefail, grep -q leaving at its
# first match made curl fail writing the rest (exit 23).
page=$(curl -fsS http://127.0.0.1:9001/) || fail "curl of the console on 127.0.0.1:9001 failed"
grep -qi '<!doctype html' <<<"$page" || fail "the packaged config serves no console on 127.0.0.1:9001"
kill "$excd_pid"
wait "$excd_pid" || fail "excd as user excd exited $? on SIGTERM"
excd_pid=""

echo "== systemd-analyze verify (units and opt-in drop-ins)"
# verify exits 0 on warnings (an unknown key in a drop-in, for one): any
# output fails.
verify() {
  local out
  out=$(systemd-analyze verify "$@" 2>&1) && [ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify $*"; }
}
verify /lib/systemd/system/excd.service /lib/systemd/system/excd.socket
# Each drop-in applied as an administrator would (systemd-analyze reads
# UNIT.d/ beside the unit file).
for d in mount.conf data-disk.conf; do
  u=$work/unit-${d%.conf}
  mkdir -p "$u/excd.service.d"
  cp /lib/systemd/system/excd.service "$u/"
  cp "/usr/share/excloud-buckets/systemd/$d" "$u/excd.service.d/"
  verify "$u/excd.service"
done
# The data-disk drop-in in docs/service.md is the shipped one.
awk '/^<!-- packaging\/systemd\/data-disk.conf -->$/ {f = 1; next} f && /^```/ {if (n++) exit; next} f' docs/service.md \
  | diff - packaging/systemd/data-disk.conf || fail "docs/service.md's data-disk drop-in differs from packaging/systemd/data-disk.conf"
# Exposure scores (docs/service.md lists them): bounds so hardening does not
# silently regress. --threshold is the score times ten.
systemd-analyze security --offline=true --threshold=20 /lib/systemd/system/excd.service | tail -1 \
  || fail "excd.service exposure above 2.0"
score=$(systemd-analyze security --offline=true --threshold=35 "$work/unit-mount/excd.service" | tail -1) \
  || fail "excd.service with the mount drop-in: exposure above 3.5"
echo "$score (with mount.conf)"
# (Read whole: grep -q stopping early would fail the pipe.)
report=$(systemd-analyze security --offline=true "$work/unit-mount/excd.service")
grep -q 'Service runs as root user' <<<"$report" || fail "the mount drop-in did not take effect"
