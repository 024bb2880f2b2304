//! Finding footage again through the real `reelmap` binary, on clips made here with
//! GStreamer: a re-encoded, resized copy and a starved one are duplicates, videos
//! that only share an intro or a black opening are not; a clip cut from a video is
//! found at its offset; search finds by name and by what the frames show; setting
//! aside is undone.

mod common;

use common::*;
use reelmap_testkit::{ClipSpec, Codec, Motion, Shot, make_shots_clip};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const FPS: u32 = 10;

/// Photos, turned so that each gives a picture of its own (a photo upside down or in
/// negative looks like something else to the network).
fn pictures() -> HashMap<&'static str, image::RgbImage> {
    let mut out = HashMap::new();
    for (name, file) in [
        ("cat", "cat.jpg"),
        ("coffee", "coffee.jpg"),
        ("rocket", "rocket.jpg"),
    ] {
        let img = photo(file);
        let mut negative = img.clone();
        image::imageops::invert(&mut negative);
        out.insert(name, img.clone());
        out.insert(
            match name {
                "cat" => "cat-negative",
                "coffee" => "coffee-negative",
                _ => "rocket-negative",
            },
            negative,
        );
        out.insert(
            match name {
                "cat" => "cat-turned",
                "coffee" => "coffee-turned",
                _ => "rocket-turned",
            },
            image::imageops::rotate90(&img),
        );
    }
    out.insert("black", image::RgbImage::new(64, 48));
    out
}

/// A shot of `seconds` of a picture with a seeded camera motion, the part `from..to`
/// of that motion.
fn shot<'a>(
    p: &'a HashMap<&str, image::RgbImage>,
    name: &str,
    seed: u64,
    seconds: f32,
    from: f32,
    to: f32,
) -> Shot<'a> {
    Shot {
        photo: &p[name],
        motion: Motion::seeded(seed),
        frames: (seconds * FPS as f32).round() as u32,
        from,
        to,
    }
}

fn encode(path: &Path, shots: &[Shot], codec: Codec, width: u32, height: u32) {
    let spec = ClipSpec {
        codec,
        width,
        height,
        fps: FPS,
        frames: 0,
        gop: 2 * FPS,
    };
    make_shots_clip(path, shots, &spec)
        .unwrap_or_else(|e| panic!("making {}: {e:#}", path.display()));
}

/// The source: four shots of 3 s. Its copy: the same, VP9 at a smaller size.
fn source_shots<'a>(p: &'a HashMap<&str, image::RgbImage>) -> Vec<Shot<'a>> {
    vec![
        shot(p, "cat", 1, 3.0, 0.0, 1.0),
        shot(p, "rocket", 2, 3.0, 0.0, 1.0),
        shot(p, "coffee", 3, 3.0, 0.0, 1.0),
        shot(p, "cat-negative", 4, 3.0, 0.0, 1.0),
    ]
}

fn make_library(root: &Path) -> HashMap<&'static str, PathBuf> {
    let p = pictures();
    let mut files = HashMap::new();
    let mut make = |name: &'static str, shots: Vec<Shot>, codec: Codec, w: u32, h: u32| {
        let path = root.join(format!("{name}.{}", codec.extension()));
        encode(&path, &shots, codec, w, h);
        files.insert(name, path);
    };
    make("source", source_shots(&p), Codec::H264Mp4, 320, 240);
    make("copy", source_shots(&p), Codec::Vp9Webm, 224, 168);
    make("starved", source_shots(&p), Codec::Vp8WebmStarved, 320, 240);
    // Two unrelated videos behind the same 5 s intro.
    let intro = shot(&p, "rocket-turned", 7, 5.0, 0.0, 1.0);
    make(
        "show-a",
        vec![intro, shot(&p, "coffee-negative", 8, 6.0, 0.0, 1.0)],
        Codec::H264Mp4,
        320,
        240,
    );
    make(
        "show-b",
        vec![intro, shot(&p, "cat-turned", 9, 6.0, 0.0, 1.0)],
        Codec::H264Mp4,
        320,
        240,
    );
    // Two unrelated videos opening on 3 s of black.
    let black = shot(&p, "black", 0, 3.0, 0.0, 1.0);
    make(
        "dark-a",
        vec![black, shot(&p, "coffee-turned", 10, 5.0, 0.0, 1.0)],
        Codec::H264Mp4,
        320,
        240,
    );
    make(
        "dark-b",
        vec![black, shot(&p, "rocket-negative", 11, 5.0, 0.0, 1.0)],
        Codec::H264Mp4,
        320,
        240,
    );
    files
}

/// 4.5 s to 10.5 s of the source: the end of the rocket, the coffee, the start of the
/// negative cat; re-encoded with another codec.
fn make_clip(path: &Path) {
    let p = pictures();
    let shots = vec![
        shot(&p, "rocket", 2, 1.5, 0.5, 1.0),
        shot(&p, "coffee", 3, 3.0, 0.0, 1.0),
        shot(&p, "cat-negative", 4, 1.5, 0.0, 0.5),
    ];
    encode(path, &shots, Codec::Vp8Webm, 320, 240);
}

fn name_of(ids: &HashMap<i64, String>, id: &Value) -> String {
    ids.get(&id.as_i64().unwrap()).cloned().unwrap_or_default()
}

/// Video id → file stem, from `videos --json`.
fn stems(db: &Path) -> HashMap<i64, String> {
    reelmap_ok(db, &["--json", "videos"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let path = v["path"].as_str().unwrap();
            (
                v["id"].as_i64().unwrap(),
                Path::new(path)
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            )
        })
        .collect()
}

#[test]
fn duplicates_clips_and_search() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    let files = make_library(&lib);
    let clip = tmp.path().join("clip.webm");
    make_clip(&clip);
    let db = tmp.path().join("c.sqlite3");
    reelmap_ok(&db, &["--quiet", "organise", lib.to_str().unwrap()]);
    let before = snapshot(&lib);
    let ids = stems(&db);

    // The copy and the starved copy (whose frames the network sees at cosines down
    // to 0.55, so only their layouts tie them) are duplicates of the source; nothing
    // else is.
    let d = reelmap_ok(&db, &["--quiet", "--json", "duplicates"]).json();
    let groups = d["groups"].as_array().unwrap();
    let named: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let mut v: Vec<String> = g["videos"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| name_of(&ids, i))
                .collect();
            v.sort();
            v
        })
        .collect();
    assert_eq!(
        named,
        vec![vec![
            "copy".to_string(),
            "source".to_string(),
            "starved".to_string()
        ]],
        "{d:#}"
    );
    let pair = &groups[0]["pairs"][0];
    assert!(
        (pair["speed"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "{pair}"
    );
    assert!(
        pair["a_span"][1].as_f64().unwrap() - pair["a_span"][0].as_f64().unwrap() > 9.0,
        "{pair}"
    );
    assert_eq!(
        name_of(&ids, &groups[0]["keep"]),
        "source",
        "the larger picture is kept"
    );
    assert_eq!(
        snapshot(&lib),
        before,
        "looking for duplicates changes no file"
    );

    // The clip is found in the source (and its copy) where it was cut.
    let found = reelmap_ok(&db, &["--quiet", "--json", "find", clip.to_str().unwrap()]).json();
    let found = found.as_array().unwrap();
    assert!(!found.is_empty(), "the clip is found");
    let best = &found[0];
    assert!(
        ["source", "copy", "starved"].contains(&name_of(&ids, &best["video_id"]).as_str()),
        "{found:?}"
    );
    let offset = best["offset_s"].as_f64().unwrap();
    assert!((offset - 4.5).abs() <= 0.5, "offset {offset}: {best}");
    assert!(best["matched_s"].as_f64().unwrap() > 4.0, "{best}");
    let mut top3: Vec<String> = found
        .iter()
        .take(3)
        .map(|m| name_of(&ids, &m["video_id"]))
        .collect();
    top3.sort();
    assert_eq!(top3, vec!["copy", "source", "starved"], "{found:?}");
    for m in &found[3..] {
        // Another video may share a picture with part of the clip, not all of it.
        assert!(m["coverage"].as_f64().unwrap() < 0.7, "{found:?}");
    }

    // Search: by name, and by what the frames show.
    let hits = reelmap_ok(&db, &["--json", "search", "show"]).json();
    let mut shows: Vec<String> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| name_of(&ids, &h["video_id"]))
        .collect();
    shows.sort();
    assert_eq!(shows, vec!["show-a", "show-b"]);
    let hits = reelmap_ok(&db, &["--json", "search", "cat"]).json();
    let cats: Vec<String> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| name_of(&ids, &h["video_id"]))
        .collect();
    assert!(
        cats.contains(&"source".to_string()),
        "frames of a cat are found by the word: {hits:#}"
    );
    let first = &hits.as_array().unwrap()[0];
    assert!(
        !first["frame"].is_null(),
        "a concept hit names its frame: {first}"
    );

    // Setting aside moves the copies into "Duplicates" (journaled); undo puts them
    // back.
    reelmap_ok(&db, &["--quiet", "duplicates", "--set-aside"]);
    assert!(!files["copy"].exists() && !files["starved"].exists());
    assert!(lib.join("Duplicates").join("copy.webm").exists());
    assert!(lib.join("Duplicates").join("starved.webm").exists());
    assert!(files["source"].exists());
    let again = reelmap_ok(&db, &["--quiet", "--json", "duplicates"]).json();
    assert!(
        again["groups"].as_array().unwrap().is_empty(),
        "a set-aside video is no duplicate any more: {again:#}"
    );
    reelmap_ok(&db, &["--quiet", "undo"]);
    assert!(
        files["copy"].exists() && files["starved"].exists(),
        "undo puts the copies back"
    );
    assert_eq!(snapshot(&lib), before);
}
