fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (m, out) = reelmap::model::import_weights(std::path::Path::new(&args[1]), &reelmap::model::manifest::models_dir())?;
    println!("{} -> {}", m.name, out.display());
    Ok(())
}
