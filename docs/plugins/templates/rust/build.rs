// Writes the plugin's manifest (name, version, config schema, capabilities) from
// Cargo.toml into OUT_DIR; `passage_sdk::manifest!()` in src/lib.rs embeds it.
fn main() {
    passage_sdk::build::write_manifest()
}
