#!/usr/bin/env bash
# Sets up everything the project needs on a fresh machine; cheap to run again.
#   bash scripts/setup.sh app    runtime only
#   bash scripts/setup.sh test   runtime plus test tools
# System packages: Qt's runtime libraries (installed with apt-get when running as root or with
# sudo on Debian/Ubuntu; otherwise install the list below yourself).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-app}"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"

QT_SYSTEM_PACKAGES=(
  libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0
  libxcb-randr0 libxcb-xinerama0 libxcb-xkb1
)

install_system_packages() {
  command -v dpkg-query >/dev/null 2>&1 || return 0
  local missing=() pkg
  for pkg in "${QT_SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"; else
      echo "warning: Qt needs these system packages: ${missing[*]}" >&2
      echo "         install them with: sudo apt-get install ${missing[*]}" >&2
      return 0
    fi
  fi
  echo "installing system packages for Qt: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python_packages() {
  local requirements="$ROOT/requirements.txt"
  [ "$MODE" = "test" ] && requirements="$ROOT/requirements-dev.txt"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  local stamp="$VENV/.installed-$MODE" digest
  digest="$(cat "$ROOT/requirements.txt" "$requirements" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip "setuptools>=64"
    "$VENV/bin/python" -m pip install --quiet -r "$requirements"
    # The project itself, editable: the `harmonizer` command, and imports from anywhere (benchmarks).
    "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation --editable "$ROOT"
    echo "$digest" > "$stamp"
  fi
}

case "$MODE" in
  app|test) ;;
  *) echo "usage: $0 [app|test]" >&2; exit 2 ;;
esac
install_system_packages
install_python_packages
