#!/bin/sh
# Create .venv-dlt at the repository root with dlt (benchmarks/dlt/requirements.txt), once.
# The project's own environment is never touched: dlt pins its own versions of shared libraries.
set -e
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="$ROOT/.venv-dlt"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$VENV/.installed" ] || [ "$ROOT/benchmarks/dlt/requirements.txt" -nt "$VENV/.installed" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r "$ROOT/benchmarks/dlt/requirements.txt"
    touch "$VENV/.installed"
fi
