//! The APIs streamspec covers: the one list that the generators, lint, the breaking-change check
//! and the project's tests read. The crates read it through the generated `streamspec_server::Api`
//! (names, specs, path prefixes, error envelopes) and the conformance crate's bundles. Adding an API
//! is an entry here, its spec under `spec/`, and the hand-written parts the compiler then asks for:
//! the modules that include its generated files and its error envelope, and its emulator handlers.

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
    /// What it covers, for docs: `AIOZ Stream live stream keys`.
    pub title: &'static str,
}

impl Api {
    /// The spec's path relative to the project root, as messages show it (`spec/storm.yaml`).
    pub fn spec_path(&self) -> std::path::PathBuf {
        std::path::Path::new("spec").join(self.spec)
    }
}

/// Every API, in the order their files are generated and reported.
pub const APIS: &[Api] = &[
    Api {
        spec: "aioz-stream.yaml",
        module: "aioz",
        trait_name: "LiveStreamsApi",
        title: "AIOZ Stream live stream keys",
    },
    Api {
        spec: "storm.yaml",
        module: "storm",
        trait_name: "StormApi",
        title: "Storm Streaming Server 3.x applications and ingest settings",
    },
    Api {
        spec: "emulator.yaml",
        module: "emulator",
        trait_name: "EmulatorApi",
        title: "The emulator's own publish attempts and sessions",
    },
];
