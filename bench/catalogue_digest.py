#!/usr/bin/env python3
"""Digest of what a catalogue holds, to check that two builds give the same outputs bit
for bit: the per-video descriptors and class probabilities, the per-frame features,
timestamps and top classes, the clusters (names, concepts) and who is in them.

    bench/catalogue_digest.py CATALOGUE.sqlite3 [--model efficientnet-lite0]

Videos are keyed by path, so two catalogues built from the same folder compare equal
whatever order their rows were inserted in. Prints one line per part and a total."""
import argparse
import hashlib
import sqlite3


def digest(rows):
    h = hashlib.blake2b(digest_size=16)
    n = 0
    for row in rows:
        for v in row:
            b = v if isinstance(v, bytes) else repr(v).encode()
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
        n += 1
    return n, h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--model", default="efficientnet-lite0")
    a = ap.parse_args()
    con = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
    q = {
        "embeddings": "SELECT v.path, e.sampler, e.n_frames, e.descriptor, e.class_probs "
        "FROM embeddings e JOIN videos v ON v.id = e.video_id WHERE e.model = ? ORDER BY v.path",
        "frames": "SELECT v.path, f.idx, f.ts_ms, f.feature, f.top_classes "
        "FROM frames f JOIN videos v ON v.id = f.video_id WHERE f.model = ? ORDER BY v.path, f.idx",
        "thumbnails": "SELECT v.path, f.idx, f.thumb FROM frames f JOIN videos v ON v.id = f.video_id "
        "WHERE f.model = ? ORDER BY v.path, f.idx",
        "clusters": "SELECT c.name, c.name_source, c.concept, c.kind, c.centroid FROM clusters c "
        "WHERE c.model = ? OR c.model IS NULL ORDER BY c.name",
        "assignments": "SELECT v.path, c.name, a.source, a.distance FROM assignments a "
        "JOIN videos v ON v.id = a.video_id JOIN clusters c ON c.id = a.cluster_id "
        "WHERE ? = ? ORDER BY v.path",
        "videos": "SELECT path, status, duration_ms, container, codec, width, height, fps, error_stage "
        "FROM videos WHERE ? = ? ORDER BY path",
    }
    total = hashlib.blake2b(digest_size=16)
    for name, sql in q.items():
        args = (a.model,) * sql.count("?")
        n, d = digest(con.execute(sql, args))
        total.update(d.encode())
        print(f"{name:12} {n:6} rows  {d}")
    print(f"{'total':12} {'':6}       {total.hexdigest()}")


if __name__ == "__main__":
    main()
