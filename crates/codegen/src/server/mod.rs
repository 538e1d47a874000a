//! Generates `crates/server/src/generated/<api>.rs`: the credentials, per-operation inputs and response
//! enums, the async trait and the axum router of one API. progenitor makes clients only, so this is
//! ours. [`model`] reads the spec into plain data; [`write`](mod@write) turns that into Rust. What it supports
//! is [`crate::support`]'s to say: lint reports the rest at its place, and [`model::read`] refuses a
//! spec with any of it rather than generate something wrong.

pub mod model;
pub mod write;

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use heck::ToPascalCase;

use crate::registry::Api;
use crate::support::ParameterShape;

/// The Rust type of each parameter of the generated client, by the operation's builder (its
/// `operationId` in PascalCase) and the parameter's field name.
pub type ClientParameterTypes = BTreeMap<(String, String), String>;

/// The server code of the API `api`, from its spec read into `model` (without the validation-only
/// rules). Integer parameters take the type the client's builder takes for them (`client`).
pub fn generate(
    mut model: model::ApiModel,
    api: &Api,
    client: &ClientParameterTypes,
) -> Result<syn::File> {
    for operation in &mut model.operations {
        let builder = operation.id.to_pascal_case();
        for parameter in &mut operation.parameters {
            let ParameterShape::Integer { min, max } = parameter.shape else { continue };
            let field = write::field_ident(&parameter.name).to_string();
            let ty = client.get(&(builder.clone(), field.clone())).with_context(|| {
                format!("the client's builder `{builder}` has no parameter `{field}`")
            })?;
            if let Some(default) = &parameter.default {
                let fits = default.as_i64().is_some_and(|default| {
                    min.is_none_or(|min| default >= min) && max.is_none_or(|max| default <= max)
                });
                if !fits {
                    bail!(
                        "{}: parameter `{}`: the default {default} is not an integer within the schema's bounds",
                        operation.id,
                        parameter.name
                    );
                }
            }
            parameter.integer_type = Some(ty.clone());
        }
    }
    write::write(&model, api)
}
