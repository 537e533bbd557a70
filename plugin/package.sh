#!/usr/bin/env bash
# Packs a built kubectl-amp_iam into the archive krew downloads for one platform.
#
#   plugin/package.sh BINARY PLATFORM OUTDIR
#
#   BINARY    the built executable, e.g. target/x86_64-unknown-linux-gnu/release/kubectl-amp_iam
#   PLATFORM  os/arch (linux/amd64, linux/arm64, darwin/amd64, darwin/arm64, windows/amd64)
#             or a Rust target triple (x86_64-unknown-linux-gnu, aarch64-apple-darwin, ...)
#   OUTDIR    where the archive goes (created if missing)
#
# Writes OUTDIR/kubectl-amp-iam_v<version>_<os>_<arch>.tar.gz (.zip for windows)
# holding kubectl-amp_iam (kubectl-amp_iam.exe on windows), LICENSE and README.md,
# prints "<sha256>  <archive>" and records that line in OUTDIR/checksums.txt
# (replacing an older line for the same archive): the file render-manifest.sh reads.
#
# The version is Cargo.toml's (override with VERSION=v1.2.3). Archives are
# reproducible: fixed order, owner and timestamps (SOURCE_DATE_EPOCH, default
# 1980-01-01, the earliest time a zip can hold). Needs GNU tar, gzip, zip and
# sha256sum: run it on Linux, for every platform's binary.
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -eq 3 ] || usage
binary=$1 platform=$2 outdir=$3

root=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$binary" ] || { echo "error: no binary at $binary" >&2; exit 1; }

case "$platform" in
  */*) os=${platform%/*} arch=${platform#*/} ;;
  *)
    case "$platform" in
      x86_64-*) arch=amd64 ;;
      aarch64-*) arch=arm64 ;;
      *) echo "error: unknown architecture in target $platform" >&2; exit 2 ;;
    esac
    case "$platform" in
      *-linux-*) os=linux ;;
      *-apple-darwin) os=darwin ;;
      *-windows-*) os=windows ;;
      *) echo "error: unknown OS in target $platform" >&2; exit 2 ;;
    esac
    ;;
esac
case "$os/$arch" in
  linux/amd64 | linux/arm64 | darwin/amd64 | darwin/arm64 | windows/amd64) ;;
  *) echo "error: unsupported platform $os/$arch" >&2; exit 2 ;;
esac

version=${VERSION:-v$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n1)}
case "$version" in
  v[0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "error: version $version is not v<semver>" >&2; exit 1 ;;
esac

bin=kubectl-amp_iam
ext=tar.gz
if [ "$os" = windows ]; then bin=kubectl-amp_iam.exe ext=zip; fi
archive="kubectl-amp-iam_${version}_${os}_${arch}.${ext}"

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -m 0755 "$binary" "$stage/$bin"
install -m 0644 "$root/LICENSE" "$stage/LICENSE"
install -m 0644 "$root/README.md" "$stage/README.md"
epoch=${SOURCE_DATE_EPOCH:-315532800}
touch -d "@$epoch" "$stage/$bin" "$stage/LICENSE" "$stage/README.md"

rm -f "$outdir/$archive"
if [ "$ext" = zip ]; then
  (cd "$stage" && TZ=UTC zip -q -X "$outdir/$archive" "$bin" LICENSE README.md)
else
  tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    -cf - "$bin" LICENSE README.md | gzip -n -9 >"$outdir/$archive"
fi

sum=$(sha256sum "$outdir/$archive" | cut -d' ' -f1)
line="$sum  $archive"
checksums="$outdir/checksums.txt"
touch "$checksums"
{ awk -v a="$archive" '$2 != a' "$checksums"; echo "$line"; } | sort -k2 >"$checksums.tmp"
mv "$checksums.tmp" "$checksums"
echo "$line"
