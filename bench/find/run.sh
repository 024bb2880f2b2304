#!/usr/bin/env bash
# Builds the find benchmark (library with derivatives and shared intros, query clips,
# truth.json) and scores Reelmap's `duplicates` and `find` on it.
#   bench/find/run.sh [OUT]      OUT: where the media go (default ../ml/findbench next
#                                to the repository; never inside the source tree)
# Environment: REELMAP_BIN (default: target/release/reelmap, built here with cargo),
# SEED (default 1), REELMAP_MODELS (default: the source tree's models/weights).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${1:-$(cd "$ROOT/.." && pwd)/ml/findbench}
SEED=${SEED:-1}
export REELMAP_MODELS=${REELMAP_MODELS:-$ROOT/models/weights}

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -q ffmpeg
  else echo "ffmpeg is needed: sudo apt-get install ffmpeg" >&2; exit 1; fi
fi

if [ -z "${REELMAP_BIN:-}" ]; then
  cargo build --release
  REELMAP_BIN=$ROOT/target/release/reelmap
fi

# A library made by another seed would not match the catalogue: rebuild both then.
if [ ! -f "$OUT/truth.json" ] || ! python3 -c "import json,sys; sys.exit(json.load(open('$OUT/truth.json'))['seed'] != $SEED)"; then
  python3 bench/find/make_bench.py --out "$OUT" --seed "$SEED"
  # (make_bench.py also removes the old catalogue and raw answers)
fi
python3 bench/find/score.py --bench "$OUT" --bin "$REELMAP_BIN"
