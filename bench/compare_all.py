"""Every performance comparison of the issue, side by side on this machine, ending
with one table of ratios (Reelmap vs the alternatives). Run through bench/run.sh,
which sets up what it needs.

  1. embedding: Reelmap's EfficientNet-Lite0 (Candle, fast CPU path) vs ONNX Runtime
     on the same weights, batch 1 and 16, same time window, the two alternated
     `--embed-rounds` times (3 by default; each one's best goes into the table);
     output difference;
  2. decoding: sampled frames/s of Reelmap's GStreamer sampler vs the PyAV sampler
     of the Python pipeline, and vs ffmpeg decoding only keyframes
     (`-skip_frame nokey`, the fastest command-line way to get frames);
  3. end to end: `reelmap organise` vs the Python pipeline (PyAV + ONNX Runtime +
     scikit-learn), wall time (the two alternated `--e2e-rounds` times, 2 by default;
     each one's best goes into the table, every round's ratio is printed), CPU
     seconds, peak memory and clustering scores, on every dataset given (a generated
     200-video library; ../shared/media/dev-real when present);
  4. incremental re-scan of 10 000 unchanged files;
  5. t-SNE of 20 000 points vs openTSNE's Barnes-Hut.

Machine load matters on 2 cores: the load average is printed with every number.
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BIN = os.environ.get("REELMAP_BIN", os.path.join(REPO, "target", "release", "reelmap"))
PY = sys.executable


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run(cmd, **kw):
    """Runs a command in a child wrapper so that its own peak RSS is known."""
    wrapper = (
        "import resource,subprocess,sys,time,json\n"
        "t=time.perf_counter(); r=subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(json.dumps({'rc': r.returncode, 'out': r.stdout, 'err': r.stderr[-4000:],"
        " 'wall': time.perf_counter()-t,"
        " 'cpu': (lambda u: u.ru_utime + u.ru_stime)(resource.getrusage(resource.RUSAGE_CHILDREN)),"
        " 'rss_mib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024}))\n"
    )
    r = subprocess.run([PY, "-c", wrapper, *cmd], capture_output=True, text=True, **kw)
    res = json.loads(r.stdout)
    if res["rc"] != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{res['err']}")
    return res


def section(title):
    print(f"\n=== {title} (load {loadavg()})", flush=True)


def embedding(onnx, rows, torch_weights=None, rounds=3):
    section("embedding")
    best = {}
    # Alternate the two engines and keep each one's best, so that a burst of other
    # load does not decide the comparison (batch 1 on two threads halves when another
    # process takes a core, for both engines). PyTorch eager (far slower) is timed in
    # the first round only.
    for rnd in range(rounds):
        la = loadavg()
        cmd = [PY, os.path.join(HERE, "onnx_speed.py"), onnx, "--batches", "1,16", "--json"]
        if torch_weights and rnd == 0:
            cmd += ["--torch", torch_weights]
        ort = json.loads(run(cmd)["out"])
        for c in ort["cases"]:
            k = ("torch" if c.get("engine") == "torch-eager" else "ort", c["batch"])
            best[k] = max(best.get(k, 0), c["images_per_s"])
        rm = json.loads(run([BIN, "bench", "embed", "--batches", "1,16", "--seconds", "5"])["out"])
        for c in rm["speeds"]:
            k = ("reelmap", c["batch"])
            best[k] = max(best.get(k, 0), c["images_per_s"])
        print(f"  ORT/PyTorch {[(c.get('engine'), c['batch'], round(c['images_per_s'], 1)) for c in ort['cases']]}  "
              f"Reelmap {[(c['batch'], round(c['images_per_s'], 1)) for c in rm['speeds']]}  load {la}")
        diff = rm["max_abs_diff_vs_pytorch"]
    for b in (1, 16):
        rows.append((f"embedding images/s, batch {b}", best[("reelmap", b)], best[("ort", b)], "ONNX Runtime", "≥ 1"))
        if ("torch", b) in best:
            rows.append((f"embedding images/s, batch {b}", best[("reelmap", b)], best[("torch", b)], "PyTorch eager", "(info)"))
    print(f"  Reelmap vs PyTorch reference: max |Δ| = {diff:.2e} (ONNX export vs PyTorch: ~6e-6, see export_onnx.py)")


def ffmpeg_keyframes(root):
    """Frames/s of ffmpeg decoding only keyframes of every video, scaled like ours."""
    vids = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in sorted(fs)
            if f.lower().rsplit(".", 1)[-1] in {"mp4", "mkv", "webm", "avi", "mov", "ogv", "mpg", "m4v", "ts", "gif"}]
    frames, t0 = 0, time.perf_counter()
    for v in vids:
        r = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-skip_frame", "nokey", "-i", v,
                            "-vsync", "vfr", "-vf", "scale=-2:256", "-f", "null", "-"],
                           capture_output=True, text=True)
        m = re.findall(r"frame=\s*(\d+)", r.stderr)
        frames += int(m[-1]) if m else 0
    return frames / (time.perf_counter() - t0), frames


def decode_and_e2e(name, root, onnx, rows, workdir, rounds):
    section(f"decoding and end to end: {name}")
    la = loadavg()
    py_cmd = [PY, os.path.join(HERE, "python_pipeline.py"), root, "--onnx", onnx, "--json"]
    py = run(py_cmd)
    pj = json.loads(py["out"])
    py_decode = pj["frames"] / pj["decode_s"]
    print(f"  Python pipeline: {pj['videos']} videos, {pj['frames']} frames, decode {pj['decode_s']:.1f} s "
          f"({py_decode:.1f} frames/s), wall {py['wall']:.1f} s, CPU {py['cpu']:.1f} s, "
          f"peak {py['rss_mib']:.0f} MiB, load {la}")
    d1 = json.loads(run([BIN, "bench", "decode", root, "--threads", "1"])["out"])
    d2 = json.loads(run([BIN, "bench", "decode", root, "--threads", "2"])["out"])
    print(f"  Reelmap decode: 1 video at a time {d1['frames_per_s']:.1f} frames/s, 2 at once {d2['frames_per_s']:.1f} "
          f"frames/s ({d2['frames']} frames, {d2['failed']} failed)")
    if shutil.which("ffmpeg"):
        ff, nframes = ffmpeg_keyframes(root)
        print(f"  ffmpeg -skip_frame nokey: {ff:.1f} keyframes/s ({nframes} keyframes)")
        rows.append((f"[{name}] decode frames/s vs ffmpeg keyframes", d2["frames_per_s"], ff, "ffmpeg nokey", "≥ 1/1.5"))
    rows.append((f"[{name}] decode frames/s vs PyAV sampler", d2["frames_per_s"], py_decode, "PyAV", "≥ 3"))
    db = os.path.join(workdir, f"{name}.sqlite3")
    # End to end, alternating the two pipelines `rounds` times; each side's best wall
    # time goes into the table (as for the embedding), every round's pair is printed.
    py_runs, rm_runs = [py], []
    for rnd in range(rounds):
        if rnd > 0:
            la = loadavg()
            py_runs.append(run(py_cmd))
            print(f"  Python pipeline: wall {py_runs[-1]['wall']:.1f} s, CPU {py_runs[-1]['cpu']:.1f} s, load {la}")
        for f in (db, db + "-wal", db + "-shm"):
            if os.path.exists(f):
                os.remove(f)
        la = loadavg()
        rm = run([BIN, "--db", db, "--json", "organise", root])
        rm_runs.append(rm)
        print(f"  reelmap organise: wall {rm['wall']:.1f} s, CPU {rm['cpu']:.1f} s, peak {rm['rss_mib']:.0f} MiB, "
              f"load {la}; this round's ratio {rm['wall'] / py_runs[-1]['wall']:.2f}")
    best_rm = min(r["wall"] for r in rm_runs)
    best_py = min(r["wall"] for r in py_runs)
    rows.append((f"[{name}] end to end seconds, best of {rounds} (lower is better)", best_rm, best_py,
                 "Python pipeline", "≤ 1/3"))
    rows.append((f"[{name}] end to end CPU seconds (info)", min(r["cpu"] for r in rm_runs),
                 min(r["cpu"] for r in py_runs), "Python pipeline", "(info)"))
    rows.append((f"[{name}] peak memory MiB (lower is better)", max(r["rss_mib"] for r in rm_runs),
                 max(r["rss_mib"] for r in py_runs), "Python pipeline", "≤ 1"))
    ev = json.loads(run([BIN, "--db", db, "--json", "eval", root])["out"])
    given, auto = ev["runs"][0], ev["runs"][1]
    for label, r, pr in (("k given", given, pj["k_given"]), ("automatic k", auto, pj["k_auto"])):
        s = r["scores"]
        print(f"  {label}: Reelmap k={s['clusters']} ACC {s['accuracy']:.3f} NMI {s['nmi']:.3f} | "
              f"Python k={pr['clusters']} ACC {pr['acc']:.3f} NMI {pr['nmi']:.3f}")
        rows.append((f"[{name}] ACC, {label}", s["accuracy"], pr["acc"], "Python pipeline", "≥ 1"))
        rows.append((f"[{name}] NMI, {label}", s["nmi"], pr["nmi"], "Python pipeline", "≥ 1"))
    print(f"  categories {len(ev['categories'])}; automatic k: Reelmap {auto['scores']['clusters']}, "
          f"Python {pj['k_auto']['clusters']}")


def rescan(rows, workdir, files):
    section("incremental re-scan")
    r = json.loads(run([BIN, "bench", "rescan", os.path.join(workdir, "rescan"), "--files", str(files)])["out"])
    print(f"  {r['files']} files: first scan {r['first_scan_s']:.1f} s, re-scan {r['rescan_s']:.2f} s "
          f"({r['rescan_unchanged']} unchanged)")
    rows.append((f"re-scan of {files} unchanged files, seconds", r["rescan_s"], 5.0, "target 5 s", "≤ 1"))


def tsne(rows, n):
    section("t-SNE")
    r = run([PY, os.path.join(HERE, "tsne", "compare.py"), "--sizes", str(n)])
    table = [l for l in r["out"].splitlines() if l.startswith("|")]
    print("\n".join("  " + l for l in table))
    last = table[-1].split("|")
    rust_s, ot_s = float(last[2].split()[0]), float(last[4])
    rows.append((f"t-SNE {n} points, seconds (lower is better)", rust_s, ot_s, "openTSNE BH", "≤ 1, < 30 s"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--torch-weights", help="also time PyTorch eager on these weights (.whl or .pth)")
    ap.add_argument("--dataset", action="append", default=[], help="NAME=DIR (labelled: DIR/category/videos)")
    ap.add_argument("--rescan-files", type=int, default=10000)
    ap.add_argument("--tsne-n", type=int, default=20000)
    ap.add_argument("--skip", action="append", default=[], help="embedding, e2e, rescan, tsne")
    ap.add_argument("--workdir", default=os.path.join(HERE, ".cache"))
    ap.add_argument("--embed-rounds", type=int, default=3,
                    help="embedding: alternate the two engines this many times, keep each one's best")
    ap.add_argument("--e2e-rounds", type=int, default=2,
                    help="end to end: alternate the two pipelines this many times, keep each one's best")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    print(f"Reelmap benchmark on {os.cpu_count()} cores; load at start {loadavg()}")
    rows = []
    if "embedding" not in args.skip:
        embedding(args.onnx, rows, args.torch_weights, max(1, args.embed_rounds))
    if "e2e" not in args.skip:
        for d in args.dataset:
            name, root = d.split("=", 1)
            decode_and_e2e(name, root, args.onnx, rows, args.workdir, max(1, args.e2e_rounds))
    if "rescan" not in args.skip:
        rescan(rows, args.workdir, args.rescan_files)
    if "tsne" not in args.skip:
        tsne(rows, args.tsne_n)
    print(f"\n=== Summary (load at end {loadavg()})")
    print(f"| measure | Reelmap | other | other is | ratio Reelmap/other | goal |")
    print("|---|---|---|---|---|---|")
    for m, a, b, who, goal in rows:
        ratio = a / b if b else float("nan")
        print(f"| {m} | {a:.3g} | {b:.3g} | {who} | {ratio:.2f} | {goal} |")


if __name__ == "__main__":
    main()
