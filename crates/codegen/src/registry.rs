//! The APIs streamspec covers: the one list that the generators, lint, the breaking-change check
//! and the project's tests read. Adding an API is an entry here and its spec under `spec/`.

/// One API: its spec, and the names its generated code takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Api {
    /// The spec's file name under `spec/`.
    pub spec: &'static str,
    /// The module under `streamspec_types`, `streamspec_client` and `streamspec_server`, and the
    /// name of its JSON Schema bundle (`crates/conformance/schemas/<module>.json`).
    pub module: &'static str,
    /// The server trait's name.
    pub trait_name: &'static str,
}

impl Api {
    /// The spec's path relative to the project root, as messages show it (`spec/storm.yaml`).
    pub fn spec_path(&self) -> std::path::PathBuf {
        std::path::Path::new("spec").join(self.spec)
    }
}

/// Every API, in the order their files are generated and reported.
pub const APIS: &[Api] = &[
    Api { spec: "aioz-stream.yaml", module: "aioz", trait_name: "LiveStreamsApi" },
    Api { spec: "storm.yaml", module: "storm", trait_name: "StormApi" },
    Api { spec: "emulator.yaml", module: "emulator", trait_name: "EmulatorApi" },
];
