//! streamspec's spec model and generators, as a library; `cargo xtask` is a thin command line over
//! it, and the fuzz targets use its JSON Schema converter.
//!
//! - [`registry`]: the APIs, each with its spec and the names its code takes.
//! - [`spec`]: a spec as loaded, with the line of every JSON pointer for located findings.
//! - [`walk`]: the one walk over operations and the one `$ref` resolver, over the JSON value and
//!   over openapiv3's typed model.
//! - [`lint`]: every check a spec must pass, each finding at `file:line` and pointer; it also
//!   refuses what the server generator does not support ([`support`]).
//! - [`support`]: what the server generator reads and refuses, shared with lint.
//! - [`jsonschema`]: a spec's schemas as JSON Schema bundles, for the conformance crate.
//! - [`breaking`]: what changed between two versions of a spec, and whom each change breaks.
//! - `generate` and `server` (feature `rust`): the committed Rust code, from progenitor and from
//!   the server generator (`server::model` reads a spec, `server::write` writes the code).

pub mod breaking;
#[cfg(feature = "rust")]
pub mod generate;
pub mod jsonschema;
pub mod lint;
pub mod registry;
#[cfg(feature = "rust")]
pub mod server;
pub mod spec;
pub mod support;
pub mod walk;
