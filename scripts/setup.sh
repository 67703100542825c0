#!/usr/bin/env bash
# Install everything the project needs, idempotently: the Python venv (.venv) with the
# package and its pinned dependencies, and the pinned Node packages (Hardhat, solc, anvil).
#   scripts/setup.sh          runtime set-up (used by scripts/run.sh)
#   scripts/setup.sh --dev    also test tools and Debian's chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
PY=${PYTHON:-python3}

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' is required but not installed" >&2; exit 1; }; }
need "$PY"; need node; need npm

"$PY" - <<'PYEOF' || { echo "setup: Python >= 3.11 is required" >&2; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
PYEOF

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi

# A stamp per flavour holds the hash of pyproject.toml it was installed from; a dev install
# also satisfies the runtime one.
want="$(sha256sum pyproject.toml | cut -c1-16)"
if [ "$DEV" = 1 ]; then
  extras="[dev]"; stamp=.venv/.installed-dev; also=.venv/.installed-dev
else
  extras=""; stamp=.venv/.installed; also=.venv/.installed-dev
fi
current() { [ -f "$1" ] && [ "$(cat "$1")" = "$want" ]; }
if ! current "$stamp" && ! current "$also"; then
  echo "setup: installing Python packages${extras}"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip==25.3"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
  echo "$want" > "$stamp"
fi

lockhash="$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -f node_modules/.installed ] || [ "$(cat node_modules/.installed)" != "$lockhash" ]; then
  echo "setup: installing Node packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lockhash" > node_modules/.installed
fi

# Debian packages: a font with Vietnamese glyphs for PDFs and QR captions; for the tests also
# chromium (browser tests) and poppler-utils (pdftotext reads the certificates back).
apt_missing=()
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || apt_missing+=(fonts-dejavu-core)
if [ "$DEV" = 1 ]; then
  [ -x /usr/bin/chromium ] || apt_missing+=(chromium)
  command -v pdftotext >/dev/null 2>&1 || apt_missing+=(poppler-utils)
  command -v wrk >/dev/null 2>&1 || apt_missing+=(wrk)  # load generator of scripts/bench_ingest.py
fi
if [ "${#apt_missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${apt_missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi
echo "setup: ready"
