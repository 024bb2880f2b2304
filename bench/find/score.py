#!/usr/bin/env python3
"""Run Reelmap's find features on the library built by make_bench.py and score them
against its truth.json.

    bench/find/score.py --bench /work/ml/findbench --bin target/release/reelmap

Steps: `organise` (only when the catalogue does not exist yet), `index`, `duplicates`,
then `find` once per query clip (each call timed). The raw JSON answers are kept in
BENCH/raw/ so `--no-run` can re-score without running anything. The summary goes to
standard output and everything (with every failure) to BENCH/results.json.

Standard library only.
"""
import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODELS = os.path.normpath(os.path.join(HERE, "..", "..", "models", "weights"))


def run(cmd, env, log):
    """Run one reelmap command; returns (stdout, wall seconds). stderr goes to the log."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    with open(log, "a") as f:
        f.write("$ %s\n[%.2f s, rc %d]\n%s\n" % (" ".join(cmd), dt, r.returncode, r.stderr[-4000:]))
    if r.returncode != 0:
        raise RuntimeError("%s failed (rc %d):\n%s" % (" ".join(cmd), r.returncode, r.stderr[-2000:]))
    return r.stdout, dt


def parse_json(text):
    """The JSON document on stdout (skipping anything printed before it)."""
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    return json.loads(text[min(starts):]) if starts else None


def pct(xs, q):
    """Percentile by linear interpolation (statistics.quantiles needs >= 2 points)."""
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def r3(x):
    return None if x is None else round(x, 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", required=True, help="folder made by make_bench.py")
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "..", "target", "release", "reelmap"))
    ap.add_argument("--db", help="catalogue (default BENCH/catalogue.sqlite3)")
    ap.add_argument("--limit", type=int, default=5, help="results per find call")
    ap.add_argument("--neg-coverage", type=float, default=0.5,
                    help="a negative clip counts as rejected when find returns nothing or its "
                         "best result covers less than this fraction of the clip")
    ap.add_argument("--no-run", action="store_true", help="score the saved raw outputs only")
    a = ap.parse_args()
    bench = os.path.abspath(a.bench)
    db = os.path.abspath(a.db or os.path.join(bench, "catalogue.sqlite3"))
    raw = os.path.join(bench, "raw")
    os.makedirs(os.path.join(raw, "find"), exist_ok=True)
    log = os.path.join(raw, "reelmap.log")
    truth = json.load(open(os.path.join(bench, "truth.json")))
    lib = {os.path.realpath(p): e for p, e in truth["library"].items()}
    env = dict(os.environ)
    env.setdefault("REELMAP_MODELS", DEFAULT_MODELS)
    base = [os.path.abspath(a.bin), "--quiet", "--json", "--db", db]
    timings_path = os.path.join(raw, "timings.json")
    timings = json.load(open(timings_path)) if os.path.exists(timings_path) else {}

    # ------------------------------------------------------------------ running
    if not a.no_run:
        if not os.path.exists(db):
            # organise = scan + embed + cluster: `index` needs the videos in the catalogue.
            _, timings["organise_s"] = run(base[:1] + ["--quiet", "--db", db, "organise",
                                                       os.path.join(bench, "library")], env, log)
        _, timings["index_s"] = run(base[:1] + ["--quiet", "--db", db, "index"], env, log)
        out, timings["duplicates_s"] = run(base + ["duplicates"], env, log)
        json.dump(parse_json(out), open(os.path.join(raw, "duplicates.json"), "w"), indent=1)
        # Process start alone (no model, no catalogue), to read the find times against.
        _, timings["process_start_s"] = run([base[0], "--version"], env, log)
        timings["find_s"] = {}
        for c in truth["clips"]:
            name = os.path.basename(c["path"])
            out, dt = run(base + ["find", c["path"], "--limit", str(a.limit)], env, log)
            timings["find_s"][name] = dt
            json.dump(parse_json(out), open(os.path.join(raw, "find", name + ".json"), "w"))
            print("find %-14s %.2f s" % (name, dt), file=sys.stderr)
        json.dump(timings, open(timings_path, "w"), indent=1)

    # ------------------------------------------------------------------ catalogue ids
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    id2path, status = {}, {}
    for vid, path, st, err in con.execute("SELECT id, path, status, error FROM videos"):
        p = path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path
        id2path[vid] = os.path.realpath(p)
        status[os.path.realpath(p)] = (st, err)
    indexed = set()
    try:
        indexed = {r[0] for r in con.execute("SELECT DISTINCT video_id FROM dense_frames")}
    except sqlite3.Error:
        pass  # another schema: the coverage line below is then skipped
    not_in_catalogue = sorted(e["rel"] for p, e in lib.items() if p not in status)
    not_indexed = sorted(lib[p]["rel"] for v, p in id2path.items() if p in lib and indexed
                         and v not in indexed)

    def ent(vid):
        return lib.get(id2path.get(vid, ""), None)

    def label(e):
        return "%s [%s]" % (e["rel"], e["transform"])

    # ------------------------------------------------------------------ duplicates
    dup = json.load(open(os.path.join(raw, "duplicates.json")))
    known = {frozenset(k[:2]): k[2] for k in truth["known_related"]}
    intro_of = {}
    for ip in truth["intro_pairs"]:
        intro_of[frozenset((os.path.realpath(ip["a"]), os.path.realpath(ip["b"])))] = ip["intro"]
    true_pairs = set()
    for g, files in truth["groups"].items():
        fs = sorted(os.path.realpath(f) for f in files)
        for i in range(len(fs)):
            for j in range(i + 1, len(fs)):
                true_pairs.add(frozenset((fs[i], fs[j])))

    listed = {}  # pair -> the pair record of the JSON (similarity, spans, coverage)
    implied = {}  # pair -> reported group number (every two videos of a group)
    for gi, g in enumerate(dup.get("groups", [])):
        vids = [id2path.get(v, "id:%s" % v) for v in g["videos"]]
        for i in range(len(vids)):
            for j in range(i + 1, len(vids)):
                implied[frozenset((vids[i], vids[j]))] = gi
        for p in g.get("pairs", []):
            listed[frozenset((id2path.get(p["a"]), id2path.get(p["b"])))] = p

    def classify(pair):
        x, y = sorted(pair)
        ex, ey = lib.get(x), lib.get(y)
        if ex is None or ey is None:
            return "unknown_file"
        if pair in true_pairs:
            return "tp"
        if pair in intro_of:
            return "intro"
        if frozenset((ex["original"], ey["original"])) in known:
            return "known_related"
        if ex["role"] in ("original", "distractor") and ey["role"] in ("original", "distractor"):
            # Two different originals: maybe footage the sources share that nobody
            # labelled; to be looked at, not counted against the tool.
            return "among_originals"
        return "fp"

    def pair_info(pair):
        x, y = sorted(pair)
        d = {"a": lib[x]["rel"] if x in lib else x, "b": lib[y]["rel"] if y in lib else y,
             "a_transform": lib.get(x, {}).get("transform"),
             "b_transform": lib.get(y, {}).get("transform"),
             "a_params": lib.get(x, {}).get("params"), "b_params": lib.get(y, {}).get("params")}
        rec = listed.get(pair)
        if rec:
            # Re-orient the record's a/b to our sorted order.
            swap = id2path.get(rec["a"]) != x
            g = lambda k: rec.get(k.replace("a_", "b_") if swap else k)  # noqa: E731
            d.update({"similarity": rec.get("similarity"), "speed": rec.get("speed"),
                      "offset_s": rec.get("offset_s"), "a_span": g("a_span"),
                      "b_span": g("b_span"), "a_coverage": g("a_coverage"),
                      "b_coverage": g("b_coverage"), "listed": True})
        else:
            d["listed"] = False  # only implied by being in the same group
        return d

    cls = {p: classify(p) for p in implied}
    missed = sorted(true_pairs - set(implied), key=lambda p: sorted(p))
    # A missed pair says nothing about how close it came. `find` with one file of the pair
    # as the clip shows the similarity/coverage the engine sees for the other one, which
    # is what a threshold change would have to admit. Cached in raw/probe/.
    os.makedirs(os.path.join(raw, "probe"), exist_ok=True)
    probes = {}
    for p in missed:
        for q, other in ((sorted(p)[0], sorted(p)[1]), (sorted(p)[1], sorted(p)[0])):
            cache = os.path.join(raw, "probe", lib[q]["rel"].replace("/", "__") + ".json")
            if not os.path.exists(cache) and not a.no_run:
                out, _ = run(base + ["find", q, "--limit", "30"], env, log)
                json.dump(parse_json(out), open(cache, "w"))
            res = json.load(open(cache)) if os.path.exists(cache) else None
            hit = None
            for rank, r in enumerate(res or []):
                if id2path.get(r["video_id"]) == other:
                    hit = {"rank": rank + 1, "similarity": r3(r.get("similarity")),
                           "coverage": r3(r.get("coverage")), "matched_s": r3(r.get("matched_s"))}
            probes.setdefault(p, {})[lib[q]["rel"]] = hit if res is not None else "not run"
    tp = [p for p, c in cls.items() if c == "tp"]
    fp = [p for p, c in cls.items() if c in ("fp", "intro")]
    intro_rep = [p for p, c in cls.items() if c == "intro"]
    among = [p for p, c in cls.items() if c in ("among_originals", "known_related")]
    listed_cls = {p: classify(p) for p in listed}
    l_tp = sum(c == "tp" for c in listed_cls.values())
    l_fp = sum(c in ("fp", "intro") for c in listed_cls.values())

    # Recall per transform, on the original <-> derivative pairs (the cleanest signal).
    per_t = {}
    for p in true_pairs:
        x, y = sorted(p)
        ts = [lib[x]["transform"], lib[y]["transform"]]
        key = (ts[0] if ts[1] == "original" else ts[1]) if "original" in ts else "deriv<->deriv"
        s = per_t.setdefault(key, [0, 0])
        s[1] += 1
        s[0] += p in implied
    dup_res = {
        "reported_groups": len(dup.get("groups", [])),
        "reported_pairs_implied": len(implied), "reported_pairs_listed": len(listed),
        "true_pairs": len(true_pairs), "tp": len(tp), "fp": len(fp),
        "precision": r3(len(tp) / (len(tp) + len(fp))) if tp or fp else None,
        "recall": r3(len(tp) / len(true_pairs)) if true_pairs else None,
        "listed_precision": r3(l_tp / (l_tp + l_fp)) if l_tp + l_fp else None,
        "intro_pairs_total": len(intro_of), "intro_pairs_reported": len(intro_rep),
        "intro_built_pairs_reported": sum(
            1 for ip in truth["intro_pairs"] if ip["built_pair"] and
            frozenset((os.path.realpath(ip["a"]), os.path.realpath(ip["b"]))) in implied),
        "recall_by_transform": {k: {"found": v[0], "of": v[1], "recall": r3(v[0] / v[1])}
                                for k, v in sorted(per_t.items())},
        "false_positives": [dict(pair_info(p), kind=cls[p]) for p in sorted(fp, key=sorted)],
        "missed": [dict(pair_info(p), probe=probes.get(p)) for p in missed],
        "found_among_originals": [dict(pair_info(p), known=known.get(frozenset(
            (lib[sorted(p)[0]]["original"], lib[sorted(p)[1]]["original"])))) for p in among],
        "unknown_files": [sorted(p) for p, c in cls.items() if c == "unknown_file"],
        "set_aside": dup.get("set_aside", []),
    }

    # ------------------------------------------------------------------ find
    find_rows, errs, find_t = [], [], timings.get("find_s", {})
    top1_ok = top5_ok = 0
    neg_ok = neg_empty = 0
    for c in truth["clips"]:
        name = os.path.basename(c["path"])
        fpth = os.path.join(raw, "find", name + ".json")
        res = json.load(open(fpth)) if os.path.exists(fpth) else None
        res = res if isinstance(res, list) else (res or {}).get("results", []) if res else []
        row = {"clip": name, "source": c["source"], "true_offset": c["offset"],
               "duration": c["duration"], "negative": c["negative"],
               "time_s": r3(find_t.get(name)), "n_results": len(res)}
        top = res[0] if res else None
        if top:
            e = ent(top["video_id"])
            row.update({"top1": label(e) if e else id2path.get(top["video_id"]),
                        "top1_offset_s": top.get("offset_s"), "top1_coverage": top.get("coverage"),
                        "top1_similarity": top.get("similarity"),
                        "top1_matched_s": top.get("matched_s")})
        if c["negative"]:
            rejected = top is None or (top.get("coverage") or 0) < a.neg_coverage
            neg_ok += rejected
            neg_empty += top is None
            row["rejected"] = rejected
        else:
            ranks = [i for i, r in enumerate(res)
                     if (ent(r["video_id"]) or {}).get("group") == c["source"]]
            row["first_correct_rank"] = ranks[0] + 1 if ranks else None
            top5_ok += bool(ranks)
            ok = bool(ranks) and ranks[0] == 0
            row["top1_correct"] = ok
            if ok:
                top1_ok += 1
                tm = ent(top["video_id"])["time_map"]
                # file time -> original time: skip the intro, undo the trim and speed.
                t_orig = tm["trim_start"] + tm["speed"] * (top["offset_s"] - tm["intro"])
                row["offset_error_s"] = r3(abs(t_orig - c["offset"]))
                errs.append(abs(t_orig - c["offset"]))
        find_rows.append(row)
    npos = sum(not c["negative"] for c in truth["clips"])
    nneg = len(truth["clips"]) - npos
    ft = [v for v in find_t.values()]
    find_res = {
        "positives": npos, "top1_correct": top1_ok, "top1_accuracy": r3(top1_ok / npos),
        "top5_correct": top5_ok,
        "offset_error_median_s": r3(statistics.median(errs)) if errs else None,
        "offset_error_p90_s": r3(pct(errs, 0.9)), "offset_error_max_s": r3(max(errs) if errs else None),
        "offset_within_1s": sum(e <= 1.0 for e in errs),
        "negatives": nneg, "negatives_rejected": neg_ok, "negatives_empty": neg_empty,
        "neg_coverage_threshold": a.neg_coverage,
        "time_per_query_median_s": r3(statistics.median(ft)) if ft else None,
        "time_per_query_mean_s": r3(statistics.mean(ft)) if ft else None,
        "time_per_query_p90_s": r3(pct(ft, 0.9)),
        "misses": [r for r in find_rows if not r["negative"] and not r["top1_correct"]],
        "bad_offsets": [r for r in find_rows if (r.get("offset_error_s") or 0) > 1.0],
        "negatives_not_rejected": [r for r in find_rows if r["negative"] and not r["rejected"]],
        "rows": find_rows,
    }
    results = {"bench": bench, "db": db, "binary": os.path.abspath(a.bin), "timings": {
        k: (r3(v) if not isinstance(v, dict) else None) for k, v in timings.items()},
        "catalogue": {"videos": len(id2path), "library_files": len(lib),
                      "not_in_catalogue": not_in_catalogue, "not_indexed": not_indexed,
                      "failed": {lib[p]["rel"]: s for p, s in status.items()
                                 if p in lib and s[0] != "ok"}},
        "duplicates": dup_res, "find": find_res}
    results["timings"].pop("find_s", None)
    with open(os.path.join(bench, "results.json"), "w") as f:
        json.dump(results, f, indent=1)

    # ------------------------------------------------------------------ report
    D, F = dup_res, find_res
    print("\n== Reelmap find benchmark: %s (%d library files, %d clips)" % (bench, len(lib), len(truth["clips"])))
    if not_in_catalogue or not_indexed:
        print("  not in catalogue: %s; not indexed: %s" % (not_in_catalogue, not_indexed))
    rows = [
        ("duplicates: pair precision (groups -> all pairs)", "%s  (%d TP / %d FP)" % (D["precision"], D["tp"], D["fp"])),
        ("duplicates: pair recall", "%s  (%d of %d true pairs)" % (D["recall"], D["tp"], D["true_pairs"])),
        ("duplicates: precision of listed pairs only", str(D["listed_precision"])),
        ("shared-intro pairs reported (goal 0)", "%d of %d  (built pairs: %d of %d)" % (
            D["intro_pairs_reported"], D["intro_pairs_total"], D["intro_built_pairs_reported"],
            sum(ip["built_pair"] for ip in truth["intro_pairs"]))),
        ("pairs among different originals (inspect)", str(len(D["found_among_originals"]))),
        ("find: top-1 accuracy", "%s  (%d of %d; in top-%d: %d)" % (F["top1_accuracy"], top1_ok, npos, a.limit, top5_ok)),
        ("find: offset error median / p90 / max (s)", "%s / %s / %s" % (
            F["offset_error_median_s"], F["offset_error_p90_s"], F["offset_error_max_s"])),
        ("find: negatives rejected", "%d of %d  (%d empty; rule: coverage < %.2f)" % (neg_ok, nneg, neg_empty, a.neg_coverage)),
        ("find: time per query median / mean / p90 (s)", "%s / %s / %s  (process start alone %s s)" % (
            F["time_per_query_median_s"], F["time_per_query_mean_s"], F["time_per_query_p90_s"],
            r3(timings.get("process_start_s")))),
        ("organise / index / duplicates (s)", "%s / %s / %s" % tuple(
            r3(timings.get(k)) for k in ("organise_s", "index_s", "duplicates_s"))),
    ]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print("  %-*s  %s" % (w, k, v))
    print("\n  recall by transform (original <-> derivative pairs):")
    for k, v in D["recall_by_transform"].items():
        print("    %-22s %2d / %-2d  %s" % (k, v["found"], v["of"], v["recall"]))

    def show_pair(d):
        s = "    %s  <->  %s" % (d["a"], d["b"])
        if d.get("listed"):
            s += "\n        sim %.3f speed %s offset %s spans %s / %s coverage %.2f / %.2f" % (
                d["similarity"], d["speed"], d["offset_s"], d["a_span"], d["b_span"],
                d["a_coverage"], d["b_coverage"])
        elif d.get("kind"):
            s += "\n        (not listed: only in the same group)"
        for k in ("a", "b"):
            if d.get(k + "_params"):
                s += "\n        %s %s %s" % (k, d[k + "_transform"], d[k + "_params"])
        for q, hit in (d.get("probe") or {}).items():
            s += "\n        find %s -> other: %s" % (os.path.basename(q), (
                "not in its top 30" if hit is None else hit if isinstance(hit, str) else
                "rank %d sim %s coverage %s matched %s s" % (
                    hit["rank"], hit["similarity"], hit["coverage"], hit["matched_s"])))
        return s
    if D["false_positives"]:
        print("\n  false-positive pairs:")
        for d in D["false_positives"]:
            print("  [%s]" % d["kind"] + show_pair(d)[3:])
    if D["missed"]:
        print("\n  missed pairs:")
        for d in D["missed"]:
            print(show_pair(d))
    if D["found_among_originals"]:
        print("\n  found among originals (not scored; inspect):")
        for d in D["found_among_originals"]:
            print(show_pair(d) + ("\n        known: %s" % d["known"] if d["known"] else "\n        not in the known list"))
    if F["misses"]:
        print("\n  find: wrong or missing top-1:")
        for r in F["misses"]:
            print("    %s (%s @ %.2f s, %.2f s long): top-1 %s off %s cov %s sim %s; correct rank %s" % (
                r["clip"], r["source"], r["true_offset"], r["duration"], r.get("top1", "-"),
                r3(r.get("top1_offset_s")), r3(r.get("top1_coverage")), r3(r.get("top1_similarity")),
                r["first_correct_rank"]))
    if F["bad_offsets"]:
        print("\n  find: right video, offset off by more than 1 s:")
        for r in F["bad_offsets"]:
            print("    %s (%s @ %.2f s): top-1 %s @ %s -> error %.2f s" % (
                r["clip"], r["source"], r["true_offset"], r["top1"], r3(r["top1_offset_s"]), r["offset_error_s"]))
    if F["negatives_not_rejected"]:
        print("\n  find: negatives not rejected:")
        for r in F["negatives_not_rejected"]:
            print("    %s (%s): top-1 %s cov %s sim %s" % (r["clip"], r["source"], r["top1"],
                                                       r3(r["top1_coverage"]), r3(r["top1_similarity"])))
    print("\n  results: %s" % os.path.join(bench, "results.json"))


if __name__ == "__main__":
    main()
