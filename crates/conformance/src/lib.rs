//! Check JSON payloads against streamspec's specs: the JSON Schemas `cargo xtask regenerate` makes from
//! them (`schemas/aioz.json`, `schemas/storm.json`, embedded here), compiled once, with violations a
//! person can read.
//!
//! ```
//! use serde_json::json;
//! use streamspec_conformance::{Api, Catalog};
//!
//! let catalog = Catalog::get();
//! let update = catalog.operation(Api::Storm, "update_ingest_settings").unwrap().request().unwrap();
//! let violations = update
//!     .validate(&json!({"data": {"attributes": {"authorizationEnabled": true, "authType": "request"}}}))
//!     .unwrap_err();
//! assert_eq!(violations[0].pointer, "/data/attributes");
//! assert_eq!(
//!     violations[0].message,
//!     "`data.attributes.requestURL` is required when `authType` is `request`"
//! );
//!
//! // Responses are read tolerantly: a key needs only its `id`, but a wrong type is still a violation.
//! let key = catalog.schema(Api::Aioz, "LiveStreamKey").unwrap();
//! assert!(key.validate(&json!({"id": "live_streaming_id", "title": "studio"})).is_ok());
//! assert_eq!(key.validate(&json!({"id": "k", "save": "yes"})).unwrap_err()[0].pointer, "/save");
//! ```
//!
//! Components have a `Name.request` and a `Name.response` variant where `readOnly` / `writeOnly` make
//! them differ; an operation's request and responses use the right one, so a response that carries a
//! password, token or API key is a violation.
//!
//! Also here: the `streamspec-conformance` command (`validate`, `list`) and [`layer::ConformanceLayer`],
//! which validates a server's requests (and optionally its responses) against the spec.

pub mod layer;
#[cfg(feature = "proxy")]
pub mod proxy;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

/// The APIs with a spec, from the registry: `Api::Aioz`, `Api::Storm`, `Api::Emulator`.
pub use streamspec_server::Api;

#[path = "generated/bundles.rs"]
mod bundles;

/// The spec of `api`, the OpenAPI 3.0 document its schemas come from, as JSON text.
///
/// ```
/// let spec: serde_json::Value =
///     serde_json::from_str(streamspec_conformance::openapi(streamspec_conformance::Api::Aioz))?;
/// assert_eq!(spec["openapi"], "3.0.3");
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn openapi(api: Api) -> &'static str {
    bundles::openapi(api)
}

/// One way a payload breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where in the payload, as a JSON pointer (`/data/attributes/authType`); `""` is the whole payload.
    pub pointer: String,
    /// The schema keyword that failed (`required`, `type`, `enum`, `anyOf`, ...).
    pub keyword: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A compiled schema: a component, or a component's request or response variant.
pub struct Schema {
    name: String,
    validator: jsonschema::Validator,
    bundle: Arc<Value>,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Schema {
    /// Its name under `$defs`: `LiveStreamKey`, `IngestSettingsAttributes.response`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `payload` conforms.
    pub fn is_valid(&self, payload: &Value) -> bool {
        self.validator.is_valid(payload)
    }

    /// Every violation in `payload`, or `Ok` when it conforms.
    pub fn validate(&self, payload: &Value) -> Result<(), Vec<Violation>> {
        if self.validator.is_valid(payload) {
            return Ok(());
        }
        let mut violations: Vec<Violation> =
            self.validator.iter_errors(payload).map(|error| self.violation(&error)).collect();
        violations.dedup();
        Err(violations)
    }

    fn violation(&self, error: &jsonschema::ValidationError<'_>) -> Violation {
        let pointer = error.instance_path().to_string();
        let keyword = error.kind().keyword().to_owned();
        let field = dotted(&pointer);
        let schema_path = error.schema_path().to_string();
        // A rule of the spec (an `allOf` entry of `anyOf` branches) or a `oneOf` of shapes carries its
        // own description: that says what is wrong better than "no branch matched".
        let described = matches!(keyword.as_str(), "anyOf" | "oneOf")
            .then(|| schema_path.rsplit_once('/').map(|(parent, _)| parent))
            .flatten()
            .and_then(|parent| self.bundle.pointer(parent))
            .and_then(|schema| schema.get("description"))
            .and_then(Value::as_str)
            // One line, whatever the YAML's folding.
            .map(|description| description.split_whitespace().collect::<Vec<_>>().join(" "));
        let described = described.as_deref().map(|description| description.trim_end_matches('.'));
        let message = match described {
            Some(rule) if rule.starts_with('`') => {
                // "`requestURL` is required when ..." names a field of this object: qualify it. A rule
                // on the field itself ("`clientAddress` is ...") is qualified by the field's parent.
                let named = rule[1..].split('`').next().unwrap_or_default();
                let owner = match field.strip_suffix(named) {
                    Some("") => "",
                    Some(parent) if parent.ends_with('.') => parent.trim_end_matches('.'),
                    _ => field.as_str(),
                };
                let qualified = if owner.is_empty() { String::new() } else { format!("{owner}.") };
                format!("`{qualified}{}", &rule[1..])
            }
            Some(shapes) => {
                format!("{}does not match exactly one allowed shape ({shapes})", subject(&field))
            }
            None => match error.kind() {
                // jsonschema names two of the allowed values and counts the rest: name them all.
                jsonschema::error::ValidationErrorKind::Enum { options } => {
                    format!("{}value is not one of {}", subject(&field), listed(options))
                }
                _ => format!("{}{}", subject(&field), error.masked()),
            },
        };
        Violation { pointer, keyword, message }
    }
}

/// `"a", "b" or "c"`: the values of an `enum`, as JSON.
fn listed(options: &Value) -> String {
    let values: Vec<String> =
        options.as_array().into_iter().flatten().map(ToString::to_string).collect();
    match values.split_last() {
        None => "no value".to_owned(),
        Some((only, [])) => only.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

fn subject(field: &str) -> String {
    if field.is_empty() { String::new() } else { format!("`{field}`: ") }
}

/// `/data/attributes/authUsers/0` as `data.attributes.authUsers.0`.
fn dotted(pointer: &str) -> String {
    pointer
        .split('/')
        .skip(1)
        .map(|token| token.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

/// An operation's request and response schemas.
#[derive(Debug)]
pub struct Operation {
    id: String,
    method: String,
    path: String,
    request: Option<Arc<Schema>>,
    responses: BTreeMap<u16, Arc<Schema>>,
}

impl Operation {
    /// The `operationId`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `GET`, `POST`, ...
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path as served (under the server URL's path): `/api/live_streams/{id}`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The schema of the request body, if the operation has one.
    pub fn request(&self) -> Option<&Schema> {
        self.request.as_deref()
    }

    /// The schema of the response body with `status`, if the spec documents one.
    pub fn response(&self, status: u16) -> Option<&Schema> {
        self.responses.get(&status).map(Arc::as_ref)
    }

    /// The statuses the spec documents.
    pub fn statuses(&self) -> impl Iterator<Item = u16> + '_ {
        self.responses.keys().copied()
    }

    /// Whether a request to `method` and `path` (no query string) is this operation.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let mut template = self.path.split('/');
        let mut actual = path.split('/');
        loop {
            match (template.next(), actual.next()) {
                (None, None) => return true,
                (Some(expected), Some(segment)) => {
                    let parameter = expected.starts_with('{') && expected.ends_with('}');
                    if !(parameter && !segment.is_empty() || expected == segment) {
                        return false;
                    }
                }
                _ => return false,
            }
        }
    }
}

/// Every compiled schema and operation of both APIs. Build it once ([`Catalog::get`]) and reuse it.
#[derive(Debug)]
pub struct Catalog {
    schemas: BTreeMap<(Api, String), Arc<Schema>>,
    operations: BTreeMap<(Api, String), Operation>,
}

impl Catalog {
    /// The catalog of the embedded schemas, compiled on first use.
    pub fn get() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            Catalog::build().expect("the embedded schemas compile (a test proves it)")
        })
    }

    /// Compiles every schema; an error names the schema that does not compile.
    pub fn build() -> Result<Catalog, String> {
        let mut schemas = BTreeMap::new();
        let mut operations = BTreeMap::new();
        for api in Api::ALL {
            let bundle: Arc<Value> = Arc::new(
                serde_json::from_str(bundles::bundle(api))
                    .map_err(|error| format!("schemas/{api}.json: {error}"))?,
            );
            let defs =
                bundle.get("$defs").and_then(Value::as_object).ok_or("a bundle without $defs")?;
            for name in defs.keys() {
                let root = serde_json::json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "$defs": bundle["$defs"],
                    "$ref": format!("#/$defs/{}", name.replace('~', "~0").replace('/', "~1")),
                });
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(&root)
                    .map_err(|error| format!("{api}::{name}: {error}"))?;
                let schema = Schema { name: name.clone(), validator, bundle: bundle.clone() };
                schemas.insert((api, name.clone()), Arc::new(schema));
            }
            let lookup = |value: &Value| -> Result<Option<Arc<Schema>>, String> {
                match value.as_str() {
                    None => Ok(None),
                    Some(name) => {
                        schemas.get(&(api, name.to_owned())).cloned().map(Some).ok_or_else(|| {
                            format!("{api}: an operation names the unknown schema {name}")
                        })
                    }
                }
            };
            for (id, operation) in
                bundle.get("x-operations").and_then(Value::as_object).into_iter().flatten()
            {
                let mut responses = BTreeMap::new();
                for (status, definition) in operation["responses"].as_object().into_iter().flatten()
                {
                    let status: u16 =
                        status.parse().map_err(|_| format!("{api}::{id}: status {status}"))?;
                    if let Some(schema) = lookup(definition)? {
                        responses.insert(status, schema);
                    }
                }
                let text = |key: &str| operation[key].as_str().unwrap_or_default().to_owned();
                let entry = Operation {
                    id: id.clone(),
                    method: text("method"),
                    path: text("path"),
                    request: lookup(&operation["request"])?,
                    responses,
                };
                operations.insert((api, id.clone()), entry);
            }
        }
        Ok(Catalog { schemas, operations })
    }

    /// A schema by name: a component (`LiveStreamKey`) or a variant (`LiveStreamKey.request`).
    pub fn schema(&self, api: Api, name: &str) -> Option<&Schema> {
        self.schemas.get(&(api, name.to_owned())).map(Arc::as_ref)
    }

    /// An operation by `operationId`.
    pub fn operation(&self, api: Api, id: &str) -> Option<&Operation> {
        self.operations.get(&(api, id.to_owned()))
    }

    /// The operation a request to `method` and `path` is.
    pub fn find_operation(&self, api: Api, method: &str, path: &str) -> Option<&Operation> {
        self.operations(api).find(|operation| operation.matches(method, path))
    }

    /// Every schema of `api`, by name.
    pub fn schemas(&self, api: Api) -> impl Iterator<Item = &Schema> {
        self.schemas
            .iter()
            .filter(move |((owner, _), _)| *owner == api)
            .map(|(_, schema)| schema.as_ref())
    }

    /// Every operation of `api`, by `operationId`.
    pub fn operations(&self, api: Api) -> impl Iterator<Item = &Operation> {
        self.operations
            .iter()
            .filter(move |((owner, _), _)| *owner == api)
            .map(|(_, operation)| operation)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_embedded_schema_compiles() {
        let catalog = Catalog::build().unwrap();
        assert!(catalog.schemas(Api::Aioz).count() >= 12);
        assert_eq!(catalog.operations(Api::Aioz).count(), 15);
        assert_eq!(catalog.operations(Api::Storm).count(), 6);
    }

    #[test]
    fn operations_are_found_by_method_and_path() {
        let catalog = Catalog::get();
        let found =
            |method, path| catalog.find_operation(Api::Aioz, method, path).map(Operation::id);
        assert_eq!(found("GET", "/api/live_streams"), Some("list_live_stream_keys"));
        assert_eq!(found("PUT", "/api/live_streams/abc"), Some("update_live_stream_key"));
        assert_eq!(found("PATCH", "/api/live_streams/abc"), None);
        assert_eq!(found("GET", "/api/live_streams/abc/def"), None);
        assert_eq!(found("GET", "/api/live_streams/"), None);
        // A literal segment wins over a parameter in the same place.
        assert_eq!(found("GET", "/api/live_streams/multicast/k"), Some("get_multicast"));
        assert_eq!(found("GET", "/api/live_streams/statistic/s"), Some("get_streaming_statistic"));
        assert_eq!(found("POST", "/api/live_streams/abc/media"), Some("list_live_stream_media"));
        assert_eq!(found("DELETE", "/api/live_streams/a/streamings/b"), Some("delete_streaming"));
        assert_eq!(found("GET", "/api/live_streams/multicast"), Some("get_live_stream_key"));
    }

    #[test]
    fn violations_name_the_field_and_the_keyword() {
        let schema = Catalog::get()
            .operation(Api::Aioz, "create_live_stream_key")
            .unwrap()
            .request()
            .unwrap();
        let violations = schema.validate(&json!({"name": 5, "sav": true})).unwrap_err();
        let found: Vec<(&str, &str)> =
            violations.iter().map(|v| (v.pointer.as_str(), v.keyword.as_str())).collect();
        assert_eq!(found, [("/name", "type"), ("", "additionalProperties")]);
        assert_eq!(
            violations[0].message, "`name`: value is not of type \"string\"",
            "values are masked: a payload may hold secrets"
        );
    }

    #[test]
    fn an_enum_violation_lists_every_allowed_value() {
        let schema = Catalog::get().schema(Api::Storm, "IngestSettingsAttributes").unwrap();
        let violations = schema.validate(&json!({"authType": "ldap"})).unwrap_err();
        assert_eq!(
            violations[0].message,
            r#"`authType`: value is not one of "none", "managed", "request", "file" or "local""#
        );
    }

    #[test]
    fn a_mixed_auth_user_names_the_allowed_shapes() {
        let schema = Catalog::get().schema(Api::Storm, "IngestSettingsAttributes").unwrap();
        let payload = json!({"authType": "local", "authUsers": [{"username": "a", "password": "b", "token": "c"}]});
        let violations = schema.validate(&payload).unwrap_err();
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].pointer, "/authUsers/0");
        assert!(
            violations[0].message.starts_with(
                "`authUsers.0`: does not match exactly one allowed shape (One entry of `authUsers`"
            ),
            "{}",
            violations[0].message
        );
    }

    #[test]
    fn a_response_with_a_secret_is_a_violation() {
        let summary = Catalog::get().schema(Api::Storm, "AuthUserCredentials.response").unwrap();
        let violations =
            summary.validate(&json!({"username": "admin", "password": "qwerty123"})).unwrap_err();
        assert_eq!(violations[0].pointer, "/password");
        assert_eq!(violations[0].keyword, "falseSchema");
        assert!(!violations[0].message.contains("qwerty123"), "a violation never repeats a secret");
    }
}
