#!/usr/bin/env python3
"""The "obvious Python script" baseline for Reelmap: embed every video under ROOT with
EfficientNet-Lite0 in ONNX Runtime, cluster the videos, and score the clusters against
the folder labels.

    python python_pipeline.py ROOT --onnx MODEL.onnx [--k N] [--frames 16] [--json]
                              [--cache FEATURES.npz]

Per video (files under ROOT, recursively, with a video extension):
  * open with PyAV; for each of --frames timestamps spread uniformly from 5% to 95% of
    the duration: container.seek() to the keyframe at/before it, then decode forward to
    the first frame at/after it (one seek per timestamp, as a typical user script does).
    Files PyAV cannot open or decode are skipped with a message.
  * preprocess with PIL: RGB, short side to 256 (bilinear), centre crop 224,
    x = (p - 127) / 128, NCHW float32 (same as scripts/reference/efficientnet_lite.py).
  * one ONNX Runtime run (default session options) with all frames of the video as the
    batch; mean of the 1280-d `features` over the frames, L2-normalised.
Then scikit-learn KMeans (n_init=10, random_state=0) with k = number of categories
(top-level subfolders of ROOT; --k overrides) and with k chosen automatically as the
argmax of the cosine silhouette over k = 2..min(20, n-1).

Category = the top-level subfolder of ROOT a file is in. Scores for both k: ACC
(Hungarian matching), NMI (arithmetic), ARI, purity, H(true | cluster) in bits.
Timings: decode (open + seek + decode + frame->PIL), preprocess, network (session.run
only), clustering, and total wall time of the whole script (imports included), plus
the process CPU seconds of decode / preprocess / network (decoding and preprocessing
run on essentially one thread here, so their CPU seconds approximate the wall time on
an idle machine even when the run competed with other jobs); peak RSS;
and the CPU cores used by this process and by other processes meanwhile (/proc/stat),
to tell a clean measurement from one that competed with other jobs.

--cache FEATURES.npz stores the per-video features (and the timings of the run that
computed them); when the file exists and matches ROOT's video list, --frames and the
model, the features are reused and only the clustering runs (timings then come from
the cache and are flagged as cached).
"""
import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402

import av  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from PIL import Image  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    adjusted_rand_score,
    normalized_mutual_info_score,
    silhouette_score,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpuload import CpuWindow, loadavg  # noqa: E402

CPU_ALL = CpuWindow()  # whole run, imports included

VIDEO_EXTS = {
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ogv", ".ogg",
    ".wmv", ".flv", ".3gp", ".ts", ".mts", ".m2ts", ".gif", ".y4m", ".vob", ".asf",
}
RESIZE_SHORT = 256
CROP = 224


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- input

def scan(root):
    """Sorted list of (relative path, category) for every video file under root."""
    items = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            if os.path.splitext(fn)[1].lower() in VIDEO_EXTS:
                rel = os.path.relpath(os.path.join(dirpath, fn), root)
                parts = rel.split(os.sep)
                category = parts[0] if len(parts) > 1 else ""
                items.append((rel, category))
    return items


def sample_times(duration, n):
    if n == 1:
        return [0.5 * duration]
    return [duration * (0.05 + 0.90 * i / (n - 1)) for i in range(n)]


def frame_time(frame, stream):
    if frame.pts is not None:
        return float(frame.pts * stream.time_base)
    return frame.time


def decode_frames(path, n_frames):
    """Seek + decode-forward sampling. Returns a list of PIL images (may be shorter than
    n_frames if the file ends early; empty if nothing decodes)."""
    images = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        start = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        if stream.duration is not None:
            duration = float(stream.duration * tb)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        elif stream.frames and stream.average_rate:
            duration = stream.frames / float(stream.average_rate)
        else:
            duration = 0.0
        for t in sample_times(duration, n_frames):
            target = start + t
            try:
                container.seek(int(target / tb), stream=stream, backward=True, any_frame=False)
            except av.error.FFmpegError:
                container.seek(0, stream=stream)  # unseekable: decode from the start
            picked = last = None
            for frame in container.decode(stream):
                last = frame
                ft = frame_time(frame, stream)
                if ft is None or ft + 1e-6 >= target:
                    picked = frame
                    break
            picked = picked or last
            if picked is not None:
                images.append(picked.to_image())
    return images


def preprocess(img):
    """Short side to 256 (bilinear), centre crop 224, (p - 127) / 128, CHW float32."""
    img = img.convert("RGB")
    w, h = img.size
    if w <= h:
        nw, nh = RESIZE_SHORT, round(h * RESIZE_SHORT / w)
    else:
        nw, nh = round(w * RESIZE_SHORT / h), RESIZE_SHORT
    img = img.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - CROP) // 2, (nh - CROP) // 2
    img = img.crop((left, top, left + CROP, top + CROP))
    a = (np.asarray(img, dtype=np.float32) - 127.0) / 128.0
    return a.transpose(2, 0, 1)


def embed_all(root, items, onnx_path, n_frames):
    cpu = CpuWindow()
    t0 = time.perf_counter()
    sess = ort.InferenceSession(onnx_path)  # default session options
    t_session = time.perf_counter() - t0
    in_name = sess.get_inputs()[0].name
    t_decode = t_pre = t_net = 0.0
    c_decode = c_pre = c_net = 0.0  # process CPU seconds (all threads), less sensitive to contention
    feats, kept, frames_per_video, skipped = [], [], [], []
    for i, (rel, cat) in enumerate(items):
        path = os.path.join(root, rel)
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            images = decode_frames(path, n_frames)
        except Exception as e:  # PyAV cannot open/decode it
            t_decode += time.perf_counter() - t0
            c_decode += time.process_time() - c0
            log(f"skip {rel}: {type(e).__name__}: {e}")
            skipped.append(rel)
            continue
        t1, c1 = time.perf_counter(), time.process_time()
        t_decode += t1 - t0
        c_decode += c1 - c0
        if not images:
            log(f"skip {rel}: no frame decoded")
            skipped.append(rel)
            continue
        batch = np.stack([preprocess(im) for im in images])
        t2, c2 = time.perf_counter(), time.process_time()
        t_pre += t2 - t1
        c_pre += c2 - c1
        f = sess.run(["features"], {in_name: batch})[0]
        t_net += time.perf_counter() - t2
        c_net += time.process_time() - c2
        v = f.mean(axis=0)
        v = v / max(float(np.linalg.norm(v)), 1e-12)
        feats.append(v.astype(np.float32))
        kept.append((rel, cat))
        frames_per_video.append(len(images))
        t3 = time.perf_counter()
        log(f"[{i + 1}/{len(items)}] {rel}: {len(images)} frames, decode {t1 - t0:.2f} s, "
            f"preprocess {t2 - t1:.2f} s, network {t3 - t2:.2f} s")
    return {
        "features": np.stack(feats) if feats else np.zeros((0, 1280), np.float32),
        "kept": kept,
        "frames_per_video": frames_per_video,
        "skipped": skipped,
        "timings": {
            "session_create_s": t_session,
            "decode_s": t_decode,
            "preprocess_s": t_pre,
            "network_s": t_net,
            "decode_cpu_s": c_decode,
            "preprocess_cpu_s": c_pre,
            "network_cpu_s": c_net,
            "cpu_embed": cpu.result(),
        },
    }


# ---------------------------------------------------------------------------- cache

def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_cache(path, items, n_frames, model_sha):
    if not path or not os.path.exists(path):
        return None
    z = np.load(path, allow_pickle=False)
    meta = json.loads(str(z["meta"]))
    if (meta.get("items") != [list(x) for x in items] or meta.get("frames") != n_frames
            or meta.get("model_sha256") != model_sha):
        log(f"cache {path} does not match (videos, --frames or model); recomputing")
        return None
    return {
        "features": z["features"],
        "kept": [tuple(x) for x in meta["kept"]],
        "frames_per_video": meta["frames_per_video"],
        "skipped": meta["skipped"],
        "timings": meta["timings"],
    }


def save_cache(path, emb, items, n_frames, model_sha):
    meta = {
        "items": [list(x) for x in items],
        "frames": n_frames,
        "model_sha256": model_sha,
        "kept": [list(x) for x in emb["kept"]],
        "frames_per_video": emb["frames_per_video"],
        "skipped": emb["skipped"],
        "timings": emb["timings"],
    }
    tmp = path + ".tmp.npz"
    np.savez(tmp, features=emb["features"], meta=np.array(json.dumps(meta)))
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- scores

def contingency(true, pred):
    classes, t = np.unique(true, return_inverse=True)
    clusters, p = np.unique(pred, return_inverse=True)
    m = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(m, (p, t), 1)
    return m


def scores(true, pred):
    m = contingency(true, pred)
    n = m.sum()
    r, c = linear_sum_assignment(-m)  # clusters x classes, maximise matches
    acc = m[r, c].sum() / n
    purity = m.max(axis=1).sum() / n
    # H(true | cluster) = sum_c p(c) H(true | c), in bits
    h = 0.0
    for row in m:
        nc = row.sum()
        p = row[row > 0] / nc
        h += nc / n * float(-(p * np.log2(p)).sum())
    return {
        "acc": float(acc),
        "nmi": float(normalized_mutual_info_score(true, pred, average_method="arithmetic")),
        "ari": float(adjusted_rand_score(true, pred)),
        "purity": float(purity),
        "h_true_given_cluster_bits": h,
        "clusters": int(m.shape[0]),
    }


def kmeans(x, k):
    return KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(x)


# ---------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("--onnx", required=True, help="EfficientNet-Lite0 ONNX model (export_onnx.py)")
    ap.add_argument("--k", type=int, help="clusters for the 'given' k (default: number of categories)")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--cache", help="FEATURES.npz: save per-video features, reuse them if they match")
    args = ap.parse_args()

    items = scan(args.root)
    if not items:
        sys.exit(f"python_pipeline: no video files under {args.root}")
    model_sha = file_sha256(args.onnx)

    emb = load_cache(args.cache, items, args.frames, model_sha)
    cached = emb is not None
    if cached:
        log(f"using cached features from {args.cache}")
    else:
        emb = embed_all(args.root, items, args.onnx, args.frames)
        if args.cache:
            save_cache(args.cache, emb, items, args.frames, model_sha)
            log(f"saved features to {args.cache}")

    x = emb["features"]
    labels = [c for _, c in emb["kept"]]
    n = len(labels)
    categories = sorted(set(labels))
    k_given = args.k or len(categories)

    t0 = time.perf_counter()
    result_given = None
    if 1 <= k_given <= n:
        result_given = scores(labels, kmeans(x, k_given))
        result_given["k"] = k_given
    t1 = time.perf_counter()
    sil = {}
    for k in range(2, min(20, n - 1) + 1):
        pred = kmeans(x, k)
        sil[k] = float(silhouette_score(x, pred, metric="cosine"))
    result_auto = None
    if sil:
        k_auto = max(sil, key=sil.get)  # first (smallest) k on ties
        result_auto = scores(labels, kmeans(x, k_auto))
        result_auto["k"] = k_auto
        result_auto["silhouette"] = sil[k_auto]
    t2 = time.perf_counter()

    tm = emb["timings"]
    frames = int(sum(emb["frames_per_video"]))
    wall = time.perf_counter() - T_START
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    out = {
        "root": os.path.abspath(args.root),
        "onnx": os.path.abspath(args.onnx),
        "videos_found": len(items),
        "videos": n,
        "skipped": emb["skipped"],
        "categories": len(categories),
        "frames": frames,
        "frames_per_video_requested": args.frames,
        "features_cached": cached,
        "session_create_s": tm["session_create_s"],
        "decode_s": tm["decode_s"],
        "preprocess_s": tm["preprocess_s"],
        "network_s": tm["network_s"],
        "decode_cpu_s": tm.get("decode_cpu_s"),
        "preprocess_cpu_s": tm.get("preprocess_cpu_s"),
        "network_cpu_s": tm.get("network_cpu_s"),
        "cluster_given_k_s": t1 - t0,
        "cluster_auto_k_s": t2 - t1,
        "cluster_s": t2 - t0,
        "wall_s": wall,
        "network_images_per_s": frames / tm["network_s"] if tm["network_s"] > 0 else None,
        "videos_per_min": 60.0 * n / wall if not cached else None,
        "peak_rss_mib": peak_rss_mib,
        "ort_version": ort.__version__,
        "av_version": av.__version__,
        "cpu_count": os.cpu_count(),
        "loadavg": loadavg(),
        "cpu_embed": tm.get("cpu_embed"),
        "cpu_all": CPU_ALL.result(),
        "k_given": result_given,
        "k_auto": result_auto,
        "silhouette_by_k": {str(k): v for k, v in sil.items()},
    }
    if args.json:
        print(json.dumps(out, indent=None))
        return

    def fmt(v, spec=".3f"):
        return "-" if v is None else format(v, spec)

    print(f"root            {out['root']}")
    print(f"videos          {n} of {len(items)} found ({len(emb['skipped'])} skipped), {len(categories)} categories")
    print(f"frames          {frames} ({args.frames} requested per video)")
    src = " (from cache)" if cached else ""
    print(f"decode          {tm['decode_s']:.2f} s{src}  (CPU {fmt(out['decode_cpu_s'], '.2f')} s)")
    print(f"preprocess      {tm['preprocess_s']:.2f} s{src}  (CPU {fmt(out['preprocess_cpu_s'], '.2f')} s)")
    print(f"network         {tm['network_s']:.2f} s{src}  ({fmt(out['network_images_per_s'], '.1f')} images/s; "
          f"CPU {fmt(out['network_cpu_s'], '.2f')} s over all threads)")
    print(f"session create  {tm['session_create_s']:.2f} s{src}")
    print(f"clustering      {out['cluster_s']:.2f} s (given k {out['cluster_given_k_s']:.2f} s, auto k {out['cluster_auto_k_s']:.2f} s)")
    print(f"wall            {wall:.2f} s  ({fmt(out['videos_per_min'], '.1f')} videos/min end to end)")
    print(f"peak RSS        {peak_rss_mib:.0f} MiB")
    print(f"loadavg         {' '.join(out['loadavg'] or [])}")
    for key, what in (("cpu_embed", "decode+network"), ("cpu_all", "whole run")):
        c = out[key]
        if c:
            print(f"cpu ({what + ')':15} own {c['self_cores']:.2f} cores, other processes {c['other_cores']:.2f} cores")
    print()
    print(f"{'':10}{'k':>4}{'ACC':>8}{'NMI':>8}{'ARI':>8}{'purity':>8}{'H(t|c)':>8}")
    for name, r in (("given k", result_given), ("auto k", result_auto)):
        if r is None:
            print(f"{name:10}  (not computed)")
            continue
        print(f"{name:10}{r['k']:>4}{r['acc']:>8.3f}{r['nmi']:>8.3f}{r['ari']:>8.3f}"
              f"{r['purity']:>8.3f}{r['h_true_given_cluster_bits']:>8.3f}")
    if sil:
        print()
        print("silhouette (cosine): " + " ".join(f"{k}:{v:.3f}" for k, v in sil.items()))


if __name__ == "__main__":
    main()
