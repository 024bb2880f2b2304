//! End to end through the real `reelmap` binary: scan, decode, embed with the real
//! EfficientNet-Lite0 weights, cluster, name, export, relabel, re-cluster, evaluate.

mod common;

use common::*;
use reelmap_testkit::Codec;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// lib/{cats,coffee,rockets}/N.ext: three clearly different scenes, four clips each,
/// filmed with different camera motion and encoded with different codecs.
fn make_library(root: &Path) -> Vec<(String, PathBuf)> {
    let groups = [
        ("cats", "cat.jpg"),
        ("coffee", "coffee.jpg"),
        ("rockets", "rocket.jpg"),
    ];
    let codecs = [
        Codec::H264Mp4,
        Codec::Vp8Webm,
        Codec::TheoraOgg,
        Codec::MjpegAvi,
    ];
    let mut out = Vec::new();
    for (gi, (group, photo_name)) in groups.iter().enumerate() {
        let dir = root.join(group);
        std::fs::create_dir_all(&dir).unwrap();
        let img = photo(photo_name);
        for (i, codec) in codecs.iter().enumerate() {
            let path = dir.join(format!("clip{i}.{}", codec.extension()));
            photo_clip(&path, &img, (gi * 10 + i) as u64, *codec);
            out.push((group.to_string(), path));
        }
    }
    out
}

fn clusters_by_member(j: &Value) -> HashMap<String, (i64, String)> {
    // path → (cluster id, cluster name), from `export --format json`.
    j.as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["cluster_id"].is_null())
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_string(),
                (
                    r["cluster_id"].as_i64().unwrap(),
                    r["cluster"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn organise_clusters_names_exports_and_keeps_user_choices() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let clips = make_library(&lib);
    // A file that looks fine to the probe but cannot be decoded, and a text file.
    std::fs::write(lib.join("notes.mp4"), "not a video at all\n".repeat(100)).unwrap();
    let db = tmp.path().join("cat.sqlite3");
    let before = snapshot(&lib);

    let r = reelmap_ok(&db, &["--json", "organise", lib.to_str().unwrap()]);
    let j = r.json();
    assert_eq!(j["embed"]["embedded"], 12, "{}", r.stdout);
    assert_eq!(
        j["cluster"]["k"], 3,
        "automatic k should find the three scenes: {}",
        j["cluster"]
    );
    assert!(
        j["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[0].as_str().unwrap().ends_with("notes.mp4")),
        "the bad file is listed: {}",
        j["problems"]
    );
    assert_eq!(
        snapshot(&lib),
        before,
        "organise without --apply changes no file"
    );

    // Every group is one cluster, and the three clusters differ.
    let export = reelmap_ok(&db, &["export", "--format", "json"]).json();
    let member = clusters_by_member(&export);
    let mut group_cluster: HashMap<String, i64> = HashMap::new();
    for (group, path) in &clips {
        let (cid, _) = &member[&path.display().to_string()];
        let prev = group_cluster.insert(group.clone(), *cid);
        assert!(
            prev.is_none() || prev == Some(*cid),
            "{group} split across clusters"
        );
    }
    let ids: HashSet<i64> = group_cluster.values().copied().collect();
    assert_eq!(ids.len(), 3);

    // Names come from what the frames show (WordNet roll-up of ImageNet classes).
    let name_of = |g: &str| {
        member[&clips
            .iter()
            .find(|(gg, _)| gg == g)
            .unwrap()
            .1
            .display()
            .to_string()]
            .1
            .clone()
    };
    assert_eq!(name_of("cats"), "Cats");
    let coffee_name = name_of("coffee");
    assert!(
        ["Espresso", "Coffee"].contains(&coffee_name.as_str()),
        "{coffee_name}"
    );
    let rocket_name = name_of("rockets");
    assert!(
        ["Missiles", "Projectiles", "Rockets", "Weapons"].contains(&rocket_name.as_str()),
        "{rocket_name}"
    );

    // The folder plan is printed, in text mode too.
    let text = reelmap_ok(&db, &["clusters"]).stdout;
    assert!(text.contains("Cats") && text.contains("4 videos"), "{text}");

    // CSV export has a header and one row per catalogued file (12 videos + 1 failed).
    let csv = reelmap_ok(&db, &["export", "--format", "csv"]).stdout;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "video_id,path,status,cluster_id,cluster,assigned_by,error"
    );
    assert_eq!(lines.len(), 14, "{csv}");
    assert!(csv.contains(",failed,"));

    // Running again decodes nothing: the catalogue is incremental.
    let again = reelmap_ok(&db, &["--json", "organise", lib.to_str().unwrap()]).json();
    assert_eq!(again["embed"]["videos"], 0);

    // A person moves a cat clip into the coffee cluster and renames that cluster.
    let cat_video = export
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("cats/clip0.mp4"))
        .unwrap()["video_id"]
        .as_i64()
        .unwrap();
    let coffee_cluster = group_cluster["coffee"];
    reelmap_ok(
        &db,
        &[
            "assign",
            "--to",
            &coffee_cluster.to_string(),
            &cat_video.to_string(),
        ],
    );
    reelmap_ok(
        &db,
        &["rename", &coffee_cluster.to_string(), "Morning coffee"],
    );
    // Re-clustering (even with another k) keeps both choices.
    reelmap_ok(&db, &["cluster", "--k", "2"]);
    reelmap_ok(&db, &["cluster"]);
    let after = clusters_by_member(&reelmap_ok(&db, &["export"]).json());
    let cat_path = lib.join("cats/clip0.mp4").display().to_string();
    assert_eq!(
        after[&cat_path],
        (coffee_cluster, "Morning coffee".to_string())
    );
    let exported = reelmap_ok(&db, &["export"]).json();
    let row = exported
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["video_id"] == cat_video)
        .unwrap()
        .clone();
    assert_eq!(row["assigned_by"], "user");

    // A new clip added later joins the matching existing cluster without re-clustering.
    let new_clip = lib.join("cats").join("late.mp4");
    photo_clip(&new_clip, &photo("cat.jpg"), 99, Codec::H264Mp4);
    reelmap_ok(&db, &["organise", lib.to_str().unwrap()]);
    let after = clusters_by_member(&reelmap_ok(&db, &["export"]).json());
    let cat_peer = lib.join("cats/clip1.webm").display().to_string();
    assert_eq!(after[&new_clip.display().to_string()].0, after[&cat_peer].0);
}

#[test]
fn eval_scores_a_labelled_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("labelled");
    make_library(&lib);
    let db = tmp.path().join("eval.sqlite3");
    let j = reelmap_ok(&db, &["--json", "eval", lib.to_str().unwrap()]).json();
    assert_eq!(j["videos"], 12);
    assert_eq!(j["categories"].as_array().unwrap().len(), 3);
    for run in j["runs"].as_array().unwrap() {
        let s = &run["scores"];
        assert_eq!(s["accuracy"], 1.0, "{}: {s}", run["label"]);
        assert!((s["nmi"].as_f64().unwrap() - 1.0).abs() < 1e-9);
        assert!(s["conditional_entropy_bits"].as_f64().unwrap().abs() < 1e-9);
    }
    // The text report prints the metrics table.
    let text = reelmap_ok(&db, &["eval", lib.to_str().unwrap()]).stdout;
    assert!(
        text.contains("ACC") && text.contains("NMI") && text.contains("H(t|c)"),
        "{text}"
    );
}

#[test]
fn missing_weights_give_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reelmap"))
        .env("REELMAP_MODELS", tmp.path())
        .args([
            "--db",
            tmp.path().join("c.sqlite3").to_str().unwrap(),
            "organise",
            tmp.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("weights") && err.contains("setup.sh"), "{err}");
}
