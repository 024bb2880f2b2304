//! The folder plan: where each clustered video would go on disk. Computing the plan
//! never touches the user's files; applying it is `apply.rs`.

use crate::store::Catalogue;
use crate::store::VideoStatus;
use anyhow::Result;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Names Windows refuses for files and folders, whatever the extension.
const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];
const MAX_NAME_BYTES: usize = 120;

/// A folder name that is valid on Linux, macOS and Windows: no `/ \ : * ? " < > |`
/// or control characters, no trailing dots or spaces, not a reserved device name,
/// not empty, and at most 120 bytes.
pub fn safe_folder_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    s = s.trim().trim_end_matches(['.', ' ']).to_string();
    if s.starts_with('.') {
        s = s.trim_start_matches('.').to_string();
    }
    if s.len() > MAX_NAME_BYTES {
        let mut cut = MAX_NAME_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s = s.trim_end_matches(['.', ' ']).to_string();
    }
    let stem = s.split('.').next().unwrap_or("").to_uppercase();
    if RESERVED.contains(&stem.as_str()) {
        s = format!("{s}_");
    }
    if s.is_empty() {
        s = "Folder".to_string();
    }
    s
}

/// One video's move in a plan, with the companion files that go along.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanItem {
    pub video_id: i64,
    pub cluster_id: i64,
    pub folder: String,
    pub from: PathBuf,
    pub to: PathBuf,
    /// (from, to) of subtitles, .nfo files and thumbnails named after the video.
    pub companions: Vec<(PathBuf, PathBuf)>,
}

/// Companion files of a video: same folder, name starting with the video's stem
/// followed by '.' or '-', with a companion extension. A file that fits several
/// videos ("clip-2.srt" next to "clip.mp4" and "clip-2.mp4") belongs to the one with
/// the longest stem. Returns (path, suffix after the stem).
pub fn companions(video: &Path) -> Vec<(PathBuf, std::ffi::OsString)> {
    use std::os::unix::ffi::OsStrExt;
    let (Some(dir), Some(stem)) = (video.parent(), video.file_stem()) else {
        return vec![];
    };
    let stem = stem.as_bytes();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let entries: Vec<std::fs::DirEntry> = entries.flatten().collect();
    let fits = |name: &[u8], stem: &[u8]| {
        name.len() > stem.len() + 1
            && name.starts_with(stem)
            && matches!(name[stem.len()], b'.' | b'-')
    };
    // Stems of the other videos in the folder that are longer than this one's.
    let longer_stems: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| e.path())
        .filter(|p| p != video && reelmap_media::container::is_video_extension(p))
        .filter_map(|p| p.file_stem().map(|s| s.as_bytes().to_vec()))
        .filter(|s| s.len() > stem.len() && s.starts_with(stem))
        .collect();
    let mut out = Vec::new();
    for e in &entries {
        let name = e.file_name();
        let nb = name.as_bytes();
        if e.path() == video || !fits(nb, stem) {
            continue;
        }
        if longer_stems.iter().any(|s| fits(nb, s)) {
            continue;
        }
        let ext = Path::new(&name)
            .extension()
            .map(|x| x.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if !reelmap_media::container::COMPANION_EXTENSIONS.contains(&ext.as_str())
            || !e.file_type().map(|t| t.is_file()).unwrap_or(false)
        {
            continue;
        }
        out.push((
            e.path(),
            std::ffi::OsStr::from_bytes(&nb[stem.len()..]).to_os_string(),
        ));
    }
    out.sort();
    out
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub base: PathBuf,
    /// Cluster id → folder name (made safe and unique, case-insensitively).
    pub folders: Vec<(i64, String)>,
    pub items: Vec<PlanItem>,
    /// Videos already where the plan wants them.
    pub unchanged: usize,
}

/// The plan for the videos under `root` (all videos if None), into folders under
/// `base`. Videos already in their cluster's folder stay; file name clashes inside a
/// folder get " (2)", " (3)"... before the extension.
pub fn plan(cat: &Catalogue, root: Option<&Path>, base: &Path) -> Result<Plan> {
    let clusters = cat.clusters()?;
    let mut used: HashSet<String> = HashSet::new();
    let mut folder_of: HashMap<i64, String> = HashMap::new();
    let mut folders = Vec::new();
    for c in &clusters {
        let safe = safe_folder_name(&c.name);
        let mut name = safe.clone();
        let mut n = 2;
        while used.contains(&name.to_lowercase()) {
            name = format!("{safe} ({n})");
            n += 1;
        }
        used.insert(name.to_lowercase());
        folder_of.insert(c.id, name.clone());
        folders.push((c.id, name));
    }
    let mut taken: HashSet<PathBuf> = HashSet::new();
    let mut items = Vec::new();
    let mut unchanged = 0;
    let mut asg = cat.assignments()?;
    asg.sort_by_key(|a| a.video_id);
    let videos: HashMap<i64, PathBuf> = cat
        .videos(Some(VideoStatus::Ok))?
        .into_iter()
        .map(|v| (v.id, v.path))
        .collect();
    // Paths that stay where they are claim their names first.
    let mut pending = Vec::new();
    for a in &asg {
        let Some(path) = videos.get(&a.video_id) else {
            continue;
        };
        if let Some(r) = root
            && !path.starts_with(r)
        {
            continue;
        }
        // Duplicates the person set aside stay set aside.
        if is_set_aside(path) {
            continue;
        }
        let folder = &folder_of[&a.cluster_id];
        let dir = base.join(folder);
        if path.parent() == Some(dir.as_path()) {
            taken.insert(path.clone());
            unchanged += 1;
        } else {
            pending.push((a, path.clone(), folder.clone(), dir));
        }
    }
    for (a, path, folder, dir) in pending {
        let file_name = path
            .file_name()
            .map(|f| f.to_os_string())
            .unwrap_or_default();
        let comps = companions(&path);
        // The video and its companions need free names together; never overwrite.
        let is_free = |p: &PathBuf, taken: &HashSet<PathBuf>| {
            !taken.contains(p) && p.symlink_metadata().is_err()
        };
        let mut n = 1;
        let (to, comp_to) = loop {
            let name = if n == 1 {
                file_name.clone()
            } else {
                numbered_name(Path::new(&file_name), n)
            };
            let to = dir.join(&name);
            let new_stem = Path::new(&name)
                .file_stem()
                .map(|s| s.to_os_string())
                .unwrap_or_default();
            let comp_to: Vec<PathBuf> = comps
                .iter()
                .map(|(_, suffix)| {
                    let mut n = new_stem.clone();
                    n.push(suffix);
                    dir.join(n)
                })
                .collect();
            if is_free(&to, &taken) && comp_to.iter().all(|c| is_free(c, &taken)) {
                break (to, comp_to);
            }
            n += 1;
        };
        taken.insert(to.clone());
        taken.extend(comp_to.iter().cloned());
        items.push(PlanItem {
            video_id: a.video_id,
            cluster_id: a.cluster_id,
            folder,
            from: path,
            to,
            companions: comps.into_iter().map(|(p, _)| p).zip(comp_to).collect(),
        });
    }
    Ok(Plan {
        base: base.to_path_buf(),
        folders,
        items,
        unchanged,
    })
}

/// The folder near-duplicates are set aside in, at the top of their scanned folder.
pub const DUPLICATES_FOLDER: &str = "Duplicates";

/// Whether a video was set aside as a duplicate (it sits in a
/// [`DUPLICATES_FOLDER`]).
pub fn is_set_aside(path: &Path) -> bool {
    path.parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == DUPLICATES_FOLDER)
}

/// The plan that moves `videos` into the [`DUPLICATES_FOLDER`] of the scanned folder
/// each lies under (of its own folder when none does); names that clash get " (2)".
pub fn set_aside_plan(cat: &Catalogue, videos: &[i64]) -> Result<Plan> {
    let roots: Vec<PathBuf> = cat.roots()?.into_iter().map(|(_, p)| p).collect();
    let cluster_of: HashMap<i64, i64> = cat
        .assignments()?
        .into_iter()
        .map(|a| (a.video_id, a.cluster_id))
        .collect();
    let mut taken: HashSet<PathBuf> = HashSet::new();
    let mut items = Vec::new();
    let mut unchanged = 0;
    let mut base = None;
    for &id in videos {
        let v = cat
            .video(id)?
            .ok_or_else(|| crate::error::Error::NotFound(format!("video {id}")))?;
        if is_set_aside(&v.path) {
            unchanged += 1;
            continue;
        }
        let top = roots
            .iter()
            .filter(|r| v.path.starts_with(r))
            .max_by_key(|r| r.as_os_str().len())
            .cloned()
            .or_else(|| v.path.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let dir = top.join(DUPLICATES_FOLDER);
        base.get_or_insert_with(|| top.clone());
        let file_name = v
            .path
            .file_name()
            .map(|f| f.to_os_string())
            .unwrap_or_default();
        let mut n = 1;
        let to = loop {
            let name = if n == 1 {
                file_name.clone()
            } else {
                numbered_name(Path::new(&file_name), n)
            };
            let to = dir.join(name);
            if !taken.contains(&to) && to.symlink_metadata().is_err() {
                break to;
            }
            n += 1;
        };
        taken.insert(to.clone());
        let companions = companions(&v.path)
            .into_iter()
            .map(|(from, suffix)| {
                let mut name = to.file_stem().map(|s| s.to_os_string()).unwrap_or_default();
                name.push(suffix);
                (from, dir.join(name))
            })
            .collect();
        items.push(PlanItem {
            video_id: id,
            cluster_id: cluster_of.get(&id).copied().unwrap_or(0),
            folder: DUPLICATES_FOLDER.to_string(),
            from: v.path,
            to,
            companions,
        });
    }
    Ok(Plan {
        base: base.unwrap_or_default(),
        folders: vec![],
        items,
        unchanged,
    })
}

/// One plan from several (one per scanned folder), so that a single apply is a
/// single journal batch and a single undo.
pub fn merge_plans(plans: Vec<Plan>, base: &Path) -> Plan {
    let mut out = Plan {
        base: base.to_path_buf(),
        folders: Vec::new(),
        items: Vec::new(),
        unchanged: 0,
    };
    for p in plans {
        for f in p.folders {
            if !out.folders.contains(&f) {
                out.folders.push(f);
            }
        }
        out.items.extend(p.items);
        out.unchanged += p.unchanged;
    }
    out
}

/// "clip.mp4" → "clip (2).mp4".
pub fn numbered_name(file: &Path, n: usize) -> std::ffi::OsString {
    let stem = file
        .file_stem()
        .map(|s| s.to_os_string())
        .unwrap_or_default();
    let mut out = stem;
    out.push(format!(" ({n})"));
    if let Some(ext) = file.extension() {
        out.push(".");
        out.push(ext);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_portable() {
        assert_eq!(safe_folder_name("Dogs"), "Dogs");
        assert_eq!(safe_folder_name("a/b:c*?"), "a_b_c__");
        assert_eq!(safe_folder_name("CON"), "CON_");
        assert_eq!(safe_folder_name("com1.txt"), "com1.txt_");
        assert_eq!(safe_folder_name("  trailing. . "), "trailing");
        assert_eq!(safe_folder_name("..."), "Folder");
        assert_eq!(safe_folder_name(".hidden"), "hidden");
        let long = "é".repeat(100);
        let s = safe_folder_name(&long);
        assert!(s.len() <= MAX_NAME_BYTES && s.chars().all(|c| c == 'é'));
    }

    #[test]
    fn companions_share_the_video_stem() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "clip.mp4",
            "clip.srt",
            "clip.en.vtt",
            "clip-poster.jpg",
            "clip.nfo",
            "clipper.srt",
            "clip.mkv",
            "other.srt",
            "clip-2.mp4",
            "clip-2.srt",
        ] {
            std::fs::write(dir.path().join(f), f).unwrap();
        }
        let c: Vec<String> = companions(&dir.path().join("clip.mp4"))
            .into_iter()
            .map(|(_, s)| s.to_string_lossy().into_owned())
            .collect();
        assert_eq!(c, vec!["-poster.jpg", ".en.vtt", ".nfo", ".srt"]);
    }

    #[test]
    fn numbered_names_keep_extension() {
        assert_eq!(numbered_name(Path::new("clip.mp4"), 2), "clip (2).mp4");
        assert_eq!(numbered_name(Path::new("noext"), 3), "noext (3)");
    }
}
