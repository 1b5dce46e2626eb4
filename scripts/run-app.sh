#!/usr/bin/env bash
# Installs what is missing, then starts the app (arguments go to main.py, e.g. a sub-command).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" app
cd "$ROOT"
exec "$ROOT/.venv/bin/python" main.py "$@"
