#!/usr/bin/env bash
# Checks unpair's BKT arithmetic against pyBKT: same parameters and answer
# sequences, one-step predictions (P(correct), P(known)) and log-likelihood
# equal within 1e-9. Creates a cached venv with the pinned pyBKT
# (scripts/requirements-pybkt.txt) under ${UNPAIR_CACHE:-$HOME/.cache/unpair}.
# Exits non-zero on a mismatch or when pyBKT cannot be installed.
# Usage: scripts/pybkt_check.sh   (from anywhere; builds ./cmd/unpair)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${UNPAIR_CACHE:-$HOME/.cache/unpair}"
venv="$cache/pybkt-venv"
req="$root/scripts/requirements-pybkt.txt"
python="${PYTHON:-python3}"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
  echo "pybkt_check: creating $venv" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  "$python" -m venv "$venv" || { echo "pybkt_check: cannot create a venv with $python" >&2; exit 1; }
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"; then
    echo "pybkt_check: cannot install pyBKT ($req)" >&2
    rm -rf "$venv"
    exit 1
  fi
  cp "$req" "$stamp"
fi
bin="$(mktemp -d)/unpair"
trap 'rm -rf "$(dirname "$bin")"' EXIT
(cd "$root" && go build -o "$bin" ./cmd/unpair)
"$venv/bin/python" "$root/scripts/pybkt_check.py" "$bin"
