#!/usr/bin/env bash
# Creates the BigQuery emulator's own environment: local-bigquery 0.3.2 needs Python
# 3.13, and DuckDB extensions it loads at start come from PyPI wheels installed into a
# private DuckDB home (icu, ducklake, and spatial for its geography functions), so the
# emulator starts with no network at all.
#
#   tools/bq_emulator.sh            create .venv-bq and .duckhome (idempotent)
#   tools/bq_emulator.sh --print    the same, then print the emulator's executable
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CTJOBS_BQ_VENV:-$PWD/.venv-bq}
DUCKHOME=${CTJOBS_BQ_HOME:-$PWD/.duckhome}
STAMP=$VENV/.installed-0.3.2

find_python() {
    # pyenv shims hide interpreters of versions that are not selected: look behind them.
    local candidate
    for candidate in "$(command -v python3.13 2>/dev/null || true)" \
        "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.13*/bin/python3.13 \
        /usr/bin/python3.13 /usr/local/bin/python3.13; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c pass 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "no Python 3.13 interpreter found for the BigQuery emulator (local-bigquery" \
        "needs it): install python3.13 (pyenv install 3.13), or set" \
        "CTJOBS_SKIP_BIGQUERY=1 to skip the BigQuery emulator and its tests" >&2
    return 1
}

if [ ! -f "$STAMP" ]; then
    "$(find_python)" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        'local-bigquery==0.3.2' 'duckdb==1.5.5' \
        'duckdb-extension-icu==1.5.5' 'duckdb-extension-ducklake==1.5.5' \
        'duckdb-extension-spatial==1.5.5'
    mkdir -p "$DUCKHOME"
    HOME=$DUCKHOME "$VENV/bin/python" - <<'PY'
import glob, os, site
import duckdb
con = duckdb.connect()
for root in site.getsitepackages():
    pattern = os.path.join(root, "duckdb_extension_*", "extensions", "*", "*.duckdb_extension")
    for path in glob.glob(pattern):
        con.execute(f"INSTALL '{path}'")
query = "SELECT extension_name FROM duckdb_extensions() WHERE installed"
have = {name for (name,) in con.execute(query).fetchall()}
missing = {"icu", "ducklake", "spatial"} - have
if missing:
    raise SystemExit(f"DuckDB extensions not installed: {sorted(missing)}")
PY
    touch "$STAMP"
fi
if [ "${1:-}" = "--print" ]; then
    echo "$VENV/bin/local-bigquery"
fi
