#!/usr/bin/env python3
"""Benchmark Reelmap's Rust Barnes-Hut t-SNE (src/map.rs) against openTSNE.

Both run on the same float32 .npy files, generated deterministically here:
20 Gaussian clusters (grouped in 5 super-clusters) in 1280-d, each with a
10-d internal linear structure plus isotropic noise, L2-normalised — a stand-in
for CNN video descriptors.

For each n: wall time of the Rust example binary (`examples/bench.rs`, release
build) and of openTSNE (`TSNE(negative_gradient_method="bh", n_jobs=2)` with
250 early-exaggeration + 500 normal iterations, i.e. the same 750), plus the
quality of both embeddings measured by the *same* Python code: kNN
preservation (k=10, exact, on up to 1000 evenly spaced points), trustworthiness
(k=10, sklearn, on up to 5000 points) and label agreement of the 10 nearest
embedding neighbours.

Usage (from /work/tsne-dev):
    /work/pyref/bin/python bench/compare.py [--sizes 1000 5000 20000]
        [--threads 2] [--no-opentsne] [--opentsne-pca] [--seed 42]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(HERE, "data")
BIN = os.environ.get("REELMAP_BIN", os.path.join(REPO, "target", "release", "reelmap"))


def make_data(n, d=1280, clusters=20, seed=0):
    """Deterministic clustered data, L2-normalised float32 (n × d) + labels."""
    rng = np.random.default_rng(seed)
    supers = rng.normal(size=(5, d)) / np.sqrt(d) * 1.0
    centers = supers[np.arange(clusters) % 5] + rng.normal(size=(clusters, d)) / np.sqrt(d) * 0.7
    weights = rng.dirichlet(np.full(clusters, 3.0))
    labels = np.sort(rng.choice(clusters, size=n, p=weights))
    latent_dim = 10
    x = np.empty((n, d), dtype=np.float32)
    for c in range(clusters):
        idx = np.flatnonzero(labels == c)
        if len(idx) == 0:
            continue
        basis = rng.normal(size=(latent_dim, d)) / np.sqrt(d)
        scales = np.linspace(0.6, 0.15, latent_dim)
        z = rng.normal(size=(len(idx), latent_dim)) * scales
        noise = rng.normal(size=(len(idx), d)) / np.sqrt(d) * 0.25
        x[idx] = centers[c] + z @ basis + noise
    perm = rng.permutation(n)  # do not hand the algorithms sorted clusters
    x, labels = x[perm], labels[perm]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32), labels.astype(np.int32)


def data_files(n):
    os.makedirs(DATA, exist_ok=True)
    xp = os.path.join(DATA, f"clusters_{n}.npy")
    lp = os.path.join(DATA, f"clusters_{n}_labels.npy")
    if not (os.path.exists(xp) and os.path.exists(lp)):
        x, lab = make_data(n)
        np.save(xp, x)
        np.save(lp, lab)
    return xp, lp


def sample_idx(n, m):
    m = min(m, n)
    return (np.arange(m) * n) // m  # same points as map::knn_preservation


def knn_sets(z, idx, k):
    out = []
    sq = (z.astype(np.float64) ** 2).sum(1)
    for start in range(0, len(idx), 256):
        q = idx[start:start + 256]
        d = sq[q][:, None] + sq[None, :] - 2.0 * z[q].astype(np.float64) @ z.T.astype(np.float64)
        d[np.arange(len(q)), q] = np.inf
        out.append(np.argpartition(d, k, axis=1)[:, :k])
    return np.concatenate(out)


def quality(x, y, labels, k=10):
    idx = sample_idx(len(x), 1000)
    a, b = knn_sets(x, idx, k), knn_sets(y, idx, k)
    pres = np.mean([len(np.intersect1d(u, v)) / k for u, v in zip(a, b)])
    label_acc = np.mean(labels[b] == labels[idx][:, None])
    trust = float("nan")
    try:
        from sklearn.manifold import trustworthiness
        t_idx = sample_idx(len(x), 5000)
        trust = trustworthiness(x[t_idx], y[t_idx], n_neighbors=k)
    except ImportError:
        pass
    return float(pres), float(trust), float(label_acc)


def run_rust(xp, threads, seed, iters):
    out = xp.replace(".npy", "_rust.npy")
    # The product's own t-SNE (default options: 750 iterations, perplexity 30, seed 1),
    # through `reelmap bench tsne`; rayon uses every core (set RAYON_NUM_THREADS).
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    res = subprocess.run([BIN, "bench", "tsne", xp, out], check=True, capture_output=True, text=True, env=env)
    info = json.loads(res.stdout)
    info["wall_s"] = time.perf_counter() - t0
    return np.load(out), info


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_opentsne(x, threads, seed, pca=False):
    """Returns (embedding, wall seconds, CPU seconds of all threads)."""
    from openTSNE import TSNE
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    if pca:
        from sklearn.decomposition import PCA
        x = PCA(n_components=50, random_state=seed).fit_transform(x).astype(np.float32)
    y = TSNE(perplexity=30, negative_gradient_method="bh", theta=0.5, n_jobs=threads,
             random_state=seed, early_exaggeration_iter=250, n_iter=500).fit(x)
    return np.asarray(y), time.perf_counter() - t0, cpu_seconds() - c0


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--iters", type=int, default=750)
    ap.add_argument("--no-opentsne", action="store_true")
    ap.add_argument("--opentsne-pca", action="store_true",
                    help="also time openTSNE on sklearn PCA-50 input (PCA time included)")
    args = ap.parse_args()

    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not found: build Reelmap first (cargo build --release)")
    nan_f = float("nan")
    rows = []
    for n in args.sizes:
        xp, lp = data_files(n)
        x, labels = np.load(xp), np.load(lp)
        row = {"n": n}
        la = loadavg()
        y, info = run_rust(xp, args.threads, args.seed, args.iters)
        row["rust_s"] = info["seconds"]  # the layout itself, without reading the file
        row["rust_cpu"] = nan_f
        row["rust_prep_s"] = info["wall_s"] - info["seconds"]  # process start + file I/O
        row["rust_load"] = la
        row["rust_q"] = quality(x, y, labels)
        if not args.no_opentsne:
            la = loadavg()
            yo, t, c = run_opentsne(x, args.threads, args.seed)
            row["otsne_s"], row["otsne_cpu"], row["otsne_load"] = t, c, la
            row["otsne_q"] = quality(x, yo, labels)
            if args.opentsne_pca:
                yp, tp, cp = run_opentsne(x, args.threads, args.seed, pca=True)
                row["otsne_pca_s"], row["otsne_pca_cpu"] = tp, cp
                row["otsne_pca_q"] = quality(x, yp, labels)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    nan = float("nan")
    print("\n| n | Rust wall s [prep] | Rust CPU s | openTSNE BH wall s | openTSNE CPU s "
          "| kNN pres. k=10 Rust / openTSNE | trustworthiness Rust / openTSNE "
          "| label kNN acc Rust / openTSNE | loadavg at start (Rust; openTSNE) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        rq = r["rust_q"]
        oq = r.get("otsne_q", (nan,) * 3)
        print(f"| {r['n']} | {r['rust_s']:.2f} [{r['rust_prep_s']:.2f}] | {r['rust_cpu']:.2f} "
              f"| {r.get('otsne_s', nan):.2f} | {r.get('otsne_cpu', nan):.2f} "
              f"| {rq[0]:.3f} / {oq[0]:.3f} | {rq[1]:.4f} / {oq[1]:.4f} | {rq[2]:.3f} / {oq[2]:.3f} "
              f"| {r['rust_load']}; {r.get('otsne_load', '-')} |")
    if args.opentsne_pca:
        print("\nopenTSNE on PCA-50 input (sklearn PCA time included):")
        for r in rows:
            if "otsne_pca_s" in r:
                q = r["otsne_pca_q"]
                print(f"  n={r['n']}: {r['otsne_pca_s']:.2f} s wall, {r['otsne_pca_cpu']:.2f} s CPU, kNN pres {q[0]:.3f}, trust {q[1]:.4f}, label acc {q[2]:.3f}")


if __name__ == "__main__":
    main()
