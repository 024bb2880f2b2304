fn main() {
    let p = std::env::args().nth(1).unwrap();
    let n: usize = std::env::args().nth(2).map(|x| x.parse().unwrap()).unwrap_or(16);
    let s = reelmap::media::sample_frames(std::path::Path::new(&p), reelmap::media::Sampler::Uniform { n }, 256, None).unwrap();
    for f in &s.frames { println!("{} {:?} {}x{} {}", f.pts_ns, f.duration_ns, f.width, f.height, blake3::hash(&f.data).to_hex()); }
    println!("warning {:?}", s.warning);
}
