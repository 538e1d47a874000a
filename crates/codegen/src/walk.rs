//! The one walk over a spec's operations and the one `$ref` resolver. Lint, the generators and the
//! breaking-change comparison all read a spec through these, so they agree on which operations exist,
//! on which method names count, and on what a `$ref` names.
//!
//! A spec has two views, over one document: the JSON value with its line map ([`operations`],
//! [`resolve`]), for what reports places or reads raw schemas (lint, the JSON Schema converter, the
//! breaking-change comparison); and openapiv3's typed model ([`typed_operations`], [`resolve_typed`]),
//! for what reads the API's shape (the server generator and [`crate::support`]). Both walk paths in the
//! document's order and methods in [`METHODS`]' order, and name each operation by the same pointer.

use indexmap::IndexMap;
use serde_json::Value;

use crate::spec::{escape_token, unescape_token};

/// Every method an OpenAPI 3.0 path item may hold, in the order operations are walked.
pub const METHODS: [&str; 8] =
    ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// How many `$ref`s in a row [`resolve`] follows before it calls the chain a cycle.
const MAX_HOPS: usize = 32;

/// One operation of a spec, where it is, and what holds it.
#[derive(Debug, Clone)]
pub struct OperationRef<'a> {
    /// The path template, as the spec writes it (`/api/live_streams/{id}`).
    pub path: &'a str,
    /// The method, lower case, one of [`METHODS`].
    pub method: &'static str,
    /// The JSON pointer of the operation object.
    pub pointer: String,
    /// The path item that holds it (its `parameters` apply to the operation too).
    pub item: &'a Value,
    /// The operation object.
    pub operation: &'a Value,
}

impl<'a> OperationRef<'a> {
    /// Its `operationId`, if it has one.
    pub fn id(&self) -> Option<&'a str> {
        self.operation.get("operationId").and_then(Value::as_str)
    }

    /// The JSON pointer of the path item.
    pub fn item_pointer(&self) -> String {
        format!("/paths/{}", escape_token(self.path))
    }

    /// Its parameters, the path item's merged in (an operation's own parameter replaces the path's
    /// one of the same name and location), each resolved, with the pointer where it is written.
    pub fn parameters(&self, document: &'a Value) -> Vec<(String, &'a Value)> {
        let listed = |holder: &'a Value, pointer: String| -> Vec<(String, &'a Value)> {
            holder
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(index, parameter)| {
                    let resolved = resolve(document, parameter).unwrap_or(parameter);
                    (format!("{pointer}/parameters/{index}"), resolved)
                })
                .collect()
        };
        let own = listed(self.operation, self.pointer.clone());
        let key =
            |parameter: &Value| (parameter.get("name").cloned(), parameter.get("in").cloned());
        let mut merged: Vec<(String, &'a Value)> = listed(self.item, self.item_pointer())
            .into_iter()
            .filter(|(_, shared)| !own.iter().any(|(_, mine)| key(mine) == key(shared)))
            .collect();
        merged.extend(own);
        merged
    }
}

/// Every operation of `document`, path by path in the document's order, and within a path in the
/// order of [`METHODS`].
pub fn operations(document: &Value) -> Vec<OperationRef<'_>> {
    let mut found = Vec::new();
    for (path, item) in document.get("paths").and_then(Value::as_object).into_iter().flatten() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                let pointer = operation_pointer(path, method);
                found.push(OperationRef { path, method, pointer, item, operation });
            }
        }
    }
    found
}

/// The JSON pointer of the operation `method` at `path`.
fn operation_pointer(path: &str, method: &str) -> String {
    format!("/paths/{}/{method}", escape_token(path))
}

/// One operation of the typed model, where it is, and what holds it.
#[derive(Debug, Clone)]
pub struct TypedOperation<'a> {
    /// The path template, as the spec writes it.
    pub path: &'a str,
    /// The method, lower case, one of [`METHODS`].
    pub method: &'static str,
    /// The JSON pointer of the operation object, as [`OperationRef::pointer`].
    pub pointer: String,
    /// The path item that holds it.
    pub item: &'a openapiv3::PathItem,
    /// The operation object.
    pub operation: &'a openapiv3::Operation,
}

impl<'a> TypedOperation<'a> {
    /// Its parameters, merged and resolved as [`OperationRef::parameters`] merges them; a parameter
    /// whose `$ref` cannot be followed is left out (lint reports it).
    pub fn parameters(
        &self,
        document: &'a openapiv3::OpenAPI,
    ) -> Vec<(String, &'a openapiv3::Parameter)> {
        let listed = |parameters: &'a [openapiv3::ReferenceOr<openapiv3::Parameter>],
                      pointer: String| {
            parameters
                .iter()
                .enumerate()
                .filter_map(|(index, parameter)| {
                    let resolved = resolve_typed(document, parameter).ok()?;
                    Some((format!("{pointer}/parameters/{index}"), resolved))
                })
                .collect::<Vec<_>>()
        };
        let own = listed(&self.operation.parameters, self.pointer.clone());
        let key = |parameter: &openapiv3::Parameter| {
            let data = parameter.parameter_data_ref();
            (data.name.clone(), std::mem::discriminant(parameter))
        };
        let item_pointer = format!("/paths/{}", escape_token(self.path));
        let mut merged: Vec<(String, &'a openapiv3::Parameter)> =
            listed(&self.item.parameters, item_pointer)
                .into_iter()
                .filter(|(_, shared)| !own.iter().any(|(_, mine)| key(mine) == key(shared)))
                .collect();
        merged.extend(own);
        merged
    }
}

/// The operations of the typed model, in the order of [`operations`]. A path item that is a `$ref`
/// is not walked (lint reports it).
pub fn typed_operations(document: &openapiv3::OpenAPI) -> Vec<TypedOperation<'_>> {
    let mut found = Vec::new();
    for (path, item) in document.paths.iter() {
        let Some(item) = item.as_item() else { continue };
        for (method, operation) in item.iter() {
            // openapiv3 yields the methods of `METHODS`, in its order.
            let Some(method) = METHODS.into_iter().find(|known| *known == method) else {
                continue;
            };
            let pointer = operation_pointer(path, method);
            found.push(TypedOperation { path, method, pointer, item, operation });
        }
    }
    found
}

/// A kind of object `components` holds, which a typed `$ref` may name.
pub trait Component: Sized {
    /// Its key under `components` (`schemas`, `parameters`, ...).
    const SECTION: &'static str;
    /// Its map in `components`.
    fn in_components(
        components: &openapiv3::Components,
    ) -> &IndexMap<String, openapiv3::ReferenceOr<Self>>;
}

macro_rules! component {
    ($type:ty, $section:literal, $field:ident) => {
        impl Component for $type {
            const SECTION: &'static str = $section;
            fn in_components(
                components: &openapiv3::Components,
            ) -> &IndexMap<String, openapiv3::ReferenceOr<Self>> {
                &components.$field
            }
        }
    };
}

component!(openapiv3::Schema, "schemas", schemas);
component!(openapiv3::Parameter, "parameters", parameters);
component!(openapiv3::Response, "responses", responses);
component!(openapiv3::RequestBody, "requestBodies", request_bodies);
component!(openapiv3::Header, "headers", headers);
component!(openapiv3::SecurityScheme, "securitySchemes", security_schemes);

/// `value` itself, or the component its `$ref` (and theirs, in turn) names: [`resolve`] on the typed
/// model, where a reference can only name a component of its own kind.
pub fn resolve_typed<'a, T: Component>(
    document: &'a openapiv3::OpenAPI,
    value: &'a openapiv3::ReferenceOr<T>,
) -> Result<&'a T, ResolveError> {
    let mut current = value;
    for _ in 0..MAX_HOPS {
        let reference = match current {
            openapiv3::ReferenceOr::Item(item) => return Ok(item),
            openapiv3::ReferenceOr::Reference { reference } => reference,
        };
        let pointer =
            pointer_of(reference).ok_or_else(|| ResolveError::NotLocal(reference.clone()))?;
        let section = format!("/components/{}/", T::SECTION);
        current = pointer
            .strip_prefix(&section)
            .filter(|name| !name.contains('/'))
            .and_then(|name| {
                T::in_components(document.components.as_ref()?).get(&unescape_token(name))
            })
            .ok_or_else(|| ResolveError::Missing(reference.clone()))?;
    }
    let reference = match value {
        openapiv3::ReferenceOr::Reference { reference } => reference.clone(),
        openapiv3::ReferenceOr::Item(_) => String::new(),
    };
    Err(ResolveError::Cycle(reference))
}

/// The path of the first server URL (`/api` for `https://api.aiozstream.network/api`), under which
/// the spec's paths are served.
pub fn base_path(document: &Value) -> String {
    base_path_of(document.pointer("/servers/0/url").and_then(Value::as_str).unwrap_or(""))
}

/// The path part of a server URL, without a trailing `/`.
pub fn base_path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |slash| &after_scheme[slash..]);
    path.trim_end_matches('/').to_owned()
}

/// The served paths a request must start with to belong to this API: each path's part before its
/// first template (`/api/live_streams` for `/live_streams/{id}` under `/api`), without those another
/// one already covers, sorted.
pub fn path_prefixes(document: &Value) -> Vec<String> {
    let base = base_path(document);
    let mut prefixes: Vec<String> = document
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|paths| paths.keys())
        .map(|path| {
            let fixed = path.split_once('{').map_or(path.as_str(), |(fixed, _)| fixed);
            format!("{base}{}", fixed.trim_end_matches('/'))
        })
        .collect();
    prefixes.sort();
    prefixes.dedup();
    let covered = |prefix: &String, by: &String| {
        prefix != by && prefix.strip_prefix(by.as_str()).is_some_and(|rest| rest.starts_with('/'))
    };
    let all = prefixes.clone();
    prefixes.retain(|prefix| !all.iter().any(|other| covered(prefix, other)));
    prefixes
}

/// Why a `$ref` could not be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// Not a reference within this document (`#/...`).
    NotLocal(String),
    /// A local reference to nothing.
    Missing(String),
    /// More references in a row than any sound spec has: a cycle.
    Cycle(String),
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotLocal(reference) => write!(
                f,
                "`$ref` must be a local reference such as `#/components/schemas/Name`, not `{reference}`"
            ),
            Self::Missing(reference) => {
                write!(f, "`$ref` to nothing: `{reference}` does not exist")
            }
            Self::Cycle(reference) => {
                write!(f, "`$ref` `{reference}` starts a cycle of references")
            }
        }
    }
}

impl std::error::Error for ResolveError {}

/// `value` itself, or what its `$ref` (and theirs, in turn) names in `document`.
pub fn resolve<'a>(document: &'a Value, value: &'a Value) -> Result<&'a Value, ResolveError> {
    let mut current = value;
    for _ in 0..MAX_HOPS {
        let Some(reference) = current.get("$ref") else {
            return Ok(current);
        };
        let reference = reference.as_str().unwrap_or_default();
        let pointer =
            pointer_of(reference).ok_or_else(|| ResolveError::NotLocal(reference.to_owned()))?;
        current = document
            .pointer(&pointer)
            .ok_or_else(|| ResolveError::Missing(reference.to_owned()))?;
    }
    let reference = value.get("$ref").and_then(Value::as_str).unwrap_or_default();
    Err(ResolveError::Cycle(reference.to_owned()))
}

/// The JSON pointer a local `$ref` names (`#/components/schemas/A` → `/components/schemas/A`).
/// Tokens of a URI fragment may be percent-encoded (`#/paths/~1a%7Bb%7D`); they are decoded.
pub fn pointer_of(reference: &str) -> Option<String> {
    let fragment = reference.strip_prefix('#')?;
    if !fragment.is_empty() && !fragment.starts_with('/') {
        return None;
    }
    let tokens: Option<Vec<String>> = fragment
        .split('/')
        .skip(1)
        .map(|token| percent_decode(token).map(|decoded| escape_token(&unescape_token(&decoded))))
        .collect();
    Some(tokens?.iter().fold(String::new(), |pointer, token| pointer + "/" + token))
}

/// The name of the component schema a `$ref` names (`#/components/schemas/A` → `A`).
pub fn component_schema(reference: &str) -> Option<String> {
    let pointer = pointer_of(reference)?;
    let name = pointer.strip_prefix("/components/schemas/")?;
    (!name.contains('/')).then(|| unescape_token(name))
}

fn percent_decode(token: &str) -> Option<String> {
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = token.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_method_is_walked_in_order() {
        let document = json!({"paths": {
            "/b": {"trace": {}, "get": {"operationId": "b"}},
            "/a/{x}": {"head": {"operationId": "h"}, "parameters": [{"name": "x", "in": "path"}]},
        }});
        let walked: Vec<(&str, &str)> =
            operations(&document).iter().map(|op| (op.path, op.method)).collect();
        assert_eq!(walked, [("/b", "get"), ("/b", "trace"), ("/a/{x}", "head")]);
        assert_eq!(operations(&document)[2].pointer, "/paths/~1a~1{x}/head");
    }

    #[test]
    fn an_operations_parameter_replaces_the_paths() {
        let document = json!({
            "components": {"parameters": {"Limit": {"name": "limit", "in": "query", "required": true}}},
            "paths": {"/a": {
                "parameters": [{"name": "limit", "in": "query"}, {"name": "limit", "in": "header"}],
                "get": {"parameters": [{"$ref": "#/components/parameters/Limit"}]},
            }},
        });
        let operation = &operations(&document)[0];
        let parameters = operation.parameters(&document);
        let seen: Vec<(&str, Option<&Value>)> = parameters
            .iter()
            .map(|(pointer, parameter)| (pointer.as_str(), parameter.get("in")))
            .collect();
        assert_eq!(
            seen,
            [
                ("/paths/~1a/parameters/1", Some(&json!("header"))),
                ("/paths/~1a/get/parameters/0", Some(&json!("query"))),
            ]
        );
        assert_eq!(parameters[1].1["required"], json!(true));
    }

    #[test]
    fn path_prefixes_stop_at_the_first_template() {
        let document = json!({
            "servers": [{"url": "https://example.test/api/"}],
            "paths": {"/keys": {}, "/keys/{id}": {}, "/keys/{id}/parts": {}, "/auth/login": {}, "/auth": {}},
        });
        assert_eq!(base_path(&document), "/api");
        assert_eq!(path_prefixes(&document), ["/api/auth", "/api/keys"]);
        assert_eq!(path_prefixes(&json!({"paths": {"/{any}": {}}})), [""]);
    }

    #[test]
    fn references_are_followed_decoded_and_checked() {
        let document = json!({"components": {"schemas": {
            "A": {"$ref": "#/components/schemas/B"},
            "B": {"type": "string"},
            "A/B": {"type": "integer"},
            "Loop": {"$ref": "#/components/schemas/Loop"},
        }}});
        let at = |reference: &str| resolve(&document, &json!({"$ref": reference})).cloned();
        assert_eq!(at("#/components/schemas/A"), Ok(json!({"type": "string"})));
        assert_eq!(at("#/components/schemas/A~1B"), Ok(json!({"type": "integer"})));
        assert_eq!(at("#/components/schemas/%41"), Ok(json!({"type": "string"})));
        assert!(matches!(at("#/components/schemas/C"), Err(ResolveError::Missing(_))));
        assert!(matches!(at("other.yaml#/A"), Err(ResolveError::NotLocal(_))));
        assert!(matches!(at("#/components/schemas/Loop"), Err(ResolveError::Cycle(_))));
        assert_eq!(component_schema("#/components/schemas/A~1B").as_deref(), Some("A/B"));
        assert_eq!(pointer_of("#/paths/~1a~1b/get").as_deref(), Some("/paths/~1a~1b/get"));
        assert_eq!(
            pointer_of("#/components/schemas/A%20B").as_deref(),
            Some("/components/schemas/A B")
        );
        assert_eq!(component_schema("#/components/parameters/A"), None);
    }
}
