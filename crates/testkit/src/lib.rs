//! Generating real media files with GStreamer encoders, for the integration tests
//! and the benchmark corpus: test patterns and moving scenes (a photo filmed with a
//! slow pan and zoom), in several codecs and containers, plus broken files.

use anyhow::{Context, Result, anyhow, bail};
use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use std::path::Path;

/// GStreamer, initialised (idempotent).
fn gst_init() -> Result<()> {
    gst::init().map_err(|e| anyhow!("GStreamer could not be initialised: {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// H.264 (OpenH264) in MP4.
    H264Mp4,
    /// H.265 (x265) in Matroska.
    H265Mkv,
    /// VP8 in WebM.
    Vp8Webm,
    /// VP9 in WebM.
    Vp9Webm,
    /// Theora in Ogg.
    TheoraOgg,
    /// Motion JPEG in AVI.
    MjpegAvi,
    /// MPEG-4 part 2 in AVI.
    Mpeg4Avi,
    /// MPEG-4 part 2 in an MPEG transport stream.
    Mpeg4Ts,
    /// AV1 (libaom) in Matroska.
    Av1Mkv,
    /// VP8 in WebM starved to 30 kbps: as blocky as a heavily compressed download.
    Vp8WebmStarved,
}

impl Codec {
    pub fn extension(self) -> &'static str {
        match self {
            Codec::H264Mp4 => "mp4",
            Codec::H265Mkv | Codec::Av1Mkv => "mkv",
            Codec::Vp8Webm | Codec::Vp9Webm | Codec::Vp8WebmStarved => "webm",
            Codec::TheoraOgg => "ogv",
            Codec::MjpegAvi | Codec::Mpeg4Avi => "avi",
            Codec::Mpeg4Ts => "ts",
        }
    }

    pub const ALL: [Codec; 9] = [
        Codec::H264Mp4,
        Codec::H265Mkv,
        Codec::Vp8Webm,
        Codec::Vp9Webm,
        Codec::TheoraOgg,
        Codec::MjpegAvi,
        Codec::Mpeg4Avi,
        Codec::Mpeg4Ts,
        Codec::Av1Mkv,
    ];

    /// Encoder and muxer description for gst-launch syntax; `gop` is the keyframe
    /// interval in frames.
    fn encoder(self, gop: u32, fps: u32) -> String {
        match self {
            Codec::H264Mp4 => format!("openh264enc gop-size={gop} bitrate=2000000 ! h264parse ! mp4mux"),
            Codec::H265Mkv => format!("x265enc key-int-max={gop} speed-preset=ultrafast tune=zerolatency ! h265parse ! matroskamux"),
            Codec::Vp8Webm => format!("vp8enc keyframe-max-dist={gop} deadline=1 cpu-used=8 target-bitrate=2000000 ! webmmux"),
            Codec::Vp8WebmStarved => format!("vp8enc keyframe-max-dist={gop} deadline=1 cpu-used=8 target-bitrate=30000 end-usage=cbr ! webmmux"),
            Codec::Vp9Webm => format!("vp9enc keyframe-max-dist={gop} deadline=1 cpu-used=8 target-bitrate=2000000 ! webmmux"),
            Codec::TheoraOgg => format!("theoraenc keyframe-force={gop} ! oggmux"),
            Codec::MjpegAvi => "jpegenc quality=80 ! avimux".to_string(),
            Codec::Mpeg4Avi => format!("avenc_mpeg4 gop-size={gop} bitrate=2000000 ! avimux"),
            // MPEG-2 encoders are unusable here (avenc_mpeg2video rejects every frame
            // rate in GStreamer 1.22, mjpegtools' mpeg2enc crashes when run in-process),
            // so the transport-stream case carries MPEG-4 part 2.
            Codec::Mpeg4Ts => format!("avenc_mpeg4 gop-size={gop} bitrate=2000000 ! mpeg4videoparse ! mpegtsmux"),
            Codec::Av1Mkv => format!(
                "av1enc cpu-used=8 usage-profile=realtime target-bitrate=800 keyframe-max-dist={gop} lag-in-frames=0 threads=2 ! av1parse ! matroskamux"
            ),
        }
        .replace("{fps}", &fps.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct ClipSpec {
    pub codec: Codec,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub frames: u32,
    /// Keyframe interval in frames.
    pub gop: u32,
}

impl Default for ClipSpec {
    fn default() -> Self {
        ClipSpec {
            codec: Codec::H264Mp4,
            width: 320,
            height: 240,
            fps: 25,
            frames: 50,
            gop: 25,
        }
    }
}

fn run_pipeline(pipeline: &gst::Element, what: &str) -> Result<()> {
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|_| anyhow!("{what}: cannot start"))?;
    let bus = pipeline.bus().context("no bus")?;
    let result = loop {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(120)) else {
            break Err(anyhow!("{what}: timed out"));
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => {
                break Err(anyhow!("{what}: {} ({:?})", e.error(), e.debug()));
            }
            _ => {}
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// Encodes a `videotestsrc` pattern (e.g. "smpte", "ball", "snow", "pinwheel",
/// "spokes", "checkers-8", "circular", "zone-plate") as a clip. `extra` adds
/// properties to videotestsrc, e.g. "horizontal-speed=4".
pub fn make_pattern_clip(path: &Path, pattern: &str, extra: &str, spec: &ClipSpec) -> Result<()> {
    gst_init()?;
    let tmp = temp_name(path);
    let desc = format!(
        "videotestsrc pattern={pattern} {extra} num-buffers={n} ! video/x-raw,width={w},height={h},framerate={fps}/1 ! videoconvert ! video/x-raw,format=I420 ! {enc} ! filesink name=out",
        n = spec.frames,
        w = spec.width,
        h = spec.height,
        fps = spec.fps,
        enc = spec.codec.encoder(spec.gop, spec.fps)
    );
    let pipeline = gst::parse::launch(&desc).with_context(|| format!("bad pipeline: {desc}"))?;
    set_location(&pipeline, &tmp)?;
    run_pipeline(&pipeline, &format!("encoding {}", path.display()))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// An H.264 MP4 with an AAC sound track beside the picture (a moving ball), like most
/// real files: some code paths must cope with streams they do not use.
pub fn make_clip_with_audio(path: &Path, frames: u32, gop: u32) -> Result<()> {
    gst_init()?;
    let tmp = temp_name(path);
    let seconds = frames as f64 / 25.0;
    let desc = format!(
        "videotestsrc pattern=ball motion=wavy num-buffers={frames} ! video/x-raw,width=320,height=240,framerate=25/1 ! videoconvert ! video/x-raw,format=I420 ! openh264enc gop-size={gop} bitrate=1000000 ! h264parse ! mp4mux name=mux ! filesink name=out \
         audiotestsrc num-buffers={audio} samplesperbuffer=1024 timestamp-offset=500000000 ! audio/x-raw,rate=44100,channels=1 ! audioconvert ! avenc_aac ! aacparse ! mux.",
        // Starts after the picture (so the demuxer meets video first) and ends before it.
        audio = ((seconds - 1.0).max(0.1) * 44100.0 / 1024.0).ceil() as u64,
    );
    let pipeline = gst::parse::launch(&desc).with_context(|| format!("bad pipeline: {desc}"))?;
    set_location(&pipeline, &tmp)?;
    run_pipeline(&pipeline, &format!("encoding {}", path.display()))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// One H.264 stream (a moving ball) muxed twice: a plain MP4 and a fragmented one
/// (`moof` fragments, no sample table, as DASH/CMAF downloads and some cameras write).
/// Seeking differs between the two in qtdemux; the pictures are the same.
pub fn make_plain_and_fragmented_mp4(
    plain: &Path,
    fragmented: &Path,
    frames: u32,
    gop: u32,
) -> Result<()> {
    gst_init()?;
    let (tmp_plain, tmp_frag) = (temp_name(plain), temp_name(fragmented));
    let desc = format!(
        "videotestsrc pattern=ball motion=wavy num-buffers={frames} ! video/x-raw,width=320,height=240,framerate=25/1 ! videoconvert ! video/x-raw,format=I420 ! openh264enc gop-size={gop} bitrate=1000000 ! h264parse ! tee name=t \
         t. ! queue ! mp4mux ! filesink name=out \
         t. ! queue ! mp4mux fragment-duration=1000 ! filesink name=out_fragmented"
    );
    let pipeline = gst::parse::launch(&desc).with_context(|| format!("bad pipeline: {desc}"))?;
    set_location(&pipeline, &tmp_plain)?;
    let bin = pipeline.downcast_ref::<gst::Bin>().context("not a bin")?;
    bin.by_name("out_fragmented")
        .context("no second filesink")?
        .set_property("location", tmp_frag.clone());
    run_pipeline(&pipeline, &format!("encoding {}", plain.display()))?;
    std::fs::rename(&tmp_plain, plain)?;
    std::fs::rename(&tmp_frag, fragmented)?;
    Ok(())
}

/// Camera motion over a still photo: the crop window moves from `start` to `end`
/// (centre x, centre y, zoom ≥ 1, all relative to the photo) over the clip.
#[derive(Debug, Clone, Copy)]
pub struct Motion {
    pub start: (f32, f32, f32),
    pub end: (f32, f32, f32),
    /// Brightness factor applied to every frame (1 = unchanged).
    pub gain: f32,
}

impl Motion {
    /// A deterministic, gentle pan/zoom varying with `seed`.
    pub fn seeded(seed: u64) -> Motion {
        let mut rng = reelmap_numeric::SplitMix64::seeded(seed);
        let mut r = |lo: f32, hi: f32| lo + (hi - lo) * rng.next_f64() as f32;
        Motion {
            start: (r(0.4, 0.6), r(0.4, 0.6), r(1.0, 1.3)),
            end: (r(0.4, 0.6), r(0.4, 0.6), r(1.1, 1.6)),
            gain: r(0.85, 1.15),
        }
    }
}

/// Films a photo with a pan and zoom and encodes the frames with GStreamer.
pub fn make_photo_clip(
    path: &Path,
    photo: &image::RgbImage,
    motion: Motion,
    spec: &ClipSpec,
) -> Result<()> {
    let shot = Shot {
        photo,
        motion,
        frames: spec.frames,
        from: 0.0,
        to: 1.0,
    };
    make_shots_clip(path, &[shot], spec)
}

/// A stretch of a filmed photo: `frames` frames of its motion from `from` to `to`
/// (0 = the motion's start, 1 = its end).
#[derive(Clone, Copy)]
pub struct Shot<'a> {
    pub photo: &'a image::RgbImage,
    pub motion: Motion,
    pub frames: u32,
    pub from: f32,
    pub to: f32,
}

impl Shot<'_> {
    /// Frame `i` of the shot at the clip's size.
    fn frame(&self, i: u32, width: u32, height: u32) -> image::RgbImage {
        let photo = self.photo;
        let motion = self.motion;
        let u = if self.frames > 1 {
            i as f32 / (self.frames - 1) as f32
        } else {
            0.0
        };
        let t = self.from + (self.to - self.from) * u;
        let lerp = |a: f32, b: f32| a + (b - a) * t;
        let (pw, ph) = photo.dimensions();
        let aspect = width as f32 / height as f32;
        let (cx, cy, zoom) = (
            lerp(motion.start.0, motion.end.0),
            lerp(motion.start.1, motion.end.1),
            lerp(motion.start.2, motion.end.2).max(1.0),
        );
        // Largest window of the output aspect inside the photo, shrunk by zoom.
        let (mut cw, mut ch) = if pw as f32 / ph as f32 > aspect {
            (ph as f32 * aspect, ph as f32)
        } else {
            (pw as f32, pw as f32 / aspect)
        };
        cw /= zoom;
        ch /= zoom;
        let x0 = (cx * pw as f32 - cw / 2.0).clamp(0.0, pw as f32 - cw) as u32;
        let y0 = (cy * ph as f32 - ch / 2.0).clamp(0.0, ph as f32 - ch) as u32;
        let crop = image::imageops::crop_imm(photo, x0, y0, cw as u32, ch as u32).to_image();
        let mut frame =
            image::imageops::resize(&crop, width, height, image::imageops::FilterType::Triangle);
        if (motion.gain - 1.0).abs() > 1e-3 {
            for p in frame.iter_mut() {
                *p = (*p as f32 * motion.gain).clamp(0.0, 255.0) as u8;
            }
        }
        frame
    }
}

/// Encodes shots one after the other (scene cuts between them) into one clip;
/// `spec.frames` is ignored (the shots say how many).
pub fn make_shots_clip(path: &Path, shots: &[Shot], spec: &ClipSpec) -> Result<()> {
    gst_init()?;
    let tmp = temp_name(path);
    let desc = format!(
        "appsrc name=src format=time is-live=false ! videoconvert ! video/x-raw,format=I420 ! {enc} ! filesink name=out",
        enc = spec.codec.encoder(spec.gop, spec.fps)
    );
    let pipeline = gst::parse::launch(&desc).with_context(|| format!("bad pipeline: {desc}"))?;
    set_location(&pipeline, &tmp)?;
    let bin = pipeline.downcast_ref::<gst::Bin>().context("not a bin")?;
    let src = bin
        .by_name("src")
        .context("no appsrc")?
        .downcast::<gst_app::AppSrc>()
        .map_err(|_| anyhow!("not an appsrc"))?;
    let caps = gstreamer_video::VideoCapsBuilder::new()
        .format(gstreamer_video::VideoFormat::Rgb)
        .width(spec.width as i32)
        .height(spec.height as i32)
        .framerate(gst::Fraction::new(spec.fps as i32, 1))
        .build();
    src.set_caps(Some(&caps));
    src.set_property("block", true);
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|_| anyhow!("cannot start encoding"))?;
    let mut n = 0u64;
    for shot in shots {
        for i in 0..shot.frames {
            let frame = shot.frame(i, spec.width, spec.height);
            let mut buffer = gst::Buffer::from_mut_slice(frame.into_raw());
            {
                let b = buffer.get_mut().unwrap();
                let dur = gst::ClockTime::from_nseconds(1_000_000_000 / spec.fps as u64);
                b.set_pts(dur * n);
                b.set_duration(dur);
            }
            n += 1;
            src.push_buffer(buffer)
                .map_err(|e| anyhow!("encoder refused a frame: {e:?}"))?;
        }
    }
    src.end_of_stream().map_err(|e| anyhow!("{e:?}"))?;
    let bus = pipeline.bus().context("no bus")?;
    let result = loop {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(120)) else {
            break Err(anyhow!("encoding timed out"));
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => {
                break Err(anyhow!("encoding {}: {}", path.display(), e.error()));
            }
            _ => {}
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Writes to an ASCII temporary name next to the target and renames at the end, so
/// that odd target names (non-UTF-8) never pass through GStreamer properties, and an
/// interrupted encode leaves no half file under the real name.
fn temp_name(path: &Path) -> std::path::PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!(".reelmap-encode-{}-{id}.part", std::process::id()))
}

fn set_location(pipeline: &gst::Element, path: &Path) -> Result<()> {
    let bin = pipeline.downcast_ref::<gst::Bin>().context("not a bin")?;
    let sink = bin.by_name("out").context("no filesink named out")?;
    sink.set_property("location", path.to_path_buf());
    Ok(())
}

/// The first `keep` bytes of a file, as a truncated copy.
pub fn truncate_copy(src: &Path, dst: &Path, keep: usize) -> Result<()> {
    let data = std::fs::read(src)?;
    if keep >= data.len() {
        bail!("file has only {} bytes", data.len());
    }
    std::fs::write(dst, &data[..keep])?;
    Ok(())
}

pub fn load_photo(path: &Path) -> Result<image::RgbImage> {
    Ok(image::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .to_rgb8())
}

/// The bundled photos (CC0 and public domain, see `data/README.md`) that clips are
/// filmed from.
pub fn photos_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join("photos")
}

/// A small library for trying Reelmap out and for end-to-end tests: three scenes
/// filmed from the bundled photos (cat, coffee, rocket; four clips each, in several
/// codecs), two moving test patterns, and one broken file. Returns the files made.
pub fn demo_library(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let photos = photos_dir();
    let codecs = [
        Codec::H264Mp4,
        Codec::Vp8Webm,
        Codec::TheoraOgg,
        Codec::H264Mp4,
    ];
    let mut out = Vec::new();
    for (gi, (group, photo)) in [
        ("cats", "cat.jpg"),
        ("coffee", "coffee.jpg"),
        ("rockets", "rocket.jpg"),
    ]
    .iter()
    .enumerate()
    {
        let img = load_photo(&photos.join(photo))?;
        let sub = dir.join(group);
        std::fs::create_dir_all(&sub)?;
        for (i, codec) in codecs.iter().enumerate() {
            let path = sub.join(format!("{group}-{i}.{}", codec.extension()));
            let spec = ClipSpec {
                codec: *codec,
                frames: 75,
                gop: 25,
                ..ClipSpec::default()
            };
            make_photo_clip(&path, &img, Motion::seeded((gi * 10 + i) as u64), &spec)?;
            out.push(path);
        }
    }
    let spec = ClipSpec {
        frames: 75,
        ..ClipSpec::default()
    };
    for (name, pattern, extra) in [
        ("ball.mp4", "ball", "motion=wavy"),
        ("pinwheel.mp4", "pinwheel", ""),
    ] {
        let path = dir.join(name);
        make_pattern_clip(&path, pattern, extra, &spec)?;
        out.push(path);
    }
    let broken = dir.join("broken.mp4");
    std::fs::write(&broken, "this is not a video\n".repeat(50))?;
    out.push(broken);
    Ok(out)
}

/// Test shorthand: a bundled photo by file name; panics if it cannot be read.
pub fn photo(name: &str) -> image::RgbImage {
    load_photo(&photos_dir().join(name)).unwrap()
}

/// Test shorthand: a short clip of a test pattern; panics on failure.
pub fn pattern_clip(path: &Path, pattern: &str, codec: Codec, frames: u32, gop: u32) {
    let spec = ClipSpec {
        codec,
        frames,
        gop,
        ..ClipSpec::default()
    };
    make_pattern_clip(path, pattern, "", &spec)
        .unwrap_or_else(|e| panic!("making {}: {e:#}", path.display()));
}

/// Test shorthand: a clip filming a photo with a seeded pan and zoom; panics on
/// failure.
pub fn photo_clip(path: &Path, photo: &image::RgbImage, seed: u64, codec: Codec) {
    let spec = ClipSpec {
        codec,
        frames: 40,
        gop: 20,
        ..ClipSpec::default()
    };
    make_photo_clip(path, photo, Motion::seeded(seed), &spec)
        .unwrap_or_else(|e| panic!("making {}: {e:#}", path.display()));
}
