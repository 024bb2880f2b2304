//! The folder plan: where each clustered video would go on disk. Computing the plan
//! never touches the user's files; applying it is `apply.rs`.

use crate::store::Catalogue;
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

/// One video's move in a plan.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanItem {
    pub video_id: i64,
    pub cluster_id: i64,
    pub folder: String,
    pub from: PathBuf,
    pub to: PathBuf,
}

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
        .videos(Some("ok"))?
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
        let mut to = dir.join(&file_name);
        let mut n = 2;
        while taken.contains(&to) || (to.symlink_metadata().is_ok() && to != path) {
            to = dir.join(numbered_name(Path::new(&file_name), n));
            n += 1;
        }
        taken.insert(to.clone());
        items.push(PlanItem {
            video_id: a.video_id,
            cluster_id: a.cluster_id,
            folder,
            from: path,
            to,
        });
    }
    Ok(Plan {
        base: base.to_path_buf(),
        folders,
        items,
        unchanged,
    })
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
    fn numbered_names_keep_extension() {
        assert_eq!(numbered_name(Path::new("clip.mp4"), 2), "clip (2).mp4");
        assert_eq!(numbered_name(Path::new("noext"), 3), "noext (3)");
    }
}
