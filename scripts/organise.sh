#!/usr/bin/env bash
# One command for the main job on a fresh Debian 12 machine: set up, then organise
# the given folders (prints the clusters and the folder plan; files are not moved).
#   scripts/organise.sh ~/Videos [more folders] [reelmap organise options]
set -euo pipefail
# Run from the caller's folder, so that relative folder paths mean what they say.
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -eq 0 ]; then
  echo "usage: scripts/organise.sh FOLDER [FOLDER...] [options]" >&2
  exit 2
fi
"$ROOT/scripts/setup.sh"
exec "$ROOT/target/release/reelmap" organise "$@"
