//! Generates `crates/server/src/generated/<api>.rs`: the credentials, per-operation inputs and response
//! enums, the async trait and the axum router of one API. progenitor makes clients only, so this is
//! ours. [`model`] reads the spec into plain data; [`write`](mod@write) turns that into Rust. What it supports
//! is [`crate::support`]'s to say: lint reports the rest at its place, and [`model::read`] refuses a
//! spec with any of it rather than generate something wrong.

pub mod model;
pub mod write;

use anyhow::Result;

use crate::registry::Api;

/// The server code of the API `api`, from its spec without the validation-only rules.
pub fn generate(document: &openapiv3::OpenAPI, api: &Api) -> Result<syn::File> {
    write::write(&model::read(document)?, api)
}
