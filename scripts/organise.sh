#!/usr/bin/env bash
# One command for the main job on a fresh Debian 12 machine: set up, then organise
# the given folders (prints the clusters and the folder plan; files are not moved).
#   scripts/organise.sh ~/Videos [more folders] [reelmap organise options]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  echo "usage: scripts/organise.sh FOLDER [FOLDER...] [options]" >&2
  exit 2
fi
scripts/setup.sh
exec target/release/reelmap organise "$@"
