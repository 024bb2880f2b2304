#!/usr/bin/env bash
# Create bench/.venv and install the pinned benchmark requirements (PyPI only).
#
#   ./setup_venv.sh              # everything (torch included: export_onnx.py, onnx_speed.py --torch)
#   ./setup_venv.sh --no-torch   # only what python_pipeline.py and onnx_speed.py (ONNX Runtime) need
#   ./setup_venv.sh --force      # reinstall even if the stamp says it is up to date
#
# Environment: PYTHON (default python3; must be CPython 3.11 for the pins),
#              VENV (default bench/.venv).
# Idempotent: a stamp file in the venv records the hash of the requirements
# actually installed and the interpreter; if it matches and the imports work,
# nothing is done.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-$HERE/.venv}"
REQ="$HERE/requirements.txt"
MARKER='# --- torch'

with_torch=1
force=0
for arg in "$@"; do
  case "$arg" in
    --no-torch) with_torch=0 ;;
    --force) force=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "setup_venv.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "setup_venv.sh: $PYTHON not found (install python3 / python3-venv)" >&2
  exit 1
fi
pyver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$pyver" != "3.11" ]; then
  echo "setup_venv.sh: warning: $PYTHON is Python $pyver; the pins were made on 3.11" >&2
fi

# The requirement set to install: all of requirements.txt, or the part above the torch marker.
req_effective="$(mktemp)"
trap 'rm -f "$req_effective"' EXIT
if [ "$with_torch" = 1 ]; then
  cp "$REQ" "$req_effective"
else
  sed "/^${MARKER}/,\$d" "$REQ" > "$req_effective"
fi
stamp="$VENV/.reelmap-bench-stamp"
# Stamp = hash of the requirement set + the venv's own interpreter version.
compute_stamp() {
  (cat "$req_effective"; "$VENV/bin/python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1
}

check_imports() {
  local mods="numpy PIL av onnxruntime sklearn scipy openTSNE"
  [ "$with_torch" = 1 ] && mods="$mods onnx torch"
  "$VENV/bin/python" - $mods <<'PY'
import importlib, sys
for m in sys.argv[1:]:
    importlib.import_module(m)
PY
}

if [ "$force" = 0 ] && [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] \
   && [ "$(cat "$stamp")" = "$(compute_stamp)" ] && check_imports 2>/dev/null; then
  echo "setup_venv.sh: $VENV is up to date (stamp matches); nothing to do"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup_venv.sh: creating $VENV with $PYTHON ($pyver)"
  if ! "$PYTHON" -m venv "$VENV"; then
    rm -rf "$VENV"
    # Debian's python3 has no ensurepip without the python3-venv package.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "setup_venv.sh: venv failed; installing Debian's python3-venv" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
      "$PYTHON" -m venv "$VENV"
    else
      echo "setup_venv.sh: '$PYTHON -m venv' failed; on Debian: sudo apt-get install python3-venv" >&2
      exit 1
    fi
  fi
fi

rm -f "$stamp"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -r "$req_effective"
check_imports
compute_stamp > "$stamp"
echo "setup_venv.sh: done: $VENV ($("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])'), torch: $([ "$with_torch" = 1 ] && echo yes || echo no))"
