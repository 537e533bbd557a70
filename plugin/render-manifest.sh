#!/usr/bin/env bash
# Renders the krew manifest from plugin/krew-manifest.yaml.tmpl.
#
#   plugin/render-manifest.sh [--dist DIR] [--checksums FILE] [--platforms "os/arch ..."]
#                             [--version vX.Y.Z] [--base-url URL] [--homepage URL] [-o FILE]
#
# Each platform's sha256 is that of DIR/<archive> when package.sh left the
# archive there, else the line for <archive> in the checksums file
# ("<sha256>  <archive>", what package.sh and the release job write; default
# plugin/checksums.txt). A platform with neither is an error: krew checks
# every download against its sha256.
#
#   --platforms  default: linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
#   --version    default: v + Cargo.toml's version
#   --base-url   default: $HOMEPAGE/releases/download (the URI is <base-url>/<version>/<archive>)
#   --homepage   default: https://github.com/kubectl-amp-iam/kubectl-amp-iam
#   -o           default: stdout
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
template=$root/plugin/krew-manifest.yaml.tmpl
dist=
checksums=$root/plugin/checksums.txt
platforms="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"
version=
homepage=https://github.com/kubectl-amp-iam/kubectl-amp-iam
base_url=
out=-

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --dist) dist=$2; shift 2 ;;
    --checksums) checksums=$2; shift 2 ;;
    --platforms) platforms=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --base-url) base_url=$2; shift 2 ;;
    --homepage) homepage=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    *) usage ;;
  esac
done
version=${version:-v$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n1)}
base_url=${base_url:-$homepage/releases/download}
case "$version" in
  v[0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "error: version $version is not v<semver>" >&2; exit 1 ;;
esac
for url in "$homepage" "$base_url"; do
  case "$url" in
    https://*) ;;
    *) echo "error: $url is not an https URL" >&2; exit 1 ;;
  esac
  case "$url" in
    *'&'* | *'\'* | *' '*) echo "error: $url has characters the template cannot take" >&2; exit 1 ;;
  esac
done

# One "os arch archive bin sha256" line per platform.
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for platform in $platforms; do
  os=${platform%/*} arch=${platform#*/}
  bin=kubectl-amp_iam ext=tar.gz
  if [ "$os" = windows ]; then bin=kubectl-amp_iam.exe ext=zip; fi
  archive="kubectl-amp-iam_${version}_${os}_${arch}.${ext}"
  sum=
  if [ -n "$dist" ] && [ -f "$dist/$archive" ]; then
    sum=$(sha256sum "$dist/$archive" | cut -d' ' -f1)
  elif [ -f "$checksums" ]; then
    sum=$(awk -v a="$archive" '$2 == a { print $1; exit }' "$checksums")
  fi
  if [ -z "$sum" ]; then
    echo "error: no sha256 for $archive: neither ${dist:-(no --dist)}/$archive nor a line in $checksums" >&2
    exit 1
  fi
  if ! printf '%s' "$sum" | grep -Eqx '[0-9a-f]{64}'; then
    echo "error: the sha256 of $archive is not 64 lowercase hex digits: $sum" >&2
    exit 1
  fi
  echo "$os $arch $archive $bin $sum" >>"$rows"
done

render() {
  awk -v version="$version" -v homepage="$homepage" -v base_url="$base_url" '
    function fill(s, i) {
      gsub(/\{\{VERSION\}\}/, version, s)
      gsub(/\{\{HOMEPAGE\}\}/, homepage, s)
      gsub(/\{\{BASE_URL\}\}/, base_url, s)
      if (i) {
        gsub(/\{\{OS\}\}/, os[i], s)
        gsub(/\{\{ARCH\}\}/, arch[i], s)
        gsub(/\{\{ARCHIVE\}\}/, archive[i], s)
        gsub(/\{\{BIN\}\}/, bin[i], s)
        gsub(/\{\{SHA256\}\}/, sha[i], s)
      }
      return s
    }
    FNR == NR { n++; os[n] = $1; arch[n] = $2; archive[n] = $3; bin[n] = $4; sha[n] = $5; next }
    FNR == 1 { print "# Rendered by plugin/render-manifest.sh from plugin/krew-manifest.yaml.tmpl: edit those instead." }
    !body && /^#/ { next }
    { body = 1 }
    /#PLATFORM_BEGIN/ { inblock = 1; next }
    /#PLATFORM_END/ {
      for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print fill(block[j], i)
      inblock = 0; next
    }
    inblock { block[++m] = $0; next }
    { print fill($0, 0) }
  ' "$rows" "$template"
}

rendered=$(render)
if printf '%s\n' "$rendered" | grep -q '{{'; then
  echo "error: placeholders left in the rendered manifest:" >&2
  printf '%s\n' "$rendered" | grep '{{' >&2
  exit 1
fi
if [ "$out" = - ]; then
  printf '%s\n' "$rendered"
else
  printf '%s\n' "$rendered" >"$out"
fi
