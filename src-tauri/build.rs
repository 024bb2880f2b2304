fn main() {
    // `pick_folders` gets `allow-pick-folders` / `deny-pick-folders` permissions, granted
    // to the engine-served (remote) page in capabilities/main.json.
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(&["pick_folders"])),
    )
    .expect("tauri-build failed");
}
