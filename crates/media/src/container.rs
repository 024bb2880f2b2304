//! What a file is, from its name and its first bytes: the one place that knows file
//! formats (video extensions, container magic numbers, the demuxers that read them,
//! MIME types for serving, the companion files that travel with a video).

use std::io::Read;
use std::path::Path;

/// File extensions taken as videos without looking inside.
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "3g2", "3gp", "asf", "avi", "divx", "dv", "f4v", "flv", "gif", "h264", "h265", "hevc", "ivf",
    "m1v", "m2t", "m2ts", "m2v", "m4v", "mjpeg", "mjpg", "mk3d", "mkv", "mod", "mov", "mp4", "mpe",
    "mpeg", "mpg", "mts", "mxf", "nut", "ogg", "ogm", "ogv", "qt", "rm", "rmvb", "tod", "ts",
    "vob", "webm", "wmv", "y4m",
];

/// Extensions that are certainly not video: never opened to sniff their content.
pub const NOT_VIDEO_EXTENSIONS: &[&str] = &[
    "txt", "md", "pdf", "doc", "docx", "odt", "xls", "xlsx", "ppt", "pptx", "csv", "json", "xml",
    "html", "htm", "css", "js", "ts_", "py", "rs", "c", "h", "cpp", "java", "go", "sh", "jpg",
    "jpeg", "png", "webp", "heic", "tif", "tiff", "bmp", "raw", "cr2", "nef", "dng", "svg", "mp3",
    "flac", "wav", "aac", "m4a", "opus", "wma", "zip", "tar", "gz", "xz", "bz2", "7z", "rar",
    "iso", "exe", "dll", "so", "o", "a", "deb", "rpm", "srt", "vtt", "ass", "ssa", "sub", "nfo",
    "db", "sqlite", "sqlite3", "ini", "cfg", "toml", "yaml", "yml", "lock", "log",
];

/// Whether a file with this extension is never a video (never opened to sniff it).
pub fn is_not_video_extension(path: &Path) -> bool {
    ext_of(path).is_some_and(|e| NOT_VIDEO_EXTENSIONS.contains(&e.as_str()))
}

pub fn is_video_extension(path: &Path) -> bool {
    ext_of(path).is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.as_str()))
}

/// The lower-case extension of a file name.
pub fn ext_of(path: &Path) -> Option<String> {
    path.extension().map(|e| e.to_string_lossy().to_lowercase())
}

/// Content sniffing for files without a telling extension: the container magic
/// numbers of common video formats.
pub fn sniff_video(path: &Path) -> bool {
    let mut head = [0u8; 16];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(n) = f.read(&mut head) else {
        return false;
    };
    let h = &head[..n];
    if h.len() < 12 {
        return false;
    }
    (&h[4..8] == b"ftyp" && !matches!(&h[8..12], b"heic" | b"heix" | b"mif1" | b"avif" | b"M4A " | b"M4B "))
        || h.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) // Matroska / WebM
        || (h.starts_with(b"RIFF") && &h[8..12] == b"AVI ")
        || h.starts_with(b"OggS")
        || h.starts_with(b"FLV")
        || h.starts_with(&[0x00, 0x00, 0x01, 0xba]) // MPEG program stream
        || (h[0] == 0x47 && sniff_ts(path))
        || h.starts_with(&[0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11]) // ASF/WMV
}

/// MPEG transport streams: a 0x47 sync byte every 188 bytes.
fn sniff_ts(path: &Path) -> bool {
    let mut buf = [0u8; 188 * 4];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    if f.read_exact(&mut buf).is_err() {
        return false;
    }
    (0..4).all(|i| buf[i * 188] == 0x47)
}

/// True for files that start with the GIF signature.
pub fn is_gif(path: &Path) -> bool {
    let mut head = [0u8; 6];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|_| &head == b"GIF89a" || &head == b"GIF87a")
        .unwrap_or(false)
}

/// The demuxer for MP4/QuickTime, Matroska/WebM and AVI files, told by their first
/// bytes. These containers carry an index: their demuxers mark keyframes themselves
/// (much cheaper than `parsebin`'s autoplugging) and seek exactly to a keyframe. Streams without one (MPEG-PS/TS, Ogg) seek
/// by estimate and can land well past the asked position, so they keep the
/// probe-and-decode-forward sampling.
pub fn indexed_demuxer(path: &Path) -> Option<&'static str> {
    let mut head = [0u8; 12];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    match (&head[0..4], &head[4..8], &head[8..12]) {
        (_, b"ftyp" | b"moov" | b"mdat" | b"wide" | b"free" | b"skip", _) => Some("qtdemux"),
        ([0x1a, 0x45, 0xdf, 0xa3], _, _) => Some("matroskademux"),
        (b"RIFF", _, b"AVI ") => Some("avidemux"),
        _ => None,
    }
}

/// The MIME type a browser needs to play the file.
pub fn mime_type(path: &Path) -> &'static str {
    match ext_of(path).as_deref() {
        Some("mp4") | Some("m4v") => "video/mp4",
        Some("webm") => "video/webm",
        Some("ogv") | Some("ogg") => "video/ogg",
        Some("mkv") => "video/x-matroska",
        Some("mov") | Some("qt") => "video/quicktime",
        Some("avi") => "video/x-msvideo",
        Some("gif") => "image/gif",
        Some("ts") | Some("m2ts") | Some("mts") => "video/mp2t",
        _ => "application/octet-stream",
    }
}

/// Extensions of files that belong to a video when they share its name
/// ("clip.srt", "clip.en.srt", "clip.nfo", "clip.jpg", "clip-poster.jpg").
pub const COMPANION_EXTENSIONS: &[&str] = &[
    "srt", "vtt", "ass", "ssa", "sub", "idx", "sup", "smi", "lrc", "nfo", "xml", "jpg", "jpeg",
    "png", "webp", "tbn",
];
