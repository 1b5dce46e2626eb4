#!/usr/bin/env bash
# Assembles the parts of the data folder that come from Debian packages (needs the internet or a
# Debian/Ubuntu mirror): backgrounds/ from lomiri-wallpapers-16.04, cutouts/ from
# tuxpaint-stamps-default. The other parts come from their publishers; docs/DATA.md says where.
#   bash scripts/fetch-data.sh [DATA_FOLDER]     (default: $HARMONIZER_DATA, else data/)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-${HARMONIZER_DATA:-$ROOT/data}}"
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
  echo "error: needs apt-get and dpkg-deb (Debian or Ubuntu); see docs/DATA.md for the sources" >&2; exit 2; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && apt-get download lomiri-wallpapers-16.04 tuxpaint-stamps-default) || {
  echo "error: could not download the packages (run 'apt-get update' first; needs a mirror)" >&2; exit 2; }
dpkg-deb -x "$WORK"/lomiri-wallpapers-16.04_*.deb "$WORK/wallpapers"
dpkg-deb -x "$WORK"/tuxpaint-stamps-default_*.deb "$WORK/tree"

mkdir -p "$DATA/backgrounds" "$DATA/cutouts"
cp "$WORK"/wallpapers/usr/share/backgrounds/*.jpg "$DATA/backgrounds/"
cp "$WORK/wallpapers/usr/share/doc/lomiri-wallpapers-16.04/copyright" "$DATA/backgrounds/COPYRIGHT" 2>/dev/null || true
# Stamps keep their category path in the name: stamps/animals/amphibians/frog.png -> animals_amphibians_frog.png
STAMPS="$WORK/tree/usr/share/tuxpaint/stamps"
find "$STAMPS" -name '*.png' | while read -r png; do
  name="${png#"$STAMPS"/}"; cp "$png" "$DATA/cutouts/${name//\//_}"
done
cp "$WORK/tree/usr/share/doc/tuxpaint-stamps-default/copyright" "$DATA/cutouts/COPYRIGHT" 2>/dev/null || true
echo "backgrounds: $(find "$DATA/backgrounds" -name '*.jpg' | wc -l) photos; cutouts: $(find "$DATA/cutouts" -name '*.png' | wc -l) stamps in $DATA"
