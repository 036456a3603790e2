// The plugin's manifest (name, version, config schema, capabilities) from
// Cargo.toml, embedded by `passage_sdk::manifest!()` in src/lib.rs.
fn main() {
    passage_sdk::build::write_manifest()
}
